package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/scan"
	"github.com/umbrasec/umbra/shared/wire"
)

// spoolRecorder is a Spool that keeps what it was given.
type spoolRecorder struct {
	t    *testing.T
	mu   sync.Mutex
	reps []*wire.Report
	fail int // fail this many calls first
}

func (s *spoolRecorder) spool(rep *wire.Report) error {
	if err := rep.Validate(wire.DefaultLimits, rep.CreatedAt); err != nil {
		s.t.Errorf("spooled an invalid report: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail > 0 {
		s.fail--
		return errors.New("spool full")
	}
	s.reps = append(s.reps, rep)
	return nil
}

func (s *spoolRecorder) reports() []*wire.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*wire.Report(nil), s.reps...)
}

// observations lists what was spooled, by method and address.
func (s *spoolRecorder) observations() []string {
	var out []string
	for _, r := range s.reports() {
		for _, o := range r.Discovery.Observations {
			out = append(out, string(o.Method)+" "+o.IP)
		}
	}
	return out
}

// hostObs are n hosts' observations from 198.18.1.from on, two per host.
func hostObs(from, n int) []wire.Observation {
	var out []wire.Observation
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := from; i < from+n; i++ {
		ip := netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}).String()
		out = append(out, wire.Observation{ObservedAt: now, Method: wire.MethodARP, IP: ip, MAC: fmt.Sprintf("02:00:00:00:00:%02x", i)},
			wire.Observation{ObservedAt: now, Method: wire.MethodICMP, IP: ip})
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fakeCollector) progressSnapshot() []wire.JobProgress {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.JobProgress(nil), f.progress...)
}

