package cli

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/reconcile"
)

const scanUsage = `Usage: umbra scan create CIDR… [--methods sweep,snmp,mdns,names] [--credentials NAME,…] [--agent ID] [--wait]
       umbra scan list [--json]
       umbra scan show ID [--json]
       umbra scan cancel ID
       umbra scan schedule add CIDR… --every 24h [--methods …] [--credentials …] [--agent ID]
       umbra scan schedule list|remove ID

The collector routes a scan to the one agent that sits on the target and
refuses targets outside its --scan-allow ranges. Needs the operator or
admin role.
`

// interleaved parses flags and positional arguments in any order and
// returns the positional ones. On a mistake it returns ok=false and the
// exit code: exitOK after -h, exitUsage otherwise.
func interleaved(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if code, ok := parseFlags(fs, args, -1, nil); !ok {
			return nil, code, false
		}
		if fs.NArg() == 0 {
			return pos, exitOK, true
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// badSub prints usage for a subcommand that is not one: exit 0 when the
// "subcommand" asked for help, 2 otherwise.
func badSub(sub, usage string, stderr io.Writer) int {
	fmt.Fprint(stderr, usage)
	if sub == "-h" || sub == "--help" || sub == "help" {
		return exitOK
	}
	return exitUsage
}

// subArgs gives fs the subcommand's usage, parses flags and positional
// arguments in any order, and checks their number: want of them, or at
// least one when want < 0. On a mistake it returns ok=false and the exit
// code.
func subArgs(fs *flag.FlagSet, args []string, usage string, want int) (pos []string, code int, ok bool) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	pos, code, ok = interleaved(fs, args)
	if !ok {
		return nil, code, false
	}
	if want >= 0 && len(pos) != want || want < 0 && len(pos) == 0 {
		fmt.Fprintf(fs.Output(), "%s: wrong number of arguments\n%s", fs.Name(), usage)
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// scanCmd runs "umbra scan …".
func scanCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 && (args[0] == "schedule" || args[0] == "schedules") {
		return scheduleCmd(ctx, args[1:], stdout, stderr, getenv)
	}
	sub, args, fs, cf, asJSON := subcommand("umbra scan", args, stderr, getenv)
	name := fs.Name()
	var methods, creds, agent string
	var wait bool
	nargs := 1
	switch sub {
	case "create":
		nargs = -1
		fs.StringVar(&methods, "methods", "", "comma-separated `methods`: sweep, snmp, mdns, names (default all)")
		fs.StringVar(&creds, "credentials", "", "comma-separated SNMP credential `names` stored with umbra credential add")
		fs.StringVar(&agent, "agent", "", "agent `ID` to scan from, instead of the one the collector picks")
		fs.BoolVar(&wait, "wait", false, "follow the scan's progress until it ends, then print a summary")
	case "list":
		nargs = 0
	case "show", "cancel":
	default:
		return badSub(sub, scanUsage, stderr)
	}
	pos, code, ok := subArgs(fs, args, scanUsage, nargs)
	if !ok {
		return code
	}
	c, code := cf.client(name, stderr)
	if c == nil {
		return code
	}
	rctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	var s adminapi.Scan
	switch sub {
	case "create":
		req := adminapi.CreateScan{Targets: pos, Methods: splitList(methods), Credentials: splitList(creds), Agent: agent}
		if err := c.do(rctx, http.MethodPost, adminapi.PathScans, req, &s); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
		if !wait {
			if *asJSON {
				return printJSON(stdout, stderr, name, s)
			}
			fmt.Fprintf(stdout, "%s\t%s\tagent %s (%s)\n", s.ID, s.State, s.Agent, s.Route)
			return exitOK
		}
		fmt.Fprintf(stderr, "scan %s of %s: routed to agent %s (%s)\n", s.ID, strings.Join(s.Targets, ","), s.Agent, s.Route)
		return follow(ctx, c, s.ID, stdout, stderr, *asJSON)
	case "list":
		var list adminapi.ScanList
		if err := c.do(rctx, http.MethodGet, adminapi.PathScans, nil, &list); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
		if *asJSON {
			return printJSON(stdout, stderr, name, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tTARGETS\tAGENT\tPROGRESS\tFOUND\tCREATED\tBY")
		for _, s := range list.Scans {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f%%\t%d\t%s\t%s\n", s.ID, s.State, cell(strings.Join(s.Targets, ",")), cell(s.Agent),
				s.Percent, s.Found, timeCell(&s.CreatedAt), cell(s.CreatedBy))
		}
		if err := tw.Flush(); err != nil {
			return exitError
		}
		return exitOK
	case "show":
		if err := c.do(rctx, http.MethodGet, adminapi.PathScans+"/"+url.PathEscape(pos[0]), nil, &s); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
	case "cancel":
		if err := c.do(rctx, http.MethodPost, adminapi.PathScans+"/"+url.PathEscape(pos[0])+"/cancel", nil, &s); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
	}
	if *asJSON {
		return printJSON(stdout, stderr, name, s)
	}
	writeScan(stdout, s)
	return exitOK
}

func writeScan(w io.Writer, s adminapi.Scan) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID", s.ID)
	row("State", s.State)
	row("Targets", strings.Join(s.Targets, ", "))
	row("Methods", strings.Join(s.Methods, ", "))
	if len(s.Credentials) > 0 {
		row("Credentials", cell(strings.Join(s.Credentials, ", ")))
	}
	row("Agent", cell(s.Agent)+map[bool]string{true: " (" + s.Route + ")", false: ""}[s.Route != ""])
	if len(s.TriedAgents) > 0 {
		row("Failed over from", cell(strings.Join(s.TriedAgents, ", ")))
	}
	row("Created", timeCell(&s.CreatedAt)+" by "+cell(s.CreatedBy))
	row("Started", timeCell(s.StartedAt))
	row("Finished", timeCell(s.FinishedAt))
	row("Rate", fmt.Sprintf("%d packets/s", s.Rate))
	row("Progress", fmt.Sprintf("%.0f%% (%s), %d of %d addresses probed, %d hosts found", s.Percent, dashIf(s.Phase), s.Probed, s.Total, s.Found))
	if s.Error != "" {
		row("Error", cell(s.Error))
	}
	_ = tw.Flush()
}

func dashIf(s string) string {
	if s == "" {
		return "-"
	}
	return sanitize(s)
}

// pollEvery is how often --wait asks for the scan's state.
const pollEvery = 500 * time.Millisecond

// findingsSettle is how long showNewFindings waits between two looks at
// the count of observations.
var findingsSettle = 2 * time.Second

// follow polls the scan until it ends, drawing a progress bar on a
// terminal and a line per change otherwise, then prints a summary.
func follow(ctx context.Context, c *client, id string, stdout, stderr io.Writer, asJSON bool) int {
	tty := isTerminal(stdout) && !asJSON
	var s adminapi.Scan
	last := ""
	misses := 0
poll:
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := c.do(rctx, http.MethodGet, adminapi.PathScans+"/"+url.PathEscape(id), nil, &s)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintf(stderr, "\nstopped following scan %s; it goes on (umbra scan cancel %s)\n", id, id)
				return exitError
			}
			if misses++; misses > 10 {
				fmt.Fprintln(stderr, "umbra scan create:", err)
				return exitError
			}
		} else {
			misses = 0
			line := progressLine(s, tty)
			switch {
			case tty:
				fmt.Fprintf(stdout, "\r\033[K%s", line)
			case line != last && !asJSON:
				fmt.Fprintln(stdout, line)
			}
			last = line
			if s.State == "done" || s.State == "failed" || s.State == "cancelled" {
				break poll
			}
		}
		t := time.NewTimer(pollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	if tty {
		fmt.Fprint(stdout, "\r\033[K")
	}
	if asJSON {
		return printJSON(stdout, stderr, "umbra scan create", s)
	}
	took := "-"
	if s.StartedAt != nil && s.FinishedAt != nil {
		took = s.FinishedAt.Sub(*s.StartedAt).Round(100 * time.Millisecond).String()
	}
	fmt.Fprintf(stdout, "scan %s %s: %d hosts found among %d addresses of %s by agent %s in %s\n",
		s.ID, s.State, s.Found, s.Total, strings.Join(s.Targets, ","), cell(s.Agent), took)
	if s.Error != "" {
		fmt.Fprintln(stdout, "error:", cell(s.Error))
	}
	if s.State != "done" {
		return exitError
	}
	since := time.Now()
	if s.StartedAt != nil {
		since = *s.StartedAt
	}
	showNewFindings(ctx, c, since, stdout, stderr)
	fmt.Fprintln(stdout, "every device found: umbra devices; every unregistered one: umbra report shadow")
	return exitOK
}

// progressLine shows a scan's state; with bar, as a progress bar.
func progressLine(s adminapi.Scan, bar bool) string {
	switch s.State {
	case "pending":
		return fmt.Sprintf("waiting for agent %s to pick the scan up…", cell(s.Agent))
	case "done", "failed", "cancelled":
		return s.State
	}
	eta := "-"
	if s.ETASeconds >= 0 && s.Percent > 0 {
		eta = (time.Duration(s.ETASeconds) * time.Second).String()
	}
	text := fmt.Sprintf("%3.0f%% %-5s %d/%d probed, %d found, ETA %s", s.Percent, dashIf(s.Phase), s.Probed, s.Total, s.Found, eta)
	if !bar {
		// One line per 10% step, so a log is not flooded.
		return fmt.Sprintf("%3d%% %-5s %d found", int(s.Percent)/10*10, dashIf(s.Phase), s.Found)
	}
	const width = 30
	n := min(width, max(0, int(s.Percent*width/100)))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "] " + text
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func scheduleCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	sub, args, fs, cf, asJSON := subcommand("umbra scan schedule", args, stderr, getenv)
	name := fs.Name()
	var methods, creds, agent string
	var every time.Duration
	switch sub {
	case "add":
		fs.DurationVar(&every, "every", 0, "run every `interval`, e.g. 24h (at least 5m; required)")
		fs.StringVar(&methods, "methods", "", "comma-separated `methods` (default all)")
		fs.StringVar(&creds, "credentials", "", "comma-separated SNMP credential `names`")
		fs.StringVar(&agent, "agent", "", "agent `ID` to scan from")
	case "list", "remove":
	default:
		return badSub(sub, scanUsage, stderr)
	}
	pos, code, ok := subArgs(fs, args, scanUsage, map[string]int{"add": -1, "list": 0, "remove": 1}[sub])
	if !ok {
		return code
	}
	c, code := cf.client(name, stderr)
	if c == nil {
		return code
	}
	rctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	switch sub {
	case "add":
		var sc adminapi.ScanSchedule
		req := adminapi.CreateScanSchedule{CreateScan: adminapi.CreateScan{Targets: pos, Methods: splitList(methods),
			Credentials: splitList(creds), Agent: agent}, IntervalSeconds: int64(every / time.Second)}
		if err := c.do(rctx, http.MethodPost, adminapi.PathScanSchedules, req, &sc); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
		if *asJSON {
			return printJSON(stdout, stderr, name, sc)
		}
		fmt.Fprintln(stdout, sc.ID)
	case "list":
		var list adminapi.ScanScheduleList
		if err := c.do(rctx, http.MethodGet, adminapi.PathScanSchedules, nil, &list); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
		if *asJSON {
			return printJSON(stdout, stderr, name, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTARGETS\tEVERY\tAGENT\tLAST RUN\tBY")
		for _, s := range list.Schedules {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, cell(strings.Join(s.Targets, ",")), time.Duration(s.IntervalSeconds)*time.Second,
				cell(s.Agent), timeCell(s.LastRun), cell(s.CreatedBy))
		}
		_ = tw.Flush()
	case "remove":
		if err := c.do(rctx, http.MethodDelete, adminapi.PathScanSchedules+"/"+url.PathEscape(pos[0]), nil, nil); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
	}
	return exitOK
}

const credentialUsage = `Usage: umbra credential add NAME --version 2c
       umbra credential add NAME --version 3 --user USER [--auth SHA] [--priv AES]
       umbra credential list [--json]
       umbra credential remove NAME

Stores SNMP credentials on the collector, for scans to name with
--credentials. The secrets (community, passphrases) are read from standard
input, one per line, or from UMBRA_SNMP_COMMUNITY, UMBRA_SNMP_AUTH_PASS and
UMBRA_SNMP_PRIV_PASS — never from flags — and are never shown again.
`

// credentialScanCmd runs "umbra credential …".
func credentialScanCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	sub, args, fs, cf, asJSON := subcommand("umbra credential", args, stderr, getenv)
	name := fs.Name()
	var req adminapi.CreateScanCredential
	want := 1
	switch sub {
	case "add":
		fs.StringVar(&req.Version, "version", "2c", "SNMP `version`: 1, 2c or 3")
		fs.StringVar(&req.User, "user", "", "SNMPv3 `user`")
		fs.StringVar(&req.AuthProto, "auth", "", "SNMPv3 authentication `protocol`: MD5, SHA, SHA224, SHA256, SHA384, SHA512")
		fs.StringVar(&req.PrivProto, "priv", "", "SNMPv3 privacy `protocol`: DES, AES, AES192, AES256, AES192C, AES256C")
	case "list":
		want = 0
	case "remove":
	default:
		return badSub(sub, credentialUsage, stderr)
	}
	pos, code, ok := subArgs(fs, args, credentialUsage, want)
	if !ok {
		return code
	}
	if sub == "add" {
		req.Name = pos[0]
		rd := bufio.NewReader(stdin)
		secret := func(env, what string) string {
			if v := getenv(env); v != "" {
				return v
			}
			if isTerminal(stderr) {
				fmt.Fprintf(stderr, "%s: ", what)
			}
			line, _ := rd.ReadString('\n')
			return strings.TrimRight(line, "\r\n")
		}
		if req.Version == "3" {
			if req.AuthProto != "" {
				req.AuthPass = secret("UMBRA_SNMP_AUTH_PASS", "authentication passphrase")
			}
			if req.PrivProto != "" {
				req.PrivPass = secret("UMBRA_SNMP_PRIV_PASS", "privacy passphrase")
			}
		} else {
			req.Community = secret("UMBRA_SNMP_COMMUNITY", "community")
		}
	}
	c, code := cf.client(name, stderr)
	if c == nil {
		return code
	}
	rctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	switch sub {
	case "add":
		if err := c.do(rctx, http.MethodPost, adminapi.PathScanCredentials, req, nil); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
		fmt.Fprintf(stdout, "credential %s stored\n", sanitize(req.Name))
	case "list":
		var list adminapi.ScanCredentialList
		if err := c.do(rctx, http.MethodGet, adminapi.PathScanCredentials, nil, &list); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
		if *asJSON {
			return printJSON(stdout, stderr, name, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tVERSION\tUSER\tAUTH\tPRIV\tCREATED\tBY")
		for _, x := range list.Credentials {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(x.Name), x.Version, cell(x.User), cell(x.AuthProto), cell(x.PrivProto),
				timeCell(&x.CreatedAt), cell(x.CreatedBy))
		}
		_ = tw.Flush()
	case "remove":
		if err := c.do(rctx, http.MethodDelete, adminapi.PathScanCredentials+"/"+url.PathEscape(pos[0]), nil, nil); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
	}
	return exitOK
}

// showNewFindings waits until the scan's results have reached the
// collector (the agent sends them through its spool, so they arrive just
// after the scan ends: the count of reconciled observations stops
// growing), reconciles, and prints the unregistered devices first reported
// since the scan started.
func showNewFindings(ctx context.Context, c *client, since time.Time, stdout, stderr io.Writer) {
	prev, stable := -1, 0
	deadline := time.Now().Add(time.Minute)
	for stable < 2 && time.Now().Before(deadline) {
		var st reconcile.RunStats
		if err := c.do(ctx, http.MethodPost, api.PathRecRun, struct{}{}, &st); err != nil {
			fmt.Fprintln(stderr, "new findings not shown: reconciling:", err)
			return
		}
		if st.Observations == prev {
			stable++
		} else {
			prev, stable = st.Observations, 0
		}
		t := time.NewTimer(findingsSettle)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	q := url.Values{"kind": {reconcile.KindUnregisteredDevice}, "state": {"open"}}
	var out struct {
		Findings []reconcile.StoredFinding `json:"findings"`
	}
	if err := c.do(ctx, http.MethodGet, api.PathFindings+"?"+q.Encode(), nil, &out); err != nil {
		fmt.Fprintln(stderr, "new findings not shown:", err)
		return
	}
	var fresh []reconcile.StoredFinding
	for _, f := range out.Findings {
		if !f.OpenedAt.Before(since.Truncate(time.Second)) {
			fresh = append(fresh, f)
		}
	}
	if len(fresh) == 0 {
		fmt.Fprintln(stdout, "no new unregistered devices")
		return
	}
	fmt.Fprintf(stdout, "%d new unregistered devices:\n", len(fresh))
	writeShadow(stdout, fresh, uint64(len(fresh)), func(err error) int {
		fmt.Fprintln(stderr, "umbra scan create:", err)
		return exitError
	})
}
