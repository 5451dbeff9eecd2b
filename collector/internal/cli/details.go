package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
)

// detailCmd runs "umbra host AGENT_ID", "umbra software" and "umbra
// devices".
func detailCmd(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	name := "umbra " + cmd
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs, getenv)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	var nargs int
	var path func() string
	var out any
	var print func(io.Writer, time.Time) error
	switch cmd {
	case "host":
		// The agent id may come before the flags or after them.
		var agentID string
		nargs = 1
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			agentID, args, nargs = args[0], args[1:], 0
		}
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "Usage: umbra host AGENT_ID [--json]\n\nShows everything the agent's latest inventory says about its host.\n\nFlags:\n")
			fs.PrintDefaults()
		}
		var d adminapi.HostDetail
		path = func() string {
			if agentID == "" {
				agentID = fs.Arg(0)
			}
			return adminapi.PathHosts + "/" + url.PathEscape(agentID)
		}
		out = &d
		print = func(w io.Writer, now time.Time) error { return writeHostDetail(w, &d, now) }
	case "software":
		nameFlag := fs.String("name", "", "only software whose name contains this, ignoring case")
		source := fs.String("source", "", "only this package source (dpkg, rpm, windows-registry, …)")
		limit := fs.Int("limit", 1000, "at most this many rows")
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "Usage: umbra software [--name TEXT] [--source SOURCE] [--json]\n\nLists the software installed across the fleet, most installed first.\n\nFlags:\n")
			fs.PrintDefaults()
		}
		var list adminapi.SoftwareList
		path = func() string {
			q := url.Values{"name": {*nameFlag}, "source": {*source}, "limit": {strconv.Itoa(*limit)}}
			return adminapi.PathSoftware + "?" + q.Encode()
		}
		out = &list
		print = func(w io.Writer, _ time.Time) error { return writeSoftware(w, list.Software) }
	case "devices":
		address := fs.String("address", "", "only the device with this IP or MAC address")
		limit := fs.Int("limit", 1000, "at most this many devices")
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "Usage: umbra devices [--address IP|MAC] [--json]\n\nLists the devices network discovery has seen, grouped by MAC address (else IP).\n\nFlags:\n")
			fs.PrintDefaults()
		}
		var list adminapi.DeviceList
		path = func() string {
			q := url.Values{"address": {*address}, "limit": {strconv.Itoa(*limit)}}
			return adminapi.PathDevices + "?" + q.Encode()
		}
		out = &list
		print = func(w io.Writer, now time.Time) error { return writeDevices(w, list.Devices, now) }
	default:
		fmt.Fprintf(stderr, "%s: unknown command\n", name)
		return exitUsage
	}
	if code, ok := parseFlags(fs, args, nargs, stderr); !ok {
		return code
	}
	c, code := cf.client(name, stderr)
	if c == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	if err := c.do(ctx, http.MethodGet, path(), nil, out); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitError
	}
	if *asJSON {
		return printJSON(stdout, stderr, name, out)
	}
	if err := print(stdout, time.Now()); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitError
	}
	return exitOK
}

// text is a device-supplied string for a line of its own: sanitised, and
// bounded more loosely than a table cell.
func text(s string) string {
	s = sanitize(s)
	if s == "" {
		return "-"
	}
	return truncate(s, 200)
}

// join sanitises and joins the non-empty parts.
func join(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, sanitize(p))
		}
	}
	return strings.Join(out, sep)
}

func yes(b bool, s string) string {
	if b {
		return s
	}
	return ""
}

