// Package agent is the long-running agent: it collects on a schedule,
// writes every report to the spool, and drains the spool to the collector.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/agent/internal/config"
	"github.com/umbrasec/umbra/agent/internal/discovery/scan"
	"github.com/umbrasec/umbra/agent/internal/inventory"
	"github.com/umbrasec/umbra/agent/internal/inventory/delta"
	"github.com/umbrasec/umbra/agent/internal/spool"
	"github.com/umbrasec/umbra/agent/internal/state"
	"github.com/umbrasec/umbra/agent/internal/uplink"
	"github.com/umbrasec/umbra/shared/version"
	"github.com/umbrasec/umbra/shared/wire"
)

// inventoryKey is the spool key of the inventory snapshot: a newer one
// replaces the unsent older one.
const inventoryKey = "inventory"

// sender delivers one report (uplink.Client).
type sender interface {
	Send(ctx context.Context, rep *wire.Report) (uplink.Sent, error)
}

// Agent runs the schedules and the delivery of one agent.
type Agent struct {
	cfg     config.Config
	log     *slog.Logger
	client  sender
	collect func(context.Context) (*wire.Inventory, error)
	// netView reads the network the agent sits on (trusted networks).
	netView func() wire.NetworkView
	// scan runs a scan job's scan; nil means the real one. Tests set it.
	scan func(context.Context, scan.Options) scan.Result

	policyMu sync.Mutex
	policy   *wire.NetworkPolicy // nil until received or read from the state folder

	// Set by Run.
	startedAt time.Time
	agentID   string
	spool     *spool.Spool
	nudge     chan struct{} // wakes the sender

	started chan struct{} // tests: closed once the spool is open
}

// New returns an agent for cfg, which must be valid.
func New(cfg config.Config, log *slog.Logger) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := uplink.New(cfg.Collector, nil, uplink.WithStateDir(cfg.StateDir))
	if err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, log: log, client: client, collect: inventory.Collect, netView: readNetworkView}, nil
}

// Run runs the agent until ctx is done. It returns nil then, or an error if
// the agent could not start (its state folder or spool unusable).
func (a *Agent) Run(ctx context.Context) error {
	a.startedAt = time.Now()
	if a.netView == nil {
		a.netView = readNetworkView
	}
	if scale := clockScale(); scale > 1 {
		a.cfg = scaleSchedules(a.cfg, scale)
		a.log.Warn("TEST CLOCK: schedules run faster than real time (a test-only build)", "scale", scale,
			"inventory_interval", a.cfg.InventoryInterval, "delta_interval", a.cfg.DeltaInterval, "heartbeat_interval", a.cfg.HeartbeatInterval)
	}
	if a.cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(a.cfg.MemoryLimit))
	}
	if a.cfg.Nice > 0 {
		if err := lowerPriority(a.cfg.Nice); err != nil {
			a.log.Warn("could not lower the agent's priority", "nice", a.cfg.Nice, "error", err)
		}
	}
	id, err := state.AgentID(a.cfg.StateDir)
	if err != nil {
		return err
	}
	sp, rec, err := spool.Open(filepath.Join(a.cfg.StateDir, "spool"), spool.Options{MaxBytes: int64(a.cfg.SpoolMaxBytes)})
	if err != nil {
		return err
	}
	defer sp.Close()
	a.agentID, a.spool, a.nudge = id, sp, make(chan struct{}, 1)
	a.log = a.log.With("agent_id", id)
	a.log.Info("agent started", "version", version.Version, "spooled_reports", rec.Records, "spooled_bytes", rec.Bytes,
		"torn_records_removed", len(rec.Torn), "replaced_snapshots_removed", rec.Replaced, "collector", a.cfg.Collector)
	if len(rec.Torn) > 0 {
		a.log.Warn("torn spool records found and removed", "files", rec.Torn)
	}
	if a.started != nil {
		close(a.started)
	}

	var wg sync.WaitGroup
	wg.Go(func() { a.inventoryLoop(ctx) })
	wg.Go(func() { a.heartbeatLoop(ctx) })
	wg.Go(func() { a.sendLoop(ctx) })
	wg.Go(func() { a.jobLoop(ctx) })
	wg.Wait()
	a.log.Info("agent stopped")
	return nil
}

