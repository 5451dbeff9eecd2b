package reconcile

import (
	"context"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store"
)

// Generated describes one batch of synthetic observations that Generate
// writes inside ClickHouse (INSERT … SELECT … FROM numbers), for the
// benchmark and the tests at scale.
type Generated struct {
	Devices  uint64        // distinct devices the rows are spread over
	From, N  uint64        // the rows numbered [From, From+N) of the sequence
	Start    time.Time     // observed_at of row 0
	Step     time.Duration // at least a millisecond
	Received time.Time     // received_at of the batch
}

// generateSQL writes rows numbered i in [From, From+N). Row i observes
// device d = i % Devices at Start + i*Step (so later rows are later in
// time). By d % 20 a device is: a host with a global MAC seen by ARP (and
// now and then by mDNS with a name), a printer behind a switch port, a
// phone or tablet rotating its randomised MAC every fourth time it is
// seen (DHCP names each MAC, one in four requests without a client id; a
// tablet's new MAC is seen by ARP before its DHCP request), a host behind a router seen only by ICMP, a switch describing
// itself over SNMP (its serial sometimes a placeholder), or a laptop whose
// DHCP requests carry a client id and whose address changes. Reports hold
// up to 100 rows, and never span two batches (a report is stored at once).
const generateSQL = `INSERT INTO observations (observed_at, received_at, agent_id, report_id, idx, observer, method, ip, mac, mac_local,
hostname, vendor, model, serial, via, port, open_ports, rtt_us, kinds, kind_reasons, evidence_keys, evidence_values)
SELECT
    toDateTime(? + intDiv(i * ?, 1000), 'UTC') AS observed_at,
    toDateTime(?, 'UTC') AS received_at,
    observer AS agent_id,
    concat('g', toString(?), '-', toString(intDiv(i, 100))) AS report_id,
    toUInt32(i % 100) AS idx,
    multiIf(t = 8, 'remote', t = 6 AND cyc % 4 = 0, 'gw', t = 7 AND cyc % 4 = 1, 'gw', t = 12 AND i % 2 = 0, 'gw', 'scanner') AS observer,
    multiIf(t = 8, 'icmp', t = 6 AND cyc % 4 = 0, 'dhcp', t = 7 AND cyc % 4 = 1, 'dhcp', t = 12 AND i % 2 = 0, 'dhcp', t = 9, 'snmp', t = 5 AND i % 2 = 0, 'snmp-fdb',
        t < 5 AND i % 7 = 0, 'mdns', 'arp') AS method,
    multiIf(t = 5 AND method = 'snmp-fdb', '', t = 12, concat('10.200.', toString(intDiv(i, 50000) % 250), '.', toString(d % 250)),
        concat('10.', toString(intDiv(d, 65536) % 256), '.', toString(intDiv(d, 256) % 256), '.', toString(d % 256))) AS ip,
    multiIf(t = 8, '',
        t IN (6, 7), concat('da:', lower(hex(toUInt8(intDiv(cyc, 4) % 256))), ':', lower(hex(toUInt8(intDiv(d, 65536) % 256))), ':',
            lower(hex(toUInt8(intDiv(d, 256) % 256))), ':', lower(hex(toUInt8(d % 256))), ':00'),
        concat('00:1b:', lower(hex(toUInt8(intDiv(d, 16777216) % 256))), ':', lower(hex(toUInt8(intDiv(d, 65536) % 256))), ':',
            lower(hex(toUInt8(intDiv(d, 256) % 256))), ':', lower(hex(toUInt8(d % 256))))) AS mac,
    toUInt8(t IN (6, 7)) AS mac_local,
    multiIf(t = 6 AND method = 'dhcp', concat('phone-', toString(d)), t = 7 AND method = 'dhcp', concat('tablet-', toString(d)), t = 12 AND method = 'dhcp', concat('lt-', toString(d)),
        method = 'mdns', concat('host-', toString(d)), t = 9, concat('sw-', toString(d)), '') AS hostname,
    multiIf(t = 5, 'HP', t IN (6, 7), 'Apple', t = 9, 'Cisco', '') AS vendor,
    '' AS model,
    multiIf(t = 9 AND i % 3 = 0, 'To be filled by O.E.M.', t = 9, concat('SW', toString(d)), '') AS serial,
    if(method = 'snmp-fdb', 'sw1', '') AS via,
    if(method = 'snmp-fdb', concat('Gi1/0/', toString(d % 48)), '') AS port,
    CAST([] AS Array(UInt16)) AS open_ports,
    toUInt64(0) AS rtt_us,
    multiIf(t = 5, ['printer'], t IN (6, 7), ['phone'], t = 9, ['switch'], CAST([] AS Array(String))) AS kinds,
    CAST([] AS Array(String)) AS kind_reasons,
    if(method = 'dhcp' AND i % 4 != 1, ['client_id'], CAST([] AS Array(String))) AS evidence_keys,
    if(method = 'dhcp' AND i % 4 != 1, [concat('01:', mac)], CAST([] AS Array(String))) AS evidence_values
FROM (SELECT number + ? AS i, i % ? AS d, intDiv(i, ?) AS cyc, d % 20 AS t FROM system.numbers LIMIT ?)`

// Generate writes a batch of synthetic observations.
func Generate(ctx context.Context, db *store.DB, g Generated) error {
	return db.Exec(ctx, generateSQL, g.Start.Unix(), uint64(g.Step.Milliseconds()), g.Received.Unix(), g.Received.Unix(), g.From, g.Devices, g.Devices, g.N)
}
