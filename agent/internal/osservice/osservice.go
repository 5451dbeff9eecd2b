// Package osservice installs and runs the agent as an OS service through
// github.com/kardianos/service: systemd (SysV init where there is no
// systemd) on Linux, the Service Control Manager on Windows, launchd on
// macOS.
//
// The library's defaults differ between platforms and from its own
// documentation (no recovery action on Windows, RunAtLoad off on macOS,
// Restart=always and RestartSec=120 on systemd, an unquoted path in its
// SysV script), so every definition is written here explicitly: restart on
// failure, start at boot, the executable path quoted.
package osservice

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/kardianos/service"
)

// Name is the service's name on every platform.
const Name = "umbra-agent"

// StopTimeout bounds how long Stop waits for the agent to finish.
const StopTimeout = 20 * time.Second

// Options say what the service runs.
type Options struct {
	// Executable is the agent binary; empty means this one.
	Executable string
	// ConfigPath is the configuration file the service is started with.
	ConfigPath string
}

// serviceConfig is the definition of the service on goos.
func serviceConfig(opts Options, goos string) *service.Config {
	c := &service.Config{
		Name:        Name,
		DisplayName: "Umbra agent",
		Description: "Umbra agent: inventories this host and reports to the Umbra collector.",
		Executable:  opts.Executable,
		Arguments:   []string{"run", "--config", opts.ConfigPath},
		Option:      service.KeyValue{},
	}
	switch goos {
	case "windows":
		c.Option["StartType"] = "automatic" // start at boot
		c.Option["DelayedAutoStart"] = true // after the boot rush
		c.Option["OnFailure"] = "restart"   // the library's default is none
		c.Option["OnFailureDelayDuration"] = "10s"
		c.Option["OnFailureResetPeriod"] = 24 * 60 * 60 // seconds
	case "darwin":
		c.Option["RunAtLoad"] = true // start at boot; the library's default is false
		c.Option["KeepAlive"] = true // restart; see launchdPlist for the exact policy
		c.Option["LaunchdConfig"] = launchdPlist
	default:
		c.Option["Restart"] = "on-failure"
		c.Option["SystemdScript"] = systemdUnit
		c.Option["SysvScript"] = sysvScript
		c.Dependencies = []string{"Wants=network-online.target", "After=network-online.target"}
	}
	return c
}

// program adapts the agent to kardianos: Start returns at once with the
// agent running in a goroutine; Stop cancels it and waits a bounded time.
type program struct {
	parent      context.Context
	run         func(context.Context) error
	fail        func(error) // the agent ended with an error by itself
	stopTimeout time.Duration

	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(p.parent)
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		p.err = p.run(ctx)
		if p.err != nil && ctx.Err() == nil {
			p.fail(p.err)
		}
	}()
	return nil
}

func (p *program) Stop(service.Service) error {
	if p.cancel == nil {
		return nil
	}
	p.cancel()
	t := time.NewTimer(p.stopTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
		return fmt.Errorf("agent did not stop within %v", p.stopTimeout)
	}
}

// Run runs the agent until ctx is done or the service manager stops it.
// From a terminal (or a test) it simply calls run; under a service manager
// it reports to it. If run fails by itself under a service manager, the
// process exits with status 1 so that the manager restarts it.
func Run(ctx context.Context, run func(context.Context) error) error {
	if service.Interactive() {
		return run(ctx)
	}
	p := &program{parent: ctx, run: run, stopTimeout: StopTimeout, fail: func(err error) {
		fmt.Fprintf(os.Stderr, "umbra-agent: %v\n", err)
		os.Exit(1)
	}}
	cfg := serviceConfig(Options{}, "")
	// Wait for ctx (SIGTERM, SIGINT) rather than the library's own signal
	// handler.
	cfg.Option["RunWait"] = func() { <-ctx.Done() }
	s, err := service.New(p, cfg)
	if err != nil {
		return err
	}
	return s.Run()
}

// Actions are the control verbs.
var Actions = []string{"install", "uninstall", "start", "stop", "restart", "status"}

// Control performs one action on the installed service and returns a line
// to show (status: running, stopped, not installed).
func Control(action string, opts Options) (string, error) {
	if opts.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", err
		}
		opts.Executable = exe
	}
	exe, err := filepath.Abs(opts.Executable)
	if err != nil {
		return "", err
	}
	opts.Executable = exe
	s, err := service.New(&program{}, serviceConfig(opts, goos()))
	if err != nil {
		return "", err
	}
	switch action {
	case "status":
		st, err := s.Status()
		switch {
		case errors.Is(err, service.ErrNotInstalled):
			return "not installed", nil
		case err != nil:
			return "", err
		case st == service.StatusRunning:
			return "running", nil
		case st == service.StatusStopped:
			return "stopped", nil
		}
		return "unknown", nil
	case "install":
		if err := s.Install(); err != nil {
			return "", err
		}
		if err := afterInstall(opts); err != nil {
			return "", fmt.Errorf("service installed, but: %w", err)
		}
		return fmt.Sprintf("installed %s (%s), running %s", Name, service.Platform(), exe), nil
	case "uninstall", "start", "stop", "restart":
		if err := service.Control(s, action); err != nil {
			return "", err
		}
		return action + " " + Name + ": done", nil
	}
	return "", fmt.Errorf("unknown action %q: want one of %s", action, strings.Join(Actions, ", "))
}

