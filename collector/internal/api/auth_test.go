package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/auth"
	"github.com/umbrasec/umbra/collector/internal/jobs"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

// clock is a settable clock shared by the authenticator and the service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type trustServer struct {
	srv  *httptest.Server
	db   *store.DB
	svc  *auth.Service
	auth *auth.Authenticator
}

func newTrustServer(t *testing.T, db *store.DB, clk *clock, cacheTTL time.Duration) *trustServer {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	authn := auth.NewAuthenticator(db, cacheTTL, clk.Now)
	svc := auth.NewService(db, authn, clk.Now)
	srv := httptest.NewServer(api.New(db, logger, api.Options{
		Auth: authn, Service: svc, Now: time.Now,
		Jobs:    jobs.New(db, svc, jobs.Config{Allow: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/16")}}, logger, nil),
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "umbra_up 1\n") }),
	}))
	t.Cleanup(srv.Close)
	return &trustServer{srv: srv, db: db, svc: svc, auth: authn}
}

func (ts *trustServer) do(t *testing.T, method, path, authz string, body any) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, ts.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := ts.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// secretOf returns the secret of a credential just made, failing t on an
// error.
func secretOf(t *testing.T) func(auth.NewCredential, error) string {
	return func(nc auth.NewCredential, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return nc.Secret
	}
}

func enroll(t *testing.T, ts *trustServer, secret, hostID, localID string) adminapi.EnrollResponse {
	t.Helper()
	code, body, _ := ts.do(t, "POST", adminapi.PathEnroll, "Bearer "+secret, adminapi.EnrollRequest{AgentID: localID, HostID: hostID, Hostname: "host-" + hostID})
	if code != 200 {
		t.Fatalf("enrol %s = %d %s", hostID, code, body)
	}
	var er adminapi.EnrollResponse
	if err := json.Unmarshal(body, &er); err != nil {
		t.Fatal(err)
	}
	return er
}

func reportOf(agentID, id string) map[string]any {
	r := validReport(id)
	r["agent_id"] = agentID
	now := time.Now().UTC().Format(time.RFC3339)
	r["created_at"] = now
	r["inventory"].(map[string]any)["collected_at"] = now
	return r
}

var wildcard = regexp.MustCompile(`\{[a-z_]+\}`)

