package store

import (
	"context"
	"fmt"
	"time"
)

// Heartbeat is an agent's latest check-in.
type Heartbeat struct {
	AgentID        string
	ReceivedAt     time.Time
	SentAt         time.Time
	AgentVersion   string
	UptimeSeconds  int64
	SpoolRecords   int64
	SpoolBytes     int64
	DroppedRecords int64
	// Trusted is 1 when the agent's network matched the trusted-network
	// policy, 0 when it did not, -1 when the agent knew no policy.
	Trusted    int8
	Network    string // the agent's view of its network, in one line
	RemoteAddr string
}

const heartbeatColumns = `agent_id, received_at, sent_at, agent_version, uptime_seconds, spool_records, spool_bytes,
    dropped_records, trusted, network, remote_addr`

// PutHeartbeat records h as the agent's latest contact.
func (db *DB) PutHeartbeat(ctx context.Context, h Heartbeat) error {
	err := db.insertRow(ctx, "INSERT INTO agent_heartbeats ("+heartbeatColumns+")",
		h.AgentID, zeroTime(h.ReceivedAt), zeroTime(h.SentAt), h.AgentVersion, h.UptimeSeconds, h.SpoolRecords, h.SpoolBytes,
		h.DroppedRecords, h.Trusted, h.Network, h.RemoteAddr)
	if err != nil {
		return fmt.Errorf("storing the heartbeat of agent %s: %w", h.AgentID, err)
	}
	return nil
}

// LastHeartbeats returns every agent's latest heartbeat by agent id.
func (db *DB) LastHeartbeats(ctx context.Context) (map[string]Heartbeat, error) {
	rows, err := db.conn.Query(ctx, `
SELECT agent_id, max(received_at),
    argMax(sent_at, received_at), argMax(agent_version, received_at), argMax(uptime_seconds, received_at),
    argMax(spool_records, received_at), argMax(spool_bytes, received_at), argMax(dropped_records, received_at),
    argMax(trusted, received_at), argMax(network, received_at), argMax(remote_addr, received_at)
FROM agent_heartbeats
GROUP BY agent_id`)
	if err != nil {
		return nil, fmt.Errorf("reading heartbeats: %w", classify(err))
	}
	defer rows.Close()
	out := map[string]Heartbeat{}
	for rows.Next() {
		var h Heartbeat
		if err := rows.Scan(&h.AgentID, &h.ReceivedAt, &h.SentAt, &h.AgentVersion, &h.UptimeSeconds, &h.SpoolRecords,
			&h.SpoolBytes, &h.DroppedRecords, &h.Trusted, &h.Network, &h.RemoteAddr); err != nil {
			return nil, fmt.Errorf("reading heartbeats: %w", err)
		}
		h.ReceivedAt, h.SentAt = fromDB(h.ReceivedAt), fromDB(h.SentAt)
		out[h.AgentID] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading heartbeats: %w", classify(err))
	}
	return out, nil
}

// TrustedNetwork is one version of a trusted-network rule.
type TrustedNetwork struct {
	ID        string
	Kind      string // wire.TrustSubnet, TrustGatewayMAC or TrustDNSSuffix
	Value     string // canonical (wire.NormalizeTrustValue)
	Note      string
	CreatedAt time.Time
	CreatedBy string
	Deleted   bool
	Version   uint64
}

const trustedNetworkColumns = `rule_id, kind, value, note, created_at, created_by, deleted, version`

// PutTrustedNetwork writes a version of n; the greatest Version wins.
func (db *DB) PutTrustedNetwork(ctx context.Context, n TrustedNetwork) error {
	err := db.insertRow(ctx, "INSERT INTO trusted_networks ("+trustedNetworkColumns+")",
		n.ID, n.Kind, n.Value, n.Note, zeroTime(n.CreatedAt), n.CreatedBy, boolUint8(n.Deleted), n.Version)
	if err != nil {
		return fmt.Errorf("storing trusted network %s: %w", n.ID, err)
	}
	return nil
}

// TrustedNetworks returns the rules that are not deleted, oldest first.
func (db *DB) TrustedNetworks(ctx context.Context) ([]TrustedNetwork, error) {
	rows, err := db.conn.Query(ctx, "SELECT "+trustedNetworkColumns+" FROM trusted_networks FINAL ORDER BY created_at, rule_id")
	if err != nil {
		return nil, fmt.Errorf("listing trusted networks: %w", classify(err))
	}
	defer rows.Close()
	best := map[string]TrustedNetwork{}
	var order []string
	for rows.Next() {
		var n TrustedNetwork
		var deleted uint8
		if err := rows.Scan(&n.ID, &n.Kind, &n.Value, &n.Note, &n.CreatedAt, &n.CreatedBy, &deleted, &n.Version); err != nil {
			return nil, fmt.Errorf("listing trusted networks: %w", err)
		}
		n.Deleted, n.CreatedAt = deleted != 0, fromDB(n.CreatedAt)
		if b, ok := best[n.ID]; !ok || n.Version > b.Version {
			if !ok {
				order = append(order, n.ID)
			}
			best[n.ID] = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing trusted networks: %w", classify(err))
	}
	out := []TrustedNetwork{}
	for _, id := range order {
		if n := best[id]; !n.Deleted {
			out = append(out, n)
		}
	}
	return out, nil
}
