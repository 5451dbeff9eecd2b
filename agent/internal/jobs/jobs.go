// Package jobs runs the scans the collector asks this agent for: it
// long-polls for a job, scans exactly the job's targets at the job's rate,
// reports progress (which renews the job's lease and may tell it to stop),
// and spools the results as discovery reports in chunks while the scan
// runs, so that what it has found so far is on its way even if the job
// is stopped or the agent dies before the scan ends.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/agent/internal/discovery/scan"
	"github.com/umbrasec/umbra/agent/internal/discovery/snmp"
	"github.com/umbrasec/umbra/agent/internal/discovery/sweep"
	"github.com/umbrasec/umbra/agent/internal/discovery/target"
	"github.com/umbrasec/umbra/agent/internal/uplink"
	"github.com/umbrasec/umbra/shared/version"
	"github.com/umbrasec/umbra/shared/wire"
)

// caller talks to the collector's agent API (uplink.Client).
type caller interface {
	Call(ctx context.Context, method, path string, body, out any) (bool, error)
}

// Options configure a Runner.
type Options struct {
	// AgentID stamps the reports.
	AgentID string
	// Spool delivers a discovery report (validated, durable) to the
	// collector, e.g. through the agent's spool.
	Spool func(rep *wire.Report) error
	// MaxAddrs is this agent's own bound on a job's addresses, whatever
	// the collector says; zero means target.DefaultMaxAddrs.
	MaxAddrs int
	// Wait is the long poll's wait; zero means 20 seconds.
	Wait time.Duration
	// ProgressEvery is how often progress is posted; zero means 2 seconds
	// (never more than a third of the job's lease).
	ProgressEvery time.Duration
	// ChunkObservations bounds the observations of one report; zero
	// means 500.
	ChunkObservations int
	// StreamEvery is how often observations the scan has streamed but
	// that do not fill a chunk yet are spooled; zero means 5 seconds.
	StreamEvery time.Duration
	// Scan runs a scan; nil means scan.Run. Tests replace it.
	Scan func(context.Context, scan.Options) scan.Result
}

// Runner fetches and runs jobs.
type Runner struct {
	c   caller
	opt Options
	log *slog.Logger
}

// New returns a runner over the collector client c.
func New(c caller, opt Options, log *slog.Logger) *Runner {
	if opt.Wait <= 0 {
		opt.Wait = 20 * time.Second
	}
	opt.Wait = min(opt.Wait, wire.MaxJobWait)
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = 2 * time.Second
	}
	if opt.ChunkObservations <= 0 {
		opt.ChunkObservations = 500
	}
	if opt.StreamEvery <= 0 {
		opt.StreamEvery = 5 * time.Second
	}
	if opt.MaxAddrs <= 0 {
		opt.MaxAddrs = target.DefaultMaxAddrs
	}
	if opt.Scan == nil {
		opt.Scan = scan.Run
	}
	return &Runner{c: c, opt: opt, log: log}
}

// Run polls for jobs and runs them one at a time until ctx is done.
func (r *Runner) Run(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		var job wire.Job
		pctx, cancel := context.WithTimeout(ctx, r.opt.Wait+15*time.Second)
		ok, err := r.c.Call(pctx, http.MethodGet, wire.PathJobsNext+"?wait="+strconv.Itoa(int(r.opt.Wait/time.Second)), nil, &job)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			backoff = min(max(2*backoff, time.Second), 2*time.Minute)
			var refused *uplink.RefusedError
			if errors.As(err, &refused) && refused.Code == http.StatusNotImplemented {
				backoff = 10 * time.Minute // a collector that runs no scans
			}
			r.log.Debug("polling for scan jobs", "error", err, "retry_in_seconds", backoff.Seconds())
			sleep(ctx, backoff/2+rand.N(backoff/2+1))
			continue
		case !ok:
			backoff = 0
			continue
		}
		backoff = 0
		r.RunJob(ctx, &job)
	}
}

