package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/shared/version"
)

func defaultConfigPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return filepath.Join("~", ".config", "umbra", "config.json")
	}
	return filepath.Join(dir, "umbra", "config.json")
}

// clientFlags are the flags every command that talks to the collector
// takes. There is deliberately no flag for the token: it would show in ps.
type clientFlags struct {
	getenv    func(string) string
	config    string
	collector string
	caFile    string
	timeout   time.Duration
}

// subcommand takes the subcommand off args and returns it, the rest of
// args, and the flag set of "PREFIX SUB" with the client flags and --json:
// how every "umbra NOUN VERB" command starts.
func subcommand(prefix string, args []string, stderr io.Writer, getenv func(string) string) (sub string, rest []string, fs *flag.FlagSet, cf *clientFlags, asJSON *bool) {
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	fs = flag.NewFlagSet(prefix+" "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf = addClientFlags(fs, getenv)
	asJSON = fs.Bool("json", false, "print JSON for scripts")
	return sub, args, fs, cf, asJSON
}

func addClientFlags(fs *flag.FlagSet, getenv func(string) string) *clientFlags {
	cf := &clientFlags{getenv: getenv}
	fs.StringVar(&cf.config, "config", getenv("UMBRA_CONFIG"), "config `file` with collector, token and ca_file (env UMBRA_CONFIG; default "+defaultConfigPath()+")")
	fs.StringVar(&cf.collector, "collector", getenv("UMBRA_COLLECTOR"), "collector `URL` (env UMBRA_COLLECTOR; default from the config file, else "+DefaultCollector+")")
	fs.StringVar(&cf.caFile, "ca-file", getenv("UMBRA_CA_FILE"), "PEM `file` of the collector's CA (env UMBRA_CA_FILE; default from the config file)")
	fs.DurationVar(&cf.timeout, "timeout", 30*time.Second, "give up after this long")
	return cf
}

// parseFlags parses args, allowing nargs positional arguments (-1: any).
func parseFlags(fs *flag.FlagSet, args []string, nargs int, stderr io.Writer) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if nargs >= 0 && fs.NArg() != nargs {
		if fs.NArg() > nargs {
			fmt.Fprintf(stderr, "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(fs.Args()[nargs:], " "))
		} else {
			fmt.Fprintf(stderr, "%s: missing argument\n", fs.Name())
			fs.Usage()
		}
		return exitUsage, false
	}
	return exitOK, true
}

// client is a connection to the collector's admin API.
type client struct {
	base  *url.URL
	http  *http.Client
	token string
}

// loadConfig reads the config file; a missing default file is no error.
func (cf *clientFlags) loadConfig() (adminapi.ClientConfig, error) {
	var cc adminapi.ClientConfig
	path, explicit := cf.config, cf.config != ""
	if !explicit {
		path = defaultConfigPath()
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return cc, nil
	}
	if err != nil {
		return cc, fmt.Errorf("reading config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cc); err != nil {
		return cc, fmt.Errorf("config %s: %w", path, err)
	}
	if cc.CAFile != "" && !filepath.IsAbs(cc.CAFile) {
		cc.CAFile = filepath.Join(filepath.Dir(path), cc.CAFile)
	}
	return cc, nil
}

// client builds the API client from flags, environment and config file,
// or prints why it cannot and returns the exit code.
func (cf *clientFlags) client(cmd string, stderr io.Writer) (*client, int) {
	cc, err := cf.loadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return nil, exitUsage
	}
	if cf.collector != "" {
		cc.Collector = cf.collector
	}
	if cc.Collector == "" {
		cc.Collector = DefaultCollector
	}
	if cf.caFile != "" {
		cc.CAFile = cf.caFile
	}
	if t := cf.getenv("UMBRA_TOKEN"); t != "" {
		cc.Token = t
	}
	u, err := url.Parse(cc.Collector)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "%s: collector URL %q: want http://host:port or https://host:port\n", cmd, cc.Collector)
		return nil, exitUsage
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cc.CAFile != "" {
		pem, err := os.ReadFile(cc.CAFile)
		if err != nil {
			fmt.Fprintf(stderr, "%s: reading the CA file: %v\n", cmd, err)
			return nil, exitUsage
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "%s: %s holds no PEM certificate\n", cmd, cc.CAFile)
			return nil, exitUsage
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &client{base: u, http: &http.Client{Transport: tr}, token: strings.TrimSpace(cc.Token)}, exitOK
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (if not nil). An out of type func(io.Reader) error reads a
// successful answer as it arrives (an export of any size).
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	path, query, _ := strings.Cut(path, "?")
	u := c.base.JoinPath(path)
	u.RawQuery = query
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "umbra/"+version.Version)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the collector at %s: %w", c.base.Redacted(), err)
	}
	defer resp.Body.Close()
	if stream, ok := out.(func(io.Reader) error); ok && resp.StatusCode/100 == 2 {
		if err := stream(resp.Body); err != nil {
			return fmt.Errorf("reading the answer of %s: %w", u.Redacted(), err)
		}
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		var p struct {
			Error    string   `json:"error"`
			Problems []string `json:"problems"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &p) == nil && p.Error != "" {
			msg = p.Error
			if len(p.Problems) > 0 {
				msg += ": " + strings.Join(p.Problems, "; ")
			}
		}
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized && c.token == "" {
			hint = " (no token: set UMBRA_TOKEN or a config file; see umbra -h)"
		}
		return fmt.Errorf("collector at %s answered %s: %s%s", c.base.Redacted(), resp.Status, sanitize(truncate(msg, 300)), hint)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("collector at %s sent an unreadable answer: %w", c.base.Redacted(), err)
	}
	return nil
}

func printJSON(stdout, stderr io.Writer, cmd string, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, cmd+":", err)
		return exitError
	}
	return exitOK
}
