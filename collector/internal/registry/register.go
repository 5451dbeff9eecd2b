package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/collector/internal/store"
)

// Actor is who changes the register, for the history and the audit log.
type Actor struct {
	ID     string // e.g. admin-token:abcd, local
	Kind   string // the credential kind
	Remote string // the client address, when known
}

// Register reads and writes the register in ClickHouse.
type Register struct {
	db  *store.DB
	now func() time.Time

	mu      sync.Mutex
	lastVer uint64
}

// New returns a register on db; now nil means time.Now.
func New(db *store.DB, now func() time.Time) *Register {
	if now == nil {
		now = time.Now
	}
	return &Register{db: db, now: now}
}

// version returns a row version greater than every one this register made.
func (r *Register) version() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := max(uint64(r.now().UnixNano()), r.lastVer+1)
	r.lastVer = v
	return v
}

const assetColumns = `asset_id, version, tag, name, category, serial, macs, hostname, owner, location,
cost_cents, currency, purchase_date, warranty_end, lifecycle, expect_agent, notes, source,
disposal_outcome, wipe_method, wipe_certificate, disposal_by, disposal_at, action, reason, changed_by, changed_at, created_at`

var epoch = time.Unix(0, 0).UTC()

func dbTime(t time.Time) time.Time {
	if t.IsZero() || t.Before(epoch) {
		return epoch
	}
	return t.UTC().Truncate(time.Second)
}

func fromDB(t time.Time) time.Time {
	if !t.After(epoch) {
		return time.Time{}
	}
	return t.UTC()
}

func assetRow(a Asset) []any {
	d := a.Disposal
	if d == nil {
		d = &Disposal{}
	}
	macs := a.MACs
	if macs == nil {
		macs = []string{}
	}
	expect := uint8(0)
	if a.ExpectAgent {
		expect = 1
	}
	return []any{a.ID, a.Version, a.Tag, a.Name, string(a.Category), a.Serial, macs, a.Hostname, a.Owner, a.Location,
		a.CostCents, a.Currency, dbTime(a.PurchaseDate), dbTime(a.WarrantyEnd), string(a.Lifecycle), expect, a.Notes, a.Source,
		string(d.Outcome), d.WipeMethod, d.WipeCertificate, d.By, dbTime(d.At), a.Action, a.Reason, a.ChangedBy, dbTime(a.ChangedAt), dbTime(a.CreatedAt)}
}

func scanAsset(rows driver.Rows) (Asset, error) {
	var a Asset
	var cat, life, outcome string
	var expect uint8
	var d Disposal
	err := rows.Scan(&a.ID, &a.Version, &a.Tag, &a.Name, &cat, &a.Serial, &a.MACs, &a.Hostname, &a.Owner, &a.Location,
		&a.CostCents, &a.Currency, &a.PurchaseDate, &a.WarrantyEnd, &life, &expect, &a.Notes, &a.Source,
		&outcome, &d.WipeMethod, &d.WipeCertificate, &d.By, &d.At, &a.Action, &a.Reason, &a.ChangedBy, &a.ChangedAt, &a.CreatedAt)
	if err != nil {
		return a, err
	}
	a.Category, a.Lifecycle, a.ExpectAgent = Category(cat), Lifecycle(life), expect == 1
	a.PurchaseDate, a.WarrantyEnd, a.ChangedAt, a.CreatedAt = fromDB(a.PurchaseDate), fromDB(a.WarrantyEnd), fromDB(a.ChangedAt), fromDB(a.CreatedAt)
	if outcome != "" || d.WipeMethod != "" || d.WipeCertificate != "" || fromDB(d.At) != (time.Time{}) {
		d.Outcome, d.At = Outcome(outcome), fromDB(d.At)
		a.Disposal = &d
	}
	if len(a.MACs) == 0 {
		a.MACs = nil
	}
	return a, nil
}

