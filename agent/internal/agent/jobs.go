package agent

import (
	"context"

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
// client cannot fetch jobs (tests' fake senders).
func (a *Agent) jobLoop(ctx context.Context) {
	c, ok := a.client.(jobCaller)
	if !ok {
		return
	}
	r := jobs.New(c, jobs.Options{
		AgentID: a.agentID,
		Spool: func(rep *wire.Report) error {
			return a.spoolReport(rep, spool.Discovery, "scan")
		},
	}, a.log.With("component", "jobs"))
	r.Run(ctx)
}
