package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/shared/wire"
)

const networkUsage = `Usage: umbra network trust add (--subnet PREFIX | --gateway-mac MAC | --dns-suffix DOMAIN) [--note TEXT]
       umbra network trust list [--json]
       umbra network trust remove ID

Agents run scans only on a trusted network: one where an interface address
lies in a trusted subnet, a default gateway has a trusted MAC address, or a
DNS search domain is a trusted suffix (or under it). A laptop elsewhere (a
café, a hotel, home) refuses every scan and sends nothing. With no trusted
network, agents scan nowhere unless the collector runs with
--scan-trust-all-networks. Adding and removing needs the operator or admin
role; both are audited.
`

// networkCmd runs "umbra network trust …".
func networkCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] != "trust" {
		first := ""
		if len(args) > 0 {
			first = args[0]
		}
		return badSub(first, networkUsage, stderr)
	}
	args = args[1:]
	sub, args, fs, cf, asJSON := subcommand("umbra network trust", args, stderr, getenv)
	name := fs.Name()
	var subnet, mac, suffix, note string
	want := 0
	switch sub {
	case "add":
		fs.StringVar(&subnet, "subnet", "", "trust agents with an address in this `prefix`, e.g. 198.18.1.0/24")
		fs.StringVar(&mac, "gateway-mac", "", "trust agents whose default gateway has this `MAC` address")
		fs.StringVar(&suffix, "dns-suffix", "", "trust agents whose DNS search `domain` is this one or under it")
		fs.StringVar(&note, "note", "", "a `note` for the list, e.g. the site")
	case "list":
	case "remove":
		want = 1
	default:
		return badSub(sub, networkUsage, stderr)
	}
	pos, code, ok := subArgs(fs, args, networkUsage, want)
	if !ok {
		return code
	}
	var req adminapi.CreateTrustedNetwork
	if sub == "add" {
		n := 0
		for kind, v := range map[string]string{wire.TrustSubnet: subnet, wire.TrustGatewayMAC: mac, wire.TrustDNSSuffix: suffix} {
			if v != "" {
				req.Kind, req.Value = kind, v
				n++
			}
		}
		if n != 1 {
			fmt.Fprintf(stderr, "%s: give exactly one of --subnet, --gateway-mac and --dns-suffix\n", name)
			return exitUsage
		}
		if _, err := wire.NormalizeTrustValue(req.Kind, req.Value); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitUsage
		}
		req.Note = note
	}
	c, code := cf.client(name, stderr)
	if c == nil {
		return code
	}
	rctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	switch sub {
	case "add":
		var got adminapi.TrustedNetwork
		if err := c.do(rctx, http.MethodPost, adminapi.PathTrustedNetworks, req, &got); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
		if *asJSON {
			return printJSON(stdout, stderr, name, got)
		}
		fmt.Fprintf(stdout, "trusted network %s: %s %s\n", got.ID, got.Kind, sanitize(got.Value))
	case "list":
		var list adminapi.TrustedNetworkList
		if err := c.do(rctx, http.MethodGet, adminapi.PathTrustedNetworks, nil, &list); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
		if list.Rules == nil {
			list.Rules = []adminapi.TrustedNetwork{}
		}
		if *asJSON {
			return printJSON(stdout, stderr, name, list)
		}
		if len(list.Rules) == 0 {
			if list.TrustAll {
				fmt.Fprintln(stdout, "no trusted network: agents scan on every network (the collector runs with --scan-trust-all-networks)")
			} else {
				fmt.Fprintln(stdout, "no trusted network: agents refuse every scan until one is added")
			}
			return exitOK
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tVALUE\tNOTE\tCREATED\tBY")
		for _, x := range list.Rules {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, cell(x.Kind), cell(x.Value), cell(x.Note), timeCell(&x.CreatedAt), cell(x.CreatedBy))
		}
		if err := tw.Flush(); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
	case "remove":
		if err := c.do(rctx, http.MethodDelete, adminapi.PathTrustedNetworks+"/"+url.PathEscape(pos[0]), nil, nil); err != nil {
			fmt.Fprintln(stderr, name+":", err)
			return exitError
		}
		fmt.Fprintf(stdout, "trusted network %s removed\n", sanitize(pos[0]))
	}
	return exitOK
}
