// Package jobs runs the scans the collector asks this agent for: it
// long-polls for a job, scans exactly the job's targets at the job's rate,
// reports progress (which renews the job's lease and may tell it to stop),
// and spools the results as discovery reports in chunks.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
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
	})
	close(tickDone)
	wg.Wait()
	mu.Lock()
	wasStopped := stopped
	mu.Unlock()
	if wasStopped || ctx.Err() != nil {
		// The job is someone else's now, or the agent is stopping: the
		// lease runs out and the collector gives the job to another.
		return
	}
	n, err := r.spoolChunks(job, res)
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

// spoolChunks spools the result as discovery reports of at most
// ChunkObservations observations each, a host's observations together.
func (r *Runner) spoolChunks(job *wire.Job, res scan.Result) (int, error) {
	d := res.Discovery
	var chunks [][]wire.Observation
	var cur []wire.Observation
	for _, row := range res.Rows {
		if len(cur) > 0 && len(cur)+len(row.Obs) > r.opt.ChunkObservations {
			chunks = append(chunks, cur)
			cur = nil
		}
		cur = append(cur, row.Obs...)
	}
	if len(cur) > 0 || len(chunks) == 0 {
		chunks = append(chunks, cur)
	}
	for i, obs := range chunks {
		part := d
		part.Observations = obs
		if part.Observations == nil {
			part.Observations = []wire.Observation{}
		}
		if i > 0 {
			part.Errors = nil // once is enough
		}
		rep := &wire.Report{Schema: wire.Schema, ID: uuid.NewString(), Kind: wire.KindDiscovery, AgentID: r.opt.AgentID,
			AgentVersion: version.Version, CreatedAt: time.Now().UTC(), Discovery: &part}
		if err := r.opt.Spool(rep); err != nil {
			return i, fmt.Errorf("spooling the results of scan %s: %w", job.ID, err)
		}
	}
	return len(chunks), nil
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
