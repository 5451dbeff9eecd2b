package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/ident"
	"github.com/umbrasec/umbra/shared/wire"
)

// The names of the sources, as they appear in wire.SourceError.
const (
	sourceHost       = "host"
	sourceCPU        = "cpu"
	sourceMemory     = "memory"
	sourceInterfaces = "interfaces"
)

// build turns what gather read into an inventory that fits lim. It touches
// nothing outside its arguments.
func build(r raw, now time.Time, lim wire.Limits) *wire.Inventory {
	errs := &sourceErrors{lim: lim}
	inv := &wire.Inventory{CollectedAt: now.UTC(), Full: true}

	for _, err := range r.hostErrs {
		errs.add(sourceHost, err)
	}
	inv.Host, inv.OS = hostFrom(r.host, r.bootID, lim, errs)

	for _, err := range []error{r.cpuErr, r.coresErr, r.threadsErr} {
		if err != nil {
			errs.add(sourceCPU, err)
		}
	}
	inv.CPU = cpuFrom(r.goos, r.cpus, r.cores, r.threads, lim)

	if r.memErr != nil {
		errs.add(sourceMemory, r.memErr)
	}
	inv.Memory = memoryFrom(r.mem)

	if r.ifacesErr != nil {
		errs.add(sourceInterfaces, r.ifacesErr)
	}
	inv.Interfaces = interfacesFrom(r.ifaces, lim, errs)

	inv.Errors = errs.list()
	return inv
}

// hostFrom maps gopsutil's host info. A host id that is a placeholder, or is
// only Linux's per-boot id, is dropped and noted in errs: it would merge
// unrelated machines or split one machine at every reboot.
func hostFrom(h host.InfoStat, bootID string, lim wire.Limits, errs *sourceErrors) (wire.Host, wire.OS) {
	out := wire.Host{
		Hostname:           clean(h.Hostname, lim),
		Virtualization:     clean(h.VirtualizationSystem, lim),
		VirtualizationRole: clean(h.VirtualizationRole, lim),
	}
	if h.BootTime > 0 && h.BootTime < 1<<40 {
		out.BootTime = time.Unix(int64(h.BootTime), 0).UTC()
	}
	if strings.TrimSpace(h.HostID) != "" {
		id, err := ident.CleanIdentifier(h.HostID)
		switch {
		case err != nil:
			errs.add(sourceHost, fmt.Errorf("host id dropped: %w", err))
		case bootID != "" && strings.EqualFold(id, strings.TrimSpace(bootID)):
			errs.add(sourceHost, errors.New("host id dropped: it is the boot id, which changes at every reboot"))
		case len(clean(id, lim)) != len(id):
			errs.add(sourceHost, fmt.Errorf("host id dropped: %d bytes or unprintable characters", len(id)))
		default:
			out.HostID = id
		}
	}
	os := wire.OS{
		Family:        clean(h.OS, lim),
		Platform:      clean(h.Platform, lim),
		PlatformGroup: clean(h.PlatformFamily, lim),
		Version:       clean(h.PlatformVersion, lim),
		Kernel:        clean(h.KernelVersion, lim),
		Arch:          clean(h.KernelArch, lim),
	}
	return out, os
}

// cpuFrom maps gopsutil's processor list and counts. On Windows each entry
// is a socket; elsewhere entries are logical processors that name their
// socket in PhysicalID.
func cpuFrom(goos string, infos []cpu.InfoStat, cores, threads int, lim wire.Limits) wire.CPU {
	out := wire.CPU{Cores: max(cores, 0), Threads: max(threads, 0)}
	sockets := map[string]bool{}
	for _, c := range infos {
		if out.Model == "" {
			out.Model = clean(c.ModelName, lim)
		}
		if out.Vendor == "" {
			out.Vendor = clean(c.VendorID, lim)
		}
		if c.Mhz > out.MHz && c.Mhz < 1e6 {
			out.MHz = c.Mhz
		}
		if id := strings.TrimSpace(c.PhysicalID); id != "" {
			sockets[id] = true
		}
	}
	if goos == "windows" {
		out.Sockets = len(infos)
	} else {
		out.Sockets = len(sockets)
	}
	return out
}

func memoryFrom(v *mem.VirtualMemoryStat) wire.Memory {
	if v == nil {
		return wire.Memory{}
	}
	return wire.Memory{TotalBytes: v.Total}
}