// RunJob runs one job to its end, or until the collector says stop.
func (r *Runner) RunJob(ctx context.Context, job *wire.Job) {
	log := r.log.With("scan_id", job.ID)
	if err := job.Validate(); err != nil {
		log.Warn("refusing an invalid scan job", "error", err)
		r.post(ctx, job.ID, wire.JobProgress{State: wire.JobFailed, ETASeconds: -1, Error: err.Error()})
		return
	}
	set, err := target.Parse(job.Targets, nil, min(job.MaxAddrs, r.opt.MaxAddrs))
	if err != nil {
		log.Warn("refusing a scan job", "error", err)
		r.post(ctx, job.ID, wire.JobProgress{State: wire.JobFailed, ETASeconds: -1, Error: "refused by the agent: " + err.Error()})
		return
	}
	creds, err := credentials(job.Credentials)
	if err != nil {
		r.post(ctx, job.ID, wire.JobProgress{State: wire.JobFailed, ETASeconds: -1, Error: err.Error()})
		return
	}
	p := sweep.Polite
	p.Rate = job.Rate
	p.ARPRate = min(p.ARPRate, job.Rate) // the job's rate is the whole budget, ARP included
	p.Concurrency = min(p.Concurrency, max(1, job.Rate))
	log.Info("scan job started", "targets", job.Targets, "addresses", set.Len(), "rate", job.Rate, "methods", job.Methods)

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex
	latest := wire.JobProgress{State: wire.JobRunning, Total: set.Len(), ETASeconds: -1}
	out := &outbox{r: r, job: job,
		head: wire.Discovery{StartedAt: time.Now().UTC(), Targets: job.Targets, Profile: p.Name},
		spooled: func(n int) {
			mu.Lock()
			latest.Reports = n
			mu.Unlock()
		}}
	every := min(r.opt.ProgressEvery, time.Duration(job.LeaseSeconds)*time.Second/3)
	var wg sync.WaitGroup
	var stopped bool
	tickDone := make(chan struct{})
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-tickDone:
				return
			case <-sctx.Done():
				return
			case <-t.C:
			}
			mu.Lock()
			pr := latest
			mu.Unlock()
			if ack, ok := r.post(sctx, job.ID, pr); ok && ack.Stop {
				log.Info("collector stopped the scan", "reason", ack.Reason)
				mu.Lock()
				stopped = true
				mu.Unlock()
				stop()
				return
			}
		}
	})
	// What the scan streams but fills no chunk yet goes out every
	// StreamEvery, so that a slow scan delivers steadily.
	wg.Go(func() {
		t := time.NewTicker(r.opt.StreamEvery)
		defer t.Stop()
		for {
			select {
			case <-tickDone:
				return
			case <-t.C:
			}
			if err := out.flush(nil); err != nil {
				log.Warn("spooling scan results", "error", err)
			}
		}
	})
	res := r.opt.Scan(sctx, scan.Options{
		Set: set, Targets: job.Targets, Profile: p, Credentials: creds,
		NoSweep: !job.Has(wire.ScanSweep), NoSNMP: !job.Has(wire.ScanSNMP), NoMDNS: !job.Has(wire.ScanMDNS), NoNames: !job.Has(wire.ScanNames),
		Progress: func(sp scan.Progress) {
			mu.Lock()
			latest.Phase, latest.Probed, latest.Total, latest.Found = sp.Phase, sp.Probed, sp.Total, sp.Found
			latest.Percent, latest.ETASeconds = min(sp.Percent, 99.9), int(sp.ETA/time.Second)
			if sp.ETA < 0 {
				latest.ETASeconds = -1
			}
			mu.Unlock()
		},
		Stream: out.add,
	})
	close(tickDone)
	wg.Wait()
	mu.Lock()
	wasStopped := stopped
	mu.Unlock()
	if wasStopped || ctx.Err() != nil {
		// The job is someone else's now, or the agent is stopping: the
		// lease runs out and the collector gives the job to another.
		// What the scan streamed is delivered all the same; the rest of
		// an interrupted scan is not.
		if err := out.flush(nil); err != nil {
			log.Warn("spooling scan results", "error", err)
		}
		log.Info("scan job interrupted", "reports", out.count())
		return
	}
	err = out.flush(&res.Discovery)
	n := out.count()
	found := 0
	for _, row := range res.Rows {
		if len(row.Methods) != 1 || row.Methods[0] != "snmp-arp" {
			found++
		}
	}
	final := wire.JobProgress{State: wire.JobDone, Phase: "done", Probed: set.Len(), Total: set.Len(), Found: found,
		Percent: 100, Reports: n}
	if err != nil {
		final.State, final.Error = wire.JobFailed, err.Error()
	}
	r.post(ctx, job.ID, final)
	log.Info("scan job finished", "state", final.State, "hosts_found", found, "reports", n, "error", final.Error)
}

