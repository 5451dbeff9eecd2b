package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/oui"
	"github.com/umbrasec/umbra/agent/internal/discovery/sweep"
	"github.com/umbrasec/umbra/agent/internal/discovery/target"
	"github.com/umbrasec/umbra/shared/ident"
	"github.com/umbrasec/umbra/shared/wire"
)

const scanSynopsis = "scan TARGET… [--exclude TARGET,…] [--profile polite|fast] [--max-addrs N] [--json]"

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

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("scan", scanSynopsis, stderr)
	var excludes listFlag
	fs.Var(&excludes, "exclude", "`targets` to leave out (CIDR, range or address; repeatable)")
	profile := fs.String("profile", "polite", "pace: `polite` (the default) or fast")
	maxAddrs := fs.Int("max-addrs", target.DefaultMaxAddrs, "refuse scans of more than `N` addresses")
	asJSON := fs.Bool("json", false, "print the discovery as the JSON the collector receives")
	// Targets and flags may come in any order.
	var specs []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errFlags
		}
		if fs.NArg() == 0 {
			break
		}
		specs = append(specs, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(specs) == 0 {
		return usagef("no targets: give at least one CIDR, range or address")
	}
	p, err := sweep.ProfileByName(*profile)
	if err != nil {
		return usagef("%v", err)
	}
	set, err := target.Parse(specs, excludes, *maxAddrs)
	if err != nil {
		return usagef("%v", err)
	}

	progress := func(sweep.Progress) {}
	tty := isTerminal(stdout)
	if tty {
		var last time.Time
		progress = func(pr sweep.Progress) {
			if time.Since(last) < 100*time.Millisecond {
				return
			}
			last = time.Now()
			fmt.Fprintf(stdout, "\r\033[Kscanning %d addresses: %s", set.Len(), pr)
		}
	}
	started := time.Now()
	res := sweep.New(p).Sweep(ctx, set, progress)
	finished := time.Now()
	if tty {
		fmt.Fprint(stdout, "\r\033[K")
	}

	d := wire.Discovery{
		StartedAt:    started.UTC(),
		FinishedAt:   finished.UTC(),
		Targets:      specs,
		Excluded:     excludes,
		Profile:      p.Name,
		Observations: []wire.Observation{},
	}
	for _, h := range res.Hosts {
		d.Observations = append(d.Observations, h.Observations("", oui.Lookup)...)
	}
	for _, e := range res.Errors {
		d.Errors = append(d.Errors, wire.SourceError{Source: "sweep", Error: e.Error()})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return err
		}
	} else if err := writeScanTable(stdout, res.Hosts, set.Len(), finished.Sub(started)); err != nil {
		return err
	}
	for _, e := range res.Errors {
		fmt.Fprintf(stderr, "umbra-agent scan: %v\n", e)
	}
	if ctx.Err() != nil {
		return errReported
	}
	return nil
}

func writeScanTable(w io.Writer, hosts []sweep.Host, n int, took time.Duration) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tMAC\tVENDOR\tSEEN BY\tRTT\tOPEN TCP")
	for _, h := range hosts {
		mac, vendor := "-", "-"
		if m, err := ident.ParseMAC(h.MAC.String()); err == nil {
			mac = m.String()
			if v, local := oui.Lookup(m); local {
				vendor = "(randomised)"
			} else if v != "" {
				vendor = v
			}
		}
		ports := sweep.PortList(h.OpenPorts)
		if ports == "" {
			ports = "-"
		}
		rtt := "-"
		if h.RTT > 0 {
			rtt = h.RTT.Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", h.Addr, mac, trim(vendor, 28), sweep.MethodList(h.Methods), rtt, ports)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d live hosts of %d addresses in %v\n", len(hosts), n, took.Round(time.Millisecond))
	return err
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
