package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// presenceStore is the part of the store the heartbeat and trusted-network
// routes need (store.DB).
type presenceStore interface {
	PutHeartbeat(ctx context.Context, h store.Heartbeat) error
	LastHeartbeats(ctx context.Context) (map[string]store.Heartbeat, error)
	PutTrustedNetwork(ctx context.Context, n store.TrustedNetwork) error
	TrustedNetworks(ctx context.Context) ([]store.TrustedNetwork, error)
}

// maxHeartbeatBody bounds a heartbeat's JSON.
const maxHeartbeatBody = 32 << 10

func (h *handler) presence(w http.ResponseWriter) (presenceStore, bool) {
	ps, ok := h.st.(presenceStore)
	if !ok {
		writeProblem(w, http.StatusNotImplemented, wire.Problem{Error: "this collector keeps no heartbeats or trusted networks"})
	}
	return ps, ok
}

// postHeartbeat records an agent's check-in as its last contact and answers
// with the trusted-network policy. It is light on purpose: one small row,
// one small read, no spool behind it on the agent.
func (h *handler) postHeartbeat(w http.ResponseWriter, r *http.Request) {
	ps, ok := h.presence(w)
	if !ok {
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		writeProblem(w, http.StatusUnsupportedMediaType, wire.Problem{Error: "Content-Type must be application/json"})
		return
	}
	// Unknown fields are allowed: a newer agent's heartbeat still counts.
	var hb wire.Heartbeat
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxHeartbeatBody)).Decode(&hb); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			writeProblem(w, http.StatusRequestEntityTooLarge, wire.Problem{Error: fmt.Sprintf("heartbeat is larger than %d bytes", maxErr.Limit)})
			return
		}
		writeProblem(w, http.StatusBadRequest, wire.Problem{Error: "reading the heartbeat: " + err.Error()})
		return
	}
	if err := hb.Validate(); err != nil {
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: err.Error()})
		return
	}
	if p := principal(r); p.Kind == store.KindAgentCredential && p.AgentID != hb.AgentID {
		writeProblem(w, http.StatusForbidden, wire.Problem{Error: "forbidden: a heartbeat must carry the sending agent's own id"})
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	rec := store.Heartbeat{AgentID: hb.AgentID, ReceivedAt: h.opt.Now().UTC(), SentAt: hb.SentAt, AgentVersion: hb.AgentVersion,
		UptimeSeconds: hb.UptimeSeconds, SpoolRecords: hb.SpoolRecords, SpoolBytes: hb.SpoolBytes, DroppedRecords: hb.DroppedRecords,
		Trusted: -1, RemoteAddr: r.RemoteAddr}
	if hb.Trusted != nil {
		rec.Trusted = 0
		if *hb.Trusted {
			rec.Trusted = 1
		}
	}
	if hb.Network != nil {
		rec.Network = truncate(hb.Network.String(), 1024)
	}
	if err := ps.PutHeartbeat(ctx, rec); err != nil {
		h.fail(w, r, err)
		return
	}
	pol, err := h.policy(ctx, ps)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.HeartbeatReply{ServerTime: rec.ReceivedAt, Networks: pol})
}

// policy is the trusted-network policy agents get.
func (h *handler) policy(ctx context.Context, ps presenceStore) (wire.NetworkPolicy, error) {
	ns, err := ps.TrustedNetworks(ctx)
	if err != nil {
		return wire.NetworkPolicy{}, err
	}
	pol := wire.NetworkPolicy{TrustAll: h.opt.TrustAllNetworks && len(ns) == 0, Rules: []wire.TrustedNetwork{}}
	for _, n := range ns {
		pol.Rules = append(pol.Rules, wire.TrustedNetwork{ID: n.ID, Kind: n.Kind, Value: n.Value})
	}
	return pol, nil
}

// presenceOut is an agent's latest heartbeat for the admin API.
func presenceOut(hb store.Heartbeat, ok bool) *adminapi.Presence {
	if !ok || hb.ReceivedAt.IsZero() {
		return nil
	}
	p := &adminapi.Presence{At: hb.ReceivedAt.UTC(), AgentVersion: hb.AgentVersion, UptimeSeconds: hb.UptimeSeconds,
		SpoolRecords: hb.SpoolRecords, SpoolBytes: hb.SpoolBytes, DroppedRecords: hb.DroppedRecords, Network: hb.Network}
	if hb.Trusted >= 0 {
		t := hb.Trusted == 1
		p.Trusted = &t
	}
	return p
}

