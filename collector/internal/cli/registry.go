package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/reconcile"
	"github.com/umbrasec/umbra/collector/internal/registry"
)

// regCmd runs the register, device, finding, reconcile, report and
// software-rule commands: "umbra NOUN VERB [flags] [args]".
func regCmd(ctx context.Context, noun string, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	verb := ""
	if len(args) > 0 {
		verb, args = args[0], args[1:]
	}
	name := "umbra " + noun + " " + verb
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs, getenv)
	asJSON := fs.Bool("json", false, "print JSON")
	asCSV := fs.Bool("csv", false, "print CSV (spreadsheet formulas neutralised)")
	all := fs.Bool("all", false, "report shadow: every unregistered device, not the first page (--csv and --json always export all)")
	var a registry.Asset
	var macs, category, lifecycle string
	fs.StringVar(&a.Tag, "tag", "", "asset tag")
	fs.StringVar(&a.Name, "name", "", "asset name")
	fs.StringVar(&category, "category", "", "category: "+strings.Join(catNames(), ", "))
	fs.StringVar(&a.Serial, "serial", "", "serial number")
	fs.StringVar(&macs, "macs", "", "MACs, comma separated")
	fs.StringVar(&a.Hostname, "hostname", "", "hostname")
	fs.StringVar(&a.Owner, "owner", "", "owner")
	fs.StringVar(&a.Location, "location", "", "location")
	fs.StringVar(&lifecycle, "lifecycle", "", "lifecycle: planned, ordered, in-stock, deployed, maintenance, retired, disposed")
	fs.BoolVar(&a.ExpectAgent, "expect-agent", false, "an agent should report from this asset")
	format := fs.String("format", "", "import format: umbra, snipeit, netbox (default: from the header)")
	defCat := fs.String("default-category", "", "import: category for rows the format cannot map")
	dispose := fs.Bool("dispose", false, "retire: dispose of the asset (needs --outcome)")
	outcome := fs.String("outcome", "", "retire: resold, recycled, destroyed, returned")
	wipe := fs.String("wipe-method", "", "retire: data-wipe method")
	cert := fs.String("wipe-certificate", "", "retire: wipe certificate or reference")
	reason := fs.String("reason", "", "reason (ack, split, update, retire)")
	until := fs.String("until", "", "ack: until this date (YYYY-MM-DD); default until resolved")
	kind := fs.String("kind", "", "finding list: only this kind")
	state := fs.String("state", "", "finding list: open (default), acknowledged, resolved, all")
	ids := fs.String("identifiers", "", "device split: identifiers (type:value) to split off, comma separated")
	decision := fs.String("decision", "", "software-rule add: approve or deny")
	namePat := fs.String("name-pattern", "", "software-rule add: name glob")
	pubPat := fs.String("publisher-pattern", "", "software-rule add: publisher glob")
	srcPat := fs.String("source-pattern", "", "software-rule add: package source glob (dpkg, rpm, msi, …)")
	licences := fs.Int("licences", 0, "software-rule add: licences an approval owns (0: unlimited)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: umbra asset add|list|show ID|update ID|retire ID|import FILE|export\n"+
			"       umbra device list|explain ID|split\n       umbra finding list|ack ID|register ID\n"+
			"       umbra reconcile now\n       umbra report shadow [--all|--json|--csv] | kpi [--json]\n       umbra software-rule add|list\n\nImport formats:\n%s\n\nFlags:\n", registry.FormatDoc)
		fs.PrintDefaults()
	}
	// Flags may follow the positional argument: umbra finding ack ID --reason R.
	pos, code, ok := interleaved(fs, args)
	if !ok {
		return code
	}
	arg := func() (string, bool) {
		if len(pos) != 1 {
			fmt.Fprintf(stderr, "%s: want one argument\n", name)
			return "", false
		}
		return pos[0], true
	}
	c, code := cf.client(name, stderr)
	if c == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	fail := func(err error) int { fmt.Fprintln(stderr, name+":", err); return exitError }
	a.Category, a.Lifecycle = registry.Category(category), registry.Lifecycle(lifecycle)
	if macs != "" {
		a.MACs = strings.Split(macs, ",")
	}
	show := func(v any) int { return printJSON(stdout, stderr, name, v) }
	switch noun + " " + verb {
	case "asset add":
		var out registry.Asset
		if err := c.do(ctx, http.MethodPost, api.PathAssets, a, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "created asset %s (%s)\n", out.ID, out.Tag)
		return exitOK
	case "asset list":
		var out struct {
			Assets []registry.Asset `json:"assets"`
		}
		if err := c.do(ctx, http.MethodGet, api.PathAssets, nil, &out); err != nil {
			return fail(err)
		}
		if *asJSON {
			return show(out)
		}
		if *asCSV {
			if err := registry.WriteCSV(stdout, out.Assets); err != nil {
				return fail(err)
			}
			return exitOK
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TAG\tNAME\tCATEGORY\tLIFECYCLE\tSERIAL\tHOSTNAME\tOWNER\tID")
		for _, x := range out.Assets {
			fmt.Fprintln(tw, strings.Join([]string{cell(x.Tag), cell(x.Name), string(x.Category), string(x.Lifecycle), cell(x.Serial), cell(x.Hostname), cell(x.Owner), x.ID}, "\t"))
		}
		return flushed(tw, fail)
	case "asset show":
		id, ok := arg()
		if !ok {
			return exitUsage
		}
		var out struct {
			Asset   registry.Asset   `json:"asset"`
			History []registry.Asset `json:"history"`
		}
		if err := c.do(ctx, http.MethodGet, api.PathAssets+"/"+url.PathEscape(id), nil, &out); err != nil {
			return fail(err)
		}
		if *asJSON {
			return show(out)
		}
		writeAsset(stdout, out.Asset, out.History)
		return exitOK
	case "asset update":
		id, ok := arg()
		if !ok {
			return exitUsage
		}
		p := registry.Patch{Reason: *reason}
		fs.Visit(func(f *flag.Flag) {
			v := f.Value.String()
			switch f.Name {
			case "tag":
				p.Tag = &v
			case "name":
				p.Name = &v
			case "category":
				p.Category = &v
			case "serial":
				p.Serial = &v
			case "hostname":
				p.Hostname = &v
			case "owner":
				p.Owner = &v
			case "location":
				p.Location = &v
			case "lifecycle":
				p.Lifecycle = &v
			case "macs":
				m := a.MACs
				p.MACs = &m
			case "expect-agent":
				b := a.ExpectAgent
				p.ExpectAgent = &b
			}
		})
		var out registry.Asset
		if err := c.do(ctx, http.MethodPatch, api.PathAssets+"/"+url.PathEscape(id), p, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "updated asset %s (%s), now %s\n", out.ID, out.Tag, out.Lifecycle)
		return exitOK
	case "asset retire":
		id, ok := arg()
		if !ok {
			return exitUsage
		}
		var out registry.Asset
		rt := registry.Retirement{Dispose: *dispose, Outcome: *outcome, WipeMethod: *wipe, WipeCertificate: *cert, Reason: *reason}
		if err := c.do(ctx, http.MethodPost, api.PathAssets+"/"+url.PathEscape(id)+"/retire", rt, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "asset %s (%s) is now %s\n", out.ID, out.Tag, out.Lifecycle)
		return exitOK
	case "asset import":
		file, ok := arg()
		if !ok {
			return exitUsage
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return fail(err)
		}
		q := url.Values{}
		if *format != "" {
			q.Set("format", *format)
		}
		if *defCat != "" {
			q.Set("default_category", *defCat)
		}
		var out registry.ImportResult
		if err := c.raw(ctx, http.MethodPost, api.PathAssetImport+"?"+q.Encode(), "text/csv", data, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "imported %s CSV: %d created, %d updated\n", out.Format, out.Created, out.Updated)
		return exitOK
	case "asset export":
		var buf bytes.Buffer
		if err := c.raw(ctx, http.MethodGet, api.PathAssetExport, "", nil, &buf); err != nil {
			return fail(err)
		}
		_, _ = stdout.Write(buf.Bytes())
		return exitOK
	case "device list":
		var out struct {
			Devices []reconcile.Device `json:"devices"`
		}
		if err := c.do(ctx, http.MethodGet, api.PathRecDevices, nil, &out); err != nil {
			return fail(err)
		}
		if *asJSON {
			return show(out)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DEVICE\tHOSTNAME\tVENDOR\tKIND\tMACS\tSERIALS\tAGENTS\tIPS\tLAST SEEN")
		for _, d := range out.Devices {
			fmt.Fprintln(tw, strings.Join([]string{d.ID, cell(first(d.Hostnames)), cell(d.Vendor), cell(first(d.Kinds)), cell(strings.Join(d.MACs, ",")),
				cell(strings.Join(d.Serials, ",")), cell(strings.Join(d.Agents, ",")), cell(strings.Join(d.IPs, ",")), lastSeen(d.LastSeen, time.Now())}, "\t"))
		}
		return flushed(tw, fail)
	case "device explain":
		id, ok := arg()
		if !ok {
			return exitUsage
		}
		var d reconcile.Device
		if err := c.do(ctx, http.MethodGet, api.PathRecDevices+"/"+url.PathEscape(id), nil, &d); err != nil {
			return fail(err)
		}
		if *asJSON {
			return show(d)
		}
		fmt.Fprintf(stdout, "device %s: %d observations, %s .. %s\nidentifiers:\n", d.ID, d.Observations, d.FirstSeen.Format(time.RFC3339), d.LastSeen.Format(time.RFC3339))
		for _, x := range d.Identifiers {
			fmt.Fprintf(stdout, "  %s  (%s .. %s)\n", sanitize(x.ID), x.FirstSeen.Format(time.RFC3339), x.LastSeen.Format(time.RFC3339))
		}
		fmt.Fprintln(stdout, "evidence:")
		for _, e := range d.Evidence {
			fmt.Fprintf(stdout, "  %s: %s by %s via %s, %d× %s .. %s (latest %s)\n", sanitize(e.Outcome), sanitize(strings.Join(e.Tied, " + ")), sanitize(e.Observer), sanitize(e.Method),
				e.Count, e.FirstSeen.Format(time.RFC3339), e.LastSeen.Format(time.RFC3339), sanitize(e.Ref))
		}
		return exitOK
	case "device split":
		var out map[string]string
		req := api.SplitRequest{Identifiers: regSplitList(*ids), Reason: *reason}
		if err := c.do(ctx, http.MethodPost, api.PathRecSplits, req, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "split %s recorded: it applies from the next reconciliation (umbra reconcile now)\n", out["id"])
		return exitOK
	case "reconcile now":
		var st reconcile.RunStats
		if err := c.do(ctx, http.MethodPost, api.PathRecRun, struct{}{}, &st); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "reconciled %d observations into %d devices: %d open findings (%d new, %d resolved, %d unchanged) in %d ms\n",
			st.Observations, st.Devices, st.Open, st.Opened, st.Resolved, st.Unchanged, st.DurationMS)
		return exitOK
	case "report shadow":
		return reportShadow(ctx, c, stdout, *all, *asJSON, *asCSV, fail)
	case "finding list":
		q := url.Values{}
		if *kind != "" {
			q.Set("kind", *kind)
		}
		if *state != "" {
			q.Set("state", *state)
		}
		var out struct {
			Findings []reconcile.StoredFinding `json:"findings"`
		}
		if err := c.do(ctx, http.MethodGet, api.PathFindings+"?"+q.Encode(), nil, &out); err != nil {
			return fail(err)
		}
		if *asJSON {
			return show(out)
		}
		if *asCSV {
			return writeFindingsCSV(stdout, out.Findings, fail)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FINDING\tKIND\tSTATE\tSEVERITY\tTITLE\tSEEN BY\tWHERE\tLAST SEEN")
		for _, f := range out.Findings {
			fmt.Fprintln(tw, strings.Join([]string{f.ID, f.Kind, f.State, f.Severity, cell(f.Title), cell(strings.Join(f.SeenBy, ",")),
				cell(strings.Join(append(append([]string{}, f.Subnets...), f.SwitchPorts...), ", ")), lastSeen(f.LastSeen, time.Now())}, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return fail(err)
		}
		return exitOK
	case "finding ack":
		id, ok := arg()
		if !ok {
			return exitUsage
		}
		req := api.AckRequest{Reason: *reason}
		if *until != "" {
			t, err := time.Parse("2006-01-02", *until)
			if err != nil {
				fmt.Fprintf(stderr, "%s: --until %q: want YYYY-MM-DD\n", name, *until)
				return exitUsage
			}
			req.Until = t
		}
		if err := c.do(ctx, http.MethodPost, api.PathFindings+"/"+url.PathEscape(id)+"/ack", req, nil); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "acknowledged %s\n", id)
		return exitOK
	case "finding register":
		id, ok := arg()
		if !ok {
			return exitUsage
		}
		var out registry.Asset
		if err := c.do(ctx, http.MethodPost, api.PathFindings+"/"+url.PathEscape(id)+"/register", a, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "registered asset %s (%s) from finding %s: serial %q, MACs %v, hostname %q\n", out.ID, out.Tag, id, out.Serial, out.MACs, out.Hostname)
		return exitOK
	case "report kpi":
		var k reconcile.KPIs
		if err := c.do(ctx, http.MethodGet, api.PathKPIs, nil, &k); err != nil {
			return fail(err)
		}
		if *asJSON {
			return show(k)
		}
		fmt.Fprintf(stdout, "devices %d: managed (agent) %.1f%%, registered %.1f%%; agent coverage of deployed assets %.1f%%\n",
			k.Devices, k.ManagedPct, k.RegisteredPct, k.AgentCoveragePct)
		fmt.Fprintf(stdout, "mean time to register: %.1f h\n", k.MeanTimeToRegisterHours)
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "OPEN FINDINGS\t<1d\t1-7d\t7-30d\t>30d")
		for _, kind := range sortedKeys(k.OpenFindings) {
			b := k.OpenFindings[kind]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", kind, b["<1d"], b["1-7d"], b["7-30d"], b[">30d"])
		}
		fmt.Fprintln(tw, "\t\t\t\t")
		fmt.Fprintln(tw, "ASSETS BY LIFECYCLE\tCOUNT\t\t\t")
		for _, l := range registry.Lifecycles {
			fmt.Fprintf(tw, "%s\t%d\t\t\t\n", l, k.AssetsByLifecycle[string(l)])
		}
		fmt.Fprintln(tw, "\t\t\t\t")
		fmt.Fprintln(tw, "CATEGORY\tASSETS\tCOST\t\t")
		for _, c := range registry.Categories {
			var cost []string
			for _, cur := range sortedKeys(k.CostByCategory[string(c)]) {
				if v := k.CostByCategory[string(c)][cur]; v > 0 {
					cost = append(cost, strings.TrimSpace(fmt.Sprintf("%d.%02d %s", v/100, v%100, cur)))
				}
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t\t\n", c, k.AssetsByCategory[string(c)], strings.Join(cost, ", "))
		}
		return flushed(tw, fail)
	case "software-rule add":
		var out reconcile.Rule
		r := reconcile.Rule{Decision: *decision, NamePattern: *namePat, PublisherPattern: *pubPat, SourcePattern: *srcPat, Entitlements: *licences, Note: *reason}
		if err := c.do(ctx, http.MethodPost, api.PathSoftwareRules, r, &out); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "rule %s: %s name %q publisher %q source %q\n", out.ID, out.Decision, out.NamePattern, out.PublisherPattern, out.SourcePattern)
		return exitOK
	case "software-rule list":
		var out map[string]any
		if err := c.do(ctx, http.MethodGet, api.PathSoftwareRules, nil, &out); err != nil {
			return fail(err)
		}
		return show(out)
	}
	fmt.Fprintf(stderr, "%s: unknown command\n", name)
	fs.Usage()
	return exitUsage
}

// writeShadow prints the unregistered-device report: one row per device
// with what it probably is, who saw it, where and when, then why each is
// flagged.
func writeShadow(w io.Writer, fs []reconcile.StoredFinding, total uint64, fail func(error) int) int {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FINDING\tSEVERITY\tSTATE\tDEVICE\tPROBABLY\tSEEN BY\tHOW\tWHERE\tFIRST SEEN\tLAST SEEN")
	now := time.Now()
	for _, f := range fs {
		dev := first(f.Hostnames)
		if dev == "" {
			dev = first(f.MACs)
		}
		if dev == "" {
			dev = first(f.IPs)
		}
		where := append(append([]string{}, f.Subnets...), f.SwitchPorts...)
		fmt.Fprintln(tw, strings.Join([]string{f.ID, f.Severity, f.State, cell(dev), cell(strings.TrimSpace(f.Vendor + " " + first(f.Kinds))),
			cell(strings.Join(f.SeenBy, ",")), cell(strings.Join(f.Methods, ",")), cell(strings.Join(where, ", ")),
			f.FirstSeen.UTC().Format("2006-01-02 15:04"), lastSeen(f.LastSeen, now)}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fail(err)
	}
	for _, f := range fs {
		fmt.Fprintf(w, "\n%s %s\n  why: %s\n", f.ID, sanitize(f.Title), sanitize(f.Why))
		if f.Ack != nil {
			fmt.Fprintf(w, "  acknowledged by %s at %s: %s\n", sanitize(f.Ack.By), f.Ack.At.UTC().Format(time.RFC3339), sanitize(f.Ack.Reason))
		}
	}
	if more := total - min(total, uint64(len(fs))); more > 0 {
		fmt.Fprintf(w, "\n%d unregistered devices: the %d seen last are shown, %d more (umbra report shadow --all, or --csv or --json to export them all)\n", total, len(fs), more)
		return exitOK
	}
	fmt.Fprintf(w, "\n%d unregistered devices\n", len(fs))
	return exitOK
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func writeAsset(w io.Writer, a registry.Asset, hist []registry.Asset) {
	day := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02")
	}
	line := func(k, v string) { fmt.Fprintf(w, "%-16s %s\n", k, text(v)) }
	line("asset", a.Tag+" ("+a.ID+")")
	line("name", a.Name)
	line("category", string(a.Category))
	line("lifecycle", string(a.Lifecycle))
	line("serial", a.Serial)
	line("macs", strings.Join(a.MACs, ", "))
	line("hostname", a.Hostname)
	line("owner", a.Owner)
	line("location", a.Location)
	if a.CostCents > 0 {
		line("cost", strings.TrimSpace(fmt.Sprintf("%d.%02d %s", a.CostCents/100, a.CostCents%100, a.Currency)))
	}
	line("purchased", day(a.PurchaseDate))
	line("warranty until", day(a.WarrantyEnd))
	line("expects agent", fmt.Sprint(a.ExpectAgent))
	line("source", a.Source)
	if d := a.Disposal; d != nil {
		line("retired", fmt.Sprintf("%s by %s, outcome %s, wipe %s, certificate %s", day(d.At), d.By, orDash(string(d.Outcome)), orDash(d.WipeMethod), orDash(d.WipeCertificate)))
	}
	if a.Notes != "" {
		line("notes", a.Notes)
	}
	fmt.Fprintln(w, "history:")
	for _, h := range hist {
		r := ""
		if h.Reason != "" {
			r = " (" + h.Reason + ")"
		}
		fmt.Fprintf(w, "  %s  %-18s %-12s by %s%s\n", h.ChangedAt.UTC().Format(time.RFC3339), h.Action, h.Lifecycle, sanitize(h.ChangedBy), sanitize(r))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func catNames() []string {
	var s []string
	for _, c := range registry.Categories {
		s = append(s, string(c))
	}
	return s
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func regSplitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func flushed(tw *tabwriter.Writer, fail func(error) int) int {
	if err := tw.Flush(); err != nil {
		return fail(err)
	}
	return exitOK
}

// neutral keeps a spreadsheet from running a cell as a formula.
func neutral(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeFindingsCSV(w io.Writer, fs []reconcile.StoredFinding, fail func(error) int) int {
	cw := csv.NewWriter(w)
	_ = cw.Write(findingCSVHeader)
	for i := range fs {
		_ = cw.Write(findingCSV(&fs[i]))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fail(err)
	}
	return exitOK
}

var findingCSVHeader = []string{"id", "kind", "state", "severity", "title", "why", "first_seen", "last_seen", "seen_by", "methods", "subnets", "switch_ports",
	"ips", "macs", "hostnames", "vendor", "kinds", "device_id", "asset_id"}

// findingCSV is a finding's CSV record, every cell neutralised against
// spreadsheet formulas.
func findingCSV(f *reconcile.StoredFinding) []string {
	rec := []string{f.ID, f.Kind, f.State, f.Severity, f.Title, f.Why, f.FirstSeen.Format(time.RFC3339), f.LastSeen.Format(time.RFC3339),
		strings.Join(f.SeenBy, " "), strings.Join(f.Methods, " "), strings.Join(f.Subnets, " "), strings.Join(f.SwitchPorts, " "),
		strings.Join(f.IPs, " "), strings.Join(f.MACs, " "), strings.Join(f.Hostnames, " "), f.Vendor, strings.Join(f.Kinds, " "), f.DeviceID, f.AssetID}
	for i := range rec {
		rec[i] = neutral(rec[i])
	}
	return rec
}

// raw sends a body of any content type and copies or decodes the answer:
// out is a *bytes.Buffer for the raw body, else JSON is decoded into it.
func (c *client) raw(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	p, query, _ := strings.Cut(path, "?")
	u := c.base.JoinPath(p)
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the collector at %s: %w", c.base.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("collector answered %s: %s", resp.Status, sanitize(truncate(strings.TrimSpace(string(data)), 2000)))
	}
	if b, ok := out.(*bytes.Buffer); ok {
		b.Write(data)
		return nil
	}
	return jsonUnmarshal(data, out)
}

func jsonUnmarshal(data []byte, out any) error { return json.Unmarshal(data, out) }
