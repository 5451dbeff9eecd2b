package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/auth"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// Policy says who may call a route.
type Policy struct {
	// Kind is the credential kind the route takes.
	Kind string
	// Roles are the admin roles allowed, for Kind store.KindAdminToken.
	Roles []auth.Role
}

// Allows reports whether p may call a route of this policy.
func (pol Policy) Allows(p auth.Principal) bool {
	if p.Kind != pol.Kind {
		return false
	}
	if pol.Kind != store.KindAdminToken {
		return true
	}
	for _, r := range pol.Roles {
		if r == p.Role {
			return true
		}
	}
	return false
}

// The policies of the routes.
var (
	PolicyAgent    = Policy{Kind: store.KindAgentCredential}
	PolicyEnroll   = Policy{Kind: store.KindEnrollSecret}
	PolicyRead     = Policy{Kind: store.KindAdminToken, Roles: []auth.Role{auth.RoleAdmin, auth.RoleOperator, auth.RoleAuditor}}
	PolicyOperate  = Policy{Kind: store.KindAdminToken, Roles: []auth.Role{auth.RoleAdmin, auth.RoleOperator}}
	PolicyAudit    = Policy{Kind: store.KindAdminToken, Roles: []auth.Role{auth.RoleAdmin, auth.RoleAuditor}}
	PolicyAdminOne = Policy{Kind: store.KindAdminToken, Roles: []auth.Role{auth.RoleAdmin}}
)

// Route is one authenticated route of the API.
type Route struct {
	Method  string
	Pattern string // a net/http pattern path, e.g. /api/v1/tokens/{id}
	Policy  Policy
	handler http.Handler
}

// Routes lists every authenticated route, for documentation and tests.
func Routes() []Route { return (&handler{}).routes() }

func (h *handler) routes() []Route {
	hf := func(f func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(f) }
	return append([]Route{
		{"POST", wire.PathReports, PolicyAgent, hf(h.postReport)},
		{"POST", adminapi.PathEnroll, PolicyEnroll, hf(h.postEnroll)},
		{"GET", adminapi.PathHosts, PolicyRead, hf(h.getHosts)},
		{"GET", adminapi.PathAgents, PolicyRead, hf(h.getAgents)},
		{"DELETE", adminapi.PathAgents + "/{id}", PolicyOperate, hf(h.deleteAgent)},
		{"GET", adminapi.PathEnrollSecrets, PolicyOperate, hf(h.listCredentials(store.KindEnrollSecret))},
		{"POST", adminapi.PathEnrollSecrets, PolicyOperate, hf(h.postEnrollSecret)},
		{"DELETE", adminapi.PathEnrollSecrets + "/{id}", PolicyOperate, hf(h.revokeCredential(store.KindEnrollSecret))},
		{"GET", adminapi.PathTokens, PolicyAdminOne, hf(h.listCredentials(store.KindAdminToken))},
		{"POST", adminapi.PathTokens, PolicyAdminOne, hf(h.postToken)},
		{"DELETE", adminapi.PathTokens + "/{id}", PolicyAdminOne, hf(h.revokeCredential(store.KindAdminToken))},
		{"GET", adminapi.PathAudit, PolicyAudit, hf(h.getAudit)},
		{"GET", adminapi.PathMetrics, PolicyRead, hf(h.getMetrics)},
		{"GET", adminapi.PathHosts + "/{agent_id}", PolicyRead, hf(h.getHostDetail)},
		{"GET", adminapi.PathSoftware, PolicyRead, hf(h.getSoftware)},
		{"GET", adminapi.PathDevices, PolicyRead, hf(h.getDevices)},
		{"GET", adminapi.PathObservations, PolicyRead, hf(h.getObservations)},
		{"POST", adminapi.PathScans, PolicyOperate, hf(h.postScan)},
		{"GET", adminapi.PathScans, PolicyRead, hf(h.getScans)},
		{"GET", adminapi.PathScans + "/{id}", PolicyRead, hf(h.getScan)},
		{"POST", adminapi.PathScans + "/{id}/cancel", PolicyOperate, hf(h.cancelScan)},
		{"GET", adminapi.PathScanCredentials, PolicyOperate, hf(h.getScanCredentials)},
		{"POST", adminapi.PathScanCredentials, PolicyOperate, hf(h.postScanCredential)},
		{"DELETE", adminapi.PathScanCredentials + "/{name}", PolicyOperate, hf(h.deleteScanCredential)},
		{"GET", adminapi.PathScanSchedules, PolicyRead, hf(h.getScanSchedules)},
		{"POST", adminapi.PathScanSchedules, PolicyOperate, hf(h.postScanSchedule)},
		{"DELETE", adminapi.PathScanSchedules + "/{id}", PolicyOperate, hf(h.deleteScanSchedule)},
		{"GET", wire.PathJobsNext, PolicyAgent, hf(h.getNextJob)},
		{"POST", wire.PathJobsPrefix + "{id}/progress", PolicyAgent, hf(h.postJobProgress)},
		{"POST", wire.PathHeartbeat, PolicyAgent, hf(h.postHeartbeat)},
		{"GET", adminapi.PathTrustedNetworks, PolicyRead, hf(h.getTrustedNetworks)},
		{"POST", adminapi.PathTrustedNetworks, PolicyOperate, hf(h.postTrustedNetwork)},
		{"DELETE", adminapi.PathTrustedNetworks + "/{id}", PolicyOperate, hf(h.deleteTrustedNetwork)},
	}, h.registryRoutes(hf)...)
}

