package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
	"github.com/umbrasec/umbra/shared/wire"
)

func getJSON(t *testing.T, srv string, path string, out any) int {
	t.Helper()
	resp, err := http.Get(srv + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

func TestDetailRoutes(t *testing.T) {
	db := storetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hostile := "\x1b]0;pwned\x07"
	inv := &wire.Report{Schema: wire.Schema, ID: "r-1", Kind: wire.KindInventory, AgentID: "agent-1", CreatedAt: now,
		Inventory: &wire.Inventory{CollectedAt: now, Full: true,
			Host:      wire.Host{Hostname: "web-01", FQDN: "web-01.corp.example"},
			OS:        wire.OS{Family: "linux", Platform: "debian", Build: "12"},
			Hardware:  &wire.Hardware{System: wire.System{Vendor: "Dell Inc.", Serial: hostile}},
			Software:  []wire.Package{{Name: "curl", Version: "8.5", Source: wire.SourceDpkg}, {Name: "jq", Source: wire.SourceSnap}},
			Listeners: []wire.Listener{{Protocol: "tcp", Address: "0.0.0.0", Port: 22, Process: "sshd"}},
		}}
	disc := &wire.Report{Schema: wire.Schema, ID: "d-1", Kind: wire.KindDiscovery, AgentID: "agent-1", CreatedAt: now,
		Discovery: &wire.Discovery{StartedAt: now, FinishedAt: now, Observations: []wire.Observation{
			{ObservedAt: now, Method: wire.MethodARP, IP: "192.0.2.5", MAC: "00:11:22:33:44:55", Hostname: hostile},
		}}}
	if _, err := db.StoreReports(ctx, []store.Received{{At: now, Report: inv}, {At: now, Report: disc}}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, db).URL

	var d adminapi.HostDetail
	if code := getJSON(t, srv, adminapi.PathHosts+"/agent-1", &d); code != 200 {
		t.Fatalf("GET host detail = %d", code)
	}
	if d.Host.Hostname != "web-01" || d.FQDN != "web-01.corp.example" || d.OSBuild != "12" || d.Hardware == nil ||
		d.Hardware.System.Serial != hostile || len(d.Listeners) != 1 || d.Software.Count != 2 || !d.Software.Verified ||
		!reflect.DeepEqual(d.Software.BySource, map[string]int{"dpkg": 1, "snap": 1}) || d.Users == nil {
		t.Errorf("host detail = %+v", d)
	}

	var sw adminapi.SoftwareList
	if code := getJSON(t, srv, adminapi.PathSoftware+"?name=CUR", &sw); code != 200 {
		t.Fatalf("GET software = %d", code)
	}
	if len(sw.Software) != 1 || sw.Software[0].Name != "curl" || sw.Software[0].Installs != 1 {
		t.Errorf("software = %+v", sw)
	}

	var devs adminapi.DeviceList
	if code := getJSON(t, srv, adminapi.PathDevices, &devs); code != 200 {
		t.Fatalf("GET devices = %d", code)
	}
	if len(devs.Devices) != 1 || devs.Devices[0].Hostname != hostile || devs.Devices[0].MAC != "00:11:22:33:44:55" {
		t.Errorf("devices = %+v", devs)
	}
	var obs adminapi.ObservationList
	if code := getJSON(t, srv, adminapi.PathObservations+"?address=192.0.2.5&since="+url.QueryEscape(now.Format(time.RFC3339)), &obs); code != 200 {
		t.Fatalf("GET observations = %d", code)
	}
	if len(obs.Observations) != 1 || obs.Observations[0].ReportID != "d-1" || obs.Observations[0].Method != wire.MethodARP {
		t.Errorf("observations = %+v", obs)
	}

	for path, want := range map[string]int{
		adminapi.PathHosts + "/nobody":         404,
		adminapi.PathHosts + "/bad%20id":       400,
		adminapi.PathSoftware + "?limit=0":     400,
		adminapi.PathDevices + "?since=monday": 400,
	} {
		if code := getJSON(t, srv, path, nil); code != want {
			t.Errorf("GET %s = %d, want %d", path, code, want)
		}
	}
}

func TestDetailRoutesNeedReadRole(t *testing.T) {
	want := map[string]bool{
		adminapi.PathHosts + "/{agent_id}": true, adminapi.PathSoftware: true,
		adminapi.PathDevices: true, adminapi.PathObservations: true,
	}
	for _, rt := range api.Routes() {
		if want[rt.Pattern] && rt.Method == "GET" {
			if !reflect.DeepEqual(rt.Policy, api.PolicyRead) {
				t.Errorf("GET %s policy = %+v, want PolicyRead", rt.Pattern, rt.Policy)
			}
			delete(want, rt.Pattern)
		}
	}
	for p := range want {
		t.Errorf("no GET route %s", p)
	}
}
