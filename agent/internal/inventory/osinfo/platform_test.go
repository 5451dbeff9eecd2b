package osinfo

import (
	"os"
	"runtime"
	"testing"
	"testing/fstest"

	"github.com/shirou/gopsutil/v4/host"
)

func TestLinuxPlatform(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	debianOS := "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"
	for _, tc := range []struct {
		name                      string
		root                      fstest.MapFS
		platform, family, version string
	}{
		{"debian", fstest.MapFS{"etc/debian_version": file("12.11\n"), "etc/os-release": file(debianOS)}, "debian", "debian", "12.11"},
		{"raspbian", fstest.MapFS{"etc/debian_version": file("12.11\n"), "usr/bin/raspi-config": file("#!/bin/sh\n")}, "raspbian", "debian", "12.11"},
		{"ubuntu", fstest.MapFS{
			"etc/debian_version": file("trixie/sid\n"),
			"etc/lsb-release":    file("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=24.04\nDISTRIB_CODENAME=noble\nDISTRIB_DESCRIPTION=\"Ubuntu 24.04.1 LTS\"\n"),
			"etc/os-release":     file("ID=ubuntu\nVERSION_ID=\"24.04\"\n"),
		}, "ubuntu", "debian", "24.04"},
		{"rocky", fstest.MapFS{
			"etc/redhat-release": file("Rocky Linux release 9.4 (Blue Onyx)\n"),
			"etc/os-release":     file("ID=\"rocky\"\nVERSION_ID=\"9.4\"\n"),
		}, "rocky", "rhel", "9.4"},
		{"rhel", fstest.MapFS{"etc/redhat-release": file("Red Hat Enterprise Linux release 8.10 (Ootpa)\n")}, "redhat", "rhel", "8.10"},
		{"fedora rawhide", fstest.MapFS{"etc/redhat-release": file("Fedora release 42 (Rawhide)\n")}, "fedora", "fedora", "rawhide"},
		{"oracle", fstest.MapFS{"etc/oracle-release": file("Oracle Linux Server release 8.9\n"), "etc/redhat-release": file("Red Hat Enterprise Linux release 8.9\n")}, "oracle", "rhel", "8.9"},
		{"alpine", fstest.MapFS{"etc/alpine-release": file("3.20.3\n"), "etc/os-release": file("ID=alpine\n")}, "alpine", "alpine", "3.20.3"},
		{"arch", fstest.MapFS{"etc/arch-release": file("Arch Linux\n"), "etc/lsb-release": file("DISTRIB_ID=\"Arch\"\nDISTRIB_RELEASE=\"rolling\"\n")}, "arch", "arch", "rolling"},
		{"suse", fstest.MapFS{"etc/SuSE-release": file("openSUSE 13.2 (x86_64)\nVERSION = 13.2\nPATCHLEVEL = 1\n")}, "opensuse", "suse", "13.2.1"},
		{"amazon by os-release", fstest.MapFS{"etc/os-release": file("ID=\"amzn\"\nVERSION_ID=\"2023\"\n")}, "amazon", "rhel", "2023"},
		{"nixos", fstest.MapFS{"etc/os-release": file("ID=nixos\nVERSION_ID=\"24.05\"\n")}, "nixos", "nixos", "24.05"},
		{"lsb only", fstest.MapFS{"etc/lsb-release": file("DISTRIB_ID=Amazon\nDISTRIB_RELEASE=2\n")}, "amazon", "rhel", "2"},
		{"too short to count", fstest.MapFS{"etc/debian_version": file("12\n"), "etc/os-release": file(debianOS)}, "debian", "debian", "12"},
		{"nothing", fstest.MapFS{}, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, f, v := LinuxPlatform(tc.root)
			if p != tc.platform || f != tc.family || v != tc.version {
				t.Errorf("LinuxPlatform = %q, %q, %q, want %q, %q, %q", p, f, v, tc.platform, tc.family, tc.version)
			}
		})
	}
}

// TestLinuxPlatformLive checks the file-only reading against gopsutil's
// (which may run lsb_release) on this host.
func TestLinuxPlatformLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux only")
	}
	wp, wf, wv, err := host.PlatformInformationWithContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if p, f, v := LinuxPlatform(os.DirFS("/")); p != wp || f != wf || v != wv {
		t.Errorf("LinuxPlatform = %q, %q, %q, gopsutil says %q, %q, %q", p, f, v, wp, wf, wv)
	}
}
