package osinfo

import (
	"io/fs"
	"regexp"
	"strings"
	"sync"
)

// LinuxPlatform names a Linux distribution from the release files under
// root ("/" on a live system): platform (debian, ubuntu, rhel…), its
// family and its version, exactly as gopsutil's
// host.PlatformInformation does, but from files only. gopsutil runs
// /usr/bin/lsb_release when /etc/lsb-release is missing (Debian), which
// costs a shell and half a dozen processes and most of an inventory's
// wall time; and the answer of that program never changes the result,
// since gopsutil keeps its tab-prefixed values ("\tDebian"), which match
// none of the names it looks for. So only /etc/lsb-release is read here.
func LinuxPlatform(root fs.FS) (platform, family, version string) {
	lsb := readLSB(root)
	lines := func(name string) ([]string, bool) {
		b, err := fs.ReadFile(root, name)
		if err != nil {
			return nil, false
		}
		return splitLines(string(b)), true
	}
	switch {
	case hasContents(root, "etc/oracle-release"):
		platform = "oracle"
		if c, ok := lines("etc/oracle-release"); ok {
			version = redhatishVersion(c)
		}
	case hasContents(root, "etc/enterprise-release"):
		platform = "oracle"
		if c, ok := lines("etc/enterprise-release"); ok {
			version = redhatishVersion(c)
		}
	case hasContents(root, "etc/slackware-version"):
		platform = "slackware"
		if c, ok := lines("etc/slackware-version"); ok {
			version = strings.Replace(strings.ToLower(strings.Join(c, "")), "slackware ", "", 1)
		}
	case hasContents(root, "etc/debian_version"):
		switch lsb.id {
		case "Ubuntu":
			platform, version = "ubuntu", lsb.release
		case "LinuxMint":
			platform, version = "linuxmint", lsb.release
		case "Kylin":
			platform, version = "Kylin", lsb.release
		case `"Cumulus Linux"`:
			platform, version = "cumuluslinux", lsb.release
		case "uos":
			platform, version = "uos", lsb.release
		case "Deepin":
			platform, version = "Deepin", lsb.release
		default:
			platform = "debian"
			if hasContents(root, "usr/bin/raspi-config") {
				platform = "raspbian"
			}
			if c, ok := lines("etc/debian_version"); ok && len(c) > 0 && c[0] != "" {
				version = c[0]
			}
		}
	case hasContents(root, "etc/neokylin-release"):
		if c, ok := lines("etc/neokylin-release"); ok {
			version, platform = redhatishVersion(c), redhatishPlatform(c)
		}
	case hasContents(root, "etc/redhat-release"):
		if c, ok := lines("etc/redhat-release"); ok {
			version, platform = redhatishVersion(c), redhatishPlatform(c)
		}
	case hasContents(root, "etc/system-release"):
		if c, ok := lines("etc/system-release"); ok {
			version, platform = redhatishVersion(c), redhatishPlatform(c)
		}
	case hasContents(root, "etc/gentoo-release"):
		platform = "gentoo"
		if c, ok := lines("etc/gentoo-release"); ok {
			version = redhatishVersion(c)
		}
	case hasContents(root, "etc/SuSE-release"):
		if c, ok := lines("etc/SuSE-release"); ok {
			version, platform = suseVersion(c), susePlatform(c)
		}
	case hasContents(root, "etc/arch-release"):
		platform, version = "arch", lsb.release
	case hasContents(root, "etc/alpine-release"):
		platform = "alpine"
		if c, ok := lines("etc/alpine-release"); ok && len(c) > 0 && c[0] != "" {
			version = c[0]
		}
	case hasContents(root, "etc/os-release"):
		if c, ok := lines("etc/os-release"); ok {
			platform, version = osReleaseIDVersion(c)
		}
	case lsb.id == "RedHat":
		platform, version = "redhat", lsb.release
	case lsb.id == "Amazon":
		platform, version = "amazon", lsb.release
	case lsb.id == "ScientificSL":
		platform, version = "scientific", lsb.release
	case lsb.id == "XenServer":
		platform, version = "xenserver", lsb.release
	case lsb.id != "":
		platform, version = strings.ToLower(lsb.id), lsb.release
	}
	platform = strings.Trim(platform, `"`)
	return platform, platformFamily(platform), version
}