// List returns the current version of every asset, by tag.
func (r *Register) List(ctx context.Context) ([]Asset, error) {
	var out []Asset
	err := r.db.QueryEach(ctx, "assets", "SELECT "+assetColumns+` FROM assets FINAL
ORDER BY asset_id, version DESC LIMIT 1 BY asset_id`, func(rows driver.Rows) error {
		a, err := scanAsset(rows)
		out = append(out, a)
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out, nil
}

// History returns every version of an asset, oldest first.
func (r *Register) History(ctx context.Context, id string) ([]Asset, error) {
	var out []Asset
	err := r.db.QueryEach(ctx, "asset history", "SELECT "+assetColumns+` FROM assets FINAL
WHERE asset_id = ? ORDER BY version`, func(rows driver.Rows) error {
		a, err := scanAsset(rows)
		out = append(out, a)
		return err
	}, id)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("asset %s: %w", id, ErrNotFound)
	}
	return out, nil
}

// Get returns the current version of the asset with this id or tag.
func (r *Register) Get(ctx context.Context, idOrTag string) (Asset, error) {
	all, err := r.List(ctx)
	if err != nil {
		return Asset{}, err
	}
	for _, a := range all {
		if a.ID == idOrTag {
			return a, nil
		}
	}
	for _, a := range all {
		if strings.EqualFold(a.Tag, idOrTag) {
			return a, nil
		}
	}
	return Asset{}, fmt.Errorf("asset %s: %w", idOrTag, ErrNotFound)
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "a-" + hex.EncodeToString(b[:])
}

func (r *Register) audit(ctx context.Context, actor Actor, action, target, detail string) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return r.db.Audit(ctx, store.AuditEvent{At: r.now(), EventID: hex.EncodeToString(b[:]), Actor: actor.ID, ActorKind: actor.Kind,
		Action: action, Target: target, Outcome: "ok", RemoteAddr: actor.Remote, Detail: detail})
}

// conflicts reports a tag or serial of a that another current asset holds.
func conflicts(a Asset, all []Asset) []string {
	var p []string
	for _, o := range all {
		if o.ID == a.ID {
			continue
		}
		if strings.EqualFold(o.Tag, a.Tag) {
			p = append(p, fmt.Sprintf("tag %q is already asset %s", a.Tag, o.ID))
		}
		if a.Serial != "" && strings.EqualFold(o.Serial, a.Serial) && o.Lifecycle != Disposed {
			p = append(p, fmt.Sprintf("serial %q is already asset %s (%s)", a.Serial, o.ID, o.Tag))
		}
	}
	return p
}

func (r *Register) write(ctx context.Context, as []Asset) error {
	rows := make([][]any, len(as))
	for i, a := range as {
		rows[i] = assetRow(a)
	}
	if err := r.db.InsertRows(ctx, "INSERT INTO assets ("+assetColumns+")", rows); err != nil {
		return fmt.Errorf("writing the register: %w", err)
	}
	return nil
}

func (r *Register) stamp(a *Asset, actor Actor, action string) {
	a.Version = r.version()
	a.Action = action
	a.ChangedBy = actor.ID
	a.ChangedAt = r.now().UTC()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = a.ChangedAt
	}
}

// Create adds an asset. Its tag and serial must be unused.
func (r *Register) Create(ctx context.Context, actor Actor, a Asset) (Asset, error) {
	a.ID = newID()
	if err := a.Normalize(); err != nil {
		return Asset{}, err
	}
	all, err := r.List(ctx)
	if err != nil {
		return Asset{}, err
	}
	if p := conflicts(a, all); len(p) > 0 {
		return Asset{}, fmt.Errorf("%w: %s", ErrConflict, strings.Join(p, "; "))
	}
	if a.Source == "" {
		a.Source = "api"
	}
	r.stamp(&a, actor, "create")
	if err := r.write(ctx, []Asset{a}); err != nil {
		return Asset{}, err
	}
	return a, r.audit(ctx, actor, "asset.create", a.ID, "tag="+a.Tag)
}

// Patch is a partial update: nil fields stay as they are.
type Patch struct {
	Tag          *string    `json:"tag,omitempty"`
	Name         *string    `json:"name,omitempty"`
	Category     *string    `json:"category,omitempty"`
	Serial       *string    `json:"serial,omitempty"`
	MACs         *[]string  `json:"macs,omitempty"`
	Hostname     *string    `json:"hostname,omitempty"`
	Owner        *string    `json:"owner,omitempty"`
	Location     *string    `json:"location,omitempty"`
	CostCents    *int64     `json:"cost_cents,omitempty"`
	Currency     *string    `json:"currency,omitempty"`
	PurchaseDate *time.Time `json:"purchase_date,omitempty"`
	WarrantyEnd  *time.Time `json:"warranty_end,omitempty"`
	Lifecycle    *string    `json:"lifecycle,omitempty"`
	ExpectAgent  *bool      `json:"expect_agent,omitempty"`
	Notes        *string    `json:"notes,omitempty"`
	Reason       string     `json:"reason,omitempty"`
}

