package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/registry"
)

func TestFindings(t *testing.T) {
	now := at(24 * 40)
	pol := Policy{Now: now, MissingAfter: 14 * 24 * time.Hour, AgentSilentAfter: 7 * 24 * time.Hour}
	old := now.Add(-30 * 24 * time.Hour)
	managed := Device{ID: "dev-managed", Serials: []string{"sn-1"}, Agents: []string{"A"}, LastSeen: now, FirstSeen: old,
		Identifiers: []Identifier{{ID: "agent:A", LastSeen: now}, {ID: "serial:sn-1", LastSeen: now}}}
	printer := Device{ID: "dev-printer", MACs: []string{"00:1b:21:00:00:10"}, LastSeen: now, Observers: []string{"X"}, Methods: []string{"arp"}}
	stranger := Device{ID: "dev-stranger", MACs: []string{"00:1b:21:00:00:99"}, LastSeen: now, FirstSeen: old, Observers: []string{"X"}, Methods: []string{"arp", "snmp-fdb"},
		Subnets: []string{"10.0.0.0/24"}, SwitchPorts: []string{"sw1 port 7"}, Vendor: "Raspberry Pi", Kinds: []string{"iot"}}
	phone := Device{ID: "dev-phone", MACs: []string{"da:a1:19:00:00:01"}, Anonymous: true, LastSeen: now, Observers: []string{"X"}}
	rogueAgent := Device{ID: "dev-rogue", Agents: []string{"B"}, Serials: []string{"sn-9"}, LastSeen: now,
		Identifiers: []Identifier{{ID: "agent:B", LastSeen: now}}}
	oldLaptop := Device{ID: "dev-old", Serials: []string{"sn-old"}, LastSeen: now, Observers: []string{"X"}}
	devs := []Device{managed, printer, stranger, phone, rogueAgent, oldLaptop}
	assets := []registry.Asset{
		{ID: "a-managed", Tag: "LAP-1", Serial: "SN-1", Lifecycle: registry.Deployed, ExpectAgent: true, CreatedAt: old},
		{ID: "a-printer", Tag: "PRN-1", MACs: []string{"00:1b:21:00:00:10"}, Lifecycle: registry.Deployed, ExpectAgent: true, CreatedAt: old},
		{ID: "a-gone", Tag: "LAP-2", Serial: "SN-2", Lifecycle: registry.Deployed, CreatedAt: old},
		{ID: "a-new", Tag: "LAP-3", Serial: "SN-3", Lifecycle: registry.Deployed, CreatedAt: now},
		{ID: "a-old", Tag: "LAP-0", Serial: "SN-OLD", Lifecycle: registry.Disposed, Disposal: &registry.Disposal{Outcome: registry.Recycled, At: old}},
		{ID: "a-planned", Tag: "LAP-9", Serial: "SN-9X", Lifecycle: registry.Planned},
	}
	software := []Software{
		{Name: "AnyDesk", Publishers: []string{"AnyDesk Software GmbH"}, Installs: 2},
		{Name: "curl", Publishers: []string{"Debian"}, Installs: 40},
		{Name: "Dropbox", Publishers: []string{"Dropbox, Inc."}, Installs: 1},
	}
	rules := []Rule{
		{ID: "r1", Decision: "deny", NamePattern: "anydesk*"},
		{ID: "r2", Decision: "approve", NamePattern: "*", PublisherPattern: "debian"},
	}
	fs := Findings(devs, assets, software, rules, pol)
	got := map[string]string{}
	for _, f := range fs {
		got[f.Kind+" "+f.Subject] = f.Severity
		if f.ID != FindingID(f.Kind, f.Subject) || f.Why == "" || f.Title == "" {
			t.Errorf("finding %+v lacks a stable id, a title or a why", f)
		}
	}
	want := map[string]string{
		"unmanaged-asset asset:a-printer":                            "medium",
		"missing-asset asset:a-gone":                                 "medium",
		"retired-asset-seen asset:a-old":                             "high",
		"unregistered-device device:dev-stranger":                    "medium",
		"unregistered-device device:dev-phone":                       "low",
		"unregistered-agent device:dev-rogue":                        "low",
		"unapproved-software software:anydesk|anydesk software gmbh": "high",
		"unapproved-software software:dropbox|dropbox, inc.":         "medium",
	}
	if !reflect.DeepEqual(got, want) {
		var g, w []string
		for k, v := range got {
			g = append(g, k+" "+v)
		}
		for k, v := range want {
			w = append(w, k+" "+v)
		}
		sort.Strings(g)
		sort.Strings(w)
		t.Errorf("Findings =\n%s\nwant\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
	for _, f := range fs {
		if f.Subject == "device:dev-stranger" {
			for _, s := range []string{"X", "snmp-fdb", "10.0.0.0/24", "sw1 port 7"} {
				if !strings.Contains(f.Why, s) {
					t.Errorf("the why of an unregistered device lacks %q: %s", s, f.Why)
				}
			}
			if f.Vendor != "Raspberry Pi" || f.Kinds[0] != "iot" {
				t.Errorf("what it probably is: %q %v", f.Vendor, f.Kinds)
			}
		}
	}
	if again := Findings(devs, assets, software, rules, pol); !reflect.DeepEqual(again, fs) {
		t.Error("Findings is not deterministic")
	}
	// An approval with licences flags installs beyond them.
	lic := []Rule{{ID: "r-office", Decision: "approve", NamePattern: "curl", Entitlements: 25}}
	if fs := Findings(nil, nil, software, lic, pol); len(fs) != 3 || fs[0].Kind+fs[1].Kind+fs[2].Kind == "" {
		t.Errorf("licences: %+v", fs)
	} else {
		var short []Finding
		for _, f := range fs {
			if f.Kind == KindLicenceShortfall {
				short = append(short, f)
			}
		}
		if len(short) != 1 || short[0].Count != 40 || !strings.Contains(short[0].Title, "40 installs of curl for 25 licences") {
			t.Errorf("licence shortfall %+v", short)
		}
	}
	// Without any approval rule, only denied software is a finding.
	if fs := Findings(nil, nil, software, rules[:1], pol); len(fs) != 1 {
		t.Errorf("deny-only catalogue: %d findings, want 1", len(fs))
	}
}

func TestComputeKPIs(t *testing.T) {
	now := at(24 * 10)
	devs := []Device{{ID: "d1", Agents: []string{"A"}}, {ID: "d2"}, {ID: "d3"}, {ID: "d4"}}
	fs := []StoredFinding{
		{Finding: Finding{Kind: KindUnregisteredDevice, DeviceID: "d2"}, State: StateOpen, OpenedAt: now.Add(-2 * time.Hour)},
		{Finding: Finding{Kind: KindUnregisteredDevice, DeviceID: "d3"}, State: StateAcknowledged, OpenedAt: now.Add(-10 * 24 * time.Hour)},
		{Finding: Finding{Kind: KindUnregisteredDevice, DeviceID: "d9", FirstSeen: now.Add(-48 * time.Hour)}, State: StateResolved, ResolvedAt: now},
		{Finding: Finding{Kind: KindUnmanagedAsset, AssetID: "a2"}, State: StateOpen, OpenedAt: now},
	}
	assets := []registry.Asset{
		{ID: "a1", Category: registry.EndUserDevice, Lifecycle: registry.Deployed, ExpectAgent: true, CostCents: 100000, Currency: "EUR"},
		{ID: "a2", Category: registry.EndUserDevice, Lifecycle: registry.Deployed, ExpectAgent: true, CostCents: 50000, Currency: "EUR"},
		{ID: "a3", Category: registry.Peripheral, Lifecycle: registry.Retired},
	}
	k := ComputeKPIs(devs, fs, assets, now)
	if k.ManagedPct != 25 || k.RegisteredPct != 50 || k.AgentCoveragePct != 50 || k.MeanTimeToRegisterHours != 48 {
		t.Errorf("KPIs = %+v", k)
	}
	if k.OpenFindings[KindUnregisteredDevice]["<1d"] != 1 || k.OpenFindings[KindUnregisteredDevice]["7-30d"] != 1 {
		t.Errorf("open findings by age = %v", k.OpenFindings)
	}
	if k.CostByCategory["end-user-device"]["EUR"] != 150000 || k.AssetsByLifecycle["retired"] != 1 {
		t.Errorf("assets = %v %v", k.CostByCategory, k.AssetsByLifecycle)
	}
}

// TestHeartbeatKeepsAnAgentManaging: an agent whose last inventory is old
// but that still sends heartbeats manages its asset.
func TestHeartbeatKeepsAnAgentManaging(t *testing.T) {
	now := at(24 * 40)
	quiet := now.Add(-10 * 24 * time.Hour)
	dev := Device{ID: "dev-laptop", Serials: []string{"sn-1"}, Agents: []string{"A"}, LastSeen: quiet,
		Identifiers: []Identifier{{ID: "agent:A", LastSeen: quiet}, {ID: "serial:sn-1", LastSeen: quiet}}}
	assets := []registry.Asset{{ID: "a1", Tag: "LAP-1", Serial: "SN-1", Lifecycle: registry.Deployed, ExpectAgent: true,
		CreatedAt: now.Add(-30 * 24 * time.Hour)}}
	unmanaged := func(pol Policy) bool {
		for _, f := range Findings([]Device{dev}, assets, nil, nil, pol) {
			if f.Kind == KindUnmanagedAsset {
				return true
			}
		}
		return false
	}
	pol := Policy{Now: now, MissingAfter: 14 * 24 * time.Hour, AgentSilentAfter: 7 * 24 * time.Hour}
	if !unmanaged(pol) {
		t.Error("an agent silent for 10 days still manages its asset")
	}
	pol.AgentContact = map[string]time.Time{"A": now.Add(-time.Hour)}
	if unmanaged(pol) {
		t.Error("an agent that sent a heartbeat an hour ago was judged silent")
	}
	pol.AgentContact = map[string]time.Time{"B": now.Add(-time.Hour)}
	if !unmanaged(pol) {
		t.Error("another agent's heartbeat kept this one managing")
	}
}

// TestDigestKeepsItsBytes: the digest stored with every finding is the
// hash of fmt.Sprint of its fields; computed another way, it must come out
// the same, or every stored finding would be written again once.
func TestDigestKeepsItsBytes(t *testing.T) {
	at := time.Date(2026, 11, 28, 1, 2, 3, 0, time.UTC)
	fs := []Finding{
		{},
		{Kind: KindUnregisteredDevice, Subject: "device:d-1", Severity: "high", Title: "t", Why: "w", FirstSeen: at, LastSeen: at.Add(time.Hour),
			DeviceID: "d-1", SeenBy: []string{"a", "b"}, Methods: []string{"arp"}, IPs: []string{"192.0.2.1"}, MACs: []string{"00:11:22:33:44:55"},
			Hostnames: []string{"h"}, Vendor: "V", Kinds: []string{"printer"}, Count: 7},
	}
	rng := rand.New(rand.NewPCG(7, 11))
	word := func() string {
		const chars = "ab [] %v\x00\n\"é☃"
		r := []rune(chars)
		out := make([]rune, rng.IntN(6))
		for i := range out {
			out[i] = r[rng.IntN(len(r))]
		}
		return string(out)
	}
	list := func() []string {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		out := make([]string, 1+rng.IntN(3))
		for i := range out {
			out[i] = word()
		}
		return out
	}
	for range 500 {
		fs = append(fs, Finding{Kind: word(), Subject: word(), Severity: word(), Title: word(), Why: word(),
			FirstSeen: time.Unix(rng.Int64N(4e9)-2e9, 0), LastSeen: time.Unix(rng.Int64N(4e9), 0), DeviceID: word(), AssetID: word(),
			SeenBy: list(), Methods: list(), Subnets: list(), SwitchPorts: list(), IPs: list(), MACs: list(), Hostnames: list(),
			Vendor: word(), Kinds: list(), Count: rng.IntN(2000) - 1000})
	}
	for _, f := range fs {
		s := fmt.Sprint(f.Kind, f.Subject, f.Severity, f.Title, f.Why, f.FirstSeen.Unix(), f.LastSeen.Unix(), f.DeviceID, f.AssetID,
			f.SeenBy, f.Methods, f.Subnets, f.SwitchPorts, f.IPs, f.MACs, f.Hostnames, f.Vendor, f.Kinds, f.Count)
		if got := string(f.digestText(nil)); got != s {
			t.Fatalf("digestText = %q, want fmt.Sprint's %q", got, s)
		}
		sum := sha256.Sum256([]byte(s))
		if got, want := f.Digest(), hex.EncodeToString(sum[:12]); got != want {
			t.Errorf("Digest() = %s, want %s", got, want)
		}
	}
}