func writeHostDetail(w io.Writer, d *adminapi.HostDetail, now time.Time) error {
	h := d.Host
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	field := func(name, value string) {
		if value == "" {
			return
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, truncate(value, 200))
	}
	fmt.Fprintf(tw, "%s (agent %s)\n", text(h.Hostname), sanitize(h.AgentID))
	field("Last seen", lastSeen(h.LastSeen, now))
	field("Inventory", fmt.Sprintf("%s, collected %s, %d reports", sanitize(h.ReportID), h.CollectedAt.UTC().Format(time.RFC3339), h.Reports))
	field("Host ID", sanitize(h.HostID))
	field("FQDN", sanitize(d.FQDN))
	field("Domain", sanitize(d.Domain))
	field("Workgroup", sanitize(d.Workgroup))
	osLine := join(" ", h.Platform, h.PlatformVersion)
	if b := join("", d.OSBuild); b != "" {
		osLine += ", build " + b
	}
	field("OS", join(" ", osLine, "("+join(", ", h.OSFamily, h.Arch)+")"))
	field("Kernel", sanitize(h.Kernel))
	if d.OSInstallDate != nil {
		field("Installed", d.OSInstallDate.UTC().Format("2006-01-02"))
	}
	if d.TimeZone != "" || d.UTCOffsetSeconds != 0 {
		off := d.UTCOffsetSeconds
		sign := "+"
		if off < 0 {
			sign, off = "-", -off
		}
		field("Time zone", join(" ", d.TimeZone, fmt.Sprintf("(UTC%s%02d:%02d)", sign, off/3600, off%3600/60)))
	}
	field("Virtualization", join(" ", h.Virtualization, h.VirtualizationRole))
	field("Gateways", sanitize(strings.Join(d.Gateways, ", ")))
	field("DNS servers", sanitize(strings.Join(d.DNSServers, ", ")))
	cpu := join(" ", h.CPUModel)
	if h.CPUCores > 0 || h.CPUThreads > 0 {
		cpu = fmt.Sprintf("%dc/%dt %s", h.CPUCores, h.CPUThreads, cpu)
	}
	if d.CPUSockets > 1 {
		cpu = fmt.Sprintf("%d × %s", d.CPUSockets, cpu)
	}
	if d.CPUMHz > 0 {
		cpu += fmt.Sprintf(" @ %.0f MHz", d.CPUMHz)
	}
	field("CPU", cpu)
	field("Memory", formatBytes(h.MemoryBytes))
	if hw := d.Hardware; hw != nil {
		s := hw.System
		field("System", join(", ", join(" ", s.Vendor, s.Model, s.Version), labelled("family", s.Family), labelled("SKU", s.SKU),
			labelled("chassis", s.Chassis)))
		field("Serial", join(", ", s.Serial, labelled("asset tag", s.AssetTag), labelled("UUID", s.UUID)))
		field("BIOS", join(" ", hw.BIOS.Vendor, hw.BIOS.Version, hw.BIOS.Date))
		b := hw.Baseboard
		field("Baseboard", join(", ", join(" ", b.Vendor, b.Model, b.Version), labelled("serial", b.Serial), labelled("asset tag", b.AssetTag)))
		if hw.MemorySlots > 0 || hw.MemoryMaxBytes > 0 {
			slots := ""
			if hw.MemorySlots > 0 {
				slots = fmt.Sprintf("%d of %d slots used", len(hw.MemoryModules), hw.MemorySlots)
			}
			most := ""
			if hw.MemoryMaxBytes > 0 {
				most = "up to " + formatBytes(hw.MemoryMaxBytes)
			}
			field("Memory slots", join(", ", slots, most))
		}
		for _, m := range hw.MemoryModules {
			speed := ""
			if m.SpeedMTs > 0 {
				speed = strconv.Itoa(m.SpeedMTs) + " MT/s"
			}
			if m.ConfiguredSpeedMTs > 0 && m.ConfiguredSpeedMTs != m.SpeedMTs {
				speed += " (running at " + strconv.Itoa(m.ConfiguredSpeedMTs) + ")"
			}
			loc := m.Locator
			if m.Bank != "" && !strings.Contains(m.Locator, m.Bank) {
				loc = m.Bank + "/" + m.Locator
			}
			field("Memory module", join(" ", loc+":", formatBytes(m.SizeBytes), m.Type, speed, m.Manufacturer, m.PartNumber,
				labelled("serial", m.Serial)))
		}
		for _, m := range hw.Monitors {
			field("Monitor", join(" ", m.Port+":", m.Maker, m.Model, labelled("serial", m.Serial)))
		}
		for _, b := range hw.Batteries {
			health := ""
			if b.DesignCapacity > 0 && b.FullCapacity > 0 {
				health = fmt.Sprintf("%d%% of design capacity", b.FullCapacity*100/b.DesignCapacity)
			}
			cycles := ""
			if b.CycleCount > 0 {
				cycles = fmt.Sprintf("%d cycles", b.CycleCount)
			}
			field("Battery", join(", ", join(" ", b.Name, b.Manufacturer, b.Model), health, cycles, b.Status))
		}
	}
	sw := d.Software
	swLine := fmt.Sprintf("%d packages", sw.Count)
	if len(sw.BySource) > 0 {
		sources := make([]string, 0, len(sw.BySource))
		for s := range sw.BySource {
			sources = append(sources, s)
		}
		sort.Strings(sources)
		parts := make([]string, 0, len(sources))
		for _, s := range sources {
			parts = append(parts, fmt.Sprintf("%s %d", sanitize(s), sw.BySource[s]))
		}
		swLine += " (" + strings.Join(parts, ", ") + ")"
	}
	switch {
	case sw.AsOfReportID == "":
		swLine += "; no full software list received yet"
	case sw.AsOfReportID != h.ReportID:
		swLine += "; as of report " + sanitize(sw.AsOfReportID) + ": a later delta did not follow on, waiting for a full list"
	}
	if sw.AsOfReportID != "" && !sw.Verified {
		swLine += "; digest mismatch"
	}
	field("Software", swLine)
	if err := tw.Flush(); err != nil {
		return err
	}

	section := func(title string, n int, header string, rows func(tw *tabwriter.Writer)) error {
		if n == 0 {
			return nil
		}
		fmt.Fprintf(w, "\n%s (%d)\n", title, n)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  "+header)
		rows(tw)
		return tw.Flush()
	}
	row := func(tw *tabwriter.Writer, cells ...string) { fmt.Fprintln(tw, "  "+strings.Join(cells, "\t")) }
	var hwDisks int
	if d.Hardware != nil {
		hwDisks = len(d.Hardware.Disks)
	}
	if err := section("Disks", hwDisks, "NAME\tKIND\tSIZE\tMODEL\tSERIAL\tREMOVABLE", func(tw *tabwriter.Writer) {
		for _, k := range d.Hardware.Disks {
			row(tw, cell(k.Name), cell(k.Kind), formatBytes(k.SizeBytes), cell(join(" ", k.Vendor, k.Model)), cell(k.Serial), yes(k.Removable, "yes"))
		}
	}); err != nil {
		return err
	}
	if err := section("Interfaces", len(d.Interfaces), "NAME\tKIND\tMAC\tADDRESSES\tMTU\tSTATE", func(tw *tabwriter.Writer) {
		for _, i := range d.Interfaces {
			state := "down"
			if i.Up {
				state = "up"
			}
			if i.Loopback {
				state += " loopback"
			}
			row(tw, cell(i.Name), cell(i.Kind), cell(i.MAC), cell(strings.Join(i.Addrs, ",")), strconv.Itoa(i.MTU), state)
		}
	}); err != nil {
		return err
	}
	if err := section("Users", len(d.Users), "NAME\tID\tFULL NAME\tFLAGS\tLAST LOGON", func(tw *tabwriter.Writer) {
		for _, u := range d.Users {
			logon := "-"
			if !u.LastLogon.IsZero() {
				logon = lastSeen(u.LastLogon, now)
			}
			row(tw, cell(u.Name), cell(u.ID), cell(u.FullName), join(",", yes(u.Admin, "admin"), yes(u.System, "system"), yes(u.Disabled, "disabled")), logon)
		}
	}); err != nil {
		return err
	}
	if err := section("Sessions", len(d.Sessions), "USER\tTERMINAL\tFROM\tSINCE", func(tw *tabwriter.Writer) {
		for _, s := range d.Sessions {
			since := "-"
			if !s.Since.IsZero() {
				since = lastSeen(s.Since, now)
			}
			row(tw, cell(s.User), cell(s.Terminal), cell(s.Remote), since)
		}
	}); err != nil {
		return err
	}
	if err := section("Listening ports", len(d.Listeners), "PROTO\tADDRESS\tPORT\tPROCESS\tPID\tUSER", func(tw *tabwriter.Writer) {
		for _, l := range d.Listeners {
			pid := "-"
			if l.PID > 0 {
				pid = strconv.Itoa(l.PID)
			}
			row(tw, cell(l.Protocol), cell(l.Address), strconv.Itoa(l.Port), cell(l.Process), pid, cell(l.User))
		}
	}); err != nil {
		return err
	}
	if len(d.Services) > 0 {
		states := map[string]int{}
		for _, s := range d.Services {
			states[s.State]++
		}
		keys := make([]string, 0, len(states))
		for k := range states {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			name := k
			if name == "" {
				name = "unknown"
			}
			parts = append(parts, fmt.Sprintf("%d %s", states[k], sanitize(name)))
		}
		fmt.Fprintf(w, "\nServices (%d): %s (umbra host %s --json lists them)\n", len(d.Services), strings.Join(parts, ", "), sanitize(h.AgentID))
	}
	if sec := d.Security; sec != nil {
		n := len(sec.Encryption) + len(sec.Firewalls) + len(sec.Antivirus)
		if err := section("Security posture", n, "KIND\tNAME\tSTATE\tDETAIL", func(tw *tabwriter.Writer) {
			for _, e := range sec.Encryption {
				state := "not encrypted"
				if e.Encrypted {
					state = "encrypted"
				}
				row(tw, "encryption", cell(e.Volume), join(" ", state, e.Method), cell(e.Status))
			}
			for _, f := range sec.Firewalls {
				state := "disabled"
				if f.Enabled {
					state = "enabled"
				}
				row(tw, "firewall", cell(f.Name), state, cell(f.Detail))
			}
			for _, a := range sec.Antivirus {
				state := "disabled"
				if a.Enabled {
					state = "enabled"
				}
				row(tw, "antivirus", cell(a.Name), join(", ", state, yes(a.UpToDate, "up to date")), cell(a.Detail))
			}
		}); err != nil {
			return err
		}
	}
	if len(d.Errors) > 0 {
		fmt.Fprintf(w, "\nSource errors (%d)\n", len(d.Errors))
		for _, e := range d.Errors {
			kind := "failed"
			if e.Unavailable {
				kind = "unavailable"
			}
			fmt.Fprintf(w, "  %s %s: %s\n", text(e.Source), kind, text(e.Error))
		}
	}
	return nil
}

