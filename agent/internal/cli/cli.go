// Package cli is the umbra-agent command line: it parses the arguments of
// one subcommand and runs it.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/umbrasec/umbra/shared/version"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

const usage = `umbra-agent inventories this host and reports to an Umbra collector.

Usage:
  umbra-agent inventory [--json]            print this host's inventory
  umbra-agent enroll --collector URL --ca-fingerprint sha256:… --secret-file F
                                            trade an enrolment secret for this agent's credential
  umbra-agent run [--config FILE]           run as the long-lived agent (spool, schedules, scan jobs)
  umbra-agent run --once --collector URL    send one inventory report
  umbra-agent scan TARGET… [--profile fast] [--snmp-community C] [--json]
                                            discover and identify devices (ARP/ICMP/TCP, SNMP, mDNS)
  umbra-agent snmp walk ADDRESS OID… [--snmp-community C | --snmp-v3 …]
                                            read SNMP subtrees of one device, as snmpbulkwalk -On prints them
  umbra-agent send FILE --collector URL     post a report saved by 'scan --out FILE'
  umbra-agent install|uninstall|start|stop|restart|status
                                            manage the OS service
  umbra-agent version                       print the version

Run 'umbra-agent COMMAND -h' for a command's flags.
`

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Run runs the command line args (without the program name) and returns the
// process exit code: 0 on success, 1 on failure, 2 on a usage mistake.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"enroll":    runEnroll,
		"inventory": runInventory,
		"run":       runRun,
		"scan":      runScan,
		"send":      runSend,
		"snmp":      runSNMP,
		"version":   runVersion,
		"install":   serviceCommand("install"),
		"uninstall": serviceCommand("uninstall"),
		"start":     serviceCommand("start"),
		"stop":      serviceCommand("stop"),
		"restart":   serviceCommand("restart"),
		"status":    serviceCommand("status"),
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := cmds[name]
	if !ok {
		fmt.Fprintf(stderr, "umbra-agent: unknown command %q\n\n%s", name, usage)
		return exitUsage
	}
	err := cmd(ctx, rest, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errReported):
		return exitFail
	case errors.Is(err, errFlags):
		return exitUsage // the flag package has said what is wrong
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "umbra-agent %s: %v\nRun 'umbra-agent %s -h' for usage.\n", name, err, name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "umbra-agent %s: %v\n", name, err)
		return exitFail
	}
}

// errReported is a failure the command has already explained on stderr.
var errReported = errors.New("failed")

// errFlags is a flag parsing error the flag package has already printed.
var errFlags = errors.New("bad flags")

// newFlags returns a flag set for one subcommand that prints its usage and
// errors on stderr.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("umbra-agent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: umbra-agent %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and refuses positional arguments.
// parseMixed parses a command line whose flags and positional arguments
// may come in any order, and returns the positional ones.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errFlags
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errFlags
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "version", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "umbra-agent %s (%s, %s/%s)\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