// inventoryLoop spools a full inventory soon after start and then every
// InventoryInterval, with jitter. With Delta on, it also spools a delta
// inventory every DeltaInterval in between.
func (a *Agent) inventoryLoop(ctx context.Context) {
	wait := time.Duration(0)
	if a.cfg.StartDelay > 0 {
		wait = rand.N(a.cfg.StartDelay)
	}
	var lastFull time.Time
	for sleep(ctx, wait) {
		full := !a.cfg.Delta || lastFull.IsZero() || time.Since(lastFull) >= a.cfg.InventoryInterval
		if err := a.spoolInventory(ctx, full); err != nil {
			if ctx.Err() == nil {
				a.log.Error("inventory not spooled", "error", err)
			}
		} else if full {
			lastFull = time.Now()
		}
		wait = jitter(a.cfg.InventoryInterval, a.cfg.Jitter)
		if a.cfg.Delta {
			wait = jitter(a.cfg.DeltaInterval, a.cfg.Jitter)
		}
	}
}

// pendingDir holds the software of the last spooled inventory until the
// collector accepts it (see rememberSent).
func (a *Agent) pendingDir() string { return filepath.Join(a.cfg.StateDir, "delta-pending") }

// spoolInventory collects the inventory and spools it as a report: whole,
// or when full is false and Delta is on, with only the software's change
// since the last inventory the collector accepted, if that is smaller.
func (a *Agent) spoolInventory(ctx context.Context, full bool) error {
	start := time.Now()
	inv, err := a.collect(ctx)
	if err != nil {
		return fmt.Errorf("collecting inventory: %w", err)
	}
	software := inv.Software
	if a.cfg.Delta && !full {
		last, err := delta.Load(a.cfg.StateDir)
		if err != nil {
			a.log.Warn("sending a full inventory: the last sent software is unreadable", "error", err)
		} else {
			delta.Prepare(inv, last)
		}
	}
	// What the spool dropped for space goes into this report.
	dropped := a.spool.Dropped()
	if dropped.Records > 0 {
		inv.Errors = append(inv.Errors, wire.SourceError{
			Source: "spool",
			Error: fmt.Sprintf("%d discovery reports (%d bytes) dropped, oldest first, while the spool was full",
				dropped.Records, dropped.Bytes),
		})
	}
	now := time.Now().UTC()
	rep := &wire.Report{
		Schema:       wire.Schema,
		ID:           uuid.NewString(),
		Kind:         wire.KindInventory,
		AgentID:      a.agentID,
		AgentVersion: version.Version,
		CreatedAt:    now,
		Inventory:    inv,
	}
	if a.cfg.Delta {
		// Written before the report is spooled, so that a report the
		// collector accepts always finds its software here.
		if err := os.MkdirAll(a.pendingDir(), 0o700); err != nil {
			return fmt.Errorf("remembering the software sent: %w", err)
		}
		if err := delta.Save(a.pendingDir(), &delta.Sent{ReportID: rep.ID, Software: software}); err != nil {
			return err
		}
	}
	if err := a.spoolReport(rep, spool.Snapshot, inventoryKey); err != nil {
		return err
	}
	if dropped.Records > 0 {
		if err := a.spool.ClearDropped(dropped); err != nil {
			return err
		}
	}
	a.log.Debug("inventory collected", "duration_seconds", time.Since(start).Seconds(), "full", inv.Full)
	return nil
}

// rememberSent records, once the collector has accepted the inventory
// report id, its software as the base of the next delta. Only the latest
// spooled inventory is pending: an older one (replaced in the spool while
// it was being delivered) leaves the base as it was, which the digests in
// the next delta make safe.
func (a *Agent) rememberSent(id string) {
	pending, err := delta.Load(a.pendingDir())
	if err != nil || pending == nil || pending.ReportID != id {
		if err != nil {
			a.log.Warn("reading the pending software", "error", err)
		}
		return
	}
	if err := delta.Save(a.cfg.StateDir, pending); err != nil {
		a.log.Error("remembering the software sent; the next inventory will be full", "report_id", id, "error", err)
	}
}

