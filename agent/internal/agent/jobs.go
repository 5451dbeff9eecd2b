package agent

import (
	"context"
	"net/http"
	"strings"

	"github.com/umbrasec/umbra/agent/internal/jobs"
	"github.com/umbrasec/umbra/agent/internal/spool"
	"github.com/umbrasec/umbra/shared/wire"
)

// jobCaller is the part of the uplink client the scan jobs need.
type jobCaller interface {
	Call(ctx context.Context, method, path string, body, out any) (bool, error)
}

// jobLoop runs the scans the collector asks this agent for, spooling
// their results like any discovery report. It does nothing when the
// client cannot fetch jobs (tests' fake senders). Every job passes
// through trustGate first: on a network the collector does not trust, the
// runner never sees the job.
func (a *Agent) jobLoop(ctx context.Context) {
	c, ok := a.client.(jobCaller)
	if !ok {
		return
	}
	r := jobs.New(&trustGate{c: c, a: a}, jobs.Options{
		AgentID: a.agentID,
		Spool: func(rep *wire.Report) error {
			return a.spoolReport(rep, spool.Discovery, "scan")
		},
		Scan: a.scan,
	}, a.log.With("component", "jobs"))
	r.Run(ctx)
}

// trustGate wraps the collector client of the job runner. A job fetched
// from the collector is handed on only if the agent's network is trusted
// now (Agent.scanAllowed); otherwise the gate itself reports the job
// failed with the reason, and the runner sees no job: nothing is scanned
// and no probe leaves the host.
type trustGate struct {
	c jobCaller
	a *Agent
}

func (g *trustGate) Call(ctx context.Context, method, path string, body, out any) (bool, error) {
	ok, err := g.c.Call(ctx, method, path, body, out)
	if err != nil || !ok || method != http.MethodGet || !strings.HasPrefix(path, wire.PathJobsNext) {
		return ok, err
	}
	job, isJob := out.(*wire.Job)
	if !isJob {
		return ok, err
	}
	refusal := g.a.scanAllowed(ctx)
	if refusal == nil {
		return true, nil
	}
	g.a.log.Warn("scan job refused", "scan_id", job.ID, "targets", job.Targets, "reason", refusal)
	var ack wire.JobAck
	if _, perr := g.c.Call(ctx, http.MethodPost, wire.PathJobProgress(job.ID),
		wire.JobProgress{State: wire.JobFailed, ETASeconds: -1, Error: refusal.Error()}, &ack); perr != nil {
		g.a.log.Warn("reporting the refused scan job", "scan_id", job.ID, "error", perr)
	}
	*job = wire.Job{}
	return false, nil
}
