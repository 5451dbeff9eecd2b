package inventory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/accounts"
	"github.com/umbrasec/umbra/agent/internal/inventory/hardware"
	"github.com/umbrasec/umbra/agent/internal/inventory/listeners"
	"github.com/umbrasec/umbra/agent/internal/inventory/osinfo"
	"github.com/umbrasec/umbra/agent/internal/inventory/security"
	"github.com/umbrasec/umbra/agent/internal/inventory/services"
	"github.com/umbrasec/umbra/agent/internal/inventory/software"
	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// extra is what the topic packages read, beside gopsutil's basics.
type extra struct {
	hw        *wire.Hardware
	pkgs      []wire.Package
	users     []wire.User
	sessions  []wire.Session
	listeners []wire.Listener
	services  []wire.Service
	security  *wire.Security
	os        osinfo.Info
	timeZone  string
	offset    int
	fqdn      string
	net       netSettings
	errs      []error
}

// gatherExtra reads the topics concurrently: they touch different files
// and the slowest (the package databases) sets the wall time.
func gatherExtra(ctx context.Context) extra {
	var x extra
	var mu sync.Mutex
	var wg sync.WaitGroup
	addErrs := func(errs []error) {
		mu.Lock()
		x.errs = append(x.errs, errs...)
		mu.Unlock()
	}
	wg.Go(func() { x.net = readNetSettings() })
	wg.Go(func() {
		hw, errs := hardware.Collect(ctx)
		x.hw = hw
		addErrs(errs)
	})
	wg.Go(func() {
		p, errs := software.Collect(ctx)
		x.pkgs = p
		addErrs(errs)
	})
	wg.Go(func() {
		u, s, errs := accounts.Collect(ctx)
		x.users, x.sessions = u, s
		addErrs(errs)
	})
	wg.Go(func() {
		l, errs := listeners.Collect(ctx)
		x.listeners = l
		addErrs(errs)
	})
	wg.Go(func() {
		s, errs := services.Collect(ctx)
		x.services = s
		addErrs(errs)
	})
	wg.Go(func() {
		s, errs := security.Collect(ctx)
		x.security = s
		addErrs(errs)
	})
	wg.Go(func() {
		o, errs := osinfo.Collect(ctx)
		x.os = o
		addErrs(errs)
	})
	x.timeZone = timeZone()
	_, x.offset = time.Now().Zone()
	x.fqdn = fqdnFromFiles()
	wg.Wait()
	sort.SliceStable(x.errs, func(i, j int) bool { return sourceOf(x.errs[i]) < sourceOf(x.errs[j]) })
	return x
}

func sourceOf(err error) string {
	var se *source.Error
	if errors.As(err, &se) {
		return se.Source
	}
	return "inventory"
}

// timeZone returns the IANA name of the local zone: $TZ, else the target
// of /etc/localtime (Linux, macOS).
func timeZone() string {
	if tz := os.Getenv("TZ"); tz != "" && !strings.HasPrefix(tz, ":") {
		return tz
	}
	if runtime.GOOS == "windows" {
		return "" // read from the registry by osinfo
	}
	target, err := os.Readlink("/etc/localtime")
	if err != nil {
		if b, err := os.ReadFile("/etc/timezone"); err == nil {
			return strings.TrimSpace(string(b))
		}
		return ""
	}
	if _, after, ok := strings.Cut(filepath.ToSlash(target), "zoneinfo/"); ok {
		return after
	}
	return ""
}

// fqdnFromFiles finds the host's fully qualified name without sending a
// DNS query: a dotted /etc/hostname, or the first dotted alias of the
// hostname in /etc/hosts.
func fqdnFromFiles() string {
	host, _ := os.Hostname()
	if strings.Contains(host, ".") {
		return host
	}
	if runtime.GOOS == "windows" {
		return ""
	}
	b, err := os.ReadFile("/etc/hosts")
	if err != nil || host == "" {
		return ""
	}
	return FQDNFromHosts(b, host)
}

