package reconcile

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/registry"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
)

// mixedSQL stores one observation of each of N generated devices (every
// 20th from the given kind), seen by observer with method at the address
// the generator gives it, offset seconds after a sighting of it, each in
// a report of its own. A MAC prefix gives each a MAC; "" none.
const mixedSQL = `INSERT INTO observations (observed_at, received_at, agent_id, report_id, idx, observer, method, ip, mac, mac_local,
hostname, vendor, model, serial, via, port, open_ports, rtt_us, kinds, kind_reasons, evidence_keys, evidence_values)
SELECT toDateTime(? + intDiv((d + ?) * ?, 1000) + ?, 'UTC'), toDateTime(?, 'UTC'), '', concat('mixed-', ?, '-', toString(d)), toUInt32(0), ?, ?,
    concat('10.', toString(intDiv(d, 65536) % 256), '.', toString(intDiv(d, 256) % 256), '.', toString(d % 256)),
    if(? = '', '', concat(?, ':', lower(hex(toUInt8(intDiv(d, 65536) % 256))), ':', lower(hex(toUInt8(intDiv(d, 256) % 256))), ':', lower(hex(toUInt8(d % 256))))),
    toUInt8(0), '', '', '', '', '', '', CAST([] AS Array(UInt16)), toUInt64(0), CAST([] AS Array(String)), CAST([] AS Array(String)),
    CAST([] AS Array(String)), CAST([] AS Array(String))
FROM (SELECT number * 20 + ? AS d FROM system.numbers LIMIT ?)`

// storedDevices reads every current device with its identifiers and
// evidence.
func storedDevices(t testing.TB, e *Engine) []Device {
	t.Helper()
	out, err := e.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*Device{}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	if err := e.withParts(context.Background(), byID, ""); err != nil {
		t.Fatal(err)
	}
	return out
}

// orphanParts fails t if device_parts holds parts of a device that is not
// current (gone, merged into another).
func orphanParts(t testing.TB, e *Engine) {
	t.Helper()
	n, err := e.db.Count(context.Background(), `SELECT count() FROM device_parts FINAL WHERE deleted = 0
AND device_id NOT IN (SELECT device_id FROM device_current FINAL WHERE deleted = 0)`)
	if err != nil || n != 0 {
		t.Fatalf("device_parts holds %d parts of devices that are not current, %v; want none", n, err)
	}
}