// forgetSent drops the base of the deltas, so that the next inventory is
// full: after the collector refused a delta, it may not hold the base.
func (a *Agent) forgetSent() {
	if err := delta.Save(a.cfg.StateDir, &delta.Sent{}); err != nil {
		a.log.Error("forgetting the software sent", "error", err)
	}
}

// spoolReport validates rep and writes it to the spool; once it returns
// nil the report will be delivered.
func (a *Agent) spoolReport(rep *wire.Report, class spool.Class, key string) error {
	if err := rep.Validate(wire.DefaultLimits, rep.CreatedAt); err != nil {
		return fmt.Errorf("not spooling report %s: %w", rep.ID, err)
	}
	payload, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encoding report %s: %w", rep.ID, err)
	}
	seq, err := a.spool.Put(class, key, payload)
	if err != nil {
		return fmt.Errorf("spooling report %s: %w", rep.ID, err)
	}
	a.log.Info("report spooled", "report_id", rep.ID, "kind", rep.Kind, "seq", seq, "bytes", len(payload))
	return nil
}

// sendLoop delivers spooled reports oldest-first, pausing with backoff and
// jitter while the collector is unreachable.
func (a *Agent) sendLoop(ctx context.Context) {
	var backoff time.Duration
	for ctx.Err() == nil {
		rec, ok, err := a.spool.Oldest()
		if err != nil {
			a.log.Error("reading the spool", "error", err)
			backoff = a.nextBackoff(backoff)
			sleep(ctx, backoff)
			continue
		}
		if !ok {
			select {
			case <-ctx.Done():
			case <-a.spool.Changed():
			case <-a.nudge:
			}
			continue
		}
		var rep wire.Report
		if err := json.Unmarshal(rec.Payload, &rep); err != nil {
			a.log.Error("dropping a spooled record that is not a report", "seq", rec.Seq, "error", err)
			a.ack(rec.Seq)
			continue
		}
		log := a.log.With("report_id", rep.ID, "seq", rec.Seq)
		sctx, cancel := context.WithTimeout(ctx, a.cfg.SendTimeout)
		sent, err := a.client.Send(sctx, &rep)
		cancel()
		var refused *uplink.RefusedError
		switch {
		case err == nil:
			log.Info("report delivered", "bytes", sent.Bytes, "attempts", sent.Attempts, "duplicate", sent.Accepted.Duplicate,
				"age_seconds", time.Since(rec.Spooled).Seconds())
			a.ack(rec.Seq)
			backoff = 0
			if a.cfg.Delta && rep.Kind == wire.KindInventory && rep.Inventory != nil {
				a.rememberSent(rep.ID)
			}
		case ctx.Err() != nil:
			return
		case errors.As(err, &refused) && permanent(refused.Code):
			// The collector will never take this report: keeping it would
			// block every report behind it.
			log.Error("collector refused report for good; dropping it", "error", err, "problems", refused.Problem.Problems)
			a.ack(rec.Seq)
			if rep.Inventory != nil && rep.Inventory.SoftwareDelta != nil {
				a.forgetSent()
			}
		default:
			backoff = a.nextBackoff(backoff)
			log.Warn("collector unreachable; will retry", "error", err, "retry_in_seconds", backoff.Seconds())
			sleep(ctx, backoff)
		}
	}
}

func (a *Agent) ack(seq uint64) {
	if err := a.spool.Ack(seq); err != nil {
		a.log.Error("removing a delivered report from the spool", "seq", seq, "error", err)
	}
}

// permanent reports whether an HTTP status refuses the report itself, so
// that sending it again cannot help. Anything else — 5xx, 429, 401/403
// before enrolment, 404 from a proxy — is retried.
func permanent(code int) bool {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// nextBackoff doubles the pause from RetryMin up to RetryMax, with equal
// jitter (half fixed, half random).
func (a *Agent) nextBackoff(prev time.Duration) time.Duration {
	d := min(max(prev*2, a.cfg.RetryMin), a.cfg.RetryMax)
	return d/2 + rand.N(d/2+1)
}

// jitter spreads d by up to frac either way.
func jitter(d time.Duration, frac float64) time.Duration {
	spread := time.Duration(float64(d) * frac)
	if spread <= 0 {
		return d
	}
	return d - spread + rand.N(2*spread+1)
}

// sleep waits d and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
