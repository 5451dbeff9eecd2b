package cli

import (
	"bufio"
	"context"
	"io"
	"net/netip"
	"time"

	"github.com/umbrasec/umbra/agent/internal/discovery/snmp"
)

const snmpSynopsis = "snmp walk ADDRESS OID… [--snmp-community NAME | --snmp-v3 user:auth:authpass:priv:privpass]\n" +
	"       [--max-repetitions N] [--timeout DURATION] [--max-records N]"

// runSNMP reads SNMP subtrees of one device with the same bounded walk a
// scan uses: what a network admin reaches for to see what a device tells
// us, or to check a credential.
func runSNMP(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "walk" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			newFlags("snmp", snmpSynopsis, stderr).Usage()
			return nil
		}
		return usagef("want 'snmp walk ADDRESS OID…'")
	}
	fs := newFlags("snmp", snmpSynopsis, stderr)
	var communities, v3s repeatFlag
	fs.Var(&communities, "snmp-community", "SNMP v1/v2c community `NAME` (default public)")
	fs.Var(&v3s, "snmp-v3", "SNMPv3 credential `user:authproto:authpass:privproto:privpass`")
	v1 := fs.Bool("v1", false, "with --snmp-community: SNMP v1 (GETNEXT) instead of v2c (GETBULK)")
	reps := fs.Uint("max-repetitions", 25, "GETBULK max-repetitions `N`")
	timeout := fs.Duration("timeout", time.Second, "per-request `timeout` (one retry)")
	maxRecs := fs.Int("max-records", 20000, "stop a subtree after `N` records")
	rest, err := parseMixed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(rest) < 2 {
		return usagef("want an address and at least one OID")
	}
	addr, err := netip.ParseAddr(rest[0])
	if err != nil {
		return usagef("%q is not an IP address", rest[0])
	}
	if len(communities)+len(v3s) > 1 {
		return usagef("give one credential: a walk does not try several")
	}
	creds, err := snmpCredentials(communities, v3s)
	if err != nil {
		return err
	}
	cred := creds[0]
	if *v1 {
		if cred.Version == snmp.V3 {
			return usagef("--v1 goes with --snmp-community")
		}
		cred.Version = snmp.V1
	}
	if *reps < 1 || *reps > 1000 {
		return usagef("--max-repetitions: between 1 and 1000")
	}
	p := snmp.New(snmp.Options{Timeout: *timeout, MaxRepetitions: uint32(*reps), MaxWalkRecords: *maxRecs})
	w := bufio.NewWriterSize(stdout, 64<<10)
	defer w.Flush()
	return p.WalkText(ctx, addr, cred, rest[1:], w)
}
