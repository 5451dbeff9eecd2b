package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/registry"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestRunStoresDevicesAndFindingsWithoutFlapping(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	ins := `INSERT INTO observations (observed_at, received_at, agent_id, report_id, idx, observer, method, ip, mac, mac_local, hostname, vendor, model, serial,
via, port, open_ports, rtt_us, kinds, kind_reasons, evidence_keys, evidence_values)`
	row := func(rep string, method, ip, mac, host, vendor, via, port string) []any {
		return []any{now, now, "agent-x", rep, uint32(0), "agent-x", method, ip, mac, uint8(0), host, vendor, "", "", via, port, []uint16{}, uint64(0),
			[]string{"printer"}, []string{"mdns"}, []string{}, []string{}}
	}
	if err := db.InsertRows(ctx, ins, [][]any{
		row("r1", "arp", "10.0.0.9", "00:1b:21:00:00:09", "", "Intel", "", ""),
		row("r2", "snmp-fdb", "", "00:1b:21:00:00:09", "", "", "sw1", "Gi1/0/7"),
		row("r3", "arp", "10.0.0.10", "00:1b:21:00:00:10", "prn-2f", "HP", "", ""),
	}); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, nil)
	me := registry.Actor{ID: "local"}
	if _, err := reg.Create(ctx, me, registry.Asset{Tag: "PRN-2F", Category: "peripheral", MACs: []string{"00:1b:21:00:00:10"}}); err != nil {
		t.Fatal(err)
	}
	e := New(db, nil, nil)
	st, err := e.Run(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	if st.Devices != 2 || st.Opened != 1 {
		t.Fatalf("first run %+v, want 2 devices, 1 finding", st)
	}
	fs, err := e.ListFindings(ctx, FindingFilter{Kind: KindUnregisteredDevice})
	if err != nil || len(fs) != 1 {
		t.Fatalf("findings %+v, %v", fs, err)
	}
	f := fs[0]
	if len(f.SwitchPorts) != 1 || f.SwitchPorts[0] != "sw1 port Gi1/0/7" || f.SeenBy[0] != "agent-x" || f.Severity == "" {
		t.Errorf("finding %+v", f)
	}
	st, err = e.Run(ctx, "test")
	if err != nil || st.Opened != 0 || st.Resolved != 0 || st.Unchanged != 1 {
		t.Fatalf("second run on unchanged data %+v, %v: the finding flapped", st, err)
	}
	d, err := e.Explain(ctx, f.DeviceID)
	if err != nil || len(d.Evidence) == 0 || len(d.Identifiers) != 1 {
		t.Fatalf("explain %+v, %v", d, err)
	}
	if err := e.Acknowledge(ctx, me, f.ID, "lab printer, on loan", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if fs, _ = e.ListFindings(ctx, FindingFilter{}); len(fs) != 1 || fs[0].State != StateAcknowledged {
		t.Fatalf("after ack %+v", fs)
	}
	a, err := e.Register(ctx, me, f.ID, registry.Asset{})
	if err != nil || a.MACs[0] != "00:1b:21:00:00:09" {
		t.Fatalf("register %+v, %v", a, err)
	}
	if st, err = e.Run(ctx, "test"); err != nil || st.Resolved != 1 {
		t.Fatalf("after register %+v, %v: want the finding resolved", st, err)
	}
	if n, err := db.Count(ctx, "SELECT count() FROM finding_acks FINAL WHERE cleared = 1"); err != nil || n != 1 {
		t.Errorf("the acknowledgement of a resolved finding is not cleared: %d, %v", n, err)
	}
	if n, err := db.Count(ctx, "SELECT count() FROM device_current FINAL WHERE deleted = 0"); err != nil || n != 2 {
		t.Errorf("device_current holds %d current devices, %v; want 2", n, err)
	}

	// The host's agent reports one serial on both MACs: the two devices
	// are one, and the parts of the one merged away are deleted.
	agent := func(rep, mac string) []any {
		r := row(rep, "self", "", mac, "", "", "", "")
		r[13] = "5CD1234XYZ"
		return r
	}
	if err := db.InsertRows(ctx, ins, [][]any{agent("r4", "00:1b:21:00:00:09"), agent("r5", "00:1b:21:00:00:10")}); err != nil {
		t.Fatal(err)
	}
	if st, err = e.Run(ctx, "test"); err != nil || st.Full || st.Devices != 1 {
		t.Fatalf("after the agent's report %+v, %v: want one device, by an incremental run", st, err)
	}
	orphanParts(t, e)
	devs, err := e.Devices(ctx)
	if err != nil || len(devs) != 1 {
		t.Fatalf("devices %+v, %v", devs, err)
	}
	if d, err = e.Explain(ctx, devs[0].ID); err != nil || len(d.Identifiers) != 3 || len(d.Evidence) < 3 {
		t.Fatalf("explain %+v, %v: want both MACs and the serial, with their evidence", d, err)
	}
}
