package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
)

func timeCell(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// credentialCmd runs "umbra token …" and "umbra enroll-secret …".
func credentialCmd(ctx context.Context, noun string, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	path := adminapi.PathTokens
	if noun == "enroll-secret" {
		path = adminapi.PathEnrollSecrets
	}
	sub, args, fs, cf, asJSON := subcommand("umbra "+noun, args, stderr, getenv)
	name := fs.Name()
	var label, role string
	var ttl time.Duration
	var uses uint
	nargs := 0
	switch sub {
	case "create":
		fs.StringVar(&label, "name", "", "a `name` saying what it is for (required)")
		fs.DurationVar(&ttl, "ttl", 0, "how long it works, e.g. 24h; 0 means until revoked")
		if noun == "token" {
			fs.StringVar(&role, "role", "", "`role`: admin, operator or auditor (required)")
		} else {
			fs.UintVar(&uses, "max-uses", 0, "how many agents may enrol with it; 0 means any number")
		}
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "Usage: %s --name NAME [flags]\n\nCreates a %s and prints its secret once; store it safely.\n\nFlags:\n", name, noun)
			fs.PrintDefaults()
		}
	case "list":
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "Usage: %s [--json]\n\nFlags:\n", name)
			fs.PrintDefaults()
		}
	case "revoke":
		nargs = 1
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "Usage: %s ID\n\nRevokes it at once.\n\nFlags:\n", name)
			fs.PrintDefaults()
		}
	default:
		return badSub(sub, fmt.Sprintf("Usage: umbra %s create|list|revoke [flags]\n", noun), stderr)
	}
	if code, ok := parseFlags(fs, args, nargs, stderr); !ok {
		return code
	}
	c, code := cf.client(name, stderr)
	if c == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	switch sub {
	case "create":
		if label == "" || noun == "token" && role == "" {
			if noun == "token" {
				fmt.Fprintf(stderr, "%s: --name and --role are required\n", name)
			} else {
				fmt.Fprintf(stderr, "%s: --name is required\n", name)
			}
			return exitUsage
		}
		var body any = adminapi.CreateEnrollSecret{Name: label, TTLSeconds: int64(ttl / time.Second), MaxUses: uint32(uses)}
		if noun == "token" {
			body = adminapi.CreateToken{Name: label, Role: role, TTLSeconds: int64(ttl / time.Second)}
		}
		var out adminapi.Credential
		if err := c.do(ctx, http.MethodPost, path, body, &out); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitError
		}
		if *asJSON {
			return printJSON(stdout, stderr, name, out)
		}
		fmt.Fprintf(stderr, "created %s %s (%s), expires %s; the secret is shown only now:\n", noun, out.ID, sanitize(out.Name), timeCell(out.ExpiresAt))
		fmt.Fprintln(stdout, out.Secret)
		return exitOK
	case "list":
		var list adminapi.CredentialList
		if err := c.do(ctx, http.MethodGet, path, nil, &list); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitError
		}
		if *asJSON {
			return printJSON(stdout, stderr, name, list)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		if noun == "token" {
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tSTATE\tCREATED\tEXPIRES\tCREATED BY")
		} else {
			fmt.Fprintln(tw, "ID\tNAME\tUSES\tSTATE\tCREATED\tEXPIRES\tCREATED BY")
		}
		for _, cr := range list.Credentials {
			state := "active"
			switch {
			case cr.Revoked:
				state = "revoked"
			case !cr.Active:
				state = "expired"
			}
			third := cr.Role
			if noun != "token" {
				third = fmt.Sprint(cr.Uses)
				if cr.MaxUses > 0 {
					third += fmt.Sprintf("/%d", cr.MaxUses)
				}
			}
			fmt.Fprintln(tw, strings.Join([]string{cr.ID, cell(cr.Name), third, state, timeCell(&cr.CreatedAt), timeCell(cr.ExpiresAt), cell(cr.CreatedBy)}, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return exitError
		}
		return exitOK
	default: // revoke
		id := fs.Arg(0)
		if err := c.do(ctx, http.MethodDelete, path+"/"+url.PathEscape(id), nil, nil); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitError
		}
		fmt.Fprintf(stdout, "revoked %s %s\n", noun, sanitize(id))
		return exitOK
	}
}

// agentCmd runs "umbra agent list|revoke".
func agentCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	sub, args, fs, cf, asJSON := subcommand("umbra agent", args, stderr, getenv)
	name := fs.Name()
	nargs := 0
	switch sub {
	case "list":
	case "revoke":
		nargs = 1
	default:
		return badSub(sub, "Usage: umbra agent list|revoke AGENT_ID [flags]\n", stderr)
	}
	if code, ok := parseFlags(fs, args, nargs, stderr); !ok {
		return code
	}
	c, code := cf.client(name, stderr)
	if c == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	if sub == "revoke" {
		id := fs.Arg(0)
		if err := c.do(ctx, http.MethodDelete, adminapi.PathAgents+"/"+url.PathEscape(id), nil, nil); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitError
		}
		fmt.Fprintf(stdout, "revoked agent %s: it must be enrolled again\n", sanitize(id))
		return exitOK
	}
	var list adminapi.AgentList
	if err := c.do(ctx, http.MethodGet, adminapi.PathAgents, nil, &list); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitError
	}
	if *asJSON {
		return printJSON(stdout, stderr, name, list)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT ID\tHOSTNAME\tOS\tVERSION\tSTATE\tENROLLED\tFROM\tHEARTBEAT")
	for _, a := range list.Agents {
		state := "active"
		if a.Revoked {
			state = "revoked"
		}
		fmt.Fprintln(tw, strings.Join([]string{a.AgentID, cell(a.Hostname), cell(a.OS), cell(a.AgentVersion), state, timeCell(&a.EnrolledAt), cell(a.RemoteAddr),
			heartbeatCell(a.Heartbeat, time.Now())}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return exitError
	}
	return exitOK
}

// auditCmd runs "umbra audit".
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("umbra audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := addClientFlags(fs, getenv)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	limit := fs.Int("limit", 50, "how many of the latest events")
	if code, ok := parseFlags(fs, args, 0, stderr); !ok {
		return code
	}
	c, code := cf.client("umbra audit", stderr)
	if c == nil {
		return code
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	var log adminapi.AuditLog
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s?limit=%d", adminapi.PathAudit, *limit), nil, &log); err != nil {
		fmt.Fprintln(stderr, "umbra audit:", err)
		return exitError
	}
	if *asJSON {
		return printJSON(stdout, stderr, "umbra audit", log)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tACTOR\tACTION\tTARGET\tOUTCOME\tFROM\tDETAIL")
	for _, e := range log.Events {
		fmt.Fprintln(tw, strings.Join([]string{e.At.UTC().Format(time.RFC3339), cell(e.Actor), cell(e.Action), cell(e.Target), cell(e.Outcome), cell(e.RemoteAddr), cell(e.Detail)}, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return exitError
	}
	return exitOK
}