type lsbRelease struct{ id, release string }

// readLSB reads DISTRIB_ID and DISTRIB_RELEASE of /etc/lsb-release, with
// gopsutil's quirks: the value ends at a second "=", quotes are dropped.
func readLSB(root fs.FS) lsbRelease {
	var l lsbRelease
	b, err := fs.ReadFile(root, "etc/lsb-release")
	if err != nil {
		return l
	}
	for _, line := range splitLines(string(b)) {
		f := strings.Split(line, "=")
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "DISTRIB_ID":
			l.id = strings.ReplaceAll(f[1], `"`, ``)
		case "DISTRIB_RELEASE":
			l.release = strings.ReplaceAll(f[1], `"`, ``)
		}
	}
	return l
}

// hasContents is gopsutil's PathExistsWithContents: a file of more than
// four bytes.
func hasContents(root fs.FS, name string) bool {
	info, err := fs.Stat(root, name)
	return err == nil && info.Size() > 4 && !info.IsDir()
}

// splitLines splits as gopsutil's ReadLines does: on "\n", without a last
// empty line, each line trimmed of "\n" only.
func splitLines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		out = append(out, strings.Trim(l, "\n"))
	}
	return out
}

// osReleaseIDVersion returns ID and VERSION_ID of os-release lines.
func osReleaseIDVersion(lines []string) (platform, version string) {
	unquote := func(s string) string {
		if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
			return s[1 : len(s)-1]
		}
		return s
	}
	for _, line := range lines {
		f := strings.Split(line, "=")
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "ID":
			platform = unquote(f[1])
		case "VERSION_ID":
			version = unquote(f[1])
		}
	}
	if platform == "amzn" {
		platform = "amazon"
	}
	return platform, version
}

// The regular expressions are gopsutil's, compiled on first use: most
// hosts never need them.
var (
	redhatishRelease = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`release (\w[\d.]*)`) })
	suseVersionRe    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`VERSION = ([\d.]+)`) })
	susePatchLevelRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`PATCHLEVEL = (\d+)`) })
)

func redhatishVersion(lines []string) string {
	c := strings.ToLower(strings.Join(lines, ""))
	if strings.Contains(c, "rawhide") {
		return "rawhide"
	}
	if m := redhatishRelease().FindStringSubmatch(c); m != nil {
		return m[1]
	}
	return ""
}

func redhatishPlatform(lines []string) string {
	c := strings.ToLower(strings.Join(lines, ""))
	if strings.Contains(c, "red hat") {
		return "redhat"
	}
	first, _, _ := strings.Cut(c, " ")
	return first
}

func suseVersion(lines []string) string {
	v := ""
	for _, line := range lines {
		if m := suseVersionRe().FindStringSubmatch(line); m != nil {
			v = m[1]
		} else if m = susePatchLevelRe().FindStringSubmatch(line); m != nil {
			v = v + "." + m[1]
		}
	}
	return v
}

func susePlatform(lines []string) string {
	if strings.Contains(strings.ToLower(strings.Join(lines, "")), "opensuse") {
		return "opensuse"
	}
	return "suse"
}

func platformFamily(platform string) string {
	switch platform {
	case "debian", "ubuntu", "linuxmint", "raspbian", "Kylin", "cumuluslinux", "uos", "Deepin":
		return "debian"
	case "fedora":
		return "fedora"
	case "oracle", "centos", "redhat", "scientific", "enterpriseenterprise", "amazon", "xenserver", "cloudlinux", "ibm_powerkvm", "rocky", "almalinux":
		return "rhel"
	case "suse", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "opensuse-tumbleweed-kubic", "sles", "sled", "caasp":
		return "suse"
	case "gentoo", "slackware", "arch", "exherbo", "alpine", "coreos", "solus", "neokylin", "anolis", "nixos":
		return platform
	}
	return ""
}
