package registry

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Format is a CSV layout the register imports.
type Format string

// The CSV layouts. See FormatDoc for their columns.
const (
	FormatAuto    Format = ""
	FormatUmbra   Format = "umbra"
	FormatSnipeIT Format = "snipeit"
	FormatNetBox  Format = "netbox"
)

// FormatDoc documents how each layout's columns map to the register.
const FormatDoc = `umbra    tag,name,category,serial,macs,hostname,owner,location,cost,currency,purchase_date,
         warranty_end,lifecycle,expect_agent,notes (what umbra asset export writes; macs
         separated by spaces or ";", dates YYYY-MM-DD, cost a decimal like 1299.00)
snipeit  a Snipe-IT asset export: Asset Tag→tag, Asset Name→name, Serial→serial,
         MAC Address→macs, Category→category (laptop/desktop/phone/tablet→end-user-device,
         switch/router/firewall/access point→network-infrastructure, printer/monitor/
         keyboard/mouse/dock→peripheral, else --default-category), Status→lifecycle
         (Ready to Deploy/Deployable→in-stock, Deployed→deployed, Pending→ordered,
         Out for Repair/Broken/Out for Diagnostics→maintenance, Archived/Lost/Stolen→retired),
         Location→location, Checked Out To/Assigned To→owner, Purchase Date/Purchased→
         purchase_date, Purchase Cost/Cost→cost, Warranty Expires→warranty_end,
         Manufacturer+Model→notes, Notes→notes
netbox   a NetBox device export (table export or bulk-import layout): Name/name→name and
         hostname, Asset tag/asset_tag→tag (else "netbox:"+name), Serial number/serial→serial,
         Status/status→lifecycle (active→deployed, planned→planned, staged/inventory→in-stock,
         failed/offline→maintenance, decommissioning→retired), Site/site+Location→location,
         Tenant/tenant→owner, Role/role/device_role→category (default network-infrastructure),
         Manufacturer+Type/device_type→notes`

// ImportError lists every bad row of an import, with its line number; an
// import with any bad row writes nothing.
type ImportError struct{ Problems []string }

func (e *ImportError) Error() string {
	return fmt.Sprintf("import refused, nothing imported: %s", strings.Join(e.Problems, "; "))
}

// header maps a normalised column name to its index.
type header map[string]int

func normHeader(s string) string {
	s = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(s, "\ufeff")))
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '_' || r == '.' || r == '-' }), " ")
}

func (h header) get(rec []string, names ...string) string {
	for _, n := range names {
		if i, ok := h[normHeader(n)]; ok && i < len(rec) {
			return unescapeCell(strings.TrimSpace(rec[i]))
		}
	}
	return ""
}

func (h header) has(names ...string) bool {
	for _, n := range names {
		if _, ok := h[normHeader(n)]; ok {
			return true
		}
	}
	return false
}

// detect guesses the layout from the header.
func detect(h header) Format {
	switch {
	case h.has("tag") && h.has("category"):
		return FormatUmbra
	case h.has("name") && h.has("site", "device type", "role", "device role", "rack", "tenant", "serial number"):
		return FormatNetBox
	case h.has("asset tag") && h.has("asset name", "serial", "model", "checked out to", "purchase cost"):
		return FormatSnipeIT
	}
	return FormatAuto
}

// ParseCSV reads a CSV export in layout f (FormatAuto: from the header)
// into assets, or returns an *ImportError naming every bad line.
// defaultCategory fills a category the layout cannot map.
func ParseCSV(rd io.Reader, f Format, defaultCategory Category) ([]Asset, Format, error) {
	cr := csv.NewReader(rd)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	head, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, f, &ImportError{Problems: []string{"line 1: the file is empty: want a header row"}}
		}
		return nil, f, &ImportError{Problems: []string{err.Error()}}
	}
	h := header{}
	for i, c := range head {
		h[normHeader(c)] = i
	}
	if f == FormatAuto {
		if f = detect(h); f == FormatAuto {
			return nil, f, &ImportError{Problems: []string{"line 1: unknown header: want Umbra's (tag, category, …), a Snipe-IT asset export or a NetBox device export, or name the format"}}
		}
	}
	var out []Asset
	var problems []string
	tags := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			problems = append(problems, err.Error())
			var pe *csv.ParseError
			if !errors.As(err, &pe) || len(problems) > 100 {
				break
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(strings.Join(rec, "")) == 0 {
			continue
		}
		a, p := parseRow(f, h, rec, defaultCategory)
		if len(p) == 0 {
			p = validationProblems(a.Normalize())
		}
		if prev, dup := tags[strings.ToLower(a.Tag)]; dup && a.Tag != "" {
			p = append(p, fmt.Sprintf("tag %q is also on line %d", a.Tag, prev))
		}
		tags[strings.ToLower(a.Tag)] = line
		for _, s := range p {
			problems = append(problems, fmt.Sprintf("line %d: %s", line, s))
		}
		out = append(out, a)
	}
	if len(problems) > 0 {
		return nil, f, &ImportError{Problems: problems}
	}
	return out, f, nil
}

