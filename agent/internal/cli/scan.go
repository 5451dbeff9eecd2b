package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/scan"
	"github.com/umbrasec/umbra/agent/internal/discovery/snmp"
	"github.com/umbrasec/umbra/agent/internal/discovery/sweep"
	"github.com/umbrasec/umbra/agent/internal/discovery/target"
	"github.com/umbrasec/umbra/shared/wire"
)

const scanSynopsis = "scan TARGET… [--exclude TARGET,…] [--profile polite|fast] [--max-addrs N]\n" +
	"       [--snmp-community NAME]… [--snmp-v3 user:auth:authpass:priv:privpass]… [--no-snmp] [--no-mdns] [--no-names] [--ports LIST|none]\n" +
	"       [--json] [--out FILE [--state-dir DIR]]"

// scanGCPercent is the GC target of a standalone scan (see runScan).
const scanGCPercent = 50

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// repeatFlag collects a repeatable flag whose values may hold commas.
type repeatFlag []string

func (l *repeatFlag) String() string     { return fmt.Sprintf("%d values", len(*l)) }
func (l *repeatFlag) Set(s string) error { *l = append(*l, s); return nil }

// snmpCredentials turns --snmp-community and --snmp-v3 values into
// credentials, in order; none means the community public.
func snmpCredentials(communities, v3s []string) ([]snmp.Credential, error) {
	var creds []snmp.Credential
	for _, c := range communities {
		creds = append(creds, snmp.Community(c))
	}
	for _, s := range v3s {
		c, err := snmp.ParseV3(s)
		if err != nil {
			return nil, usagef("--snmp-v3: %v", err)
		}
		creds = append(creds, c)
	}
	if len(creds) == 0 {
		creds = []snmp.Credential{snmp.Community("public")}
	}
	return creds, nil
}

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("scan", scanSynopsis, stderr)
	var excludes listFlag
	var communities, v3s repeatFlag
	fs.Var(&excludes, "exclude", "`targets` to leave out (CIDR, range or address; repeatable)")
	profile := fs.String("profile", "polite", "pace: `polite` (the default) or fast")
	maxAddrs := fs.Int("max-addrs", target.DefaultMaxAddrs, "refuse scans of more than `N` addresses")
	asJSON := fs.Bool("json", false, "print the discovery as the JSON the collector receives")
	fs.Var(&communities, "snmp-community", "SNMP v1/v2c community `NAME` to try on live hosts (repeatable; default public).\n"+
		"This flag is for the standalone tool: under the collector, scan jobs carry their credentials")
	fs.Var(&v3s, "snmp-v3", "SNMPv3 credential `user:authproto:authpass:privproto:privpass` (repeatable);\n"+
		"auth MD5, SHA, SHA224, SHA256, SHA384, SHA512; priv DES, AES, AES192, AES256, AES192C, AES256C (Cisco);\n"+
		"user:authproto:authpass for authNoPriv. Like --snmp-community, for the standalone tool only")
	noSNMP := fs.Bool("no-snmp", false, "do not read devices over SNMP")
	noMDNS := fs.Bool("no-mdns", false, "do not browse mDNS / DNS-SD on the local link")
	noNames := fs.Bool("no-names", false, "do not look names up (reverse DNS, NetBIOS node status)")
	outFile := fs.String("out", "", "also write the discovery as a report to `FILE`, for 'umbra-agent send' (a scan in an isolated\n"+
		"network cannot reach the collector)")
	stateDir := fs.String("state-dir", "", "with --out: `folder` of the agent's state, for its agent id (default the agent's)")
	portsFlag := fs.String("ports", "", "TCP `ports` to probe on live hosts (comma-separated), or none for liveness only\n"+
		"(like nmap -sn); the default is the profile's set")
	// Targets and flags may come in any order.
	specs, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return usagef("no targets: give at least one CIDR, range or address")
	}
	p, err := sweep.ProfileByName(*profile)
	if err != nil {
		return usagef("%v", err)
	}
	if *portsFlag != "" {
		if p.Ports, err = parsePorts(*portsFlag); err != nil {
			return usagef("--ports: %v", err)
		}
	}
	set, err := target.Parse(specs, excludes, *maxAddrs)
	if err != nil {
		return usagef("%v", err)
	}
	creds, err := snmpCredentials(communities, v3s)
	if err != nil {
		return err
	}

	tty := isTerminal(stdout)
	var progress func(scan.Progress)
	if tty {
		var last time.Time
		progress = func(pr scan.Progress) {
			switch {
			case pr.Sweep != nil:
				if time.Since(last) < 100*time.Millisecond {
					return
				}
				last = time.Now()
				fmt.Fprintf(stdout, "\r\033[Kscanning %d addresses: %s", set.Len(), *pr.Sweep)
			case pr.Phase == "snmp":
				fmt.Fprintf(stdout, "\r\033[Kreading SNMP and names of %d live hosts…", pr.Found)
			}
		}
	}
	// A scan's live heap is small (1–3 MB for a /24 with SNMP), so the
	// runtime's default pacing — a 4 MB minimum and 100% growth — holds
	// two to three times that, mostly garbage from short-lived probes.
	// Collecting at 50% growth costs about 10 ms of CPU a /24 scan and
	// keeps the standalone scan about 2 MB smaller. GOGC still rules when
	// it is set.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(scanGCPercent))
	}
	started := time.Now()
	res := scan.Run(ctx, scan.Options{Set: set, Targets: specs, Excluded: excludes, Profile: p, Credentials: creds,
		NoSNMP: *noSNMP, NoMDNS: *noMDNS, NoNames: *noNames, Progress: progress})
	finished := time.Now()
	if tty {
		fmt.Fprint(stdout, "\r\033[K")
	}
	d, rows := res.Discovery, res.Rows
	if *outFile != "" && ctx.Err() == nil {
		if err := saveScan(*outFile, *stateDir, d); err != nil {
			return err
		}
	}
	if *asJSON {
		if err := writeDiscoveryJSON(stdout, &d); err != nil {
			return err
		}
	} else if err := writeScanTable(stdout, rows, set.Len(), finished.Sub(started)); err != nil {
		return err
	}
	for _, e := range d.Errors {
		fmt.Fprintf(stderr, "umbra-agent scan: %s: %s\n", e.Source, e.Error)
	}
	if ctx.Err() != nil {
		return errReported
	}
	return nil
}