// bearer returns the credential of a request: "Authorization: Bearer X".
// ok is false when the header is present but not of that form.
func bearer(r *http.Request) (cred string, ok bool) {
	v := r.Header.Get("Authorization")
	if v == "" {
		return "", true
	}
	scheme, cred, found := strings.Cut(v, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(cred), true
}

// authorize authenticates a request and checks it against pol: 401 for a
// missing or bad credential, 403 for a good one that may not do this, 503
// when the credential cannot be checked now.
func (h *handler) authorize(pol Policy, next http.Handler) http.Handler {
	if h.opt.NoAuth {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log := h.log.With("remote_addr", r.RemoteAddr, "path", r.URL.Path)
		cred, ok := bearer(r)
		var p auth.Principal
		var err error
		if !ok {
			err = auth.ErrMalformed
		} else {
			ctx, cancel := context.WithTimeout(r.Context(), h.opt.StoreTimeout)
			p, err = h.opt.Auth.Authenticate(ctx, cred)
			cancel()
		}
		switch {
		case err == nil:
		case errors.Is(err, auth.ErrNoCredential), errors.Is(err, auth.ErrMalformed), errors.Is(err, auth.ErrInvalid),
			errors.Is(err, auth.ErrExpired), errors.Is(err, auth.ErrRevoked):
			log.Info("request refused", "status", 401, "reason", err)
			w.Header().Set("WWW-Authenticate", `Bearer realm="umbra"`)
			if pol.Kind == store.KindAgentCredential && !errors.Is(err, auth.ErrNoCredential) {
				// The agent cannot recover by retrying: tell it to enrol again.
				w.Header().Set(adminapi.ReenrollHeader, "1")
			}
			writeProblem(w, http.StatusUnauthorized, wire.Problem{Error: "unauthorized: " + err.Error()})
			return
		default:
			h.storeFailed(w, log, err)
			return
		}
		if !pol.Allows(p) {
			log.Warn("request forbidden", "status", 403, "actor", p.Actor(), "role", string(p.Role))
			writeProblem(w, http.StatusForbidden, wire.Problem{Error: fmt.Sprintf("forbidden: %s may not %s %s", describe(p), r.Method, r.URL.Path)})
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

func describe(p auth.Principal) string {
	switch p.Kind {
	case store.KindAgentCredential:
		return "an agent credential"
	case store.KindEnrollSecret:
		return "an enrolment secret"
	}
	return "a token with role " + string(p.Role)
}

func principal(r *http.Request) auth.Principal {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		return auth.Principal{Kind: store.KindAdminToken, Role: auth.RoleAdmin, CredID: "noauth"}
	}
	return p
}

// maxAdminBody bounds the JSON body of an admin request.
const maxAdminBody = 64 << 10

// readJSON decodes a small JSON body strictly; it answers the client and
// returns false on any problem.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if !isJSON(r.Header.Get("Content-Type")) {
		writeProblem(w, http.StatusUnsupportedMediaType, wire.Problem{Error: "Content-Type must be application/json"})
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			writeProblem(w, http.StatusRequestEntityTooLarge, wire.Problem{Error: fmt.Sprintf("request body is larger than %d bytes", maxErr.Limit)})
			return false
		}
		writeProblem(w, http.StatusBadRequest, wire.Problem{Error: "reading the request: " + err.Error()})
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeProblem(w, http.StatusBadRequest, wire.Problem{Error: "trailing data after the request"})
		return false
	}
	return true
}