// Apply changes a copy of a.
func (p Patch) Apply(a Asset) Asset {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&a.Tag, p.Tag)
	set(&a.Name, p.Name)
	if p.Category != nil {
		a.Category = Category(*p.Category)
	}
	set(&a.Serial, p.Serial)
	if p.MACs != nil {
		a.MACs = append([]string(nil), (*p.MACs)...)
	}
	set(&a.Hostname, p.Hostname)
	set(&a.Owner, p.Owner)
	set(&a.Location, p.Location)
	if p.CostCents != nil {
		a.CostCents = *p.CostCents
	}
	set(&a.Currency, p.Currency)
	if p.PurchaseDate != nil {
		a.PurchaseDate = *p.PurchaseDate
	}
	if p.WarrantyEnd != nil {
		a.WarrantyEnd = *p.WarrantyEnd
	}
	if p.Lifecycle != nil {
		a.Lifecycle = Lifecycle(*p.Lifecycle)
	}
	if p.ExpectAgent != nil {
		a.ExpectAgent = *p.ExpectAgent
	}
	set(&a.Notes, p.Notes)
	return a
}

// Update changes an asset and records the change as a new version.
func (r *Register) Update(ctx context.Context, actor Actor, idOrTag string, p Patch) (Asset, error) {
	all, err := r.List(ctx)
	if err != nil {
		return Asset{}, err
	}
	cur, ok := find(all, idOrTag)
	if !ok {
		return Asset{}, fmt.Errorf("asset %s: %w", idOrTag, ErrNotFound)
	}
	a := p.Apply(cur)
	if err := a.Normalize(); err != nil {
		return Asset{}, err
	}
	if c := conflicts(a, all); len(c) > 0 {
		return Asset{}, fmt.Errorf("%w: %s", ErrConflict, strings.Join(c, "; "))
	}
	action := "update"
	if a.Lifecycle != cur.Lifecycle {
		action = "lifecycle:" + string(a.Lifecycle)
	}
	a.Reason = p.Reason
	r.stamp(&a, actor, action)
	if err := r.write(ctx, []Asset{a}); err != nil {
		return Asset{}, err
	}
	return a, r.audit(ctx, actor, "asset.update", a.ID, action)
}

func find(all []Asset, idOrTag string) (Asset, bool) {
	for _, a := range all {
		if a.ID == idOrTag {
			return a, true
		}
	}
	for _, a := range all {
		if strings.EqualFold(a.Tag, idOrTag) {
			return a, true
		}
	}
	return Asset{}, false
}

// Retirement is the body of a retirement or disposal.
type Retirement struct {
	// Dispose makes the state disposed rather than retired.
	Dispose         bool      `json:"dispose,omitempty"`
	Outcome         string    `json:"outcome,omitempty"`
	WipeMethod      string    `json:"wipe_method,omitempty"`
	WipeCertificate string    `json:"wipe_certificate,omitempty"`
	At              time.Time `json:"at,omitzero"`
	Reason          string    `json:"reason,omitempty"`
}

// Retire retires or disposes of an asset with its record.
func (r *Register) Retire(ctx context.Context, actor Actor, idOrTag string, rt Retirement) (Asset, error) {
	all, err := r.List(ctx)
	if err != nil {
		return Asset{}, err
	}
	a, ok := find(all, idOrTag)
	if !ok {
		return Asset{}, fmt.Errorf("asset %s: %w", idOrTag, ErrNotFound)
	}
	if a.Lifecycle == Disposed {
		return Asset{}, fmt.Errorf("%w: asset %s is already disposed of", ErrConflict, a.Tag)
	}
	a.Lifecycle = Retired
	action := "retire"
	if rt.Dispose {
		a.Lifecycle, action = Disposed, "dispose"
	}
	at := rt.At
	if at.IsZero() {
		at = r.now()
	}
	a.Disposal = &Disposal{Outcome: Outcome(slug(rt.Outcome)), WipeMethod: rt.WipeMethod, WipeCertificate: rt.WipeCertificate, By: actor.ID, At: at.UTC()}
	if err := a.Normalize(); err != nil {
		return Asset{}, err
	}
	a.Reason = rt.Reason
	r.stamp(&a, actor, action)
	if err := r.write(ctx, []Asset{a}); err != nil {
		return Asset{}, err
	}
	return a, r.audit(ctx, actor, "asset."+action, a.ID, "outcome="+rt.Outcome)
}