// Templates. The systemd and SysV ones are executed by the library with
// its functions cmd (double-quote) and cmdEscape (spaces as \x20); the
// launchd one with bool and text/template's html.

const systemdUnit = `[Unit]
Description={{.Description}}
ConditionFileIsExecutable={{.Path|cmdEscape}}
{{range .Dependencies}}{{.}}
{{end}}StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart={{.Path|cmd}}{{range .Arguments}} {{.|cmd}}{{end}}
Restart={{.Restart}}
RestartSec=10
TimeoutStopSec=30
KillMode=mixed
Nice=10
IOSchedulingClass=idle
{{range $k, $v := .EnvVars}}Environment={{$k}}={{$v}}
{{end}}
[Install]
WantedBy=multi-user.target
`

// sysvScript supervises the agent itself, as SysV init does not: a loop
// restarts it 10 seconds after it fails, until "stop".
const sysvScript = `#!/bin/sh
### BEGIN INIT INFO
# Provides:          {{.Name}}
# Required-Start:    $network $remote_fs
# Required-Stop:     $network $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: {{.DisplayName}}
# Description:       {{.Description}}
### END INIT INFO
# chkconfig: 2345 99 01

exe={{.Path|cmd}}
name={{.Name}}
pid_file="/var/run/$name.pid"
log_file="{{.LogDirectory}}/$name.log"

is_running() {
    [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

supervise() {
    child=
    trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
    while [ -z "$stopping" ]; do
        nice -n 10 "$exe"{{range .Arguments}} {{.|cmd}}{{end}} >>"$log_file" 2>&1 &
        child=$!
        wait "$child"; status=$?
        while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
        [ -n "$stopping" ] && break
        [ "$status" -eq 0 ] && break
        echo "$(date): $name exited with status $status; restarting in 10s" >>"$log_file"
        sleep 10
    done
}

case "$1" in
    start)
        if is_running; then echo "$name is running"; exit 0; fi
        [ -x "$exe" ] || { echo "$exe is not executable"; exit 5; }
        supervise </dev/null >/dev/null 2>&1 &
        echo $! >"$pid_file"
        echo "Started $name"
        ;;
    stop)
        if ! is_running; then echo "$name is not running"; rm -f "$pid_file"; exit 0; fi
        kill -TERM "$(cat "$pid_file")"
        i=0
        while is_running && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done
        if is_running; then echo "$name did not stop"; exit 1; fi
        rm -f "$pid_file"
        echo "Stopped $name"
        ;;
    restart)
        "$0" stop && "$0" start
        ;;
    status)
        if is_running; then echo "$name is running"; else echo "$name is stopped"; exit 3; fi
        ;;
    *)
        echo "Usage: $0 {start|stop|restart|status}"
        exit 2
        ;;
esac
exit 0
`

// launchdPlist restarts the agent whenever it exits unsuccessfully
// (KeepAlive/SuccessfulExit false) and starts it at boot (RunAtLoad).
const launchdPlist = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{{html .Name}}</string>
	<key>ProgramArguments</key>
	<array>
		<string>{{html .Path}}</string>
{{- range .Arguments}}
		<string>{{html .}}</string>
{{- end}}
	</array>
	<key>RunAtLoad</key>
	<{{bool .RunAtLoad}}/>
	<key>KeepAlive</key>
{{- if .KeepAlive}}
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
{{- else}}
	<false/>
{{- end}}
	<key>ThrottleInterval</key>
	<integer>10</integer>
	<key>ProcessType</key>
	<string>Background</string>
	<key>LowPriorityIO</key>
	<true/>
	<key>StandardOutPath</key>
	<string>{{html .StandardOutPath}}</string>
	<key>StandardErrorPath</key>
	<string>{{html .StandardErrorPath}}</string>
</dict>
</plist>
`

// Functions the library gives its templates (copied from v1.2.4 so that the
// definitions can be rendered and checked without installing anything).
var (
	linuxFuncs = template.FuncMap{
		"cmd":       func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` },
		"cmdEscape": func(s string) string { return strings.ReplaceAll(s, " ", `\x20`) },
	}
	darwinFuncs = template.FuncMap{
		"bool": func(v bool) string {
			if v {
				return "true"
			}
			return "false"
		},
	}
)