// TestRunJobStreams runs a scan that streams its results over time: they
// are spooled while it runs, full chunks at once and partial ones on the
// clock, every observation once, and the progress counts the reports.
func TestRunJobStreams(t *testing.T) {
	fc := &fakeCollector{}
	sp := &spoolRecorder{t: t}
	const chunk = 5
	var sent []string
	r := New(fc, Options{AgentID: "a1", ProgressEvery: 5 * time.Millisecond, ChunkObservations: chunk, StreamEvery: 20 * time.Millisecond,
		Spool: sp.spool,
		Scan: func(ctx context.Context, o scan.Options) scan.Result {
			if o.Stream == nil {
				t.Fatal("the runner gave the scan no stream")
			}
			stream := func(obs []wire.Observation) {
				for _, x := range obs {
					sent = append(sent, string(x.Method)+" "+x.IP)
				}
				o.Stream(obs)
			}
			// One host: less than a chunk, spooled on the clock while
			// the scan still runs.
			stream(hostObs(1, 1))
			waitFor(t, "a partial chunk to be spooled during the scan", func() bool { return len(sp.reports()) == 1 })
			if got := len(sp.reports()[0].Discovery.Observations); got != 2 {
				t.Errorf("the first report holds %d observations, want 2", got)
			}
			waitFor(t, "a running progress report to count the spooled report", func() bool {
				for _, p := range fc.progressSnapshot() {
					if p.State == wire.JobRunning && p.Reports == 1 {
						return true
					}
				}
				return false
			})
			// Six hosts, twelve observations: the full chunks go out
			// before Stream returns, a host's two together.
			stream(hostObs(2, 6))
			if n := len(sp.reports()); n < 3 {
				t.Errorf("%d reports spooled right after streaming 12 observations, want at least 3", n)
			}
			// The rest of the scan: what it did not stream.
			d := wire.Discovery{StartedAt: time.Now().UTC(), FinishedAt: time.Now().UTC(), Targets: o.Targets, Profile: o.Profile.Name,
				Observations: hostObs(8, 2), Errors: []wire.SourceError{{Source: "mdns", Error: "no multicast"}}}
			var rows []*scan.Row
			for i := 1; i <= 9; i++ {
				rows = append(rows, &scan.Row{Addr: netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}), Methods: []string{"arp", "icmp"}})
			}
			return scan.Result{Discovery: d, Rows: rows, Streamed: 14}
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.RunJob(context.Background(), job())

	reps := sp.reports()
	got := sp.observations()
	if len(got) != 18 {
		t.Errorf("%d observations spooled, want 18: %v", len(got), got)
	}
	seen := map[string]bool{}
	for _, o := range got {
		if seen[o] {
			t.Errorf("%s spooled twice", o)
		}
		seen[o] = true
	}
	for _, o := range append(sent, "arp 198.18.1.8", "icmp 198.18.1.8", "arp 198.18.1.9", "icmp 198.18.1.9") {
		if !seen[o] {
			t.Errorf("%s was never spooled", o)
		}
	}
	errs := 0
	for i, rep := range reps {
		obs := rep.Discovery.Observations
		if len(obs) > chunk {
			t.Errorf("report %d holds %d observations, more than %d", i, len(obs), chunk)
		}
		if len(obs) == 0 {
			t.Errorf("report %d is empty", i)
		}
		if len(obs) > 0 && len(obs)%2 != 0 {
			t.Errorf("report %d splits a host: %+v", i, obs)
		}
		errs += len(rep.Discovery.Errors)
		if rep.Discovery.StartedAt.IsZero() || len(rep.Discovery.Targets) != 1 || rep.Discovery.Profile != "polite" {
			t.Errorf("report %d: discovery %+v", i, rep.Discovery)
		}
	}
	if errs != 1 {
		t.Errorf("the scan's errors are in %d reports, want 1", errs)
	}
	ps := fc.progressSnapshot()
	if p := ps[len(ps)-1]; p.State != wire.JobDone || p.Reports != len(reps) || p.Found != 9 {
		t.Errorf("last progress = %+v; want done with %d reports, 9 found", p, len(reps))
	}
	last := 0
	for _, p := range ps {
		if p.Reports < last {
			t.Errorf("the reports counter went back from %d to %d", last, p.Reports)
		}
		last = p.Reports
	}
}

// TestRunJobStopKeepsStreamed stops a streaming scan half way, by the
// collector or by the agent stopping: what it streamed is spooled, what
// the interrupted scan returns is not.
func TestRunJobStopKeepsStreamed(t *testing.T) {
	for _, by := range []string{"collector", "agent"} {
		t.Run(by, func(t *testing.T) {
			fc := &fakeCollector{}
			if by == "collector" {
				fc.stopAt = 3
			}
			sp := &spoolRecorder{t: t}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			streamed := make(chan struct{})
			r := New(fc, Options{AgentID: "a1", ProgressEvery: 5 * time.Millisecond, ChunkObservations: 4, StreamEvery: time.Hour,
				Spool: sp.spool,
				Scan: func(sctx context.Context, o scan.Options) scan.Result {
					o.Stream(hostObs(1, 3)) // a full chunk and a partial one
					close(streamed)
					<-sctx.Done()
					return scan.Result{Discovery: wire.Discovery{StartedAt: time.Now().UTC(), FinishedAt: time.Now().UTC(), Observations: hostObs(10, 1)}}
				}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			done := make(chan struct{})
			go func() { r.RunJob(ctx, job()); close(done) }()
			<-streamed
			if by == "agent" {
				cancel()
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the job did not stop")
			}
			got := sp.observations()
			if len(got) != 6 {
				t.Errorf("spooled %v; want the 6 streamed observations", got)
			}
			for _, o := range got {
				if o == "arp 198.18.1.10" || o == "icmp 198.18.1.10" {
					t.Errorf("spooled %s from the interrupted scan's result", o)
				}
			}
			for _, p := range fc.progressSnapshot() {
				if p.State != wire.JobRunning {
					t.Errorf("an interrupted job posted %+v", p)
				}
			}
		})
	}
}

// TestRunJobStreamSpoolFails keeps streamed observations when the spool
// refuses them and delivers them once it takes them again.
func TestRunJobStreamSpoolFails(t *testing.T) {
	fc := &fakeCollector{}
	sp := &spoolRecorder{t: t, fail: 2}
	r := New(fc, Options{AgentID: "a1", ProgressEvery: 5 * time.Millisecond, ChunkObservations: 4, StreamEvery: 10 * time.Millisecond,
		Spool: sp.spool,
		Scan: func(ctx context.Context, o scan.Options) scan.Result {
			o.Stream(hostObs(1, 2)) // a full chunk: refused
			o.Stream(hostObs(3, 1)) // queued behind it
			waitFor(t, "the refused observations to be spooled on the clock", func() bool { return len(sp.observations()) == 6 })
			return scan.Result{Discovery: wire.Discovery{StartedAt: time.Now().UTC(), FinishedAt: time.Now().UTC(), Observations: hostObs(4, 1)}}
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.RunJob(context.Background(), job())
	if got := sp.observations(); len(got) != 8 {
		t.Errorf("spooled %v; want 8 observations, each once", got)
	}
	ps := fc.progressSnapshot()
	if p := ps[len(ps)-1]; p.State != wire.JobDone || p.Reports != len(sp.reports()) {
		t.Errorf("last progress = %+v; want done with %d reports", p, len(sp.reports()))
	}
}

// TestRunJobSpoolFailsAtEnd fails the job when its results cannot be
// spooled.
func TestRunJobSpoolFailsAtEnd(t *testing.T) {
	fc := &fakeCollector{}
	sp := &spoolRecorder{t: t, fail: 1000}
	r := New(fc, Options{AgentID: "a1", ProgressEvery: 5 * time.Millisecond, Spool: sp.spool,
		Scan: func(ctx context.Context, o scan.Options) scan.Result {
			o.Stream(hostObs(1, 1))
			return scan.Result{Discovery: wire.Discovery{StartedAt: time.Now().UTC(), FinishedAt: time.Now().UTC(), Observations: hostObs(2, 1)}}
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.RunJob(context.Background(), job())
	ps := fc.progressSnapshot()
	if p := ps[len(ps)-1]; p.State != wire.JobFailed || p.Error == "" || p.Reports != 0 {
		t.Errorf("last progress = %+v; want failed with the spool's error", p)
	}
}

func TestCut(t *testing.T) {
	obs := func(ips ...string) []wire.Observation {
		var out []wire.Observation
		for _, ip := range ips {
			out = append(out, wire.Observation{Method: wire.MethodARP, IP: ip})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		obs  []wire.Observation
		size int
		want int
	}{
		{"fits", obs("a", "a", "b"), 3, 3},
		{"between hosts", obs("a", "a", "b", "b"), 3, 2},
		{"exact boundary", obs("a", "b", "c", "c"), 2, 2},
		{"one host over the size", obs("a", "a", "a", "a", "b"), 3, 3},
		{"no address", obs("", "", "", ""), 2, 2},
		{"empty", nil, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cut(tc.obs, tc.size); got != tc.want {
				t.Errorf("cut(%d observations, %d) = %d, want %d", len(tc.obs), tc.size, got, tc.want)
			}
		})
	}
}