func validationProblems(err error) []string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Problems
	}
	if err != nil {
		return []string{err.Error()}
	}
	return nil
}

func parseRow(f Format, h header, rec []string, defCat Category) (Asset, []string) {
	var a Asset
	var p []string
	date := func(name, v string) time.Time {
		t, err := parseDate(v)
		if err != nil {
			p = append(p, fmt.Sprintf("%s %q: %v", name, v, err))
		}
		return t
	}
	cost := func(v string) int64 {
		c, err := parseCost(v)
		if err != nil {
			p = append(p, fmt.Sprintf("cost %q: %v", v, err))
		}
		return c
	}
	switch f {
	case FormatUmbra:
		a.Tag, a.Name = h.get(rec, "tag"), h.get(rec, "name")
		a.Category = Category(h.get(rec, "category"))
		a.Serial, a.Hostname = h.get(rec, "serial"), h.get(rec, "hostname")
		a.MACs = splitMACs(h.get(rec, "macs"))
		a.Owner, a.Location = h.get(rec, "owner"), h.get(rec, "location")
		a.CostCents, a.Currency = cost(h.get(rec, "cost")), h.get(rec, "currency")
		a.PurchaseDate = date("purchase_date", h.get(rec, "purchase_date"))
		a.WarrantyEnd = date("warranty_end", h.get(rec, "warranty_end"))
		a.Lifecycle = Lifecycle(h.get(rec, "lifecycle"))
		if v := h.get(rec, "expect_agent"); v != "" {
			b, err := strconv.ParseBool(strings.ToLower(v))
			if err != nil {
				p = append(p, fmt.Sprintf("expect_agent %q: want true or false", v))
			}
			a.ExpectAgent = b
		}
		a.Notes = h.get(rec, "notes")
		a.Source = "import:umbra"
	case FormatSnipeIT:
		a.Tag, a.Name = h.get(rec, "asset tag"), h.get(rec, "asset name", "name", "item name")
		a.Serial = h.get(rec, "serial", "serial number")
		a.MACs = splitMACs(h.get(rec, "mac address", "mac"))
		a.Category = mapCategory(h.get(rec, "category"), defCat)
		status := h.get(rec, "status", "status label")
		l, ok := snipeStatus(status)
		if !ok {
			p = append(p, fmt.Sprintf("status %q has no lifecycle mapping", status))
		}
		a.Lifecycle = l
		a.Location = h.get(rec, "location", "default location")
		a.Owner = h.get(rec, "checked out to", "assigned to", "checkedout to")
		a.PurchaseDate = date("Purchase Date", h.get(rec, "purchase date", "purchased"))
		a.CostCents = cost(h.get(rec, "purchase cost", "cost"))
		a.WarrantyEnd = date("Warranty Expires", h.get(rec, "warranty expires"))
		a.Notes = join(" ", h.get(rec, "manufacturer"), h.get(rec, "model"), h.get(rec, "notes"))
		a.ExpectAgent = a.Category == EndUserDevice && (a.Lifecycle == Deployed)
		a.Source = "import:snipeit"
	case FormatNetBox:
		name := h.get(rec, "name")
		a.Name, a.Hostname = name, name
		a.Tag = h.get(rec, "asset tag", "asset_tag")
		if a.Tag == "" && name != "" {
			a.Tag = "netbox:" + name
		}
		a.Serial = h.get(rec, "serial number", "serial")
		status := h.get(rec, "status")
		l, ok := netboxStatus(status)
		if !ok {
			p = append(p, fmt.Sprintf("status %q has no lifecycle mapping", status))
		}
		a.Lifecycle = l
		a.Location = join(" / ", h.get(rec, "site"), h.get(rec, "location"))
		a.Owner = h.get(rec, "tenant")
		if defCat == "" {
			defCat = NetworkInfra
		}
		a.Category = mapCategory(h.get(rec, "role", "device role", "device_role"), defCat)
		a.Notes = join(" ", h.get(rec, "manufacturer"), h.get(rec, "type", "device type", "device_type"), h.get(rec, "comments", "description"))
		a.Source = "import:netbox"
	}
	return a, p
}

func join(sep string, parts ...string) string {
	var keep []string
	for _, s := range parts {
		if s != "" {
			keep = append(keep, s)
		}
	}
	return strings.Join(keep, sep)
}

func splitMACs(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ';' || r == ',' || r == '|' })
}

func mapCategory(s string, def Category) Category {
	if c, err := ParseCategory(s); err == nil {
		return c
	}
	v := strings.ToLower(s)
	for _, m := range []struct {
		words []string
		cat   Category
	}{
		{[]string{"laptop", "notebook", "desktop", "workstation", "phone", "mobile", "tablet", "computer"}, EndUserDevice},
		{[]string{"switch", "router", "firewall", "access point", "access-point", "wireless", "gateway", "load balancer", "network"}, NetworkInfra},
		{[]string{"printer", "monitor", "display", "keyboard", "mouse", "dock", "headset", "scanner", "webcam", "peripheral"}, Peripheral},
		{[]string{"cloud"}, CloudCat},
		{[]string{"software", "licen"}, SoftwareCat},
		{[]string{"ups", "pdu", "rack", "hvac", "badge", "camera", "facility"}, Facility},
	} {
		for _, w := range m.words {
			if strings.Contains(v, w) {
				return m.cat
			}
		}
	}
	if def == "" {
		def = EndUserDevice
	}
	return def
}

