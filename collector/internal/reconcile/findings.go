package reconcile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/collector/internal/registry"
)

// Finding kinds.
const (
	KindUnregisteredDevice = "unregistered-device"
	KindUnmanagedAsset     = "unmanaged-asset"
	KindUnregisteredAgent  = "unregistered-agent"
	KindMissingAsset       = "missing-asset"
	KindRetiredAssetSeen   = "retired-asset-seen"
	KindUnapprovedSoftware = "unapproved-software"
	// KindLicenceShortfall: an approval rule's software is installed on
	// more hosts than it has licences.
	KindLicenceShortfall = "licence-shortfall"
)

// Finding is what reconciliation concludes about one subject.
type Finding struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	Subject     string    `json:"subject"`
	Severity    string    `json:"severity"`
	Title       string    `json:"title"`
	Why         string    `json:"why"`
	FirstSeen   time.Time `json:"first_seen,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	DeviceID    string    `json:"device_id,omitempty"`
	AssetID     string    `json:"asset_id,omitempty"`
	SeenBy      []string  `json:"seen_by,omitempty"`
	Methods     []string  `json:"methods,omitempty"`
	Subnets     []string  `json:"subnets,omitempty"`
	SwitchPorts []string  `json:"switch_ports,omitempty"`
	IPs         []string  `json:"ips,omitempty"`
	MACs        []string  `json:"macs,omitempty"`
	Hostnames   []string  `json:"hostnames,omitempty"`
	Vendor      string    `json:"vendor,omitempty"`
	Kinds       []string  `json:"kinds,omitempty"`
	Count       int       `json:"count,omitempty"`
}

// FindingID is stable for a kind and subject, so a finding keeps its id
// from run to run.
func FindingID(kind, subject string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + subject))
	return "f-" + hex.EncodeToString(sum[:8])
}

// Digest summarises what a finding says, to write it only when it changes.
func (f Finding) Digest() string {
	var buf [512]byte
	sum := sha256.Sum256(f.digestText(buf[:0]))
	return hex.EncodeToString(sum[:12])
}

// digestText appends what the digest hashes: fmt.Sprint of the fields (Kind,
// Subject, Severity, Title, Why, FirstSeen.Unix(), LastSeen.Unix(), DeviceID,
// AssetID, SeenBy, Methods, Subnets, SwitchPorts, IPs, MACs, Hostnames,
// Vendor, Kinds, Count), written out: Sprint puts a space between two
// operands only when neither is a string, and prints a list as [a b].
func (f *Finding) digestText(b []byte) []byte {
	list := func(b []byte, xs []string) []byte {
		b = append(b, '[')
		for i, x := range xs {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, x...)
		}
		return append(b, ']')
	}
	for _, s := range [...]string{f.Kind, f.Subject, f.Severity, f.Title, f.Why} {
		b = append(b, s...)
	}
	b = strconv.AppendInt(b, f.FirstSeen.Unix(), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, f.LastSeen.Unix(), 10)
	b = append(append(b, f.DeviceID...), f.AssetID...)
	for i, xs := range [...][]string{f.SeenBy, f.Methods, f.Subnets, f.SwitchPorts, f.IPs, f.MACs, f.Hostnames} {
		if i > 0 {
			b = append(b, ' ')
		}
		b = list(b, xs)
	}
	b = list(append(b, f.Vendor...), f.Kinds)
	b = append(b, ' ')
	return strconv.AppendInt(b, int64(f.Count), 10)
}

// Rule approves or denies software by name, publisher and source glob
// patterns (path.Match syntax, case-insensitive; an empty pattern matches
// all). A deny rule wins over an approve rule.
type Rule struct {
	ID               string `json:"id"`
	Decision         string `json:"decision"` // approve or deny
	NamePattern      string `json:"name_pattern,omitempty"`
	PublisherPattern string `json:"publisher_pattern,omitempty"`
	SourcePattern    string `json:"source_pattern,omitempty"`
	// Entitlements is the number of licences an approval covers; zero
	// means unlimited.
	Entitlements int    `json:"entitlements,omitempty"`
	Note         string `json:"note,omitempty"`
}

func globMatch(pat, s string) bool {
	if pat == "" {
		return true
	}
	ok, err := path.Match(strings.ToLower(pat), strings.ToLower(s))
	return err == nil && ok
}

// Matches reports whether the rule covers a package: its name and source
// match, and so does one of its publishers.
func (r Rule) Matches(s Software) bool {
	if !globMatch(r.NamePattern, s.Name) || !globMatch(r.SourcePattern, s.Source) {
		return false
	}
	if r.PublisherPattern == "" {
		return true
	}
	for _, p := range s.Publishers {
		if globMatch(r.PublisherPattern, p) {
			return true
		}
	}
	return false
}

// Software is one package across the fleet.
type Software struct {
	Name       string   `json:"name"`
	Source     string   `json:"source,omitempty"`
	Publishers []string `json:"publishers,omitempty"`
	Versions   []string `json:"versions,omitempty"`
	Agents     []string `json:"agents,omitempty"` // the agents that have it (possibly a sample)
	Installs   int      `json:"installs"`
}

// Policy tunes the findings.
type Policy struct {
	Now time.Time
	// MissingAfter: a deployed asset not seen for this long is missing.
	MissingAfter time.Duration
	// AgentSilentAfter: an agent silent this long no longer manages its host.
	AgentSilentAfter time.Duration
	// AgentContact is each agent's last heartbeat, by agent id: an agent
	// that keeps beating between inventories is not silent.
	AgentContact map[string]time.Time
}

func sev(kind string, d *Device) string {
	switch kind {
	case KindRetiredAssetSeen:
		return "high"
	case KindUnregisteredAgent:
		return "low"
	case KindUnregisteredDevice:
		if d != nil && d.Anonymous {
			return "low"
		}
	}
	return "medium"
}

func fromDevice(kind, subject string, d *Device) Finding {
	return Finding{ID: FindingID(kind, subject), Kind: kind, Subject: subject, Severity: sev(kind, d), DeviceID: d.ID,
		FirstSeen: d.FirstSeen, LastSeen: d.LastSeen, SeenBy: d.Observers, Methods: d.Methods, Subnets: d.Subnets,
		SwitchPorts: d.SwitchPorts, IPs: d.IPs, MACs: d.MACs, Hostnames: d.Hostnames, Vendor: d.Vendor, Kinds: d.Kinds, Count: d.Observations}
}

func describeDevice(d *Device) string {
	var parts []string
	if len(d.Hostnames) > 0 {
		parts = append(parts, d.Hostnames[0])
	}
	if d.Vendor != "" {
		parts = append(parts, d.Vendor)
	}
	if len(d.Kinds) > 0 {
		parts = append(parts, d.Kinds[0])
	}
	if len(d.MACs) > 0 {
		parts = append(parts, d.MACs[0])
	} else if len(d.IPs) > 0 {
		parts = append(parts, d.IPs[0])
	}
	if len(parts) == 0 {
		return d.ID
	}
	return strings.Join(parts, " ")
}

func seenText(d *Device) string {
	s := fmt.Sprintf("seen %s by %s via %s between %s and %s", times(d.Observations), strings.Join(d.Observers, ", "),
		strings.Join(d.Methods, ", "), d.FirstSeen.UTC().Format(time.RFC3339), d.LastSeen.UTC().Format(time.RFC3339))
	if len(d.Subnets) > 0 {
		s += " in " + strings.Join(d.Subnets, ", ")
	}
	if len(d.SwitchPorts) > 0 {
		s += " on " + strings.Join(d.SwitchPorts, ", ")
	}
	return s
}

// Match finds the device an asset is: by serial, else by MAC, else by a
// hostname that exactly one device has. It returns nil for none.
func Match(a registry.Asset, bySerial, byMAC, byHost map[string][]*Device) (*Device, string) {
	if a.Serial != "" {
		if ds := bySerial[strings.ToLower(a.Serial)]; len(ds) > 0 {
			return ds[0], "serial " + a.Serial
		}
	}
	for _, m := range a.MACs {
		if ds := byMAC[m]; len(ds) > 0 {
			return ds[0], "MAC " + m
		}
	}
	if h := strings.ToLower(a.Hostname); h != "" {
		if ds := byHost[h]; len(ds) == 1 {
			return ds[0], "hostname " + h
		}
	}
	return nil, ""
}

// matchIndex indexes devices by what Match looks them up by, in their
// order: only by the serials, MACs and hostnames some asset has (a lookup
// for an asset finds the same devices as in a full index, and a run's
// thousands of devices that match nothing cost no list each).
type matchIndex struct{ bySerial, byMAC, byHost map[string][]*Device }

func indexFor(devs []Device, assets []registry.Asset) matchIndex {
	serials, macs, hosts := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i := range assets {
		a := &assets[i]
		if a.Serial != "" {
			serials[strings.ToLower(a.Serial)] = true
		}
		for _, m := range a.MACs {
			macs[m] = true
		}
		if a.Hostname != "" {
			hosts[strings.ToLower(a.Hostname)] = true
		}
	}
	x := matchIndex{map[string][]*Device{}, map[string][]*Device{}, map[string][]*Device{}}
	add := func(idx map[string][]*Device, want map[string]bool, ks []string, d *Device) {
		for _, k := range ks {
			if want[k] {
				idx[k] = append(idx[k], d)
			}
		}
	}
	for i := range devs {
		d := &devs[i]
		add(x.bySerial, serials, d.Serials, d)
		add(x.byMAC, macs, d.MACs, d)
		add(x.byHost, hosts, d.Hostnames, d)
	}
	return x
}

func (x matchIndex) match(a registry.Asset) (*Device, string) {
	return Match(a, x.bySerial, x.byMAC, x.byHost)
}

// Findings compares devices with the register, the agents and the software
// catalogue. It is deterministic: the same input gives the same findings.
func Findings(devs []Device, assets []registry.Asset, software []Software, rules []Rule, p Policy) []Finding {
	return findings(devs, indexFor(devs, assets), assets, software, rules, p)
}

// findings is Findings with the devices indexed for the assets.
func findings(devs []Device, idx matchIndex, assets []registry.Asset, software []Software, rules []Rule, p Policy) []Finding {
	out := make([]Finding, 0, len(devs)+len(assets)) // about one each: no growing of a slice of large values
	claimed := map[string]bool{}
	for _, a := range assets {
		if a.Lifecycle == registry.Planned || a.Lifecycle == registry.Ordered {
			continue
		}
		d, how := idx.match(a)
		if d != nil {
			claimed[d.ID] = true
		}
		subject := "asset:" + a.ID
		switch a.Lifecycle {
		case registry.Retired, registry.Disposed:
			since := a.ChangedAt
			if a.Disposal != nil && !a.Disposal.At.IsZero() {
				since = a.Disposal.At
			}
			if d != nil && d.LastSeen.After(since) {
				f := fromDevice(KindRetiredAssetSeen, subject, d)
				f.AssetID = a.ID
				f.Title = fmt.Sprintf("%s asset %s (%s) is back on the network", a.Lifecycle, a.Tag, a.Name)
				f.Why = fmt.Sprintf("asset %s has been %s since %s, but device %s matching it by %s was %s", a.Tag, a.Lifecycle,
					since.UTC().Format("2006-01-02"), d.ID, how, seenText(d))
				out = append(out, f)
			}
		case registry.Deployed, registry.Maintenance:
			if a.Lifecycle == registry.Deployed && (d == nil && p.Now.Sub(a.CreatedAt) > p.MissingAfter || d != nil && p.Now.Sub(d.LastSeen) > p.MissingAfter) {
				f := Finding{ID: FindingID(KindMissingAsset, subject), Kind: KindMissingAsset, Subject: subject, Severity: sev(KindMissingAsset, nil), AssetID: a.ID,
					Title: fmt.Sprintf("deployed asset %s (%s) is not seen", a.Tag, a.Name)}
				if d == nil {
					f.Why = fmt.Sprintf("asset %s is deployed and registered since %s, but no observation matches its serial, MACs or hostname", a.Tag, a.CreatedAt.UTC().Format("2006-01-02"))
				} else {
					f.DeviceID, f.FirstSeen, f.LastSeen, f.SeenBy = d.ID, d.FirstSeen, d.LastSeen, d.Observers
					f.Why = fmt.Sprintf("asset %s is deployed, but device %s (matched by %s) was last seen %s, more than %s ago", a.Tag, d.ID, how,
						d.LastSeen.UTC().Format(time.RFC3339), p.MissingAfter)
				}
				out = append(out, f)
			}
			if a.ExpectAgent && d != nil && (len(d.Agents) == 0 || p.Now.Sub(lastAgent(d, p.AgentContact)) > p.AgentSilentAfter) {
				f := fromDevice(KindUnmanagedAsset, subject, d)
				f.AssetID = a.ID
				f.Title = fmt.Sprintf("asset %s (%s) should run an agent, none reports", a.Tag, a.Name)
				f.Why = fmt.Sprintf("asset %s expects an agent; device %s matching it by %s was %s, but no agent reported from it within %s", a.Tag, d.ID, how, seenText(d), p.AgentSilentAfter)
				out = append(out, f)
			}
		}
	}
	for i := range devs {
		d := &devs[i]
		if claimed[d.ID] {
			continue
		}
		subject := "device:" + d.ID
		if len(d.Agents) > 0 {
			f := fromDevice(KindUnregisteredAgent, subject, d)
			f.Title = fmt.Sprintf("agent host %s is not in the register", describeDevice(d))
			f.Why = fmt.Sprintf("agent %s reports from this host, but no asset matches its serials %v, MACs %v or hostnames %v", strings.Join(d.Agents, ", "), d.Serials, d.MACs, d.Hostnames)
			out = append(out, f)
			continue
		}
		f := fromDevice(KindUnregisteredDevice, subject, d)
		f.Title = fmt.Sprintf("unregistered device %s", describeDevice(d))
		why := fmt.Sprintf("no asset matches it and no agent reports from it; it was %s", seenText(d))
		switch {
		case d.Anonymous && strings.HasPrefix(anchorOf(d), IDIPSeen+":"):
			why += "; it was seen by IP only (no MAC, e.g. from behind a router), so it is one host per observer and IP"
		case d.Anonymous:
			why += "; it uses randomised MACs only, so it is grouped by who saw it and its hostname"
		}
		f.Why = why
		out = append(out, f)
	}
	var approvals int
	for _, r := range rules {
		if r.Decision == "approve" {
			approvals++
		}
	}
	licensed, licensedNames := map[string]int{}, map[string][]string{}
	for _, s := range software {
		pub := ""
		if len(s.Publishers) > 0 {
			pub = s.Publishers[0]
		}
		var deny, approve *Rule
		for i := range rules {
			r := &rules[i]
			if !r.Matches(s) {
				continue
			}
			if r.Decision == "deny" && deny == nil {
				deny = r
			}
			if r.Decision == "approve" && approve == nil {
				approve = r
			}
		}
		if deny == nil && approve != nil && approve.Entitlements > 0 {
			licensed[approve.ID] += s.Installs
			licensedNames[approve.ID] = append(licensedNames[approve.ID], s.Name)
		}
		var why, severity string
		switch {
		case deny != nil:
			why, severity = fmt.Sprintf("denied by rule %s (name %q, publisher %q, source %q)", deny.ID, deny.NamePattern, deny.PublisherPattern, deny.SourcePattern), "high"
		case approve == nil && approvals > 0:
			why, severity = "no approval rule of the software catalogue matches it", "medium"
		default:
			continue
		}
		subject := "software:" + strings.ToLower(s.Name) + "|" + strings.ToLower(pub)
		if s.Source != "" {
			subject += "|" + s.Source
		}
		out = append(out, Finding{ID: FindingID(KindUnapprovedSoftware, subject), Kind: KindUnapprovedSoftware, Subject: subject, Severity: severity,
			SeenBy: s.Agents, Methods: nonEmpty(s.Source),
			Title: fmt.Sprintf("unapproved software %s (%s) on %d hosts", s.Name, pub, s.Installs),
			Why:   fmt.Sprintf("%s is installed on %d hosts%s: %s", s.Name, s.Installs, versions(s.Versions), why),
			Count: s.Installs})
	}
	for _, r := range rules {
		if n := licensed[r.ID]; n > r.Entitlements && r.Entitlements > 0 {
			subject := "rule:" + r.ID
			out = append(out, Finding{ID: FindingID(KindLicenceShortfall, subject), Kind: KindLicenceShortfall, Subject: subject, Severity: "medium", Count: n,
				Title: fmt.Sprintf("%d installs of %s for %d licences", n, fewNames(licensedNames[r.ID]), r.Entitlements),
				Why: fmt.Sprintf("approval rule %s (name %q, publisher %q, source %q) owns %d licences, but the software it covers is installed %d times",
					r.ID, r.NamePattern, r.PublisherPattern, r.SourcePattern, r.Entitlements, n)})
		}
	}
	return sortedByID(out, func(f *Finding) string { return f.ID })
}

// fewNames lists up to five names and how many more there are.
func fewNames(names []string) string {
	sort.Strings(names)
	if len(names) <= 5 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:5], ", "), len(names)-5)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

func versions(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return " (versions " + strings.Join(v, ", ") + ")"
}

// anchorOf is the identifier a device is named after.
func anchorOf(d *Device) string {
	if len(d.Identifiers) == 0 {
		return ""
	}
	return d.Identifiers[0].ID
}

// lastAgent is when an agent on d last reported, by an observation of it
// or by a heartbeat in contact.
func lastAgent(d *Device, contact map[string]time.Time) time.Time {
	var t time.Time
	for _, x := range d.Identifiers {
		id, ok := strings.CutPrefix(x.ID, IDAgent+":")
		if !ok {
			continue
		}
		if x.LastSeen.After(t) {
			t = x.LastSeen
		}
		if c := contact[id]; c.After(t) {
			t = c
		}
	}
	return t
}