// FQDNFromHosts returns the first dotted name on an /etc/hosts line that
// also names host.
func FQDNFromHosts(hosts []byte, host string) string {
	for l := range strings.Lines(string(hosts)) {
		l, _, _ = strings.Cut(l, "#")
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		names := f[1:]
		match := false
		for _, n := range names {
			if strings.EqualFold(n, host) || strings.HasPrefix(strings.ToLower(n), strings.ToLower(host)+".") {
				match = true
			}
		}
		if !match {
			continue
		}
		for _, n := range names {
			if strings.HasPrefix(strings.ToLower(n), strings.ToLower(host)+".") && !strings.HasSuffix(n, ".localdomain") {
				return n
			}
		}
	}
	return ""
}

// applyExtra cleans what the topics read into inv, within lim.
func applyExtra(inv *wire.Inventory, x extra, lim wire.Limits, errs *sourceErrors) {
	c := func(s string) string { return clean(s, lim) }
	inv.OS.TimeZone = c(cmp.Or(x.timeZone, x.os.TimeZone))
	inv.OS.UTCOffsetSeconds = x.offset
	inv.OS.Build = c(x.os.Build)
	inv.OS.InstallDate = x.os.InstallDate
	if fq := c(x.fqdn); fq != "" {
		inv.Host.FQDN = fq
		_, inv.Host.Domain, _ = strings.Cut(fq, ".")
	}
	if d := c(x.os.Domain); d != "" {
		inv.Host.Domain = d
	}
	inv.Host.Workgroup = c(x.os.Workgroup)
	applyNetSettings(inv, x.net, lim)
	for _, e := range x.errs {
		errs.add(sourceOf(e), e)
	}
	if hw := x.hw; hw != nil {
		s := &hw.System
		for _, p := range []*string{&s.Vendor, &s.Model, &s.Family, &s.Version, &s.SKU, &s.Serial, &s.UUID, &s.Chassis, &s.AssetTag,
			&hw.BIOS.Vendor, &hw.BIOS.Version, &hw.BIOS.Date, &hw.Baseboard.Vendor, &hw.Baseboard.Model,
			&hw.Baseboard.Version, &hw.Baseboard.Serial, &hw.Baseboard.AssetTag} {
			*p = c(*p)
		}
		hw.Disks = capList(hw.Disks, lim.MaxDisks, "hardware.disks", errs)
		for i := range hw.Disks {
			d := &hw.Disks[i]
			d.Name, d.Model, d.Vendor, d.Serial, d.Firmware = c(d.Name), c(d.Model), c(d.Vendor), c(d.Serial), c(d.Firmware)
		}
		hw.MemoryModules = capList(hw.MemoryModules, lim.MaxModules, "hardware.memory_modules", errs)
		for i := range hw.MemoryModules {
			m := &hw.MemoryModules[i]
			m.Locator, m.Bank, m.Type, m.Manufacturer, m.PartNumber, m.Serial = c(m.Locator), c(m.Bank), c(m.Type), c(m.Manufacturer), c(m.PartNumber), c(m.Serial)
			m.SpeedMTs, m.ConfiguredSpeedMTs = max(m.SpeedMTs, 0), max(m.ConfiguredSpeedMTs, 0)
		}
		hw.Monitors = capList(hw.Monitors, lim.MaxMonitors, "hardware.monitors", errs)
		for i := range hw.Monitors {
			m := &hw.Monitors[i]
			m.Port, m.Maker, m.ProductCode, m.Model, m.Serial = c(m.Port), c(m.Maker), c(m.ProductCode), c(m.Model), c(m.Serial)
		}
		hw.Batteries = capList(hw.Batteries, lim.MaxBatteries, "hardware.batteries", errs)
		for i := range hw.Batteries {
			b := &hw.Batteries[i]
			b.Name, b.Manufacturer, b.Model, b.Serial, b.Chemistry, b.Status = c(b.Name), c(b.Manufacturer), c(b.Model), c(b.Serial), c(b.Chemistry), c(b.Status)
		}
		if !reflectZero(hw) {
			inv.Hardware = hw
		}
	}
	pkgs := x.pkgs[:0] // filtered in place: x is ours
	for _, p := range x.pkgs {
		p.Name, p.Version, p.Publisher, p.Arch = c(p.Name), c(p.Version), c(p.Publisher), c(p.Arch)
		p.ID, p.Location, p.Scope = c(p.ID), c(p.Location), c(p.Scope)
		if p.Name == "" {
			continue
		}
		pkgs = append(pkgs, p)
	}
	inv.Software = capList(pkgs, lim.MaxPackages, "software", errs)

	users := x.users[:0]
	for _, u := range x.users {
		u.Name, u.ID, u.FullName, u.Home, u.Shell = c(u.Name), c(u.ID), c(u.FullName), c(u.Home), c(u.Shell)
		if u.Name != "" {
			users = append(users, u)
		}
	}
	inv.Users = capList(users, lim.MaxUsers, accounts.SourceUsers, errs)
	sessions := x.sessions[:0]
	for _, s := range x.sessions {
		s.User, s.Terminal, s.Remote = c(s.User), c(s.Terminal), c(s.Remote)
		if s.User != "" {
			sessions = append(sessions, s)
		}
	}
	inv.Sessions = capList(sessions, lim.MaxSessions, accounts.SourceSessions, errs)
	ls := x.listeners[:0]
	for _, l := range x.listeners {
		l.Address, l.Process, l.User = c(l.Address), c(l.Process), c(l.User)
		if (l.Protocol == "tcp" || l.Protocol == "udp") && l.Port >= 0 && l.Port <= 65535 {
			l.PID = max(l.PID, 0)
			ls = append(ls, l)
		}
	}
	inv.Listeners = capList(ls, lim.MaxListeners, listeners.Source, errs)

	svcs := x.services[:0]
	for _, s := range x.services {
		s.Name, s.DisplayName, s.Path, s.User = c(s.Name), c(s.DisplayName), c(s.Path), c(s.User)
		if s.Name != "" {
			svcs = append(svcs, s)
		}
	}
	inv.Services = capList(svcs, lim.MaxServices, "services", errs)
	if sec := x.security; sec != nil {
		sec.Encryption = capList(sec.Encryption, lim.MaxPostureLen, security.SourceEncryption, errs)
		for i := range sec.Encryption {
			e := &sec.Encryption[i]
			e.Volume, e.Method, e.Status = c(e.Volume), c(e.Method), c(e.Status)
		}
		sec.Firewalls = capList(sec.Firewalls, lim.MaxPostureLen, security.SourceFirewall, errs)
		for i := range sec.Firewalls {
			f := &sec.Firewalls[i]
			f.Name, f.Detail = c(f.Name), c(f.Detail)
		}
		sec.Antivirus = capList(sec.Antivirus, lim.MaxPostureLen, security.SourceAntivirus, errs)
		for i := range sec.Antivirus {
			a := &sec.Antivirus[i]
			a.Name, a.Detail = c(a.Name), c(a.Detail)
		}
		if len(sec.Encryption)+len(sec.Firewalls)+len(sec.Antivirus) > 0 {
			inv.Security = sec
		}
	}
}

func capList[T any](list []T, n int, src string, errs *sourceErrors) []T {
	if len(list) > n {
		errs.add(src, fmt.Errorf("%d entries, more than the %d a report may hold: the rest are left out", len(list), n))
		return list[:n]
	}
	return list
}

func reflectZero(hw *wire.Hardware) bool {
	return hw.System == (wire.System{}) && hw.BIOS == (wire.BIOS{}) && hw.Baseboard == (wire.Baseboard{}) &&
		len(hw.Disks)+len(hw.MemoryModules)+len(hw.Monitors)+len(hw.Batteries) == 0
}
