package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"

	"github.com/umbrasec/umbra/agent/internal/inventory/osinfo"
)

// raw is everything read from the OS, before any cleaning. It is the only
// contact with gopsutil: gather fills it, build turns it into a
// wire.Inventory without touching the OS.
type raw struct {
	goos string

	host     host.InfoStat
	hostErrs []error // one per part of the host that could not be read
	// bootID is Linux's per-boot random id: gopsutil falls back to it for
	// the host id, but it changes on every reboot.
	bootID string

	cpus       []cpu.InfoStat
	cpuErr     error
	cores      int
	coresErr   error
	threads    int
	threadsErr error

	mem    *mem.VirtualMemoryStat
	memErr error

	ifaces    []net.InterfaceStat
	ifacesErr error
}

// gather reads every source. The host is read part by part rather than with
// host.InfoWithContext, which gives up on the whole host when one part (the
// host id, typically, for lack of privilege) cannot be read.
func gather(ctx context.Context) raw {
	r := raw{goos: runtime.GOOS}
	h := &r.host
	h.OS = runtime.GOOS
	hostErr := func(part string, err error) {
		if err = implemented(err); err != nil {
			r.hostErrs = append(r.hostErrs, fmt.Errorf("reading %s: %w", part, err))
		}
	}
	var err error
	h.Hostname, err = os.Hostname()
	hostErr("hostname", err)
	if r.goos == "linux" {
		// gopsutil would run lsb_release (a shell and its pipes) on
		// Debian: most of an inventory's wall time, for the same answer.
		h.Platform, h.PlatformFamily, h.PlatformVersion = osinfo.LinuxPlatform(os.DirFS("/"))
	} else {
		h.Platform, h.PlatformFamily, h.PlatformVersion, err = host.PlatformInformationWithContext(ctx)
		hostErr("platform", err)
	}
	h.KernelVersion, err = host.KernelVersionWithContext(ctx)
	hostErr("kernel version", err)
	h.KernelArch, err = host.KernelArch()
	hostErr("kernel architecture", err)
	h.VirtualizationSystem, h.VirtualizationRole, err = host.VirtualizationWithContext(ctx)
	hostErr("virtualization", err)
	h.BootTime, err = host.BootTimeWithContext(ctx)
	hostErr("boot time", err)
	h.HostID, err = host.HostIDWithContext(ctx)
	hostErr("host id", err)
	if r.goos == "linux" {
		if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
			r.bootID = strings.TrimSpace(string(b))
		}
	}

	r.cpus, r.cpuErr = cpu.InfoWithContext(ctx)
	r.cpuErr = implemented(r.cpuErr)
	r.cores, r.coresErr = cpu.CountsWithContext(ctx, false)
	r.coresErr = implemented(r.coresErr)
	r.threads, r.threadsErr = cpu.CountsWithContext(ctx, true)
	r.threadsErr = implemented(r.threadsErr)

	r.mem, r.memErr = mem.VirtualMemoryWithContext(ctx)
	r.memErr = implemented(r.memErr)

	r.ifaces, r.ifacesErr = net.InterfacesWithContext(ctx)
	r.ifacesErr = implemented(r.ifacesErr)
	return r
}

// implemented returns err, or nil when it is gopsutil's "not implemented
// yet" (an unexported sentinel): a part this OS does not have is not a
// failure, as host.InfoWithContext also treats it.
func implemented(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == "not implemented yet" {
			return nil
		}
	}
	return err
}
