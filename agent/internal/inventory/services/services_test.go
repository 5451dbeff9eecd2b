package services

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/umbrasec/umbra/shared/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/<name>, or rewrites it under -update.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != string(b) {
		t.Errorf("%s differs:\n got %s\nwant %s", file, b, want)
	}
}

func validate(t *testing.T, list []wire.Service) {
	t.Helper()
	inv := &wire.Inventory{Services: list}
	rep := wire.Report{Schema: wire.Schema, ID: "r1", Kind: wire.KindInventory, AgentID: "a1", Inventory: inv}
	err := rep.Validate(wire.DefaultLimits, rep.CreatedAt)
	if err != nil && strings.Contains(err.Error(), "services") {
		t.Errorf("services do not validate: %v", err)
	}
}

func TestLinux(t *testing.T) {
	root := os.DirFS("testdata/linux/root")
	b, err := os.ReadFile("testdata/linux/list-units.json")
	if err != nil {
		t.Fatal(err)
	}
	states, err := ParseListUnits(b)
	if err != nil {
		t.Fatal(err)
	}
	got, errs := Linux(root, states)
	if len(errs) > 0 {
		t.Errorf("errors: %v", errs)
	}
	validate(t, got)
	golden(t, "linux/expected.json", got)

	// Without systemctl: /run/systemd/units says which were started.
	run, err := RunUnits(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"ssh.service": StateRunning}; !reflect.DeepEqual(run, want) {
		t.Errorf("RunUnits = %v, want %v", run, want)
	}
	// Without any state source the state is unknown, not "stopped".
	got, _ = Linux(root, nil)
	for _, s := range got {
		if s.State != "" {
			t.Errorf("%s: state %q without a state source", s.Name, s.State)
		}
	}
}

func TestDarwin(t *testing.T) {
	b, err := os.ReadFile("testdata/darwin/launchctl-list.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, errs := Darwin(os.DirFS("testdata/darwin/root"), ParseLaunchctlList(b))
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "broken.plist") {
		t.Errorf("errors = %v, want one about broken.plist", errs)
	}
	validate(t, got)
	golden(t, "darwin/expected.json", got)
}

func TestWindows(t *testing.T) {
	b, err := os.ReadFile("testdata/windows/services.json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []WinService
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	var got []wire.Service
	for _, r := range rows {
		got = append(got, FromWindows(r))
	}
	validate(t, got)
	golden(t, "windows/expected.json", got)
}

func TestParseUnit(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Unit
	}{
		{"empty", "", Unit{}},
		{"basic", "[Unit]\nDescription=X\n[Service]\nExecStart=/bin/x -a\nUser=nobody\n[Install]\nWantedBy=multi-user.target\n",
			Unit{Description: "X", ExecStart: "/bin/x -a", User: "nobody", HasInstall: true}},
		{"continuation", "[Service]\nExecStart=/bin/x \\\n  # skipped comment\n  --flag\n", Unit{ExecStart: "/bin/x  --flag"}},
		{"reset", "[Service]\nExecStart=/bin/a\nExecStart=\nExecStart=/bin/b\n", Unit{ExecStart: "/bin/b"}},
		{"wrong section", "[Socket]\nExecStart=/bin/a\nUser=u\n", Unit{}},
		{"crlf and spaces", "[Unit]\r\n Description = spaced \r\n", Unit{Description: "spaced"}},
		{"empty install", "[Install]\nWantedBy=\n", Unit{}},
		{"dangling continuation", "[Unit]\nDescription=a \\", Unit{Description: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseUnit([]byte(tc.in)); got != tc.want {
				t.Errorf("ParseUnit(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestExecutable(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/sbin/sshd -D $SSHD_OPTS": "/usr/sbin/sshd",
		"-/sbin/agetty -o x":           "/sbin/agetty",
		"!!/lib/systemd/x":             "/lib/systemd/x",
		`"/opt/my app/run" --x`:        "/opt/my app/run",
		"":                             "",
		"@/bin/a argv0":                "/bin/a",
	} {
		if got := Executable(in); got != want {
			t.Errorf("Executable(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		`"C:\Program Files\A\a.exe" -k`:          `C:\Program Files\A\a.exe`,
		`C:\Program Files\B b\svc.EXE /run`:      `C:\Program Files\B b\svc.EXE`,
		`C:\Windows\system32\svchost.exe -k net`: `C:\Windows\system32\svchost.exe`,
		`\SystemRoot\x.sys`:                      `\SystemRoot\x.sys`,
	} {
		if got := windowsExecutable(in); got != want {
			t.Errorf("windowsExecutable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseListUnitsRejectsGarbage(t *testing.T) {
	if _, err := ParseListUnits([]byte("UNIT LOAD ACTIVE")); err == nil {
		t.Error("ParseListUnits accepted text output")
	}
}

func FuzzParseUnit(f *testing.F) {
	for _, s := range []string{"[Unit]\nDescription=x\n", "[Service]\nExecStart=a \\\nb\n", "[Install]\nWantedBy=a\n", "\\\n\\\n[", "[]\n=\n"} {
		f.Add([]byte(s))
	}
	entries, _ := os.ReadDir("testdata/linux/root/lib/systemd/system")
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("testdata/linux/root/lib/systemd/system", e.Name())); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		u := ParseUnit(data)
		if len(u.ExecStart) > maxUnitLine+len(data) || len(u.Description) > len(data) {
			t.Fatalf("ParseUnit produced more than it read: %d", len(u.ExecStart))
		}
		_ = Executable(u.ExecStart)
	})
}
