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
	row("os", join(" ", o.Family, o.Platform, o.Version, labelled("build", o.Build)))
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
	// The sections below are left out when empty, to keep the summary
	// short on hosts (and OSes) that lack them.
	opt := func(label, value string) {
		if value != "" {
			row(label, value)
		}
	}
	opt("fqdn", h.FQDN)
	opt("domain", h.Domain)
	opt("workgroup", h.Workgroup)
	if !o.InstallDate.IsZero() {
		opt("installed", o.InstallDate.Format("2006-01-02"))
	}
	opt("time zone", o.TimeZone)
	if hw := inv.Hardware; hw != nil {
		sys := hw.System
		opt("system", join(" ", sys.Vendor, sys.Model, paren(sys.Chassis)))
		opt("serial", join(" ", sys.Serial, paren(labelled("asset", sys.AssetTag))))
		opt("bios", join(" ", hw.BIOS.Vendor, hw.BIOS.Version, hw.BIOS.Date))
		var disks []string
		for _, d := range hw.Disks {
			disks = append(disks, join(" ", d.Name, d.Kind, fmt.Sprintf("%.0f GB", float64(d.SizeBytes)/1e9), d.Model))
		}
		opt("disks", strings.Join(disks, "; "))
		opt("memory modules", memorySummary(hw))
		var mons []string
		for _, m := range hw.Monitors {
			mons = append(mons, join(" ", m.Maker, m.Model, labelled("s/n", m.Serial)))
		}
		opt("monitors", strings.Join(mons, "; "))
		var bats []string
		for _, b := range hw.Batteries {
			health := ""
			if b.DesignCapacity > 0 && b.FullCapacity > 0 {
				health = fmt.Sprintf("%d%% of design", b.FullCapacity*100/b.DesignCapacity)
			}
			bats = append(bats, join(" ", b.Name, health, labelled("cycles", fmt.Sprint(b.CycleCount))))
		}
		opt("batteries", strings.Join(bats, "; "))
	}
	if len(inv.Software) > 0 || inv.SoftwareDelta != nil {
		row("software", softwareSummary(inv))
	}
	admins := 0
	people := 0
	for _, u := range inv.Users {
		if !u.System {
			people++
		}
		if u.Admin {
			admins++
		}
	}
	if len(inv.Users)+len(inv.Sessions) > 0 {
		row("users", fmt.Sprintf("%d accounts (%d people, %d admins), %d logged in", len(inv.Users), people, admins, len(inv.Sessions)))
	}
	var ports []string
	for _, l := range inv.Listeners {
		ports = append(ports, fmt.Sprintf("%s/%d%s", l.Protocol, l.Port, paren(l.Process)))
	}
	if len(ports) > 0 {
		row("listening", fmt.Sprintf("%d: %s", len(inv.Listeners), strings.Join(uniq(ports), " ")))
	}
	if len(inv.Services) > 0 {
		row("services", servicesSummary(inv.Services))
	}
	if sec := inv.Security; sec != nil {
		var enc, fws, avs []string
		for _, e := range sec.Encryption {
			state := "not encrypted"
			if e.Encrypted {
				state = join(" ", "encrypted", e.Method)
			}
			enc = append(enc, e.Volume+" "+state)
		}
		for _, f := range sec.Firewalls {
			fws = append(fws, f.Name+" "+onOff(f.Enabled))
		}
		for _, a := range sec.Antivirus {
			avs = append(avs, a.Name+" "+onOff(a.Enabled))
		}
		opt("encryption", strings.Join(enc, "; "))
		opt("firewall", strings.Join(fws, "; "))
		opt("antivirus", strings.Join(avs, "; "))
	}
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

// memorySummary lists the memory modules: "2 of 4 slots: DIMM_A1 32 GiB
// DDR5 5600 MT/s Kingston KF556C40-32; …".
func memorySummary(hw *wire.Hardware) string {
	var mods []string
	for _, m := range hw.MemoryModules {
		size, speed := "", ""
		if m.SizeBytes > 0 {
			size = fmt.Sprintf("%g GiB", float64(m.SizeBytes)/(1<<30))
		}
		if s := m.ConfiguredSpeedMTs; s > 0 || m.SpeedMTs > 0 {
			if s == 0 {
				s = m.SpeedMTs
			}
			speed = fmt.Sprintf("%d MT/s", s)
		}
		mods = append(mods, join(" ", join("/", m.Bank, m.Locator), size, m.Type, speed, m.Manufacturer, m.PartNumber))
	}
	if len(mods) == 0 {
		return ""
	}
	out := strings.Join(mods, "; ")
	if hw.MemorySlots > 0 {
		out = fmt.Sprintf("%d of %d slots: %s", len(mods), hw.MemorySlots, out)
	}
	return out
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

// softwareSummary counts packages per source: "751 (dpkg 745, snap 6)".
func softwareSummary(inv *wire.Inventory) string {
	if d := inv.SoftwareDelta; d != nil {
		return fmt.Sprintf("delta: %d added, %d changed, %d removed", len(d.Added), len(d.Changed), len(d.Removed))
	}
	counts := map[string]int{}
	var order []string
	for _, p := range inv.Software {
		if counts[p.Source] == 0 {
			order = append(order, p.Source)
		}
		counts[p.Source]++
	}
	parts := make([]string, 0, len(order))
	for _, src := range order {
		parts = append(parts, fmt.Sprintf("%s %d", src, counts[src]))
	}
	if len(parts) == 0 {
		return "none found"
	}
	return fmt.Sprintf("%d (%s)", len(inv.Software), strings.Join(parts, ", "))
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

func labelled(label, v string) string {
	if v == "" || v == "0" {
		return ""
	}
	return label + " " + v
}

// uniq drops repeated strings, keeping the first of each.
func uniq(list []string) []string {
	seen := map[string]bool{}
	out := list[:0:0]
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// servicesSummary counts services by start mode and state: "85 (31 auto,
// 12 running)".
func servicesSummary(list []wire.Service) string {
	auto, running, failed := 0, 0, 0
	for _, s := range list {
		if s.StartMode == "auto" {
			auto++
		}
		switch s.State {
		case "running":
			running++
		case "failed":
			failed++
		}
	}
	parts := []string{fmt.Sprintf("%d start at boot", auto)}
	if running > 0 || failed > 0 {
		parts = append(parts, fmt.Sprintf("%d running", running))
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", failed))
	}
	return fmt.Sprintf("%d (%s)", len(list), strings.Join(parts, ", "))
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
