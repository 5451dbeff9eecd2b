package jobs

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/scan"
	"github.com/umbrasec/umbra/shared/wire"
)

// fakeCollector answers Call like the collector's job API.
type fakeCollector struct {
	mu       sync.Mutex
	jobs     []*wire.Job
	progress []wire.JobProgress
	stopAt   int // answer Stop to the progress report number stopAt (1-based); 0 never
}

func (f *fakeCollector) Call(ctx context.Context, method, path string, body, out any) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case method == http.MethodGet && strings.HasPrefix(path, wire.PathJobsNext):
		if len(f.jobs) == 0 {
			f.mu.Unlock()
			<-ctx.Done()
			f.mu.Lock()
			return false, nil
		}
		b, _ := json.Marshal(f.jobs[0])
		f.jobs = f.jobs[1:]
		return true, json.Unmarshal(b, out)
	case method == http.MethodPost:
		b, _ := json.Marshal(body)
		var p wire.JobProgress
		_ = json.Unmarshal(b, &p)
		f.progress = append(f.progress, p)
		ack := out.(*wire.JobAck)
		ack.Stop = f.stopAt > 0 && len(f.progress) >= f.stopAt
		return true, nil
	}
	return false, nil
}

func job() *wire.Job {
	return &wire.Job{ID: "scan-1", Targets: []string{"198.18.1.0/24"}, Methods: []string{"sweep", "snmp"}, Rate: 123, MaxAddrs: 4096,
		LeaseSeconds: 30, Credentials: []wire.SNMPCredential{{Name: "ro", Version: "2c", Community: "s3cret"}}}
}

func TestRunJobChunksAndProgress(t *testing.T) {
	fc := &fakeCollector{}
	var spooled []*wire.Report
	var got scan.Options
	r := New(fc, Options{AgentID: "a1", ProgressEvery: 5 * time.Millisecond, ChunkObservations: 3,
		Spool: func(rep *wire.Report) error {
			if err := rep.Validate(wire.DefaultLimits, rep.CreatedAt); err != nil {
				t.Errorf("spooled an invalid report: %v", err)
			}
			spooled = append(spooled, rep)
			return nil
		},
		Scan: func(ctx context.Context, o scan.Options) scan.Result {
			got = o
			o.Progress(scan.Progress{Phase: "arp", Probed: 100, Total: 256, Found: 3, Percent: 30, ETA: time.Second})
			time.Sleep(30 * time.Millisecond)
			var rows []*scan.Row
			for i := 1; i <= 4; i++ {
				a := netip.AddrFrom4([4]byte{198, 18, 1, byte(i)})
				rows = append(rows, &scan.Row{Addr: a, Methods: []string{"arp"}, Obs: []wire.Observation{
					{ObservedAt: time.Now().UTC().Truncate(time.Millisecond), Method: wire.MethodARP, IP: a.String()},
					{ObservedAt: time.Now().UTC().Truncate(time.Millisecond), Method: wire.MethodICMP, IP: a.String()},
				}})
			}
			d := wire.Discovery{StartedAt: time.Now().UTC(), FinishedAt: time.Now().UTC(), Targets: o.Targets}
			for _, r := range rows {
				d.Observations = append(d.Observations, r.Obs...)
			}
			return scan.Result{Discovery: d, Rows: rows}
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.RunJob(context.Background(), job())
	if got.Profile.Rate != 123 || got.Set.Len() != 254 || got.Profile.ARPRate != 123 || len(got.Credentials) != 1 || !got.NoMDNS || !got.NoNames || got.NoSweep {
		t.Errorf("scan options = %+v", got)
	}
	if len(spooled) != 4 { // 8 observations, a host's two together, at most 3 per report
		t.Errorf("%d reports spooled, want 4", len(spooled))
	}
	if len(fc.progress) < 2 {
		t.Fatalf("progress = %+v", fc.progress)
	}
	if p := fc.progress[0]; p.State != wire.JobRunning || p.Phase != "arp" || p.Found != 3 || p.Percent != 30 {
		t.Errorf("first progress = %+v", p)
	}
	if p := fc.progress[len(fc.progress)-1]; p.State != wire.JobDone || p.Found != 4 || p.Reports != 4 || p.Percent != 100 {
		t.Errorf("last progress = %+v", p)
	}
}

func TestRunJobStop(t *testing.T) {
	fc := &fakeCollector{stopAt: 1}
	spooled := 0
	r := New(fc, Options{AgentID: "a1", ProgressEvery: 5 * time.Millisecond,
		Spool: func(*wire.Report) error { spooled++; return nil },
		Scan: func(ctx context.Context, o scan.Options) scan.Result {
			<-ctx.Done() // the scan runs until stopped
			return scan.Result{}
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() { r.RunJob(context.Background(), job()); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the job did not stop when the collector said so")
	}
	if spooled != 0 {
		t.Errorf("a stopped job spooled %d reports", spooled)
	}
}

func TestRunJobRefusesTooLarge(t *testing.T) {
	fc := &fakeCollector{}
	r := New(fc, Options{AgentID: "a1", MaxAddrs: 16, Spool: func(*wire.Report) error { return nil },
		Scan: func(context.Context, scan.Options) scan.Result {
			t.Error("scanned a job over the agent's bound")
			return scan.Result{}
		}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.RunJob(context.Background(), job())
	if len(fc.progress) != 1 || fc.progress[0].State != wire.JobFailed || !strings.Contains(fc.progress[0].Error, "refused by the agent") {
		t.Errorf("progress = %+v; want one failed report", fc.progress)
	}
}

func TestRunPollsAndStops(t *testing.T) {
	fc := &fakeCollector{jobs: []*wire.Job{job()}}
	ran := make(chan struct{}, 1)
	r := New(fc, Options{AgentID: "a1", Wait: time.Second, Spool: func(*wire.Report) error { return nil },
		Scan: func(context.Context, scan.Options) scan.Result { ran <- struct{}{}; return scan.Result{} }},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the polled job did not run")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