func (h *handler) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.opt.StoreTimeout)
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, auth.ErrNotFound):
		writeProblem(w, http.StatusNotFound, wire.Problem{Error: "not found"})
	default:
		h.storeFailed(w, h.log.With("remote_addr", r.RemoteAddr, "path", r.URL.Path), err)
	}
}

const maxNameLen = 200

func checkName(name string) error {
	if name == "" || len(name) > maxNameLen || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("name must be 1 to %d printable characters", maxNameLen)
	}
	return nil
}

func ttl(secs int64) (time.Duration, error) {
	if secs < 0 || secs > 10*365*24*3600 {
		return 0, errors.New("ttl_seconds must be between 0 (never expires) and ten years")
	}
	return time.Duration(secs) * time.Second, nil
}

func (h *handler) postEnroll(w http.ResponseWriter, r *http.Request) {
	var req adminapi.EnrollRequest
	if !readJSON(w, r, &req) {
		return
	}
	var problems []string
	for field, v := range map[string]string{"agent_id": req.AgentID, "host_id": req.HostID, "hostname": req.Hostname, "os": req.OS, "agent_version": req.AgentVersion} {
		if len(v) > h.opt.Limits.MaxStringLen {
			problems = append(problems, fmt.Sprintf("%s is longer than %d bytes", field, h.opt.Limits.MaxStringLen))
		}
	}
	if req.Hostname == "" {
		problems = append(problems, "hostname is missing")
	}
	if len(problems) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: "invalid enrolment request", Problems: problems})
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	got, err := h.opt.Service.Enroll(ctx, principal(r), auth.EnrollRequest{
		AgentID: req.AgentID, HostID: req.HostID, Hostname: req.Hostname, OS: req.OS, AgentVersion: req.AgentVersion,
	}, r.RemoteAddr)
	switch {
	case errors.Is(err, auth.ErrUsedUp), errors.Is(err, auth.ErrRevoked):
		writeProblem(w, http.StatusUnauthorized, wire.Problem{Error: "unauthorized: " + err.Error()})
		return
	case err != nil:
		h.fail(w, r, err)
		return
	}
	h.log.Info("agent enrolled", "agent_id", got.AgentID, "hostname", req.Hostname, "reenrolled", got.Reenrolled, "remote_addr", r.RemoteAddr)
	writeJSON(w, http.StatusOK, adminapi.EnrollResponse{AgentID: got.AgentID, Credential: got.Credential, Reenrolled: got.Reenrolled})
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (h *handler) credentialOut(c store.Credential, uses uint64) adminapi.Credential {
	now := h.opt.Now()
	return adminapi.Credential{
		ID: c.ID, Kind: c.Kind, Name: c.Name, Role: c.Role, CreatedAt: c.CreatedAt.UTC(), CreatedBy: c.CreatedBy,
		ExpiresAt: timePtr(c.ExpiresAt), MaxUses: c.MaxUses, Uses: uses, Revoked: c.Revoked,
		RevokedAt: timePtr(c.RevokedAt), RevokedBy: c.RevokedBy,
		Active: !c.Revoked && (c.ExpiresAt.IsZero() || now.Before(c.ExpiresAt)) && (c.MaxUses == 0 || uses < uint64(c.MaxUses)),
	}
}