// TestAuthMatrix sends every authenticated route every kind of credential
// and checks the answer: 401 for a credential that is missing or does not
// work, 403 for a working one that may not use the route, and the route's
// own answer otherwise.
func TestAuthMatrix(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	clk := &clock{}
	real := time.Now()
	clk.Set(real.Add(-2 * time.Hour))
	ts := newTrustServer(t, db, clk, time.Second)
	local := auth.Principal{}

	// Credentials that expired an hour ago.
	expiredAdmin := secretOf(t)(ts.svc.CreateToken(ctx, local, "old", auth.RoleAdmin, time.Hour, ""))
	expiredSecret := secretOf(t)(ts.svc.CreateEnrollSecret(ctx, local, "old", time.Hour, 0, ""))
	clk.Set(real)

	admin := secretOf(t)(ts.svc.CreateToken(ctx, local, "a", auth.RoleAdmin, 0, ""))
	operator := secretOf(t)(ts.svc.CreateToken(ctx, local, "o", auth.RoleOperator, 24*time.Hour, ""))
	auditor := secretOf(t)(ts.svc.CreateToken(ctx, local, "u", auth.RoleAuditor, 0, ""))
	secret := secretOf(t)(ts.svc.CreateEnrollSecret(ctx, local, "s", time.Hour, 0, ""))
	revokedNC, err := ts.svc.CreateToken(ctx, local, "r", auth.RoleAdmin, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.svc.Revoke(ctx, local, store.KindAdminToken, revokedNC.Credential.ID, ""); err != nil {
		t.Fatal(err)
	}
	agentA := enroll(t, ts, secret, "machine-a", "")
	agentB := enroll(t, ts, secret, "machine-b", "")
	agentC := enroll(t, ts, secret, "machine-c", "")
	if err := ts.svc.RevokeAgent(ctx, local, agentC.AgentID, ""); err != nil {
		t.Fatal(err)
	}
	wrong := admin[:len(admin)-4] + "AAAA"
	if wrong == admin {
		wrong = admin[:len(admin)-4] + "BBBB"
	}

	type cred struct {
		name, header string
		p            *auth.Principal // nil: does not authenticate
	}
	agentP := func(id string) *auth.Principal { return &auth.Principal{Kind: store.KindAgentCredential, AgentID: id} }
	adminP := func(r auth.Role) *auth.Principal { return &auth.Principal{Kind: store.KindAdminToken, Role: r} }
	creds := []cred{
		{"none", "", nil},
		{"malformed", "Bearer not-a-token", nil},
		{"basic scheme", "Basic YWRtaW46YWRtaW4=", nil},
		{"wrong secret", "Bearer " + wrong, nil},
		{"expired admin token", "Bearer " + expiredAdmin, nil},
		{"expired enrolment secret", "Bearer " + expiredSecret, nil},
		{"revoked admin token", "Bearer " + revokedNC.Secret, nil},
		{"revoked agent", "Bearer " + agentC.Credential, nil},
		{"enrolment secret", "Bearer " + secret, &auth.Principal{Kind: store.KindEnrollSecret}},
		{"another agent", "Bearer " + agentB.Credential, agentP(agentB.AgentID)},
		{"own agent", "Bearer " + agentA.Credential, agentP(agentA.AgentID)},
		{"admin", "Bearer " + admin, adminP(auth.RoleAdmin)},
		{"operator", "Bearer " + operator, adminP(auth.RoleOperator)},
		{"auditor", "Bearer " + auditor, adminP(auth.RoleAuditor)},
	}

	n := 0
	for _, rt := range api.Routes() {
		for _, c := range creds {
			n++
			t.Run(rt.Method+" "+rt.Pattern+"/"+c.name, func(t *testing.T) {
				path := strings.ReplaceAll(rt.Pattern, "{id}", "0123456789abcdef")
				if strings.HasPrefix(rt.Pattern, adminapi.PathAgents) {
					path = strings.ReplaceAll(rt.Pattern, "{id}", uuid.NewString())
				}
				path = wildcard.ReplaceAllString(path, uuid.NewString())
				var body any
				// ok is the answer to an authorised request; 0 means any
				// answer but 401, 403 and 5xx (routes this test does not
				// know in detail).
				ok := 0
				if !strings.Contains(rt.Pattern, "{") && rt.Method == "GET" {
					ok = http.StatusOK
				}
				switch {
				case rt.Pattern == wire.PathReports:
					// Every report claims to be agent A's.
					body, ok = reportOf(agentA.AgentID, uuid.NewString()), http.StatusAccepted
				case rt.Pattern == adminapi.PathEnroll:
					body, ok = adminapi.EnrollRequest{HostID: "matrix-" + uuid.NewString(), Hostname: "m"}, http.StatusOK
				case rt.Pattern == adminapi.PathTokens && rt.Method == "POST":
					body, ok = adminapi.CreateToken{Name: "m", Role: "auditor"}, http.StatusCreated
				case rt.Pattern == adminapi.PathEnrollSecrets && rt.Method == "POST":
					body, ok = adminapi.CreateEnrollSecret{Name: "m", TTLSeconds: 60}, http.StatusCreated
				case rt.Pattern == wire.PathJobsNext:
					path, ok = path+"?wait=0", http.StatusNoContent // no job for this agent
				case rt.Pattern == wire.PathHeartbeat:
					// Every heartbeat claims to be agent A's.
					body, ok = wire.Heartbeat{AgentID: agentA.AgentID, AgentVersion: "matrix"}, http.StatusOK
				case rt.Method == "DELETE":
					ok = http.StatusNotFound // the id does not exist: authorised, then not found
				case rt.Method != "GET":
					ok = 0
				}
				want := http.StatusUnauthorized
				if c.p != nil {
					want = http.StatusForbidden
					if rt.Policy.Allows(*c.p) {
						want = ok
						if (rt.Pattern == wire.PathReports || rt.Pattern == wire.PathHeartbeat) && c.p.AgentID != agentA.AgentID {
							want = http.StatusForbidden // another agent's report or heartbeat
						}
					}
				}
				code, b, h := ts.do(t, rt.Method, path, c.header, body)
				if want == 0 {
					if code == 401 || code == 403 || code >= 500 {
						t.Errorf("%s %s with %s = %d %s, want an authorised answer", rt.Method, path, c.name, code, b)
					}
				} else if code != want {
					t.Errorf("%s %s with %s = %d %s, want %d", rt.Method, path, c.name, code, b, want)
				}
				if code == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
			})
		}
	}
	if n < 13*14 {
		t.Errorf("matrix has %d cells", n)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, _ := ts.do(t, "GET", path, "", nil); code != 200 {
			t.Errorf("GET %s without credential = %d, want 200", path, code)
		}
	}
	// A revoked agent is told to enrol again.
	if _, _, h := ts.do(t, "POST", wire.PathReports, "Bearer "+agentC.Credential, reportOf(agentC.AgentID, uuid.NewString())); h.Get(adminapi.ReenrollHeader) == "" {
		t.Error("a revoked agent's 401 does not ask it to enrol again")
	}
}

func TestReenrolSameMachine(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Now())
	ts := newTrustServer(t, db, clk, time.Second)
	secret := secretOf(t)(ts.svc.CreateEnrollSecret(ctx, auth.Principal{}, "s", 0, 0, ""))

	first := enroll(t, ts, secret, "SMBIOS-1", uuid.NewString())
	// The state folder was wiped: a new local id, the same machine.
	second := enroll(t, ts, secret, "smbios-1", uuid.NewString())
	if second.AgentID != first.AgentID || !second.Reenrolled {
		t.Errorf("re-enrolment = %+v, want agent %s again", second, first.AgentID)
	}
	// Same local id, no host id (e.g. a container): the same agent too.
	third := enroll(t, ts, secret, "", first.AgentID)
	if third.AgentID != first.AgentID {
		t.Errorf("re-enrolment by agent id = %s, want %s", third.AgentID, first.AgentID)
	}
	// A disk image copied to another machine brings the agent id along: that
	// machine gets an id of its own.
	clone := enroll(t, ts, secret, "smbios-2", first.AgentID)
	if clone.AgentID == first.AgentID {
		t.Error("a cloned agent id on another machine took over the original's identity")
	}
	agents, err := ts.svc.Agents(ctx)
	if err != nil || len(agents) != 2 {
		t.Fatalf("agents = %+v, %v; want 2", agents, err)
	}
	// Only the latest credential works.
	for _, c := range []struct {
		cred string
		want int
	}{{first.Credential, 401}, {second.Credential, 401}, {third.Credential, 202}} {
		if code, b, _ := ts.do(t, "POST", wire.PathReports, "Bearer "+c.cred, reportOf(first.AgentID, uuid.NewString())); code != c.want {
			t.Errorf("report with credential = %d %s, want %d", code, b, c.want)
		}
	}
	code, b, _ := ts.do(t, "GET", adminapi.PathHosts, "Bearer "+secretOf(t)(ts.svc.CreateToken(ctx, auth.Principal{}, "a", auth.RoleAuditor, 0, "")), nil)
	var hosts adminapi.HostList
	if code != 200 || json.Unmarshal(b, &hosts) != nil || len(hosts.Hosts) != 1 {
		t.Errorf("hosts = %d %s, want one host", code, b)
	}
}