func snipeStatus(s string) (Lifecycle, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "deployed":
		return Deployed, true
	case "ready to deploy", "deployable", "in stock":
		return InStock, true
	case "pending", "ordered":
		return Ordered, true
	case "out for repair", "out for diagnostics", "broken", "broken - not fixable", "maintenance":
		return Maintenance, true
	case "archived", "lost/stolen", "lost", "stolen", "retired":
		return Retired, true
	case "disposed":
		return Disposed, true
	}
	return "", false
}

func netboxStatus(s string) (Lifecycle, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "active":
		return Deployed, true
	case "planned":
		return Planned, true
	case "staged", "inventory":
		return InStock, true
	case "failed", "offline":
		return Maintenance, true
	case "decommissioning":
		return Retired, true
	}
	return "", false
}

func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04:05", time.RFC3339, "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("want YYYY-MM-DD")
}

// parseCost reads "1299", "1,299.50", "$1299.5" into cents.
func parseCost(s string) (int64, error) {
	s = strings.TrimSpace(strings.TrimLeft(s, "$€£¥ "))
	s = strings.ReplaceAll(s, ",", "")
	if s == "" {
		return 0, nil
	}
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 2 {
		return 0, errors.New("more than two decimals")
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n < 0 || n > 1<<53 {
		return 0, errors.New("want a non-negative amount like 1299.00")
	}
	return n, nil
}

func formatCost(c int64) string {
	if c == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

// neutralize keeps a spreadsheet from running a cell as a formula.
func neutralize(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// unescapeCell undoes neutralize, so an export imports back unchanged.
func unescapeCell(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
		return s[1:]
	}
	return s
}

var umbraHeader = []string{"tag", "name", "category", "serial", "macs", "hostname", "owner", "location", "cost", "currency",
	"purchase_date", "warranty_end", "lifecycle", "expect_agent", "notes", "id", "disposal_outcome", "wipe_method", "wipe_certificate", "disposal_at"}

// WriteCSV writes assets in Umbra's layout, cells that a spreadsheet would
// run as formulas neutralised.
func WriteCSV(w io.Writer, as []Asset) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(umbraHeader); err != nil {
		return err
	}
	day := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02")
	}
	for _, a := range as {
		d := a.Disposal
		if d == nil {
			d = &Disposal{}
		}
		rec := []string{a.Tag, a.Name, string(a.Category), a.Serial, strings.Join(a.MACs, " "), a.Hostname, a.Owner, a.Location,
			formatCost(a.CostCents), a.Currency, day(a.PurchaseDate), day(a.WarrantyEnd), string(a.Lifecycle),
			strconv.FormatBool(a.ExpectAgent), a.Notes, a.ID, string(d.Outcome), d.WipeMethod, d.WipeCertificate, day(d.At)}
		for i := range rec {
			rec[i] = neutralize(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ImportResult says what an import did.
type ImportResult struct {
	Format  Format `json:"format"`
	Created int    `json:"created"`
	Updated int    `json:"updated"`
}

// Import parses a CSV export and writes every row in one batch: an asset
// whose tag exists is updated (a new version), others are created. Any bad
// row refuses the whole file with an *ImportError.
func (r *Register) Import(ctx context.Context, actor Actor, rd io.Reader, f Format, defaultCategory Category) (ImportResult, error) {
	as, f, err := ParseCSV(rd, f, defaultCategory)
	res := ImportResult{Format: f}
	if err != nil {
		return res, err
	}
	all, err := r.List(ctx)
	if err != nil {
		return res, err
	}
	var problems []string
	byTag := map[string]Asset{}
	for _, a := range all {
		byTag[strings.ToLower(a.Tag)] = a
	}
	for i := range as {
		a := &as[i]
		if cur, ok := byTag[strings.ToLower(a.Tag)]; ok {
			a.ID, a.CreatedAt = cur.ID, cur.CreatedAt
			if a.Disposal == nil {
				a.Disposal = cur.Disposal
			}
			res.Updated++
		} else {
			a.ID = newID()
			res.Created++
		}
		for _, p := range conflicts(*a, all) {
			if !strings.HasPrefix(p, "tag") {
				problems = append(problems, fmt.Sprintf("row %d (tag %s): %s", i+1, a.Tag, p))
			}
		}
		r.stamp(a, actor, "import")
	}
	if len(problems) > 0 {
		return ImportResult{Format: f}, &ImportError{Problems: problems}
	}
	if err := r.write(ctx, as); err != nil {
		return ImportResult{Format: f}, err
	}
	return res, r.audit(ctx, actor, "asset.import", string(f), fmt.Sprintf("created=%d updated=%d", res.Created, res.Updated))
}
