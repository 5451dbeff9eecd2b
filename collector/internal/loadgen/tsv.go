package loadgen

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// SoftwareColumns are the host_software columns WriteSoftwareTSV writes,
// in order: the rows the collector stores for a full inventory.
const SoftwareColumns = "agent_id, report_id, collected_at, op, source, key_id, arch, scope, " +
	"name, package_id, version, publisher, install_date, size_bytes, location"

var tsvEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`)

// WriteSoftwareTSV writes, as ClickHouse TSV in SoftwareColumns order, the
// host_software rows of the reports a run with cfg would send (agents
// get made-up IDs since none enrols): the baseline for a raw bulk insert.
func WriteSoftwareTSV(w io.Writer, cfg Config) (rows int, err error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	cat := catalog(cfg.Seed, max(2000, 2*cfg.Packages))
	now := time.Now().UTC().Truncate(time.Second)
	const layout = "2006-01-02 15:04:05"
	for i := 0; i < cfg.Agents; i++ {
		h := newHost(cfg.Seed, i, cfg.Packages, cat)
		agentID := fmt.Sprintf("raw-agent-%05d", i)
		for k := 0; k < cfg.ReportsPerAgent; k++ {
			id := fmt.Sprintf("raw-%05d-%03d", i, k)
			r := h.report(agentID, id, now.Add(time.Duration(k)*time.Second))
			collected := r.Inventory.CollectedAt.Format(layout)
			for _, p := range r.Inventory.Software {
				key := p.Key()
				fields := []string{agentID, id, collected, "full", key.Source, key.ID, key.Arch, key.Scope,
					p.Name, p.ID, p.Version, p.Publisher, p.InstallDate.UTC().Format(layout),
					fmt.Sprint(p.SizeBytes), p.Location}
				for j, f := range fields {
					if j > 0 {
						bw.WriteByte('\t')
					}
					tsvEscaper.WriteString(bw, f)
				}
				bw.WriteByte('\n')
				rows++
			}
		}
	}
	return rows, bw.Flush()
}
