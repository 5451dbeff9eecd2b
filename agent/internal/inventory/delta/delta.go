// Package delta remembers the software list an agent last sent and builds
// the change since then, so that between full inventories only what
// changed crosses the network; the collector rebuilds the full list.
package delta

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/umbrasec/umbra/shared/wire"
)

// Software returns the change from prev to cur: packages added, changed
// (same key, another version or detail) and removed. It is a pure function:
// applying the result to prev with Apply gives cur (up to order). Keys
// (wire.Package.Key) must be unique within each list.
func Software(prevReportID string, prev, cur []wire.Package) *wire.SoftwareDelta {
	d := &wire.SoftwareDelta{BaseReportID: prevReportID, BaseDigest: wire.SoftwareDigest(prev), Digest: wire.SoftwareDigest(cur)}
	old := make(map[wire.PackageKey]wire.Package, len(prev))
	for _, p := range prev {
		old[p.Key()] = p
	}
	seen := make(map[wire.PackageKey]bool, len(cur))
	for _, p := range cur {
		k := p.Key()
		if seen[k] {
			continue // a duplicate key: the first wins, as in Apply
		}
		seen[k] = true
		o, ok := old[k]
		switch {
		case !ok:
			d.Added = append(d.Added, p)
		case o != p:
			d.Changed = append(d.Changed, p)
		}
	}
	for _, p := range prev {
		if k := p.Key(); !seen[k] {
			seen[k] = true
			d.Removed = append(d.Removed, k)
		}
	}
	slices.SortFunc(d.Removed, func(a, b wire.PackageKey) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Scope, b.Scope))
	})
	return d
}

// Empty reports whether d changes nothing.
func Empty(d *wire.SoftwareDelta) bool {
	return len(d.Added)+len(d.Changed)+len(d.Removed) == 0
}

// ErrBaseMismatch is returned by Apply when base is not the list the delta
// was built from: the collector must ask for a full inventory.
var ErrBaseMismatch = errors.New("software delta does not apply to this base")

// Apply returns base changed by d, checking both digests. The collector
// uses it to rebuild the full list.
func Apply(base []wire.Package, d *wire.SoftwareDelta) ([]wire.Package, error) {
	if wire.SoftwareDigest(base) != d.BaseDigest {
		return nil, ErrBaseMismatch
	}
	removed := make(map[wire.PackageKey]bool, len(d.Removed))
	for _, k := range d.Removed {
		removed[k] = true
	}
	changed := make(map[wire.PackageKey]wire.Package, len(d.Changed))
	for _, p := range d.Changed {
		changed[p.Key()] = p
	}
	out := make([]wire.Package, 0, len(base)+len(d.Added))
	seen := map[wire.PackageKey]bool{}
	for _, p := range base {
		k := p.Key()
		if removed[k] || seen[k] {
			continue
		}
		seen[k] = true
		if c, ok := changed[k]; ok {
			p = c
		}
		out = append(out, p)
	}
	out = append(out, d.Added...)
	if wire.SoftwareDigest(out) != d.Digest {
		return nil, fmt.Errorf("%w: the result's digest differs", ErrBaseMismatch)
	}
	return out, nil
}

// Sent is what the agent remembers of the last inventory it delivered.
type Sent struct {
	ReportID string         `json:"report_id"`
	Software []wire.Package `json:"software"`
}

// fileName is the file in the agent's state directory.
const fileName = "software-sent.json"

// Load reads what was last sent from dir; a missing file is (nil, nil):
// the next inventory must be full.
func Load(dir string) (*Sent, error) {
	b, err := os.ReadFile(filepath.Join(dir, fileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the last sent software: %w", err)
	}
	var s Sent
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reading the last sent software: %w", err)
	}
	return &s, nil
}

// Save records s in dir once the collector has accepted the report: written
// to a temporary file, synced and renamed, so a crash leaves the old or the
// new file, never half of one.
func Save(dir string, s *Sent) (err error) {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, fileName+".*")
	if err != nil {
		return fmt.Errorf("saving the sent software: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("saving the sent software: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("saving the sent software: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("saving the sent software: %w", err)
	}
	if err = os.Rename(f.Name(), filepath.Join(dir, fileName)); err != nil {
		return fmt.Errorf("saving the sent software: %w", err)
	}
	return nil
}

// Prepare turns a full inventory into a delta against last when that is
// smaller, in place: Software is cleared, SoftwareDelta set and Full
// false. It returns whether it did.
func Prepare(inv *wire.Inventory, last *Sent) bool {
	if last == nil || last.ReportID == "" {
		return false
	}
	d := Software(last.ReportID, last.Software, inv.Software)
	if len(d.Added)+len(d.Changed)+len(d.Removed) >= len(inv.Software) {
		return false
	}
	inv.SoftwareDelta = d
	inv.Software = nil
	inv.Full = false
	return true
}
