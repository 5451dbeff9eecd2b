// Package config is the umbra-collector's configuration: flags with
// environment fallbacks, checked all at once.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store"
)

// Defaults.
const (
	DefaultListen     = "127.0.0.1:8470"
	DefaultClickHouse = "127.0.0.1:9000"
	DefaultDatabase   = "umbra"
	DefaultStateDir   = "/var/lib/umbra-collector"
)

// Commands of umbra-collector.
const (
	CommandServe          = "serve"
	CommandBootstrapToken = "bootstrap-token"
)

// Config is everything the collector needs to run.
type Config struct {
	// ReconcileInterval is how often reconciliation runs; zero disables the loop.
	ReconcileInterval time.Duration
	// AlertWebhook (an http(s) URL) and AlertSyslog (udp://host:port or
	// tcp://host:port) receive new findings; empty sends none.
	AlertWebhook, AlertSyslog string
	// Listen is the TCP address the HTTP server binds; port 0 picks one.
	Listen string
	// AddrFile, when set, receives the server's URL once it listens.
	AddrFile string
	// Store says where ClickHouse is.
	Store store.Config
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// LogLevel is the least level logged.
	LogLevel slog.Level

	// Command is CommandServe or CommandBootstrapToken.
	Command string
	// StateDir holds the CA, the server certificate and the bootstrap
	// admin file.
	StateDir string
	// InsecureHTTP serves plain HTTP instead of HTTPS.
	InsecureHTTP bool
	// TLSNames are extra DNS names and addresses of the server certificate.
	TLSNames []string
	// TLSCert and TLSKey, when set, are a certificate chain and key to use
	// instead of the collector's own CA; the last certificate of the chain
	// is the one agents pin.
	TLSCert, TLSKey string
	// AuthCacheTTL is how long a credential read from ClickHouse is
	// trusted: a revocation through another collector takes this long.
	AuthCacheTTL time.Duration
	// Ingest tunes the batching of reports into ClickHouse.
	Ingest Ingest
	// Scan bounds the network scans the collector hands to agents.
	Scan Scan

	// BootstrapOut is where bootstrap-token writes the admin CLI config.
	BootstrapOut string
	// BootstrapName names the bootstrap token.
	BootstrapName string
}

// Ingest tunes the batching of reports.
type Ingest struct {
	// MaxQueueBytes bounds the reports waiting to be written.
	MaxQueueBytes int64
	// FlushInterval is how long a report may wait for others.
	FlushInterval time.Duration
	// MaxBatchReports bounds the reports written in one batch.
	MaxBatchReports int
	// AckWait is how long a request waits for its report to be written
	// before it is answered from the journal (STATE-DIR/journal).
	AckWait time.Duration
}

