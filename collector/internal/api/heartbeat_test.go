package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/auth"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

func TestHeartbeatAndTrustedNetworks(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	clk := &clock{}
	clk.Set(time.Now())
	ts := newTrustServer(t, db, clk, time.Second)
	local := auth.Principal{}
	secret := secretOf(t)(ts.svc.CreateEnrollSecret(ctx, local, "s", time.Hour, 0, ""))
	opNC, err := ts.svc.CreateToken(ctx, local, "netops", auth.RoleOperator, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	operator := "Bearer " + opNC.Secret
	auditor := "Bearer " + secretOf(t)(ts.svc.CreateToken(ctx, local, "sec", auth.RoleAuditor, 0, ""))
	a := enroll(t, ts, secret, "hb-a", "")
	agent := "Bearer " + a.Credential

	beat := func(hb wire.Heartbeat) (int, wire.HeartbeatReply, string) {
		t.Helper()
		code, body, _ := ts.do(t, "POST", wire.PathHeartbeat, agent, hb)
		var rep wire.HeartbeatReply
		if code == 200 {
			if err := json.Unmarshal(body, &rep); err != nil {
				t.Fatalf("heartbeat answer %s: %v", body, err)
			}
		}
		return code, rep, string(body)
	}
	untrusted := false
	code, rep, body := beat(wire.Heartbeat{AgentID: a.AgentID, AgentVersion: "v9", SentAt: time.Now(), UptimeSeconds: 3600,
		SpoolRecords: 7, SpoolBytes: 7000, DroppedRecords: 2, Trusted: &untrusted,
		Network: &wire.NetworkView{Addresses: []string{"10.77.0.23/16"}, GatewayMACs: []string{"aa:bb:cc:00:00:01"}}})
	if code != 200 {
		t.Fatalf("heartbeat = %d %s", code, body)
	}
	if rep.Networks.TrustAll || len(rep.Networks.Rules) != 0 || time.Since(rep.ServerTime) > time.Minute {
		t.Errorf("first reply = %+v, want no rules and no trust_all", rep)
	}

	// The agent list shows the heartbeat.
	code, b, _ := ts.do(t, "GET", adminapi.PathAgents, auditor, nil)
	var agents adminapi.AgentList
	if code != 200 || json.Unmarshal(b, &agents) != nil || len(agents.Agents) != 1 {
		t.Fatalf("agents = %d %s", code, b)
	}
	p := agents.Agents[0].Heartbeat
	if p == nil || p.SpoolRecords != 7 || p.DroppedRecords != 2 || p.UptimeSeconds != 3600 || p.AgentVersion != "v9" ||
		p.Trusted == nil || *p.Trusted || !strings.Contains(p.Network, "10.77.0.23/16") || time.Since(p.At) > time.Minute {
		t.Errorf("agent heartbeat = %+v", p)
	}
	// So does the host list, once the agent has sent an inventory.
	if code, b, _ := ts.do(t, "POST", wire.PathReports, agent, reportOf(a.AgentID, uuid.NewString())); code != 202 {
		t.Fatalf("report = %d %s", code, b)
	}
	code, b, _ = ts.do(t, "GET", adminapi.PathHosts, auditor, nil)
	var hosts adminapi.HostList
	if code != 200 || json.Unmarshal(b, &hosts) != nil || len(hosts.Hosts) != 1 || hosts.Hosts[0].Heartbeat == nil ||
		hosts.Hosts[0].Heartbeat.SpoolRecords != 7 {
		t.Errorf("hosts = %d %s, want the host with its heartbeat", code, b)
	}
	// The latest heartbeat wins.
	clk.Set(time.Now().Add(time.Second))
	time.Sleep(1100 * time.Millisecond) // DateTime has whole seconds: the next heartbeat must be a later one
	if code, _, body := beat(wire.Heartbeat{AgentID: a.AgentID, AgentVersion: "v9", UptimeSeconds: 3700}); code != 200 {
		t.Fatalf("second heartbeat = %d %s", code, body)
	}
	code, b, _ = ts.do(t, "GET", adminapi.PathAgents, auditor, nil)
	agents = adminapi.AgentList{}
	if json.Unmarshal(b, &agents) != nil || agents.Agents[0].Heartbeat == nil || agents.Agents[0].Heartbeat.UptimeSeconds != 3700 ||
		agents.Agents[0].Heartbeat.SpoolRecords != 0 || agents.Agents[0].Heartbeat.Trusted != nil {
		t.Errorf("after a second heartbeat, agents = %d %s", code, b)
	}

	// Bad heartbeats.
	for _, c := range []struct {
		name string
		body any
		want int
	}{
		{"another agent's id", wire.Heartbeat{AgentID: uuid.NewString()}, 403},
		{"negative counter", wire.Heartbeat{AgentID: a.AgentID, SpoolRecords: -1}, 422},
		{"no agent id", wire.Heartbeat{}, 422},
		{"not an object", []int{1, 2}, 400},
		{"huge", map[string]string{"agent_id": a.AgentID, "pad": strings.Repeat("x", 64<<10)}, 413},
	} {
		if code, b, _ := ts.do(t, "POST", wire.PathHeartbeat, agent, c.body); code != c.want {
			t.Errorf("heartbeat with %s = %d %s, want %d", c.name, code, b, c.want)
		}
	}

	// Trusted networks: an operator adds, anyone may read, agents get them.
	code, b, _ = ts.do(t, "POST", adminapi.PathTrustedNetworks, operator, adminapi.CreateTrustedNetwork{Kind: "subnet", Value: "198.18.1.7/24", Note: "Paris office"})
	var rule adminapi.TrustedNetwork
	if code != 201 || json.Unmarshal(b, &rule) != nil || rule.Value != "198.18.1.0/24" || rule.CreatedBy == "" || !strings.HasPrefix(rule.ID, "net-") {
		t.Fatalf("add subnet = %d %s", code, b)
	}
	code, b, _ = ts.do(t, "POST", adminapi.PathTrustedNetworks, operator, adminapi.CreateTrustedNetwork{Kind: "subnet", Value: "198.18.1.0/24"})
	var again adminapi.TrustedNetwork
	if code != 200 || json.Unmarshal(b, &again) != nil || again.ID != rule.ID {
		t.Errorf("adding the same subnet again = %d %s, want 200 with %s", code, b, rule.ID)
	}
	for _, bad := range []adminapi.CreateTrustedNetwork{
		{Kind: "subnet", Value: "0.0.0.0/0"}, {Kind: "gateway-mac", Value: "nope"}, {Kind: "dns-suffix", Value: "a..b"},
		{Kind: "ssid", Value: "office"}, {Kind: "subnet", Value: "198.18.2.0/24", Note: "bad\x1b[2Jnote"},
	} {
		if code, b, _ := ts.do(t, "POST", adminapi.PathTrustedNetworks, operator, bad); code != 422 {
			t.Errorf("add %+v = %d %s, want 422", bad, code, b)
		}
	}
	code, b, _ = ts.do(t, "POST", adminapi.PathTrustedNetworks, operator, adminapi.CreateTrustedNetwork{Kind: "gateway-mac", Value: "02-00-00-00-01-01"})
	var macRule adminapi.TrustedNetwork
	if code != 201 || json.Unmarshal(b, &macRule) != nil || macRule.Value != "02:00:00:00:01:01" {
		t.Fatalf("add gateway MAC = %d %s", code, b)
	}
	code, b, _ = ts.do(t, "GET", adminapi.PathTrustedNetworks, auditor, nil)
	var list adminapi.TrustedNetworkList
	if code != 200 || json.Unmarshal(b, &list) != nil || len(list.Rules) != 2 || list.TrustAll ||
		list.Rules[0].Note+list.Rules[1].Note != "Paris office" {
		t.Errorf("list = %d %s", code, b)
	}
	_, rep, _ = beat(wire.Heartbeat{AgentID: a.AgentID})
	if len(rep.Networks.Rules) != 2 || rep.Networks.TrustAll {
		t.Errorf("policy = %+v, want the two rules", rep.Networks)
	}
	if _, err := rep.Networks.Check(wire.NetworkView{Addresses: []string{"198.18.1.40/24"}}); err != nil {
		t.Errorf("the policy the agent got does not trust 198.18.1.40: %v", err)
	}
	if code, b, _ := ts.do(t, "DELETE", adminapi.PathTrustedNetworks+"/"+rule.ID, operator, nil); code != 204 {
		t.Errorf("remove = %d %s", code, b)
	}
	if code, _, _ := ts.do(t, "DELETE", adminapi.PathTrustedNetworks+"/"+rule.ID, operator, nil); code != 404 {
		t.Errorf("remove twice = %d, want 404", code)
	}
	_, rep, _ = beat(wire.Heartbeat{AgentID: a.AgentID})
	if len(rep.Networks.Rules) != 1 || rep.Networks.Rules[0].ID != macRule.ID {
		t.Errorf("policy after removal = %+v, want the MAC rule only", rep.Networks)
	}

	// Every change is audited with who did it.
	evs, err := db.AuditLog(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		if strings.HasPrefix(e.Action, "trusted-network.") {
			seen[e.Action+"/"+e.Outcome]++
			if e.Actor != "admin:"+opNC.Credential.ID {
				t.Errorf("audit %+v: actor does not name the operator's token", e)
			}
		}
	}
	if seen["trusted-network.add/ok"] != 2 || seen["trusted-network.remove/ok"] != 1 || seen["trusted-network.add/denied"] != 5 {
		t.Errorf("audit = %v, want 2 adds, 1 removal and 5 denied adds", seen)
	}
}

func TestTrustAllNetworksOnlyWithoutRules(t *testing.T) {
	db := storetest.New(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(api.New(db, logger, api.Options{NoAuth: true, TrustAllNetworks: true}))
	t.Cleanup(srv.Close)
	ts := &trustServer{srv: srv, db: db}
	policy := func() wire.NetworkPolicy {
		code, b, _ := ts.do(t, "POST", wire.PathHeartbeat, "", wire.Heartbeat{AgentID: "agent-1"})
		var rep wire.HeartbeatReply
		if code != 200 || json.Unmarshal(b, &rep) != nil {
			t.Fatalf("heartbeat = %d %s", code, b)
		}
		return rep.Networks
	}
	if p := policy(); !p.TrustAll {
		t.Errorf("no rules, --scan-trust-all-networks: policy %+v, want trust_all", p)
	}
	if code, b, _ := ts.do(t, "POST", adminapi.PathTrustedNetworks, "", adminapi.CreateTrustedNetwork{Kind: "dns-suffix", Value: "corp.example"}); code != 201 {
		t.Fatalf("add = %d %s", code, b)
	}
	if p := policy(); p.TrustAll || len(p.Rules) != 1 {
		t.Errorf("a rule exists: policy %+v, want the rule and no trust_all", p)
	}
}
