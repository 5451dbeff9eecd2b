package osservice

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/kardianos/service"
)

var testOpts = Options{
	Executable: "/opt/Umbra Agent/bin/umbra-agent",
	ConfigPath: "/etc/umbra/agent.yaml",
}

// render executes one of our templates the way kardianos v1.2.4 does, with
// the same data fields and functions, without installing anything.
func render(t *testing.T, text string, funcs template.FuncMap, data any) string {
	t.Helper()
	tmpl, err := template.New("").Funcs(funcs).Parse(text)
	if err != nil {
		t.Fatalf("parsing template: %v", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatalf("rendering: %v", err)
	}
	return b.String()
}

func TestSystemdUnit(t *testing.T) {
	c := serviceConfig(testOpts, "linux")
	// The fields kardianos's systemd Install hands the template.
	data := &struct {
		*service.Config
		Path                 string
		HasOutputFileSupport bool
		ReloadSignal         string
		PIDFile              string
		LimitNOFILE          int
		Restart              string
		SuccessExitStatus    string
		LogOutput            bool
		LogDirectory         string
	}{Config: c, Path: c.Executable, LimitNOFILE: -1, Restart: c.Option["Restart"].(string), LogDirectory: "/var/log"}
	unit := render(t, c.Option["SystemdScript"].(string), linuxFuncs, data)
	for _, want := range []string{
		"ConditionFileIsExecutable=/opt/Umbra\\x20Agent/bin/umbra-agent\n",
		`ExecStart="/opt/Umbra Agent/bin/umbra-agent" "run" "--config" "/etc/umbra/agent.yaml"` + "\n",
		"Restart=on-failure\n",
		"RestartSec=10\n",
		"StartLimitIntervalSec=0\n", // never give up restarting
		"Wants=network-online.target\nAfter=network-online.target\n",
		"[Install]\nWantedBy=multi-user.target\n", // start at boot (enabled by Install)
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("systemd unit lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(unit, "<no value>") {
		t.Errorf("systemd unit has an unset field:\n%s", unit)
	}
}

func TestSysvScript(t *testing.T) {
	c := serviceConfig(testOpts, "linux")
	data := &struct {
		*service.Config
		Path         string
		LogDirectory string
	}{c, c.Executable, "/var/log"}
	script := render(t, c.Option["SysvScript"].(string), linuxFuncs, data)
	for _, want := range []string{
		`exe="/opt/Umbra Agent/bin/umbra-agent"` + "\n",
		`"$exe" "run" "--config" "/etc/umbra/agent.yaml"`,
		"# Default-Start:     2 3 4 5\n",
		"restarting in 10s",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("SysV script lacks %q:\n%s", want, script)
		}
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		cmd := exec.Command(sh, "-n")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sh -n: %v\n%s", err, out)
		}
	}
}

func TestLaunchdPlist(t *testing.T) {
	c := serviceConfig(testOpts, "darwin")
	if c.Option["RunAtLoad"] != true || c.Option["KeepAlive"] != true {
		t.Errorf("darwin options = %v, want RunAtLoad and KeepAlive set", c.Option)
	}
	data := &struct {
		*service.Config
		Path                 string
		KeepAlive, RunAtLoad bool
		SessionCreate        bool
		StandardOutPath      string
		StandardErrorPath    string
	}{c, c.Executable, true, true, false, "/usr/local/var/log/umbra-agent.out.log", "/usr/local/var/log/umbra-agent.err.log"}
	plist := render(t, c.Option["LaunchdConfig"].(string), darwinFuncs, data)

	// Well-formed XML, and the keys that matter.
	dec := xml.NewDecoder(strings.NewReader(plist))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("plist is not well-formed XML: %v\n%s", err, plist)
		}
	}
	for _, want := range []string{
		"<key>Label</key>\n\t<string>umbra-agent</string>",
		"<string>/opt/Umbra Agent/bin/umbra-agent</string>\n\t\t<string>run</string>\n\t\t<string>--config</string>\n\t\t<string>/etc/umbra/agent.yaml</string>\n\t</array>",
		"<key>RunAtLoad</key>\n\t<true/>",
		"<key>KeepAlive</key>\n\t<dict>\n\t\t<key>SuccessfulExit</key>\n\t\t<false/>\n\t</dict>",
	} {
		if !strings.Contains(plist, want) {
			t.Errorf("plist lacks %q:\n%s", want, plist)
		}
	}
}

func TestWindowsOptions(t *testing.T) {
	c := serviceConfig(Options{Executable: `C:\Program Files\Umbra\umbra-agent.exe`, ConfigPath: `C:\ProgramData\Umbra\agent.yaml`}, "windows")
	want := map[string]any{
		"StartType": "automatic", "OnFailure": "restart", "OnFailureDelayDuration": "10s",
		"OnFailureResetPeriod": 86400, "DelayedAutoStart": true,
	}
	for k, v := range want {
		if c.Option[k] != v {
			t.Errorf("windows option %s = %v, want %v", k, c.Option[k], v)
		}
	}
	got := windowsCommandLine(c.Executable, c.Arguments)
	if w := `"C:\Program Files\Umbra\umbra-agent.exe" "run" "--config" "C:\ProgramData\Umbra\agent.yaml"`; got != w {
		t.Errorf("windowsCommandLine = %s, want %s", got, w)
	}
	for in, w := range map[string]string{`a"b`: `"a\"b"`, `C:\dir\`: `"C:\dir\\"`, `x\"y`: `"x\\\"y"`, ``: `""`} {
		if got := quoteWindows(in); got != w {
			t.Errorf("quoteWindows(%q) = %s, want %s", in, got, w)
		}
	}
}

func TestLinuxSystems(t *testing.T) {
	for _, s := range service.AvailableSystems() {
		if n := s.String(); n != "linux-systemd" && n != "unix-systemv" {
			t.Errorf("service system %s is available, want only systemd and SysV", n)
		}
	}
}

func TestProgramStartStop(t *testing.T) {
	started := make(chan struct{})
	p := &program{parent: t.Context(), stopTimeout: 5 * time.Second, fail: func(err error) { t.Errorf("fail(%v)", err) },
		run: func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			return nil
		}}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := p.Stop(nil); err != nil {
		t.Errorf("Stop = %v", err)
	}

	// A run that ignores cancellation: Stop gives up in bounded time.
	block := make(chan struct{})
	defer close(block)
	p = &program{parent: t.Context(), stopTimeout: 50 * time.Millisecond, fail: func(error) {},
		run: func(context.Context) error { <-block; return nil }}
	p.Start(nil)
	start := time.Now()
	if err := p.Stop(nil); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("Stop of a stuck agent = %v after %v, want an error after 50ms", err, time.Since(start))
	}

	// A run that fails by itself is reported.
	failed := make(chan error, 1)
	p = &program{parent: t.Context(), stopTimeout: time.Second, fail: func(err error) { failed <- err },
		run: func(context.Context) error { return errors.New("spool unusable") }}
	p.Start(nil)
	select {
	case err := <-failed:
		if err.Error() != "spool unusable" {
			t.Errorf("fail(%v)", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a failed run was not reported")
	}
}