// Scan bounds scan jobs.
type Scan struct {
	// Allow lists the ranges scans may target; empty refuses every scan.
	Allow []netip.Prefix
	// MaxAddrs bounds the addresses of one scan.
	MaxAddrs int
	// SubnetRate is the packets per second one /24 may receive from all
	// the scans there together.
	SubnetRate int
	// Lease is how long an agent keeps a job without reporting progress.
	Lease time.Duration
	// TrustAllNetworks lets agents scan on any network while no trusted
	// network is configured (umbra network trust); off, they scan nowhere
	// until one is.
	TrustAllNetworks bool
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Listen, err))
	} else if port == "" {
		errs = append(errs, fmt.Errorf("listen address %q has no port", c.Listen))
	}
	if _, _, err := net.SplitHostPort(c.Store.Addr); err != nil {
		errs = append(errs, fmt.Errorf("clickhouse address %q: %w", c.Store.Addr, err))
	}
	if !store.ValidIdentifier(c.Store.Database) {
		errs = append(errs, fmt.Errorf("database name %q must be letters, digits and _ and not start with a digit", c.Store.Database))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state directory is empty"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--tls-cert and --tls-key go together"))
	}
	if c.InsecureHTTP && c.TLSCert != "" {
		errs = append(errs, errors.New("--insecure-http and --tls-cert contradict each other"))
	}
	if c.AuthCacheTTL < 0 || c.AuthCacheTTL > time.Minute {
		errs = append(errs, fmt.Errorf("auth cache ttl %s must be between 0 and 1m", c.AuthCacheTTL))
	}
	if c.Ingest.MaxQueueBytes < 0 || c.Ingest.FlushInterval < 0 || c.Ingest.MaxBatchReports < 0 || c.Ingest.AckWait < 0 {
		errs = append(errs, errors.New("ingest limits must not be negative"))
	}
	// Zero scan bounds take the defaults of package jobs.
	if c.Scan.MaxAddrs < 0 || c.Scan.MaxAddrs > 1<<20 {
		errs = append(errs, fmt.Errorf("scan max addresses %d must be between 1 and %d", c.Scan.MaxAddrs, 1<<20))
	}
	if c.Scan.SubnetRate < 0 || c.Scan.SubnetRate > 100000 {
		errs = append(errs, fmt.Errorf("scan subnet rate %d must be between 1 and 100000 packets per second", c.Scan.SubnetRate))
	}
	if c.Scan.Lease != 0 && c.Scan.Lease < 5*time.Second {
		errs = append(errs, fmt.Errorf("scan lease %s must be at least 5s", c.Scan.Lease))
	}
	if c.ReconcileInterval < 0 {
		errs = append(errs, fmt.Errorf("reconcile interval %s is negative", c.ReconcileInterval))
	}
	if u, err := url.Parse(c.AlertWebhook); c.AlertWebhook != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		errs = append(errs, fmt.Errorf("alert webhook %q: want an http or https URL", c.AlertWebhook))
	}
	if u, err := url.Parse(c.AlertSyslog); c.AlertSyslog != "" && (err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" || u.Path != "") {
		errs = append(errs, fmt.Errorf("alert syslog %q: want udp://host:port or tcp://host:port", c.AlertSyslog))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %s must be positive", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

// Parse reads the command line args (without the program name), falling
// back to the environment through getenv, and validates the result. Usage
// and errors go to stderr; -h returns flag.ErrHelp.
func Parse(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	var cfg Config
	cfg.Command = CommandServe
	if len(args) > 0 && (args[0] == CommandServe || args[0] == CommandBootstrapToken) {
		cfg.Command, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("umbra-collector "+cfg.Command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var level, names, scanAllow string
	fs.StringVar(&cfg.Listen, "listen", env("UMBRA_LISTEN", DefaultListen), "`host:port` to serve HTTP on; port 0 picks a free one (env UMBRA_LISTEN)")
	fs.StringVar(&cfg.AddrFile, "addr-file", env("UMBRA_ADDR_FILE", ""), "write the server's URL to `path` once it listens (env UMBRA_ADDR_FILE)")
	fs.StringVar(&cfg.Store.Addr, "clickhouse", env("UMBRA_CLICKHOUSE", DefaultClickHouse), "ClickHouse native protocol `host:port` (env UMBRA_CLICKHOUSE)")
	fs.StringVar(&cfg.Store.Database, "database", env("UMBRA_DATABASE", DefaultDatabase), "ClickHouse database, created if missing (env UMBRA_DATABASE)")
	fs.StringVar(&cfg.Store.Username, "clickhouse-user", env("UMBRA_CLICKHOUSE_USER", ""), "ClickHouse user (env UMBRA_CLICKHOUSE_USER; password from UMBRA_CLICKHOUSE_PASSWORD)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long a graceful shutdown may take")
	fs.StringVar(&level, "log-level", env("UMBRA_LOG_LEVEL", "info"), "least `level` logged: debug, info, warn, error (env UMBRA_LOG_LEVEL)")
	fs.StringVar(&cfg.StateDir, "state-dir", env("UMBRA_STATE_DIR", DefaultStateDir), "`folder` of the collector's CA, server certificate and bootstrap files (env UMBRA_STATE_DIR)")
	fs.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "serve plain HTTP without TLS: credentials cross the network in clear text; for tests behind a TLS proxy only")
	fs.StringVar(&names, "tls-names", env("UMBRA_TLS_NAMES", ""), "comma-separated extra DNS `names` and addresses of the server certificate (env UMBRA_TLS_NAMES)")
	fs.StringVar(&cfg.TLSCert, "tls-cert", env("UMBRA_TLS_CERT", ""), "PEM certificate chain `file` to serve instead of the collector's own CA (env UMBRA_TLS_CERT)")
	fs.StringVar(&cfg.TLSKey, "tls-key", env("UMBRA_TLS_KEY", ""), "PEM private key `file` of --tls-cert (env UMBRA_TLS_KEY)")
	fs.DurationVar(&cfg.AuthCacheTTL, "auth-cache-ttl", 2*time.Second, "how long a credential read from ClickHouse is trusted; revocations through other collectors take this long")
	fs.Int64Var(&cfg.Ingest.MaxQueueBytes, "ingest-queue-bytes", 256<<20, "bound of the reports waiting to be written to ClickHouse, in bytes; beyond it agents are asked to retry")
	fs.DurationVar(&cfg.ReconcileInterval, "reconcile-interval", 5*time.Minute, "how often to reconcile devices and findings against the register (0 disables)")
	fs.StringVar(&cfg.AlertWebhook, "alert-webhook", env("UMBRA_ALERT_WEBHOOK", ""), "post new findings as JSON to this `URL` (env UMBRA_ALERT_WEBHOOK)")
	fs.StringVar(&cfg.AlertSyslog, "alert-syslog", env("UMBRA_ALERT_SYSLOG", ""), "send new findings to syslog at udp://host:port or tcp://host:port (env UMBRA_ALERT_SYSLOG)")
	fs.DurationVar(&cfg.Ingest.FlushInterval, "ingest-flush-interval", 200*time.Millisecond, "how long a report may wait to be written with others")
	fs.IntVar(&cfg.Ingest.MaxBatchReports, "ingest-batch-reports", 2000, "most reports written in one batch")
	fs.DurationVar(&cfg.Ingest.AckWait, "ingest-ack-wait", time.Second, "how long an agent's request waits for its report to reach ClickHouse before it is answered from the collector's journal, where the report is already safe on disk")
	fs.StringVar(&scanAllow, "scan-allow", env("UMBRA_SCAN_ALLOW", ""), "comma-separated `CIDRs` that scans may target; empty (the default) refuses every scan (env UMBRA_SCAN_ALLOW)")
	fs.IntVar(&cfg.Scan.MaxAddrs, "scan-max-addrs", 4096, "most addresses one scan may target")
	fs.IntVar(&cfg.Scan.SubnetRate, "scan-subnet-rate", 400, "packets per second one /24 may receive from every scan there together")
	fs.BoolVar(&cfg.Scan.TrustAllNetworks, "scan-trust-all-networks", env("UMBRA_SCAN_TRUST_ALL_NETWORKS", "") == "1",
		"while no trusted network is configured (umbra network trust add), let agents scan on any network; off, they scan nowhere until one is (env UMBRA_SCAN_TRUST_ALL_NETWORKS=1)")
	fs.DurationVar(&cfg.Scan.Lease, "scan-lease", 45*time.Second, "how long an agent keeps a scan without reporting progress before another gets it")
	if cfg.Command == CommandBootstrapToken {
		fs.StringVar(&cfg.BootstrapOut, "out", "", "write the admin CLI config (collector URL, CA file, token) to `file`, mode 0600 (default STATE-DIR/admin.json)")
		fs.StringVar(&cfg.BootstrapName, "name", "bootstrap", "`name` of the admin token")
	}
	fs.Usage = func() {
		if cfg.Command == CommandBootstrapToken {
			fmt.Fprintf(fs.Output(), "Usage: umbra-collector bootstrap-token [flags]\n\nMakes an admin token directly in ClickHouse and writes a config file for the umbra CLI\nholding it, readable only by its owner. Run it on the collector host.\n\nFlags:\n")
		} else {
			fmt.Fprintf(fs.Output(), "Usage: umbra-collector [serve] [flags]\n       umbra-collector bootstrap-token [flags]\n\nThe Umbra collector: receives agents' reports and stores them in ClickHouse.\n\nFlags:\n")
		}
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	cfg.Store.Password = store.Secret(getenv("UMBRA_CLICKHOUSE_PASSWORD"))
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			cfg.TLSNames = append(cfg.TLSNames, n)
		}
	}
	if cfg.Command == CommandBootstrapToken && cfg.BootstrapOut == "" {
		cfg.BootstrapOut = filepath.Join(cfg.StateDir, "admin.json")
	}
	var errs []error
	for _, a := range strings.Split(scanAllow, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		p, err := netip.ParsePrefix(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("--scan-allow %q: want CIDR prefixes such as 10.1.0.0/16", a))
			continue
		}
		cfg.Scan.Allow = append(cfg.Scan.Allow, p.Masked())
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(level)); err != nil {
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", level))
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}
