// Package registry keeps the register of owned and controlled assets (ITIL
// IT asset management): assets with their category, identifiers, owner and
// lifecycle state, every change kept as a new version, retirement and
// disposal records, and CSV import and export (Umbra's own layout, a
// Snipe-IT asset export and a NetBox device export).
package registry

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/umbrasec/umbra/shared/ident"
)

// Category is an ITIL asset category.
type Category string

// The categories of the register.
const (
	EndUserDevice Category = "end-user-device"
	NetworkInfra  Category = "network-infrastructure"
	SoftwareCat   Category = "software"
	DataCat       Category = "data"
	Peripheral    Category = "peripheral"
	CloudCat      Category = "cloud"
	ClientCat     Category = "client"
	Facility      Category = "facility"
)

// Categories lists every category in display order.
var Categories = []Category{EndUserDevice, NetworkInfra, SoftwareCat, DataCat, Peripheral, CloudCat, ClientCat, Facility}

// Lifecycle is an asset's lifecycle state.
type Lifecycle string

// The lifecycle states, in the order an asset passes through them.
const (
	Planned     Lifecycle = "planned"
	Ordered     Lifecycle = "ordered"
	InStock     Lifecycle = "in-stock"
	Deployed    Lifecycle = "deployed"
	Maintenance Lifecycle = "maintenance"
	Retired     Lifecycle = "retired"
	Disposed    Lifecycle = "disposed"
)

// Lifecycles lists every state in order.
var Lifecycles = []Lifecycle{Planned, Ordered, InStock, Deployed, Maintenance, Retired, Disposed}

// Outcome says what happened to a retired or disposed asset.
type Outcome string

// The disposal outcomes.
const (
	Resold    Outcome = "resold"
	Recycled  Outcome = "recycled"
	Destroyed Outcome = "destroyed"
	Returned  Outcome = "returned"
)

// Outcomes lists every disposal outcome.
var Outcomes = []Outcome{Resold, Recycled, Destroyed, Returned}

// slug lower-cases s and turns spaces and underscores into hyphens, so
// "In stock", "in_stock" and "in-stock" are one value.
func slug(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '_' {
			return '-'
		}
		return r
	}, s)
}

// ParseCategory accepts a category in any spelling of its words.
func ParseCategory(s string) (Category, error) {
	v := slug(s)
	for _, c := range Categories {
		if string(c) == v {
			return c, nil
		}
	}
	return "", fmt.Errorf("category %q: want one of %s", s, joinAny(Categories))
}

// ParseLifecycle accepts a state in any spelling of its words.
func ParseLifecycle(s string) (Lifecycle, error) {
	v := slug(s)
	for _, l := range Lifecycles {
		if string(l) == v {
			return l, nil
		}
	}
	return "", fmt.Errorf("lifecycle state %q: want one of %s", s, joinAny(Lifecycles))
}

// ParseOutcome accepts a disposal outcome.
func ParseOutcome(s string) (Outcome, error) {
	v := slug(s)
	for _, o := range Outcomes {
		if string(o) == v {
			return o, nil
		}
	}
	return "", fmt.Errorf("outcome %q: want one of %s", s, joinAny(Outcomes))
}

func joinAny[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// Asset is one version of an asset of the register.
type Asset struct {
	ID       string   `json:"id"`
	Version  uint64   `json:"version"`
	Tag      string   `json:"tag"`
	Name     string   `json:"name"`
	Category Category `json:"category"`
	Serial   string   `json:"serial,omitempty"`
	MACs     []string `json:"macs,omitempty"`
	Hostname string   `json:"hostname,omitempty"`
	Owner    string   `json:"owner,omitempty"`
	Location string   `json:"location,omitempty"`
	// CostCents is the purchase cost in hundredths of Currency.
	CostCents    int64     `json:"cost_cents,omitempty"`
	Currency     string    `json:"currency,omitempty"`
	PurchaseDate time.Time `json:"purchase_date,omitzero"`
	WarrantyEnd  time.Time `json:"warranty_end,omitzero"`
	Lifecycle    Lifecycle `json:"lifecycle"`
	// ExpectAgent says an agent should report from this asset: without one
	// it is an unmanaged asset.
	ExpectAgent bool   `json:"expect_agent"`
	Notes       string `json:"notes,omitempty"`
	// Source says where the asset came from: api, cli, import:snipeit…
	Source string `json:"source,omitempty"`
	// Disposal is the retirement or disposal record.
	Disposal *Disposal `json:"disposal,omitempty"`

	// CreatedAt is when the asset entered the register.
	CreatedAt time.Time `json:"created_at"`
	// Action, Reason, ChangedBy and ChangedAt describe the change that
	// made this version: create, update, retire, dispose, import.
	Action    string    `json:"action"`
	Reason    string    `json:"reason,omitempty"`
	ChangedBy string    `json:"changed_by"`
	ChangedAt time.Time `json:"changed_at"`
}

// Disposal records what happened to a retired or disposed asset.
type Disposal struct {
	Outcome Outcome `json:"outcome"`
	// WipeMethod and WipeCertificate are the data-wipe evidence: how the
	// data was destroyed (e.g. "NIST 800-88 purge", "shredded") and the
	// certificate or reference that proves it.
	WipeMethod      string    `json:"wipe_method,omitempty"`
	WipeCertificate string    `json:"wipe_certificate,omitempty"`
	By              string    `json:"by"`
	At              time.Time `json:"at"`
}

// Limits of the fields.
const (
	maxField = 256
	maxNotes = 4096
	maxMACs  = 32
)

// ValidationError lists every problem with an asset.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string { return "invalid asset: " + strings.Join(e.Problems, "; ") }

func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' })
}

