//go:build linux

package jobs

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/scan"
	"github.com/umbrasec/umbra/agent/internal/discovery/testbed"
	"github.com/umbrasec/umbra/shared/wire"
)

// TestRunJobIntegration runs a scan job with the real scanner on the
// simulated office network, from its scanner namespace.
func TestRunJobIntegration(t *testing.T) {
	n := testbed.Up(t, 0)
	n.RunInScanner(t, "TestRunJobInScanner")
}

func TestRunJobInScanner(t *testing.T) {
	n := testbed.Child(t)
	router, _ := n.Host("router")
	fc := &fakeCollector{}
	const chunk = 20
	var mu sync.Mutex
	var spooledAt []time.Time
	var reps []*wire.Report
	var scanReturned time.Time
	r := New(fc, Options{AgentID: "a1", ProgressEvery: 100 * time.Millisecond, ChunkObservations: chunk, StreamEvery: 200 * time.Millisecond,
		Spool: func(rep *wire.Report) error {
			if err := rep.Validate(wire.DefaultLimits, time.Now()); err != nil {
				t.Errorf("spooled an invalid report: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			reps = append(reps, rep)
			spooledAt = append(spooledAt, time.Now())
			return nil
		},
		Scan: func(ctx context.Context, o scan.Options) scan.Result {
			res := scan.Run(ctx, o)
			mu.Lock()
			scanReturned = time.Now()
			mu.Unlock()
			return res
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	j := &wire.Job{ID: "scan-it", Targets: []string{n.Subnets[0]}, Methods: wire.ScanMethods, Rate: 2000, MaxAddrs: 1024, LeaseSeconds: 30,
		Credentials: []wire.SNMPCredential{{Name: "ro", Version: "2c", Community: "umbra-ro"}, {Name: "printers", Version: "2c", Community: "public"}}}
	start := time.Now()
	r.RunJob(t.Context(), j)

	mu.Lock()
	defer mu.Unlock()
	if len(reps) == 0 {
		t.Fatal("nothing was spooled")
	}
	during := 0
	for _, at := range spooledAt {
		if at.Before(scanReturned) {
			during++
		}
	}
	t.Logf("%d reports, %d of them spooled during the scan (first at +%v, the scan returned at +%v)",
		len(reps), during, spooledAt[0].Sub(start).Round(time.Millisecond), scanReturned.Sub(start).Round(time.Millisecond))
	if during == 0 {
		t.Error("no report was spooled while the scan ran")
	}
	seen := map[string]bool{}
	total := 0
	for i, rep := range reps {
		obs := rep.Discovery.Observations
		if len(obs) > chunk {
			t.Errorf("report %d holds %d observations, more than %d", i, len(obs), chunk)
		}
		for _, o := range obs {
			k := string(o.Method) + " " + o.IP + " " + o.MAC + " via " + o.Via + " " + o.Port
			if seen[k] {
				t.Errorf("%s spooled twice", k)
			}
			seen[k] = true
			total++
		}
	}
	for _, want := range []string{"arp " + router.IP + " " + router.MAC + " via  ", "snmp " + router.IP + " " + router.MAC + " via  "} {
		if !seen[want] {
			t.Errorf("no %q among the %d observations spooled", want, total)
		}
	}
	ps := fc.progressSnapshot()
	if p := ps[len(ps)-1]; p.State != wire.JobDone || p.Reports != len(reps) || p.Found < 8 {
		t.Errorf("last progress = %+v; want done with %d reports and the office's hosts", p, len(reps))
	}
}