func (h *handler) listCredentials(kind string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := h.ctx(r)
		defer cancel()
		cs, err := h.opt.Service.Credentials(ctx, kind)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		out := adminapi.CredentialList{Credentials: []adminapi.Credential{}}
		for _, c := range cs {
			var uses uint64
			if kind == store.KindEnrollSecret {
				if uses, err = h.opt.Service.Uses(ctx, c.ID); err != nil {
					h.fail(w, r, err)
					return
				}
			}
			out.Credentials = append(out.Credentials, h.credentialOut(c, uses))
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (h *handler) postToken(w http.ResponseWriter, r *http.Request) {
	var req adminapi.CreateToken
	if !readJSON(w, r, &req) {
		return
	}
	var problems []string
	role, err := auth.ParseRole(req.Role)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if err := checkName(req.Name); err != nil {
		problems = append(problems, err.Error())
	}
	d, err := ttl(req.TTLSeconds)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: "invalid token request", Problems: problems})
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	nc, err := h.opt.Service.CreateToken(ctx, principal(r), req.Name, role, d, r.RemoteAddr)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := h.credentialOut(nc.Credential, 0)
	out.Secret = nc.Secret
	writeJSON(w, http.StatusCreated, out)
}

func (h *handler) postEnrollSecret(w http.ResponseWriter, r *http.Request) {
	var req adminapi.CreateEnrollSecret
	if !readJSON(w, r, &req) {
		return
	}
	var problems []string
	if err := checkName(req.Name); err != nil {
		problems = append(problems, err.Error())
	}
	d, err := ttl(req.TTLSeconds)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: "invalid enrolment secret request", Problems: problems})
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	nc, err := h.opt.Service.CreateEnrollSecret(ctx, principal(r), req.Name, d, req.MaxUses, r.RemoteAddr)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := h.credentialOut(nc.Credential, 0)
	out.Secret = nc.Secret
	writeJSON(w, http.StatusCreated, out)
}

func (h *handler) revokeCredential(kind string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := h.ctx(r)
		defer cancel()
		if err := h.opt.Service.Revoke(ctx, principal(r), kind, r.PathValue("id"), r.RemoteAddr); err != nil {
			h.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *handler) getAgents(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.ctx(r)
	defer cancel()
	as, err := h.opt.Service.Agents(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.AgentList{Agents: []adminapi.Agent{}}
	hbs := h.heartbeats(ctx, r)
	for _, a := range as {
		hb, seen := hbs[a.AgentID]
		out.Agents = append(out.Agents, adminapi.Agent{
			AgentID: a.AgentID, Hostname: a.Hostname, OS: a.OS, AgentVersion: a.AgentVersion, MachineKey: a.MachineKey,
			EnrolledBy: a.EnrolledBy, RemoteAddr: a.RemoteAddr, FirstEnrolledAt: a.FirstEnrolledAt.UTC(), EnrolledAt: a.EnrolledAt.UTC(),
			Revoked: a.Revoked, RevokedAt: timePtr(a.RevokedAt), RevokedBy: a.RevokedBy, Heartbeat: presenceOut(hb, seen),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) deleteAgent(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := h.ctx(r)
	defer cancel()
	if err := h.opt.Service.RevokeAgent(ctx, principal(r), r.PathValue("id"), r.RemoteAddr); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("agent revoked", "agent_id", r.PathValue("id"), "actor", principal(r).Actor())
	w.WriteHeader(http.StatusNoContent)
}

// auditLister is the part of the store the audit route reads.
type auditLister interface {
	AuditLog(ctx context.Context, limit int) ([]store.AuditEvent, error)
}

func (h *handler) getAudit(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeProblem(w, http.StatusBadRequest, wire.Problem{Error: "limit must be 1 to 10000"})
			return
		}
		limit = n
	}
	al, ok := h.st.(auditLister)
	if !ok {
		writeProblem(w, http.StatusNotImplemented, wire.Problem{Error: "this collector keeps no audit log"})
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	evs, err := al.AuditLog(ctx, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := adminapi.AuditLog{Events: []adminapi.AuditEvent{}}
	for _, e := range evs {
		out.Events = append(out.Events, adminapi.AuditEvent{At: e.At.UTC(), Actor: e.Actor, Action: e.Action, Target: e.Target,
			Outcome: e.Outcome, RemoteAddr: e.RemoteAddr, Detail: e.Detail})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) getMetrics(w http.ResponseWriter, r *http.Request) {
	if h.opt.Metrics == nil {
		writeProblem(w, http.StatusNotFound, wire.Problem{Error: "metrics are not enabled"})
		return
	}
	h.opt.Metrics.ServeHTTP(w, r)
}
