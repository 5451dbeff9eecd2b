package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/umbrasec/umbra/agent/internal/state"
	"github.com/umbrasec/umbra/shared/version"
	"github.com/umbrasec/umbra/shared/wire"
)

// policyFile keeps, in the state folder, the trusted-network policy the
// collector last sent, so that an agent restarted while offline still
// knows where it may scan.
const policyFile = "network-policy.json"

// heartbeatTimeout bounds one heartbeat: it is one small request.
const heartbeatTimeout = 20 * time.Second

// heartbeatLoop tells the collector the agent is alive soon after start
// and then every HeartbeatInterval, with jitter. Heartbeats are not
// spooled: a missed one is worth nothing once the next is due. Each also
// wakes the sender, and its answer refreshes the trusted-network policy.
func (a *Agent) heartbeatLoop(ctx context.Context) {
	wait := time.Duration(0)
	if a.cfg.StartDelay > 0 {
		wait = rand.N(min(a.cfg.StartDelay, a.cfg.HeartbeatInterval))
	}
	for sleep(ctx, wait) {
		st := a.spool.Stats()
		if err := a.beat(ctx); err != nil && ctx.Err() == nil {
			a.log.Debug("heartbeat not delivered", "error", err, "spooled_reports", st.Records)
		} else {
			a.log.Debug("heartbeat", "spooled_reports", st.Records, "spooled_bytes", st.Bytes, "dropped_reports", st.Dropped.Records)
		}
		select {
		case a.nudge <- struct{}{}:
		default:
		}
		wait = jitter(a.cfg.HeartbeatInterval, a.cfg.Jitter)
	}
}

// beat sends one heartbeat and keeps the policy of the answer.
func (a *Agent) beat(ctx context.Context) error {
	c, ok := a.client.(jobCaller)
	if !ok {
		return errors.New("this client cannot send heartbeats")
	}
	st := a.spool.Stats()
	view := a.netView()
	hb := wire.Heartbeat{AgentID: a.agentID, AgentVersion: version.Version, SentAt: time.Now().UTC(),
		UptimeSeconds: int64(time.Since(a.startedAt) / time.Second), SpoolRecords: int64(st.Records), SpoolBytes: st.Bytes,
		DroppedRecords: int64(st.Dropped.Records), Network: &view}
	if pol, ok := a.currentPolicy(); ok {
		_, err := pol.Check(view)
		trusted := err == nil
		hb.Trusted = &trusted
	}
	hctx, cancel := context.WithTimeout(ctx, heartbeatTimeout)
	defer cancel()
	var rep wire.HeartbeatReply
	ok, err := c.Call(hctx, http.MethodPost, wire.PathHeartbeat, hb, &rep)
	switch {
	case err != nil:
		return err
	case !ok:
		return errors.New("the collector answered the heartbeat with no content")
	}
	a.setPolicy(rep.Networks)
	return nil
}

// currentPolicy is the trusted-network policy last received, from memory
// or from the state folder; ok is false when the agent never got one.
func (a *Agent) currentPolicy() (wire.NetworkPolicy, bool) {
	a.policyMu.Lock()
	defer a.policyMu.Unlock()
	if a.policy != nil {
		return *a.policy, true
	}
	b, err := os.ReadFile(filepath.Join(a.cfg.StateDir, policyFile))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			a.log.Warn("reading the saved trusted-network policy", "error", err)
		}
		return wire.NetworkPolicy{}, false
	}
	var p wire.NetworkPolicy
	if err := json.Unmarshal(b, &p); err != nil {
		a.log.Warn("the saved trusted-network policy is unreadable; ignoring it", "error", err)
		return wire.NetworkPolicy{}, false
	}
	a.policy = &p
	return p, true
}

func (a *Agent) setPolicy(p wire.NetworkPolicy) {
	a.policyMu.Lock()
	defer a.policyMu.Unlock()
	changed := a.policy == nil || !samePolicy(*a.policy, p)
	a.policy = &p
	if !changed {
		return
	}
	a.log.Info("trusted-network policy received", "rules", len(p.Rules), "trust_all", p.TrustAll)
	b, err := json.Marshal(p)
	if err == nil {
		err = state.WritePrivate(filepath.Join(a.cfg.StateDir, policyFile), b)
	}
	if err != nil {
		a.log.Warn("saving the trusted-network policy", "error", err)
	}
}

func samePolicy(x, y wire.NetworkPolicy) bool {
	if x.TrustAll != y.TrustAll || len(x.Rules) != len(y.Rules) {
		return false
	}
	for i := range x.Rules {
		if x.Rules[i] != y.Rules[i] {
			return false
		}
	}
	return true
}

// scanAllowed says whether the agent may scan or listen on the network it
// sits on now: nil, or an error starting "network not trusted" (or
// "network trust unknown") that says why. It asks the collector for the
// latest policy first and falls back to the one it last received. Every
// scan job and any passive discovery must pass it first.
func (a *Agent) scanAllowed(ctx context.Context) error {
	if err := a.beat(ctx); err != nil {
		a.log.Debug("refreshing the trusted-network policy; using the last one received", "error", err)
	}
	pol, ok := a.currentPolicy()
	if !ok {
		return errors.New("network trust unknown: the collector's trusted-network policy was never received")
	}
	view := a.netView()
	rule, err := pol.Check(view)
	if err != nil {
		return fmt.Errorf("network not trusted: %w", err)
	}
	if pol.TrustAll {
		a.log.Info("network trusted: the collector trusts every network")
	} else {
		a.log.Info("network trusted", "rule", rule.ID, "kind", rule.Kind, "value", rule.Value)
	}
	return nil
}