func labelled(label, v string) string {
	if strings.TrimSpace(v) == "" {
		return ""
	}
	return label + " " + v
}

func writeSoftware(w io.Writer, list []adminapi.Software) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSOURCE\tINSTALLS\tVERSIONS\tPUBLISHER")
	for _, s := range list {
		versions := strings.Join(s.Versions, ",")
		if len(s.Versions) > 3 {
			versions = fmt.Sprintf("%s,… (%d)", strings.Join(s.Versions[:3], ","), len(s.Versions))
		}
		fmt.Fprintln(tw, strings.Join([]string{cell(s.Name), cell(s.Source), strconv.FormatUint(s.Installs, 10),
			cell(versions), cell(strings.Join(s.Publishers, ", "))}, "\t"))
	}
	return tw.Flush()
}

func writeDevices(w io.Writer, list []adminapi.Device, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IP\tMAC\tVENDOR\tHOSTNAME\tKIND\tMETHODS\tFIRST SEEN\tLAST SEEN\tSEEN BY")
	for _, d := range list {
		mac := d.MAC
		if d.MACLocal && mac != "" {
			mac += " (local)"
		}
		fmt.Fprintln(tw, strings.Join([]string{cell(d.IP), cell(mac), cell(join(" ", d.Vendor, d.Model)), cell(d.Hostname),
			cell(d.Kind), cell(strings.Join(d.Methods, ",")), d.FirstSeen.UTC().Format("2006-01-02 15:04"),
			lastSeen(d.LastSeen, now), cell(strings.Join(d.Observers, ","))}, "\t"))
	}
	return tw.Flush()
}