func TestEnrollSecretLimits(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Now())
	ts := newTrustServer(t, db, clk, time.Second)
	once := secretOf(t)(ts.svc.CreateEnrollSecret(ctx, auth.Principal{}, "once", time.Hour, 1, ""))
	other := secretOf(t)(ts.svc.CreateEnrollSecret(ctx, auth.Principal{}, "rotation", time.Hour, 0, ""))
	enroll(t, ts, once, "m1", "")
	if code, b, _ := ts.do(t, "POST", adminapi.PathEnroll, "Bearer "+once, adminapi.EnrollRequest{HostID: "m2", Hostname: "m2"}); code != 401 {
		t.Errorf("second use of a one-time secret = %d %s, want 401", code, b)
	}
	enroll(t, ts, other, "m2", "") // several secrets are active at once
	code, b, _ := ts.do(t, "POST", adminapi.PathEnroll, "Bearer "+other, map[string]any{"hostname": strings.Repeat("x", 5000)})
	if code != 422 {
		t.Errorf("enrolment with a huge hostname = %d %s, want 422", code, b)
	}
	if code, b, _ := ts.do(t, "POST", adminapi.PathEnroll, "Bearer "+other, map[string]any{"hostname": "x", "evil": 1}); code != 400 {
		t.Errorf("enrolment with an unknown field = %d %s, want 400", code, b)
	}
}

// TestRevokedAgentRefusedWithinSeconds revokes an agent through one
// collector and measures how long another, with its own cache, accepts it.
func TestRevokedAgentRefusedWithinSeconds(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	const ttl = 2 * time.Second
	one := newTrustServer(t, db, clk, ttl)
	two := newTrustServerWith(t, db, auth.NewAuthenticator(db, ttl, nil))

	secret := secretOf(t)(one.svc.CreateEnrollSecret(ctx, auth.Principal{}, "s", 0, 0, ""))
	a := enroll(t, one, secret, "m-rev", "")
	post := func(ts *trustServer) int {
		code, _, _ := ts.do(t, "POST", wire.PathReports, "Bearer "+a.Credential, reportOf(a.AgentID, uuid.NewString()))
		return code
	}
	if post(one) != 202 || post(two) != 202 {
		t.Fatal("the enrolled agent is refused")
	}
	start := time.Now()
	if err := one.svc.RevokeAgent(ctx, auth.Principal{}, a.AgentID, ""); err != nil {
		t.Fatal(err)
	}
	if code := post(one); code != 401 {
		t.Errorf("the revoking collector accepts the revoked agent: %d", code)
	}
	deadline := start.Add(ttl + 3*time.Second)
	for post(two) != 401 {
		if time.Now().After(deadline) {
			t.Fatalf("the other collector still accepts the revoked agent after %v", time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("revoked agent refused by the other collector after %v", time.Since(start).Round(time.Millisecond))
}

func newTrustServerWith(t *testing.T, db *store.DB, authn *auth.Authenticator) *trustServer {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := auth.NewService(db, authn, nil)
	srv := httptest.NewServer(api.New(db, logger, api.Options{Auth: authn, Service: svc}))
	t.Cleanup(srv.Close)
	return &trustServer{srv: srv, db: db, svc: svc, auth: authn}
}