// findingStates summarises every stored finding: id, state, digest.
func findingStates(t testing.TB, e *Engine) map[string]string {
	t.Helper()
	all, err := e.stored(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for id, f := range all {
		out[id] = f.State + " " + f.digest
	}
	return out
}

func envInt(name string, def uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

// TestIncrementalRunsEqualFullRecompute fills ClickHouse with generated
// observations in batches, reconciling after each, and checks that the
// devices and findings the incremental runs stored are those a rebuild
// from every observation gives, and the devices those Resolve gives.
// UMBRA_RECONCILE_TEST_ROWS (150,000) and _DEVICES (10,000) set the scale.
func TestIncrementalRunsEqualFullRecompute(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	rows, devices := envInt("UMBRA_RECONCILE_TEST_ROWS", 150_000), envInt("UMBRA_RECONCILE_TEST_DEVICES", 10_000)
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	step := 14 * 24 * time.Hour / time.Duration(rows)
	now := start.Add(15 * 24 * time.Hour)
	reg := registry.New(db, func() time.Time { return start })
	me := registry.Actor{ID: "test"}
	// Assets: hosts registered by MAC, switches by serial, a laptop by
	// hostname, and a deployed asset that is never seen.
	for d := uint64(0); d < 200; d += 20 {
		if _, err := reg.Create(ctx, me, registry.Asset{Tag: fmt.Sprint("H-", d), Category: registry.EndUserDevice, Lifecycle: registry.Deployed,
			MACs: []string{fmt.Sprintf("00:1b:00:00:%02x:%02x", (d>>8)&0xff, d&0xff)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Create(ctx, me, registry.Asset{Tag: fmt.Sprint("SW-", d+9), Category: registry.NetworkInfra, Lifecycle: registry.Deployed,
			Serial: fmt.Sprint("SW", d+9)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []registry.Asset{{Tag: "LT-12", Category: registry.EndUserDevice, Hostname: "lt-12", Lifecycle: registry.Deployed, ExpectAgent: true},
		{Tag: "GONE-1", Category: registry.EndUserDevice, MACs: []string{"00:1b:ff:ff:ff:ff"}, Lifecycle: registry.Deployed}} {
		if _, err := reg.Create(ctx, me, a); err != nil {
			t.Fatal(err)
		}
	}
	e := New(db, nil, func() time.Time { return now })
	t.Cleanup(func() { lives.Delete(db) })
	batches := []uint64{rows / 2, rows / 4, rows / 8, rows - rows/2 - rows/4 - rows/8 - 10_000, 10_000}
	from := uint64(0)
	opened := map[int]int{}
	for i, n := range batches {
		switch i {
		case 2:
			// The register changes between runs: a new asset claims a
			// device that was unregistered (by MAC) and one whose hostname
			// no device has; a registered host is retired and is still
			// seen; a switch's asset is disposed of.
			for _, a := range []registry.Asset{
				{Tag: "NEW-41", Category: registry.EndUserDevice, Lifecycle: registry.Deployed, MACs: []string{"00:1b:00:00:00:29"}},
				{Tag: "NEW-NONE", Category: registry.EndUserDevice, Lifecycle: registry.Deployed, Hostname: "no-such-host"},
			} {
				if _, err := reg.Create(ctx, me, a); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := reg.Retire(ctx, me, "H-20", registry.Retirement{Reason: "test"}); err != nil {
				t.Fatal(err)
			}
			if _, err := reg.Retire(ctx, me, "SW-29", registry.Retirement{Dispose: true, Outcome: "recycled", Reason: "test"}); err != nil {
				t.Fatal(err)
			}
		case 3:
			// Retries: three reports stored before are stored again (the
			// collector crashed between the write and its answer), now.
			// No run and no rebuild may count them twice.
			if err := db.Exec(ctx, `INSERT INTO observations (observed_at, received_at, agent_id, report_id, idx, observer, method, ip, mac, mac_local,
hostname, vendor, model, serial, via, port, open_ports, rtt_us, kinds, kind_reasons, evidence_keys, evidence_values)
SELECT observed_at, toDateTime(?, 'UTC'), agent_id, report_id, idx, observer, method, ip, mac, mac_local, hostname, vendor, model, serial, via, port,
    open_ports, rtt_us, kinds, kind_reasons, evidence_keys, evidence_values
FROM observations WHERE report_id IN (SELECT report_id FROM observations GROUP BY report_id ORDER BY report_id LIMIT 3)`,
				start.Add(time.Duration(i+1)*time.Hour).Unix()); err != nil {
				t.Fatal(err)
			}
		case len(batches) - 1:
			// Time passes: every deployed asset whose device is not seen
			// again goes missing, with no observation of it.
			now = now.Add(20 * 24 * time.Hour)
		}
		recv := start.Add(time.Duration(i+1) * time.Hour)
		if err := Generate(ctx, db, Generated{Devices: devices, From: from, N: n, Start: start, Step: step, Received: recv}); err != nil {
			t.Fatal(err)
		}
		from += n
		// Addresses with both kinds of observation, which the build and a
		// run read back one by one: before the build, a router's sweep
		// sees 50 hosts known by their MAC; later, 50 hosts seen only by
		// that sweep show up in ARP with a MAC.
		extra := uint64(0)
		switch i {
		case 0:
			extra = 50
			if err := db.Exec(ctx, mixedSQL, start.Unix(), devices, uint64(step.Milliseconds()), 300, recv.Unix(), "b0", "remote", "icmp", "", "", 0, extra); err != nil {
				t.Fatal(err)
			}
		case 3:
			extra = 50
			if err := db.Exec(ctx, mixedSQL, start.Unix(), 2*devices, uint64(step.Milliseconds()), 600, recv.Unix(), "b3", "scanner", "arp", "00:1b:ee", "00:1b:ee", 8, extra); err != nil {
				t.Fatal(err)
			}
		case len(batches) - 1:
			// Late rows: stamped when the last run's rows were, stored
			// only now (an insert that took its time). The run must not
			// take the overlap it read before as settled.
			extra = 500
			if err := Generate(ctx, db, Generated{Devices: devices, From: from, N: extra, Start: start, Step: step, Received: recv.Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			from += extra
		}
		n += extra
		rows += extra
		st, err := e.Run(ctx, "test")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("batch %d: %d rows: %+v", i, n, st)
		// The addresses with both kinds were read back one by one.
		if v, _ := lives.Load(db); i == 0 && len(v.(*live).inc.exactIP) != 50 || i == 3 && len(v.(*live).inc.exactIP) != 100 {
			t.Fatalf("after batch %d: %d exact addresses; want 50 after the build and 100 after batch 3", i, len(v.(*live).inc.exactIP))
		}
		opened[i], opened[-i-1] = st.Opened, st.Resolved
		// What the run left open is what judging every device and asset
		// again gives.
		if got, want := openFindings(t, e), judgeAll(t, e); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after batch %d the open findings differ from a full judgement: %s", i, mapDiff(got, want))
		}
		if st.Full != (i == 0) || st.New != int(n) {
			t.Fatalf("run after batch %d of %d rows: %+v; want %d new observations, a full build only first", i, n, st, n)
		}
	}
	// The register changes and the time did change findings.
	if opened[2] == 0 || opened[-3] == 0 || opened[len(batches)-1] == 0 {
		t.Errorf("opened/resolved by run: %v; want the register change (run 2) to open and resolve findings and the time (last run) to open some", opened)
	}
	incDevs, incFindings := storedDevices(t, e), findingStates(t, e)
	// The first page of the shadow report from the live state is the one
	// the findings table gives.
	live, n1, err := e.ShadowPage(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	stored, n2, err := e.shadowPageStored(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	if n1 != n2 || n1 == 0 || len(live) != 50 || fmt.Sprint(live) != fmt.Sprint(stored) {
		t.Errorf("shadow page from the live state: %d of %d; from the findings table: %d of %d; they differ or are empty", len(live), n1, len(stored), n2)
	}

	orphanParts(t, e)

	// A rebuild from every observation agrees, and writes no finding. A
	// part stored before it that it does not write again (here, one
	// planted for a device) is deleted.
	if err := e.db.InsertColumns(ctx, partInsert, 1, []string{incDevs[0].ID}, []uint64{12345}, []uint64{1}, []uint8{0}, []uint8{partEvidence},
		[]string{`{"tied":["mac:planted"],"outcome":"seen","method":"arp","observer":"o","ref":"r","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z","count":1}`}); err != nil {
		t.Fatal(err)
	}
	lives.Delete(db)
	st, err := e.Run(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuild: %+v", st)
	if !st.Full || st.Opened != 0 || st.Resolved != 0 || st.Unchanged != st.Open || st.Observations != int(rows) {
		t.Errorf("a rebuild over the same %d observations changed the findings: %+v", rows, st)
	}
	if got, want := devicesJSON(t, incDevs), devicesJSON(t, storedDevices(t, e)); got != want {
		t.Fatalf("incremental runs and a rebuild store different devices: %s", firstDiff(got, want))
	}
	orphanParts(t, e)
	if got, want := findingStates(t, e), incFindings; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the rebuild changed the findings:\n%v\nwant\n%v", got, want)
	}
	// Resolve over every observation at once gives the same devices.
	obs, prefixes, err := e.Observations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Resolve(obs, nil, prefixes)
	if got, want := devicesJSON(t, incDevs), devicesJSON(t, want); got != want {
		t.Fatalf("incremental runs and Resolve give different devices: %s", firstDiff(got, want))
	}
	var kinds = map[string]int{}
	for _, f := range incFindings {
		kinds[f[:4]]++
	}
	if len(incDevs) < int(devices)/2 || len(incFindings) == 0 {
		t.Errorf("%d devices and %d findings from %d generated devices: the generator or the test is broken", len(incDevs), len(incFindings), devices)
	}
	t.Logf("%d observations, %d devices, findings by state %v", rows, len(incDevs), kinds)
	b, _ := json.Marshal(st)
	t.Logf("rebuild stats %s", b)
}

// openFindings is the live state's open findings: id -> digest.
func openFindings(t *testing.T, e *Engine) map[string]string {
	t.Helper()
	v, ok := lives.Load(e.db)
	if !ok {
		t.Fatal("no live state after a run")
	}
	out := map[string]string{}
	v.(*live).open.each(func(id string, m findingMeta) {
		if m.open {
			out[id] = hex.EncodeToString(m.digest[:])
		}
	})
	return out
}

// judgeAll judges every device of the live graph against the whole
// register, as a rebuild does: id -> digest.
func judgeAll(t *testing.T, e *Engine) map[string]string {
	t.Helper()
	ctx := context.Background()
	v, _ := lives.Load(e.db)
	assets, err := e.reg.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := e.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pol := e.policy
	pol.Now = e.now()
	out := map[string]string{}
	for _, f := range Findings(v.(*live).inc.Devices(), assets, nil, rules, pol) {
		out[f.ID] = f.Digest()
	}
	return out
}

func mapDiff(got, want map[string]string) string {
	var d []string
	for k, v := range got {
		if want[k] != v {
			d = append(d, fmt.Sprintf("%s: %q, want %q", k, v, want[k]))
		}
	}
	for k, v := range want {
		if _, ok := got[k]; !ok {
			d = append(d, fmt.Sprintf("%s: missing, want %q", k, v))
		}
	}
	sort.Strings(d)
	return fmt.Sprintf("%d differences: %v", len(d), d[:min(len(d), 10)])
}