// writeDiscoveryJSON writes d as a json.Encoder indented by two spaces
// would, one observation at a time: a scan of a large network is not
// held twice more in memory as text.
func writeDiscoveryJSON(w io.Writer, d *wire.Discovery) error {
	bw := bufio.NewWriter(w)
	rest := *d
	rest.Observations = nil
	head, err := json.MarshalIndent(rest, "", "  ")
	if err != nil {
		return err
	}
	const key = `"observations": null`
	at := bytes.Index(head, []byte(key))
	switch {
	case d.Observations == nil:
		bw.Write(head)
	case at < 0:
		enc := json.NewEncoder(w) // not expected: the whole document at once
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	default:
		bw.Write(head[:at])
		bw.WriteString(`"observations": [`)
		for i, o := range d.Observations {
			b, err := json.MarshalIndent(o, "    ", "  ")
			if err != nil {
				return err
			}
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString("\n    ")
			bw.Write(b)
		}
		if len(d.Observations) > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteByte(']')
		bw.Write(head[at+len(key):])
	}
	bw.WriteByte('\n')
	return bw.Flush()
}

func writeScanTable(w io.Writer, rows []*scan.Row, n int, took time.Duration) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tMAC\tVENDOR\tKIND\tNAME\tSEEN BY\tRTT\tOPEN TCP\tDESCRIPTION")
	live, learned := 0, 0
	for _, r := range rows {
		if slices.Equal(r.Methods, []string{"snmp-arp"}) {
			learned++
		} else {
			live++
		}
		ports := sweep.PortList(r.Ports)
		rtt := "-"
		if r.RTT > 0 {
			rtt = r.RTT.Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Addr, dash(r.MAC), dash(trim(r.Vendor, 24)), r.Kind,
			dash(trim(r.Name, 24)), strings.Join(r.Methods, "+"), rtt, dash(ports), dash(trim(r.Descr, 48)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d live hosts of %d addresses, %d more learned from routers' ARP tables, in %v\n", live, n, learned, took.Round(time.Millisecond))
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// parsePorts reads "22,80,443" or "none".
func parsePorts(s string) ([]int, error) {
	if s == "none" {
		return []int{}, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("bad port %q", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}
