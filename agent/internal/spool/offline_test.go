package spool

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// TestFourteenDaysOffline drives the spool through 14 simulated days with the
// collector unreachable, at the agent's default schedule and sizes: a full
// inventory daily and a delta hourly (one keyed snapshot), a heartbeat every
// 5 minutes (another), and a discovery scan result every 30 minutes. The
// spool must stay under its 64 MiB bound, keep the latest inventory and
// heartbeat, keep the newest discovery data, and count what it dropped.
func TestFourteenDaysOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("writes about 140 MB of records")
	}
	const maxBytes = DefaultMaxBytes
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	s, _ := open(t, dir, Options{MaxBytes: maxBytes, noSync: true, now: func() time.Time { return clock }})

	rng := rand.New(rand.NewPCG(1, 2))
	payload := func(n int, tag string) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return append([]byte(tag+"|"), b...)
	}
	var lastInventory, lastHeartbeat []byte
	var lastScan string
	scans := 0
	end := clock.Add(14 * 24 * time.Hour)
	for step := 0; clock.Before(end); step++ { // one step = 5 minutes
		if step%(24*12) == 0 { // daily full inventory, ~400 KiB of JSON
			lastInventory = payload(400<<10, "full "+clock.Format(time.RFC3339))
			if _, err := s.Put(Snapshot, "inventory", lastInventory); err != nil {
				t.Fatalf("%s: full inventory: %v", clock, err)
			}
		} else if step%12 == 0 { // hourly delta replaces the unsent inventory
			lastInventory = payload(400<<10, "delta "+clock.Format(time.RFC3339))
			if _, err := s.Put(Snapshot, "inventory", lastInventory); err != nil {
				t.Fatalf("%s: delta inventory: %v", clock, err)
			}
		}
		lastHeartbeat = payload(256, "heartbeat "+clock.Format(time.RFC3339))
		if _, err := s.Put(Snapshot, "heartbeat", lastHeartbeat); err != nil {
			t.Fatalf("%s: heartbeat: %v", clock, err)
		}
		if step%6 == 0 { // a scan result every 30 minutes, ~200 KiB
			lastScan = fmt.Sprintf("scan %d", scans)
			if _, err := s.Put(Discovery, "", payload(200<<10, lastScan)); err != nil {
				t.Fatalf("%s: discovery: %v", clock, err)
			}
			scans++
		}
		if st := s.Stats(); st.Bytes > maxBytes {
			t.Fatalf("%s: spool holds %d bytes, bound %d", clock, st.Bytes, maxBytes)
		}
		clock = clock.Add(5 * time.Minute)
	}

	st := s.Stats()
	var onDisk int64
	if err := walkSize(dir, &onDisk); err != nil {
		t.Fatal(err)
	}
	t.Logf("after 14 days offline: %d records, %d bytes in records, %d bytes on disk; dropped %d discovery records (%d bytes) of %d",
		st.Records, st.Bytes, onDisk, st.Dropped.Records, st.Dropped.Bytes, scans)
	if onDisk > maxBytes+1<<20 {
		t.Errorf("spool folder holds %d bytes, want under %d", onDisk, maxBytes)
	}
	if st.Dropped.Records == 0 || st.Dropped.Records >= int64(scans) {
		t.Errorf("dropped %d of %d discovery records; want some, not all", st.Dropped.Records, scans)
	}

	// Reopen as after a reboot and drain: the newest inventory and heartbeat
	// are there once each, the newest scan is there, drops are remembered.
	s.Close()
	s, rec := open(t, dir, Options{MaxBytes: maxBytes, noSync: true})
	if len(rec.Torn) != 0 {
		t.Errorf("reopen found torn records: %v", rec.Torn)
	}
	if got := s.Dropped(); got != st.Dropped {
		t.Errorf("after reopen Dropped = %+v, want %+v", got, st.Dropped)
	}
	var inventories, heartbeats int
	var sawLastScan bool
	for {
		r, ok, err := s.Oldest()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		switch {
		case r.Key == "inventory":
			inventories++
			if !bytes.Equal(r.Payload, lastInventory) {
				t.Error("the spooled inventory is not the newest")
			}
		case r.Key == "heartbeat":
			heartbeats++
			if !bytes.Equal(r.Payload, lastHeartbeat) {
				t.Error("the spooled heartbeat is not the newest")
			}
		case bytes.HasPrefix(r.Payload, []byte(lastScan+"|")):
			sawLastScan = true
		}
		if err := s.Ack(r.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if inventories != 1 || heartbeats != 1 || !sawLastScan {
		t.Errorf("drained %d inventories, %d heartbeats, newest scan %v; want 1, 1, true", inventories, heartbeats, sawLastScan)
	}
}

// walkSize adds up the sizes of the files in dir.
func walkSize(dir string, total *int64) error {
	return filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		*total += info.Size()
		return nil
	})
}