// heartbeats returns the agents' latest heartbeats, or none when the store
// keeps none or cannot say now: the lists they decorate still answer.
func (h *handler) heartbeats(ctx context.Context, r *http.Request) map[string]store.Heartbeat {
	ps, ok := h.st.(presenceStore)
	if !ok {
		return nil
	}
	hbs, err := ps.LastHeartbeats(ctx)
	if err != nil {
		h.log.Warn("reading heartbeats", "error", err, "path", r.URL.Path)
		return nil
	}
	return hbs
}

func trustedNetworkOut(n store.TrustedNetwork) adminapi.TrustedNetwork {
	return adminapi.TrustedNetwork{ID: n.ID, Kind: n.Kind, Value: n.Value, Note: n.Note, CreatedAt: n.CreatedAt.UTC(), CreatedBy: n.CreatedBy}
}

func (h *handler) getTrustedNetworks(w http.ResponseWriter, r *http.Request) {
	ps, ok := h.presence(w)
	if !ok {
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	ns, err := ps.TrustedNetworks(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.TrustedNetworkList{TrustAll: h.opt.TrustAllNetworks, Rules: []adminapi.TrustedNetwork{}}
	for _, n := range ns {
		out.Rules = append(out.Rules, trustedNetworkOut(n))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) audit(ctx context.Context, r *http.Request, action, target, outcome, detail string) error {
	if h.opt.Service == nil {
		return nil
	}
	return h.opt.Service.Audit(ctx, principal(r), action, target, outcome, r.RemoteAddr, detail)
}

func (h *handler) postTrustedNetwork(w http.ResponseWriter, r *http.Request) {
	ps, ok := h.presence(w)
	if !ok {
		return
	}
	var req adminapi.CreateTrustedNetwork
	if !readJSON(w, r, &req) {
		return
	}
	var problems []string
	value, err := wire.NormalizeTrustValue(req.Kind, req.Value)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(req.Note) > maxNameLen || strings.ContainsFunc(req.Note, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		problems = append(problems, fmt.Sprintf("note must be at most %d printable characters", maxNameLen))
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	target := req.Kind + "=" + truncate(req.Value, 100)
	if len(problems) > 0 {
		_ = h.audit(ctx, r, "trusted-network.add", target, "denied", strings.Join(problems, "; "))
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: "invalid trusted network", Problems: problems})
		return
	}
	ns, err := ps.TrustedNetworks(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, n := range ns {
		if n.Kind == req.Kind && n.Value == value {
			writeJSON(w, http.StatusOK, trustedNetworkOut(n)) // already trusted: nothing changes
			return
		}
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	now := h.opt.Now().UTC()
	n := store.TrustedNetwork{ID: "net-" + hex.EncodeToString(id[:]), Kind: req.Kind, Value: value, Note: req.Note,
		CreatedAt: now, CreatedBy: principal(r).Actor(), Version: uint64(now.UnixNano())}
	if !h.putTrustedNetwork(ctx, w, r, ps, n, "add") {
		return
	}
	writeJSON(w, http.StatusCreated, trustedNetworkOut(n))
}

// putTrustedNetwork stores a change to a rule, audits it and logs it as
// trusted-network.<action>; on failure it has answered.
func (h *handler) putTrustedNetwork(ctx context.Context, w http.ResponseWriter, r *http.Request, ps presenceStore, n store.TrustedNetwork, action string) bool {
	if err := ps.PutTrustedNetwork(ctx, n); err != nil {
		h.fail(w, r, err)
		return false
	}
	if err := h.audit(ctx, r, "trusted-network."+action, n.ID, "ok", n.Kind+"="+n.Value); err != nil {
		h.fail(w, r, err)
		return false
	}
	h.log.Info("trusted network "+action, "id", n.ID, "kind", n.Kind, "value", n.Value, "actor", principal(r).Actor())
	return true
}

func (h *handler) deleteTrustedNetwork(w http.ResponseWriter, r *http.Request) {
	ps, ok := h.presence(w)
	if !ok {
		return
	}
	id := r.PathValue("id")
	ctx, cancel := h.ctx(r)
	defer cancel()
	ns, err := ps.TrustedNetworks(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, n := range ns {
		if n.ID != id {
			continue
		}
		now := h.opt.Now().UTC()
		n.Deleted, n.Version = true, max(uint64(now.UnixNano()), n.Version+1)
		if h.putTrustedNetwork(ctx, w, r, ps, n, "remove") {
			w.WriteHeader(http.StatusNoContent)
		}
		return
	}
	writeProblem(w, http.StatusNotFound, wire.Problem{Error: "no trusted network " + truncate(id, 64)})
}
