// Package osinfo reads what gopsutil does not about the operating system:
// its build, when it was installed, and on Windows the time zone and the
// domain or workgroup; and on Linux the distribution (LinuxPlatform),
// which gopsutil reads by running lsb_release.
package osinfo

import (
	"context"
	"io/fs"
	"strings"
	"time"
)

// Source is the source named in errors.
const Source = "os"

// Info is what the package reads; empty fields are unknown.
type Info struct {
	Build       string
	InstallDate time.Time
	// TimeZone, Domain and Workgroup are read on Windows only: elsewhere
	// the inventory reads the zone from /etc/localtime and the domain from
	// the FQDN.
	TimeZone  string
	Domain    string
	Workgroup string
}

// Collect reads this host's OS details. Each error is a *source.Error.
func Collect(ctx context.Context) (Info, []error) {
	return collect(ctx)
}

// LinuxInstallDate estimates when a Linux system was installed, under root.
// There is no record of it, so it takes, in order:
//
//  1. the oldest file of /var/log/installer (Debian and Ubuntu's
//     installer leaves its logs there);
//  2. the birth time of the root file system's top folder (rootBirth;
//     ext4, xfs and btrfs record it; zero when unknown);
//  3. the modification time of /etc/machine-id, written on first boot
//     (for a cloud or container image: when the image was made).
//
// The oldest of 2 and 3 wins when there is no installer log: both can
// only be later than the installation, never earlier.
func LinuxInstallDate(root fs.FS, rootBirth time.Time) time.Time {
	if entries, err := fs.ReadDir(root, "var/log/installer"); err == nil {
		var oldest time.Time
		for _, e := range entries {
			if info, err := e.Info(); err == nil && plausible(info.ModTime()) && (oldest.IsZero() || info.ModTime().Before(oldest)) {
				oldest = info.ModTime()
			}
		}
		if !oldest.IsZero() {
			return oldest.UTC()
		}
	}
	var best time.Time
	if plausible(rootBirth) {
		best = rootBirth
	}
	if info, err := fs.Stat(root, "etc/machine-id"); err == nil && plausible(info.ModTime()) && (best.IsZero() || info.ModTime().Before(best)) {
		best = info.ModTime()
	}
	if best.IsZero() {
		return best
	}
	return best.UTC()
}

// plausible rejects the zero time and clocks that were not set (before
// 1995) or run ahead.
func plausible(t time.Time) bool {
	return t.Year() >= 1995 && t.Before(time.Now().Add(24*time.Hour))
}

// OSReleaseBuild returns BUILD_ID (or IMAGE_VERSION) of an os-release
// file: the build of image-based distributions.
func OSReleaseBuild(data []byte) string {
	vals := map[string]string{}
	for l := range strings.Lines(string(data)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			vals[k] = strings.Trim(v, `"'`)
		}
	}
	if b := vals["BUILD_ID"]; b != "" && b != "rolling" {
		return b
	}
	return vals["IMAGE_VERSION"]
}

// WindowsBuild returns CurrentBuild.UBR from the registry's CurrentVersion
// values (22631.4460), or CurrentBuild alone.
func WindowsBuild(currentBuild string, ubr uint64, hasUBR bool) string {
	if currentBuild == "" || !hasUBR {
		return currentBuild
	}
	return currentBuild + "." + itoa(ubr)
}

// WindowsInstallDate reads CurrentVersion's InstallDate (seconds since
// 1970; the last feature update resets it) or InstallTime (a FILETIME,
// 100 ns since 1601), preferring the latter's precision.
func WindowsInstallDate(installDate uint64, installTime uint64) time.Time {
	if installTime > 0 {
		const epochDiff = 116444736000000000 // 1601 to 1970 in 100 ns
		if installTime > epochDiff {
			t := time.Unix(0, int64(installTime-epochDiff)*100).UTC()
			if plausible(t) {
				return t
			}
		}
	}
	t := time.Unix(int64(installDate), 0).UTC()
	if installDate == 0 || !plausible(t) {
		return time.Time{}
	}
	return t
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
