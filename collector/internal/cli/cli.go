// Package cli is the umbra admin command line.
package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/shared/version"
)

// DefaultCollector is the collector's URL when neither --collector nor
// UMBRA_COLLECTOR says otherwise.
const DefaultCollector = "http://127.0.0.1:8470"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

var usage = `Usage: umbra <command> [flags]

Commands:
  hosts                         list the hosts whose agents report, with their latest inventory
  host AGENT_ID                 show everything the agent's latest inventory says about its host
  software [--name TEXT]        list the software installed across the fleet, with install counts
  devices                       list the devices network discovery has seen
  agent list|revoke ID          list the enrolled agents, or revoke one (it must enrol again)
  enroll-secret create|list|revoke ID
                                manage the secrets agents enrol with
  token create|list|revoke ID   manage admin API tokens (roles admin, operator, auditor)
  audit                         show the latest entries of the audit log
  scan create|list|show|cancel|schedule
                                scan a subnet from the agent that sits on it (operator, admin)
  credential add|list|remove    manage the SNMP credentials scans may use
  network trust add|list|remove the networks where agents may scan (operator, admin)
  asset|device|finding|reconcile|report|software-rule
                                the register, identity resolution and findings (umbra asset -h)
  version                       print the version

The token is read from the config file (--config, env UMBRA_CONFIG, default
%s) or env UMBRA_TOKEN, never from a flag.
The collector URL and CA file come from the flags, env UMBRA_COLLECTOR and
UMBRA_CA_FILE, or the config file. umbra-collector bootstrap-token writes a
config file for the first admin.

Run 'umbra <command> -h' for a command's flags.
`

// Run runs the command line args (without the program name) and returns the
// process's exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, stdout, stderr, os.Getenv)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, defaultConfigPath())
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(stdout, usage, defaultConfigPath())
		return exitOK
	case "version":
		fmt.Fprintln(stdout, "umbra", version.Version)
		return exitOK
	case "hosts":
		return hosts(ctx, args[1:], stdout, stderr, getenv)
	case "agent", "agents":
		return agentCmd(ctx, args[1:], stdout, stderr, getenv)
	case "enroll-secret", "enroll-secrets":
		return credentialCmd(ctx, "enroll-secret", args[1:], stdout, stderr, getenv)
	case "token", "tokens":
		return credentialCmd(ctx, "token", args[1:], stdout, stderr, getenv)
	case "audit":
		return auditCmd(ctx, args[1:], stdout, stderr, getenv)
	case "scan", "scans":
		return scanCmd(ctx, args[1:], stdout, stderr, getenv)
	case "credential", "credentials":
		return credentialScanCmd(ctx, args[1:], os.Stdin, stdout, stderr, getenv)
	case "network", "networks":
		return networkCmd(ctx, args[1:], stdout, stderr, getenv)
	case "asset", "device", "finding", "reconcile", "report", "software-rule":
		return regCmd(ctx, args[0], args[1:], stdout, stderr, getenv)
	case "host", "software", "devices":
		return detailCmd(ctx, args[0], args[1:], stdout, stderr, getenv)
	}
	fmt.Fprintf(stderr, "umbra: unknown command %q\n\n"+usage, args[0], defaultConfigPath())
	return exitUsage
}

func hosts(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("umbra hosts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs, getenv)
	asJSON := fs.Bool("json", false, "print JSON for scripts instead of a table")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: umbra hosts [--collector URL] [--json]\n\nLists the hosts whose agents report, with their latest inventory.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, 0, stderr); !ok {
		return code
	}
	c, code := cf.client("umbra hosts", stderr)
	if c == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	var list adminapi.HostList
	if err := c.do(ctx, http.MethodGet, adminapi.PathHosts, nil, &list); err != nil {
		fmt.Fprintln(stderr, "umbra hosts:", err)
		return exitError
	}
	if list.Hosts == nil {
		list.Hosts = []adminapi.Host{}
	}
	if *asJSON {
		return printJSON(stdout, stderr, "umbra hosts", list)
	}
	if err := writeTable(stdout, list.Hosts, time.Now()); err != nil {
		fmt.Fprintln(stderr, "umbra hosts:", err)
		return exitError
	}
	return exitOK
}

// maxCell bounds a table cell, in runes, so one hostile hostname cannot
// make the table unreadable.
const maxCell = 48

func writeTable(w io.Writer, hosts []adminapi.Host, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOSTNAME\tOS\tKERNEL\tCPU\tMEMORY\tADDRESSES\tMACS\tLAST SEEN\tHEARTBEAT")
	for _, h := range hosts {
		osName := strings.TrimSpace(h.Platform + " " + h.PlatformVersion)
		if osName == "" {
			osName = h.OSFamily
		}
		cpu := h.CPUModel
		if h.CPUCores > 0 || h.CPUThreads > 0 {
			cpu = fmt.Sprintf("%dc/%dt %s", h.CPUCores, h.CPUThreads, h.CPUModel)
		}
		fmt.Fprintln(tw, strings.Join([]string{
			cell(h.Hostname), cell(osName), cell(h.Kernel), cell(cpu), formatBytes(h.MemoryBytes),
			cell(strings.Join(h.Addresses, ",")), cell(strings.Join(h.MACs, ",")), lastSeen(h.LastSeen, now), heartbeatCell(h.Heartbeat, now),
		}, "\t"))
	}
	return tw.Flush()
}

func cell(s string) string {
	s = sanitize(s)
	if s == "" {
		return "-"
	}
	return truncate(s, maxCell)
}

// sanitize makes a device-supplied string safe to print on a terminal:
// control characters (C0, DEL, C1, which start escape sequences; tab and
// newline, which break the table), Unicode bidirectional overrides and
// invalid UTF-8 are shown as Go escapes instead of acting.
func sanitize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && (unicode.IsControl(r)):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || isBidiControl(r) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

func isBidiControl(r rune) bool {
	return r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' || r == '\u200e' || r == '\u200f' || r == '\u061c'
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func formatBytes(n uint64) string {
	if n == 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// heartbeatCell is an agent's last heartbeat, with what it said about its
// spool and its network.
func heartbeatCell(p *adminapi.Presence, now time.Time) string {
	if p == nil {
		return "never"
	}
	s := lastSeen(p.At, now)
	if p.SpoolRecords > 0 {
		s += fmt.Sprintf(", %d spooled", p.SpoolRecords)
	}
	if p.DroppedRecords > 0 {
		s += fmt.Sprintf(", %d dropped", p.DroppedRecords)
	}
	if p.Trusted != nil && !*p.Trusted {
		s += ", untrusted network"
	}
	return s
}

func lastSeen(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	ago := now.Sub(t).Round(time.Second)
	stamp := t.UTC().Format("2006-01-02 15:04 UTC")
	switch {
	case ago < 0:
		return stamp
	case ago < time.Minute:
		return stamp + " (just now)"
	case ago < time.Hour:
		return fmt.Sprintf("%s (%dm ago)", stamp, int(ago.Minutes()))
	case ago < 48*time.Hour:
		return fmt.Sprintf("%s (%dh ago)", stamp, int(ago.Hours()))
	}
	return fmt.Sprintf("%s (%dd ago)", stamp, int(ago.Hours()/24))
}
