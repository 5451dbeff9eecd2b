package spool

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func open(t testing.TB, dir string, opts Options) (*Spool, Recovery) {
	t.Helper()
	s, rec, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	return s, rec
}

// drain reads every record oldest-first, acking each.
func drain(t testing.TB, s *Spool) []Record {
	t.Helper()
	var out []Record
	for {
		r, ok, err := s.Oldest()
		if err != nil {
			t.Fatalf("Oldest() = %v", err)
		}
		if !ok {
			return out
		}
		r.Payload = bytes.Clone(r.Payload)
		out = append(out, r)
		if err := s.Ack(r.Seq); err != nil {
			t.Fatalf("Ack(%d) = %v", r.Seq, err)
		}
	}
}

func TestPutOldestAck(t *testing.T) {
	dir := t.TempDir()
	s, rec := open(t, dir, Options{})
	if rec.Records != 0 {
		t.Fatalf("new spool recovered %+v", rec)
	}
	a, err := s.Put(Snapshot, "inventory", []byte("inv-1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Put(Discovery, "", []byte("disc-1"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Changed():
	default:
		t.Error("Changed() not signalled after Put")
	}
	r, ok, err := s.Oldest()
	if err != nil || !ok || r.Seq != a || string(r.Payload) != "inv-1" || r.Class != Snapshot || r.Key != "inventory" {
		t.Fatalf("Oldest() = %+v, %v, %v; want record %d inv-1", r, ok, err, a)
	}
	// A newer snapshot replaces the unsent one even while it is being sent.
	c, err := s.Put(Snapshot, "inventory", []byte("inv-2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(a); err != nil {
		t.Fatalf("Ack of a replaced record = %v, want nil", err)
	}
	s.Close()

	s, rec = open(t, dir, Options{})
	if rec.Records != 2 || len(rec.Torn) != 0 {
		t.Errorf("reopen recovered %+v, want 2 intact records", rec)
	}
	got := drain(t, s)
	if len(got) != 2 || got[0].Seq != b || got[1].Seq != c || string(got[1].Payload) != "inv-2" {
		t.Errorf("drained %+v, want records %d and %d", got, b, c)
	}
	if st := s.Stats(); st.Records != 0 || st.Bytes != 0 {
		t.Errorf("Stats() after drain = %+v", st)
	}
	if seq, _ := s.Put(Discovery, "", []byte("x")); seq <= c {
		t.Errorf("sequence went back: %d after %d", seq, c)
	}
}

func TestPutRefuses(t *testing.T) {
	s, _ := open(t, t.TempDir(), Options{MaxBytes: 200})
	tests := []struct {
		class Class
		key   string
		size  int
		want  string
	}{
		{Snapshot, "", 1, "needs a key"},
		{Class(9), "k", 1, "unknown class"},
		{Discovery, strings.Repeat("k", maxKeyLen+1), 1, "key is"},
		{Snapshot, "k", 300, "spool full"},
	}
	for _, tt := range tests {
		_, err := s.Put(tt.class, tt.key, make([]byte, tt.size))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Put(%v, %.10q, %d bytes) = %v, want %q", tt.class, tt.key, tt.size, err, tt.want)
		}
	}
	s.Close()
	if _, err := s.Put(Discovery, "", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
}

func TestDropOldestDiscovery(t *testing.T) {
	dir := t.TempDir()
	rec := int64(headerSize + 10 + trailerSize)
	s, _ := open(t, dir, Options{MaxBytes: 5 * rec, noSync: true})
	snap, _ := s.Put(Snapshot, "inv", make([]byte, 7)) // 3-byte key + 7 = 10
	var disc []uint64
	for i := range 10 {
		seq, err := s.Put(Discovery, "", []byte(fmt.Sprintf("disc-%05d", i)))
		if err != nil {
			t.Fatalf("Put discovery %d = %v", i, err)
		}
		disc = append(disc, seq)
	}
	st := s.Stats()
	if st.Bytes > 5*rec || st.Records != 5 || st.Dropped.Records != 6 || st.Dropped.Bytes != 6*rec {
		t.Errorf("Stats() = %+v, want 5 records in %d bytes and 6 dropped", st, 5*rec)
	}
	s.Close()
	s, _ = open(t, dir, Options{MaxBytes: 5 * rec})
	if d := s.Dropped(); d.Records != 6 {
		t.Errorf("drop count after reopen = %+v, want 6", d)
	}
	got := drain(t, s)
	want := append([]uint64{snap}, disc[6:]...)
	var seqs []uint64
	for _, r := range got {
		seqs = append(seqs, r.Seq)
	}
	if !slices.Equal(seqs, want) {
		t.Errorf("kept %v, want the snapshot and the newest discovery %v", seqs, want)
	}
	if err := s.ClearDropped(Dropped{Records: 4, Bytes: 4 * rec}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, _ = open(t, dir, Options{})
	if d := s.Dropped(); d != (Dropped{Records: 2, Bytes: 2 * rec}) {
		t.Errorf("drop count after ClearDropped and reopen = %+v, want 2", d)
	}
}

// A crash between a new snapshot's rename and the old one's removal leaves
// both: Open keeps the newer.
func TestReplacedSnapshotOnOpen(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, 3, encode(Snapshot, "inv", 3, 1, []byte("old")))
	write(t, dir, 7, encode(Snapshot, "inv", 7, 2, []byte("new")))
	s, rec := open(t, dir, Options{})
	if rec.Replaced != 1 || rec.Records != 1 {
		t.Errorf("Open recovered %+v, want 1 record and 1 replaced", rec)
	}
	if got := drain(t, s); len(got) != 1 || string(got[0].Payload) != "new" {
		t.Errorf("drained %+v, want the newer snapshot", got)
	}
}

func write(t testing.TB, dir string, seq uint64, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, recordName(seq)), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCrashInjection simulates 1,000 crashes: after some acknowledged Puts,
// one fault — an unfinished write, a torn new file, a truncated, extended or
// damaged old file, an interrupted replacement — then Open and drain. Every
// torn record must be detected and never handed out; every acknowledged
// record the fault did not touch must come back byte for byte.
func TestCrashInjection(t *testing.T) {
	const runs = 1000
	base := t.TempDir()
	faults := map[string]int{}
	for run := range runs {
		rng := rand.New(rand.NewPCG(uint64(run), 42))
		dir := filepath.Join(base, fmt.Sprint(run))
		s, _ := open(t, dir, Options{noSync: true})

		// acked is what the spool promised to keep: seq → payload.
		acked := map[uint64]string{}
		keys := map[string]uint64{}
		for i := range 1 + rng.IntN(6) {
			payload := fmt.Sprintf("run %d record %d %s", run, i, strings.Repeat("x", rng.IntN(40)))
			class, key := Discovery, ""
			if rng.IntN(3) == 0 {
				class, key = Snapshot, fmt.Sprintf("k%d", rng.IntN(2))
			}
			seq, err := s.Put(class, key, []byte(payload))
			if err != nil {
				t.Fatalf("run %d: Put = %v", run, err)
			}
			if old, ok := keys[key]; ok && class == Snapshot {
				delete(acked, old)
			}
			if class == Snapshot {
				keys[key] = seq
			}
			acked[seq] = payload
		}
		next := s.next
		s.Close()

		seqs := make([]uint64, 0, len(acked))
		for seq := range acked {
			seqs = append(seqs, seq)
		}
		slices.Sort(seqs)
		victim := seqs[rng.IntN(len(seqs))]
		victimPath := filepath.Join(dir, recordName(victim))
		victimData, err := os.ReadFile(victimPath)
		if err != nil {
			t.Fatal(err)
		}
		newRec := encode(Discovery, "", next, 1, []byte(fmt.Sprintf("unacked %d", run)))
		cut := rng.IntN(len(newRec)) // a strict prefix: the write was torn

		wantTorn := 1
		fault := [...]string{"unfinished-temp", "torn-new-file", "truncated", "garbage-appended", "byte-flipped", "interrupted-replace"}[rng.IntN(6)]
		faults[fault]++
		switch fault {
		case "unfinished-temp":
			wantTorn = 0
			if err := os.WriteFile(filepath.Join(dir, tmpPrefix+"123"), newRec[:cut], 0o600); err != nil {
				t.Fatal(err)
			}
		case "torn-new-file":
			write(t, dir, next, newRec[:cut])
		case "truncated":
			write(t, dir, victim, victimData[:rng.IntN(len(victimData))])
			delete(acked, victim)
		case "garbage-appended":
			garbage := make([]byte, 1+rng.IntN(64))
			for i := range garbage {
				garbage[i] = byte(rng.Uint32())
			}
			write(t, dir, victim, append(victimData, garbage...))
			delete(acked, victim)
		case "byte-flipped":
			i := rng.IntN(len(victimData))
			victimData[i] ^= byte(1 + rng.IntN(255))
			write(t, dir, victim, victimData)
			delete(acked, victim)
		case "interrupted-replace":
			// A newer snapshot was renamed into place; the crash came before
			// the older one was removed.
			wantTorn = 0
			key := fmt.Sprintf("k%d", rng.IntN(2))
			payload := fmt.Sprintf("replacement %d", run)
			write(t, dir, next, encode(Snapshot, key, next, 1, []byte(payload)))
			if old, ok := keys[key]; ok {
				delete(acked, old)
			}
			acked[next] = payload
		}

		s, rec := open(t, dir, Options{noSync: true})
		got := drain(t, s)
		if torn := s.Stats().Torn; torn != wantTorn {
			t.Errorf("run %d (%s): %d torn records detected (open found %v), want %d", run, fault, torn, rec.Torn, wantTorn)
		}
		delivered := map[uint64]string{}
		for _, r := range got {
			delivered[r.Seq] = string(r.Payload)
		}
		for seq, want := range acked {
			if got, ok := delivered[seq]; !ok || got != want {
				t.Errorf("run %d (%s): acknowledged record %d came back as %q (%v), want %q", run, fault, seq, got, ok, want)
			}
		}
		for seq := range delivered {
			if _, ok := acked[seq]; !ok {
				t.Errorf("run %d (%s): record %d handed out, want it detected as torn or replaced", run, fault, seq)
			}
		}
		if left, _ := os.ReadDir(dir); len(left) > 1 { // only "dropped" may stay
			var names []string
			for _, e := range left {
				names = append(names, e.Name())
			}
			if len(names) != 1 || names[0] != droppedFile {
				t.Errorf("run %d (%s): files left after drain: %v", run, fault, names)
			}
		}
		s.Close()
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d crash runs: %v", runs, faults)
}

// TestModel checks random sequences of Put, Ack and reopen against a model
// of the spool's promises.
func TestModel(t *testing.T) {
	for seed := range 40 {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		dir := t.TempDir()
		maxBytes := int64(200 + rng.IntN(800))
		opts := Options{MaxBytes: maxBytes, noSync: true}
		s, _ := open(t, dir, opts)

		type rec struct {
			class   Class
			key     string
			payload string
			size    int64
		}
		model := map[uint64]rec{}
		var dropped Dropped
		size := func() (n int64) {
			for _, r := range model {
				n += r.size
			}
			return n
		}
		for step := range 150 {
			switch op := rng.IntN(10); {
			case op < 6: // Put
				class, key := Discovery, ""
				if rng.IntN(3) == 0 {
					class, key = Snapshot, fmt.Sprintf("k%d", rng.IntN(3))
				}
				payload := strings.Repeat(string(rune('a'+step%26)), rng.IntN(120))
				sz := int64(headerSize + len(key) + len(payload) + trailerSize)
				// Expected effect.
				var replaced uint64
				var freed int64
				for seq, r := range model {
					if class == Snapshot && r.class == Snapshot && r.key == key {
						replaced, freed = seq, r.size
					}
				}
				var discs []uint64
				for seq, r := range model {
					if r.class == Discovery {
						discs = append(discs, seq)
					}
				}
				slices.Sort(discs)
				need := size() - freed + sz - maxBytes
				var drop []uint64
				for _, d := range discs {
					if need <= 0 {
						break
					}
					drop = append(drop, d)
					need -= model[d].size
				}
				seq, err := s.Put(class, key, []byte(payload))
				if need > 0 {
					if !errors.Is(err, ErrFull) {
						t.Fatalf("seed %d step %d: Put(%v, %d bytes) = %v, want ErrFull", seed, step, class, sz, err)
					}
					if class == Discovery {
						dropped.Records++
						dropped.Bytes += sz
					}
					continue
				}
				if err != nil {
					t.Fatalf("seed %d step %d: Put = %v", seed, step, err)
				}
				for _, d := range drop {
					dropped.Records++
					dropped.Bytes += model[d].size
					delete(model, d)
				}
				if replaced != 0 {
					delete(model, replaced)
				}
				model[seq] = rec{class, key, payload, sz}
			case op < 8: // send the oldest
				r, ok, err := s.Oldest()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					if len(model) != 0 {
						t.Fatalf("seed %d step %d: Oldest() found nothing, model holds %d", seed, step, len(model))
					}
					continue
				}
				m, in := model[r.Seq]
				for seq := range model {
					if seq < r.Seq {
						t.Fatalf("seed %d step %d: Oldest() = %d, but %d is older", seed, step, r.Seq, seq)
					}
				}
				if !in || m.payload != string(r.Payload) || m.class != r.Class || m.key != r.Key {
					t.Fatalf("seed %d step %d: Oldest() = %+v, model has %+v", seed, step, r, m)
				}
				if err := s.Ack(r.Seq); err != nil {
					t.Fatal(err)
				}
				delete(model, r.Seq)
			default: // restart
				s.Close()
				var rec Recovery
				s, rec = open(t, dir, opts)
				if rec.Records != len(model) || len(rec.Torn) != 0 {
					t.Fatalf("seed %d step %d: reopen recovered %+v, model holds %d", seed, step, rec, len(model))
				}
			}
			st := s.Stats()
			if st.Bytes > maxBytes || st.Bytes != size() || st.Records != len(model) || st.Dropped != dropped {
				t.Fatalf("seed %d step %d: Stats() = %+v; model: %d records, %d bytes, dropped %+v, max %d",
					seed, step, st, len(model), size(), dropped, maxBytes)
			}
		}
		s.Close()
	}
}

// TestOpenFast opens a spool of 5,000 records: well under a second.
func TestOpenFast(t *testing.T) {
	dir := t.TempDir()
	const n = 5000
	fill(t, dir, n)
	start := time.Now()
	s, rec := open(t, dir, Options{})
	took := time.Since(start)
	if rec.Records != n {
		t.Fatalf("Open found %d records, want %d", rec.Records, n)
	}
	t.Logf("Open of %d records (%d bytes): %v", n, rec.Bytes, took)
	if took > 500*time.Millisecond {
		t.Errorf("Open of %d records took %v, want well under a second", n, took)
	}
	s.Close()
}

// fill writes n records straight to dir: one snapshot in 100, the rest
// discovery, 200 to 1,200 bytes each.
func fill(t testing.TB, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		seq := uint64(i + 1)
		class, key := Discovery, ""
		if i%100 == 0 {
			class, key = Snapshot, fmt.Sprintf("k%d", i)
		}
		write(t, dir, seq, encode(class, key, seq, int64(i), bytes.Repeat([]byte{byte(i)}, 200+i%1000)))
	}
}

func BenchmarkPut(b *testing.B) {
	s, _ := open(b, b.TempDir(), Options{})
	payload := bytes.Repeat([]byte("x"), 20<<10) // a typical gzip'd inventory
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := s.Put(Snapshot, "inventory", payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen5000(b *testing.B) {
	dir := b.TempDir()
	fill(b, dir, 5000)
	for b.Loop() {
		s, rec, err := Open(dir, Options{})
		if err != nil || rec.Records != 5000 {
			b.Fatalf("Open = %+v, %v", rec, err)
		}
		s.Close()
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(Snapshot, "inventory", 1, 2, []byte(`{"id":"x"}`)))
	f.Add(encode(Discovery, "", 99, 0, nil))
	f.Add([]byte("USP1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, key, payload, err := decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if again := encode(h.class, key, h.seq, h.spooled, payload); !bytes.Equal(again, b) {
			t.Fatalf("decode then encode changed the record:\n%x\n%x", b, again)
		}
	})
}
