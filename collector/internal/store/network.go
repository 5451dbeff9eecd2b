package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/umbrasec/umbra/shared/wire"
)

// networkTable writes a host's gateways, DNS servers and interface kinds.
var networkTable = TableWriter{
	Table:  "host_network",
	Insert: "INSERT INTO host_network (agent_id, report_id, collected_at, gateways, dns_servers, iface_names, iface_kinds)",
	Rows: func(rows [][]any, rc Received) [][]any {
		r := rc.Report
		if r.Kind != wire.KindInventory || r.Inventory == nil {
			return rows
		}
		inv := r.Inventory
		names, kinds := []string{}, []string{}
		for _, ifc := range inv.Interfaces {
			if ifc.Kind != "" {
				names, kinds = append(names, ifc.Name), append(kinds, ifc.Kind)
			}
		}
		return append(rows, []any{r.AgentID, r.ID, dateTime(inv.CollectedAt),
			nonNil(inv.Host.Gateways), nonNil(inv.Host.DNSServers), names, kinds})
	},
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// hostNetwork reads the network settings of report rep into d. It runs
// after hostInterfaces, whose interfaces it gives their kinds.
func (db *DB) hostNetwork(ctx context.Context, d *HostDetail, agentID, rep string) error {
	var names, kinds []string
	err := db.conn.QueryRow(ctx, `
SELECT gateways, dns_servers, iface_names, iface_kinds FROM host_network FINAL
WHERE agent_id = ? AND report_id = ? LIMIT 1`, agentID, rep).Scan(&d.Gateways, &d.DNSServers, &names, &kinds)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // an inventory from an agent that did not send them
	}
	if err != nil {
		return classify(err)
	}
	kind := make(map[string]string, len(names))
	for i, n := range names {
		if i < len(kinds) {
			kind[n] = kinds[i]
		}
	}
	for i := range d.Interfaces {
		d.Interfaces[i].Kind = kind[d.Interfaces[i].Name]
	}
	return nil
}
