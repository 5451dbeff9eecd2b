package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/umbrasec/umbra/agent/internal/inventory"
	"github.com/umbrasec/umbra/shared/wire"
)

func runInventory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("inventory", "inventory [--json]", stderr)
	asJSON := fs.Bool("json", false, "print the inventory as the JSON the collector receives")
	if err := parse(fs, args); err != nil {
		return err
	}
	inv, err := inventory.Collect(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(inv)
	}
	return writeSummary(stdout, inv)
}

// writeSummary prints an inventory for a person.
func writeSummary(w io.Writer, inv *wire.Inventory) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(label, value string) {
		if value == "" {
			value = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, value)
	}
	h, o, c := inv.Host, inv.OS, inv.CPU
	row("hostname", h.Hostname)
	row("host id", h.HostID)
	row("os", join(" ", o.Family, o.Platform, o.Version))
	row("kernel", join(" ", o.Kernel, o.Arch))
	virt := "none"
	if h.Virtualization != "" {
		virt = join(" ", h.Virtualization, h.VirtualizationRole)
	}
	row("virtualisation", virt)
	cpu := c.Model
	if c.Cores > 0 || c.Threads > 0 {
		cpu = join(" ", cpu, fmt.Sprintf("(%d cores, %d threads)", c.Cores, c.Threads))
	}
	row("cpu", cpu)
	mem := ""
	if inv.Memory.TotalBytes > 0 {
		mem = fmt.Sprintf("%.1f GiB", float64(inv.Memory.TotalBytes)/(1<<30))
	}
	row("memory", mem)
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\ninterfaces (%d)\n", len(inv.Interfaces))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, ifc := range inv.Interfaces {
		state := "down"
		if ifc.Up {
			state = "up"
		}
		mac := ifc.MAC
		if mac == "" {
			mac = "-"
		}
		addrs := strings.Join(ifc.Addrs, " ")
		if addrs == "" {
			addrs = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ifc.Name, state, mac, addrs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(inv.Errors) > 0 {
		fmt.Fprintf(w, "\nerrors (%d)\n", len(inv.Errors))
		for _, e := range inv.Errors {
			note := ""
			if e.Unavailable {
				note = " (unavailable: needs more privilege)"
			}
			fmt.Fprintf(w, "  %s: %s%s\n", e.Source, e.Error, note)
		}
	}
	_, err := fmt.Fprintf(w, "\ncollected at %s\n", inv.CollectedAt.Format("2006-01-02 15:04:05 MST"))
	return err
}

// join joins the non-empty parts.
func join(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}