// Normalize cleans a's fields in place (trims, canonical MACs, upper-case
// serial kept as given) and reports every problem at once as a
// *ValidationError.
func (a *Asset) Normalize() error {
	var p []string
	trim := func(name string, s *string, limit int, required bool) {
		*s = strings.TrimSpace(*s)
		switch {
		case *s == "" && required:
			p = append(p, name+" is missing")
		case len(*s) > limit:
			p = append(p, fmt.Sprintf("%s is longer than %d bytes", name, limit))
		case !printable(*s):
			p = append(p, name+" holds control characters")
		}
	}
	trim("tag", &a.Tag, maxField, true)
	trim("name", &a.Name, maxField, false)
	trim("serial", &a.Serial, maxField, false)
	trim("hostname", &a.Hostname, maxField, false)
	trim("owner", &a.Owner, maxField, false)
	trim("location", &a.Location, maxField, false)
	trim("currency", &a.Currency, 8, false)
	trim("notes", &a.Notes, maxNotes, false)
	if a.Name == "" {
		a.Name = a.Tag
	}
	a.Hostname = strings.ToLower(a.Hostname)
	if a.Category == "" {
		p = append(p, "category is missing")
	} else if c, err := ParseCategory(string(a.Category)); err != nil {
		p = append(p, err.Error())
	} else {
		a.Category = c
	}
	if a.Lifecycle == "" {
		a.Lifecycle = Deployed
	}
	if l, err := ParseLifecycle(string(a.Lifecycle)); err != nil {
		p = append(p, err.Error())
	} else {
		a.Lifecycle = l
	}
	if a.Serial != "" && ident.IsPlaceholder(a.Serial) {
		p = append(p, fmt.Sprintf("serial %q is a placeholder that firmware ships, not a serial number", a.Serial))
	}
	if len(a.MACs) > maxMACs {
		p = append(p, fmt.Sprintf("%d MACs, the limit is %d", len(a.MACs), maxMACs))
	}
	seen := map[string]bool{}
	macs := a.MACs[:0:0]
	for _, m := range a.MACs {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		n, err := ident.NormalizeMAC(m)
		if err != nil {
			p = append(p, err.Error())
			continue
		}
		if !seen[n] {
			seen[n] = true
			macs = append(macs, n)
		}
	}
	a.MACs = macs
	if a.CostCents < 0 {
		p = append(p, "cost is negative")
	}
	if !a.PurchaseDate.IsZero() && !a.WarrantyEnd.IsZero() && a.WarrantyEnd.Before(a.PurchaseDate) {
		p = append(p, "warranty ends before the purchase date")
	}
	if d := a.Disposal; d != nil {
		if d.Outcome != "" {
			if o, err := ParseOutcome(string(d.Outcome)); err != nil {
				p = append(p, err.Error())
			} else {
				d.Outcome = o
			}
		}
		trim("wipe method", &d.WipeMethod, maxField, false)
		trim("wipe certificate", &d.WipeCertificate, maxField, false)
	}
	if a.Lifecycle == Disposed && (a.Disposal == nil || a.Disposal.Outcome == "") {
		p = append(p, "a disposed asset needs a disposal record (outcome)")
	}
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

// ErrNotFound is returned for an asset that does not exist.
var ErrNotFound = errors.New("no such asset")

// ErrConflict is returned when an asset tag or serial is already taken.
var ErrConflict = errors.New("conflict")