// interfacesFrom maps the interface list, keeping at most
// lim.MaxInterfaces interfaces of at most lim.MaxAddresses addresses each.
// A MAC that does not parse is dropped and noted; an empty or all-zero MAC,
// or a longer hardware address (InfiniBand, FireWire), is simply left out.
func interfacesFrom(list []net.InterfaceStat, lim wire.Limits, errs *sourceErrors) []wire.Interface {
	var out []wire.Interface
	for _, ifc := range list {
		name := clean(ifc.Name, lim)
		if name == "" {
			errs.add(sourceInterfaces, fmt.Errorf("interface with index %d has no name: left out", ifc.Index))
			continue
		}
		if len(out) == lim.MaxInterfaces {
			errs.add(sourceInterfaces, fmt.Errorf("more than %d interfaces: the rest are left out", lim.MaxInterfaces))
			break
		}
		w := wire.Interface{Name: name, MTU: max(ifc.MTU, 0)}
		for _, f := range ifc.Flags {
			switch f {
			case "up":
				w.Up = true
			case "loopback":
				w.Loopback = true
			}
		}
		w.MAC = macFrom(name, ifc.HardwareAddr, errs)
		for _, a := range ifc.Addrs {
			p, err := prefixFrom(a.Addr)
			if err != nil {
				errs.add(sourceInterfaces, fmt.Errorf("%s: %w", name, err))
				continue
			}
			if len(w.Addrs) == lim.MaxAddresses {
				errs.add(sourceInterfaces, fmt.Errorf("%s: more than %d addresses: the rest are left out", name, lim.MaxAddresses))
				break
			}
			w.Addrs = append(w.Addrs, p)
		}
		out = append(out, w)
	}
	return out
}

func macFrom(ifname, hw string, errs *sourceErrors) string {
	hw = strings.TrimSpace(hw)
	if hw == "" {
		return ""
	}
	m, err := ident.ParseMAC(hw)
	if err != nil {
		if len(hw) <= 59 && isHardwareAddr(hw) {
			return "" // EUI-64 or InfiniBand: a real address, not a MAC-48
		}
		errs.add(sourceInterfaces, fmt.Errorf("%s: MAC dropped: %w", ifname, err))
		return ""
	}
	if m.IsZero() {
		return ""
	}
	return m.String()
}

// isHardwareAddr reports whether s is colon-separated pairs of hex digits.
func isHardwareAddr(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return len(s)%3 == 2
}

// prefixFrom returns an address in CIDR notation. A bare address gets its
// full-length prefix; an IPv6 zone is dropped.
func prefixFrom(s string) (string, error) {
	s = strings.TrimSpace(s)
	addr, bits, hasBits := strings.Cut(s, "/")
	if i := strings.IndexByte(addr, '%'); i >= 0 {
		addr = addr[:i]
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return "", fmt.Errorf("address %q is not an IP address", clip(s, 64))
	}
	a = a.Unmap()
	if !hasBits {
		return netip.PrefixFrom(a, a.BitLen()).String(), nil
	}
	p, err := netip.ParsePrefix(a.String() + "/" + bits)
	if err != nil {
		return "", fmt.Errorf("address %q has a bad prefix length", clip(s, 64))
	}
	return p.String(), nil
}

// sourceErrors collects source errors, at most lim.MaxSourceErrors of them.
type sourceErrors struct {
	lim     wire.Limits
	errs    []wire.SourceError
	dropped int
}

func (e *sourceErrors) add(src string, err error) {
	if len(e.errs) >= e.lim.MaxSourceErrors {
		e.dropped++
		return
	}
	e.errs = append(e.errs, wire.SourceError{
		Source:      src,
		Error:       clean(err.Error(), e.lim),
		Unavailable: errors.Is(err, fs.ErrPermission) || source.IsUnavailable(err),
	})
}

func (e *sourceErrors) list() []wire.SourceError {
	if e.dropped > 0 && len(e.errs) > 0 {
		last := &e.errs[len(e.errs)-1]
		*last = wire.SourceError{
			Source: last.Source,
			Error:  fmt.Sprintf("%d more errors not listed", e.dropped+1),
		}
	}
	return e.errs
}

// clean makes a string from the OS fit to send: valid UTF-8 without control
// characters, trimmed, and at most lim.MaxStringLen bytes, cut on a
// character boundary.
func clean(s string, lim wire.Limits) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	return strings.TrimSpace(clip(s, lim.MaxStringLen))
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
