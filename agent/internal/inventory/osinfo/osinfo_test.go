package osinfo

import (
	"testing"
	"testing/fstest"
	"time"
)

func TestLinuxInstallDate(t *testing.T) {
	d := func(s string) time.Time {
		v, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	installer := fstest.MapFS{
		"var/log/installer/syslog":      {ModTime: d("2023-03-02")},
		"var/log/installer/status":      {ModTime: d("2023-03-01")},
		"var/log/installer/bogus-clock": {ModTime: d("1970-01-02")},
		"etc/machine-id":                {ModTime: d("2023-03-05")},
	}
	noInstaller := fstest.MapFS{"etc/machine-id": {ModTime: d("2023-03-05")}}
	for _, tc := range []struct {
		name  string
		root  fstest.MapFS
		birth time.Time
		want  time.Time
	}{
		{"installer log wins", installer, d("2020-01-01"), d("2023-03-01")},
		{"birth older than machine-id", noInstaller, d("2023-03-04"), d("2023-03-04")},
		{"machine-id older than birth", noInstaller, d("2024-01-01"), d("2023-03-05")},
		{"no birth", noInstaller, time.Time{}, d("2023-03-05")},
		{"nothing", fstest.MapFS{}, time.Time{}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LinuxInstallDate(tc.root, tc.birth); !got.Equal(tc.want) {
				t.Errorf("LinuxInstallDate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWindows(t *testing.T) {
	if got := WindowsBuild("22631", 4460, true); got != "22631.4460" {
		t.Errorf("WindowsBuild = %q", got)
	}
	if got := WindowsBuild("17763", 0, false); got != "17763" {
		t.Errorf("WindowsBuild without UBR = %q", got)
	}
	// InstallDate is seconds since 1970, InstallTime a FILETIME (these
	// values are made up, in the registry's formats).
	want := time.Unix(0x65f1c3a2, 0).UTC()
	if got := WindowsInstallDate(0x65f1c3a2, 0); !got.Equal(want) {
		t.Errorf("WindowsInstallDate(date) = %v, want %v", got, want)
	}
	if got := WindowsInstallDate(0x65f1c3a2, 0x01da78c2b1f0e4c0); got.Year() != 2024 {
		t.Errorf("WindowsInstallDate(time) = %v, want a 2024 date", got)
	}
	if got := WindowsInstallDate(0, 0); !got.IsZero() {
		t.Errorf("WindowsInstallDate(0, 0) = %v", got)
	}
}

func TestOSReleaseBuild(t *testing.T) {
	for in, want := range map[string]string{
		"ID=fedora\nBUILD_ID=\"2024.05.1\"\n": "2024.05.1",
		"ID=arch\nBUILD_ID=rolling\n":         "",
		"ID=debian\nVERSION_ID=\"12\"\n":      "",
		"IMAGE_VERSION=42\n":                  "42",
	} {
		if got := OSReleaseBuild([]byte(in)); got != want {
			t.Errorf("OSReleaseBuild(%q) = %q, want %q", in, got, want)
		}
	}
}