// outbox spools a job's observations as discovery reports of at most
// ChunkObservations observations each, while the scan streams them and
// at its end.
type outbox struct {
	r    *Runner
	job  *wire.Job
	head wire.Discovery // what the streamed reports say of the scan
	// spooled, if not nil, is told the number of reports spooled so far
	// after each one.
	spooled func(int)

	mu      sync.Mutex
	pending []wire.Observation
	reports int
	err     error // the last spool failure, until a spool succeeds
}

// add queues streamed observations and spools every full chunk. A spool
// failure keeps them queued for the next flush.
func (o *outbox) add(obs []wire.Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending = append(o.pending, obs...)
	if o.err == nil {
		_ = o.spool(false, nil)
	}
}

// flush spools everything queued. With final (the scan's own discovery),
// it spools final's observations too, and final's errors and end with
// the first report; it spools a report even when nothing is left if
// final has errors or no report went out yet.
func (o *outbox) flush(final *wire.Discovery) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if final != nil {
		o.pending = append(o.pending, final.Observations...)
	}
	return o.spool(true, final)
}

func (o *outbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reports
}

// spool spools the queued observations in chunks: every one with all,
// else only full chunks. o.mu is held.
func (o *outbox) spool(all bool, final *wire.Discovery) error {
	size := o.r.opt.ChunkObservations
	first := true
	for len(o.pending) >= size || (all && len(o.pending) > 0) ||
		(final != nil && first && (len(final.Errors) > 0 || o.reports == 0)) {
		n := cut(o.pending, size)
		d := o.head
		d.FinishedAt = time.Now().UTC()
		if final != nil {
			d = *final
			if !first {
				d.Errors = nil // once is enough
			}
		}
		d.Observations = slices.Clone(o.pending[:n])
		if d.Observations == nil {
			d.Observations = []wire.Observation{}
		}
		rep := &wire.Report{Schema: wire.Schema, ID: uuid.NewString(), Kind: wire.KindDiscovery, AgentID: o.r.opt.AgentID,
			AgentVersion: version.Version, CreatedAt: time.Now().UTC(), Discovery: &d}
		if err := o.r.opt.Spool(rep); err != nil {
			o.err = fmt.Errorf("spooling the results of scan %s: %w", o.job.ID, err)
			return o.err
		}
		o.err = nil
		o.pending = o.pending[n:]
		o.reports++
		first = false
		if o.spooled != nil {
			o.spooled(o.reports)
		}
	}
	if len(o.pending) == 0 {
		o.pending = nil // let the spooled ones go
	}
	return nil
}

// cut returns how many of obs go into the next report of at most size:
// the observations of one address stay together, unless they alone are
// more than size.
func cut(obs []wire.Observation, size int) int {
	if len(obs) <= size {
		return len(obs)
	}
	n := size
	for n > 0 && obs[n].IP != "" && obs[n].IP == obs[n-1].IP {
		n--
	}
	if n == 0 {
		return size
	}
	return n
}

// post sends a progress report; ok is false when it did not get through.
func (r *Runner) post(ctx context.Context, id string, p wire.JobProgress) (wire.JobAck, bool) {
	var ack wire.JobAck
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ok, err := r.c.Call(pctx, http.MethodPost, wire.PathJobProgress(id), p, &ack)
	if err != nil {
		var refused *uplink.RefusedError
		if errors.As(err, &refused) && refused.Code == http.StatusNotFound {
			return wire.JobAck{Stop: true, Reason: "the collector does not know the scan"}, true
		}
		r.log.Debug("posting scan progress", "scan_id", id, "error", err)
		return ack, false
	}
	return ack, ok
}

// credentials turns the job's credentials into SNMP ones.
func credentials(cs []wire.SNMPCredential) ([]snmp.Credential, error) {
	var out []snmp.Credential
	for _, c := range cs {
		sc := snmp.Credential{Version: snmp.Version(c.Version), Community: snmp.Secret(c.Community), User: c.User,
			Auth: c.AuthProto, AuthPass: snmp.Secret(c.AuthPass), Priv: c.PrivProto, PrivPass: snmp.Secret(c.PrivPass)}
		if err := sc.Validate(); err != nil {
			return nil, fmt.Errorf("credential %q: %w", c.Name, err)
		}
		out = append(out, sc)
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
