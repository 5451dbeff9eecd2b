package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/auth"
	"github.com/umbrasec/umbra/collector/internal/config"
	"github.com/umbrasec/umbra/collector/internal/pki"
	"github.com/umbrasec/umbra/collector/internal/store"
)

// FingerprintFile, in the state directory, holds the CA fingerprint that
// agents pin, for scripts.
const FingerprintFile = "ca.fingerprint"

// serverTLS returns the TLS configuration of the server and the
// fingerprint agents pin: the collector's own CA, made on first start, or
// the chain given with --tls-cert.
func serverTLS(cfg config.Config, logger *slog.Logger) (*tls.Config, string, error) {
	var cert tls.Certificate
	var fp string
	if cfg.TLSCert != "" {
		c, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, "", fmt.Errorf("loading --tls-cert and --tls-key: %w", err)
		}
		top, err := x509.ParseCertificate(c.Certificate[len(c.Certificate)-1])
		if err != nil {
			return nil, "", fmt.Errorf("parsing --tls-cert: %w", err)
		}
		cert, fp = c, pki.Fingerprint(top)
	} else {
		b, err := pki.Ensure(cfg.StateDir, cfg.TLSNames, time.Now())
		if err != nil {
			return nil, "", fmt.Errorf("preparing the collector's CA in %s: %w", cfg.StateDir, err)
		}
		for _, what := range b.Created {
			logger.Info("made a new certificate", "what", what, "state_dir", cfg.StateDir)
		}
		cert, fp = b.Certificate, b.Fingerprint()
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, "", err
	}
	if err := pki.WriteFileAtomic(filepath.Join(cfg.StateDir, FingerprintFile), []byte(fp+"\n"), 0o644); err != nil {
		return nil, "", fmt.Errorf("writing the CA fingerprint: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}, fp, nil
}

// Bootstrap makes an admin token directly in ClickHouse and writes the
// umbra CLI's config file holding it (mode 0600) to cfg.BootstrapOut. It
// is how the first admin gets in: it needs access to the collector host's
// state directory and ClickHouse, not to the API.
func Bootstrap(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	db, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating database %s: %w", cfg.Store.Database, err)
	}
	cc := adminapi.ClientConfig{Collector: "https://" + clientAddr(cfg.Listen)}
	fp := ""
	if cfg.InsecureHTTP {
		cc.Collector = "http://" + clientAddr(cfg.Listen)
	}
	if cfg.AddrFile != "" {
		// A running collector's address file knows the real port.
		if b, err := os.ReadFile(cfg.AddrFile); err == nil && strings.TrimSpace(string(b)) != "" {
			cc.Collector = strings.TrimSpace(string(b))
		}
	}
	if !cfg.InsecureHTTP && cfg.TLSCert == "" {
		b, err := pki.Ensure(cfg.StateDir, cfg.TLSNames, time.Now())
		if err != nil {
			return fmt.Errorf("preparing the collector's CA in %s: %w", cfg.StateDir, err)
		}
		cc.CAFile, fp = filepath.Join(cfg.StateDir, pki.CAFile), b.Fingerprint()
		if abs, err := filepath.Abs(cc.CAFile); err == nil {
			cc.CAFile = abs
		}
	}
	authn := auth.NewAuthenticator(db, 0, nil)
	nc, err := auth.NewService(db, authn, nil).CreateToken(ctx, auth.Principal{}, cfg.BootstrapName, auth.RoleAdmin, 0, "local")
	if err != nil {
		return fmt.Errorf("making the admin token: %w", err)
	}
	cc.Token = nc.Secret
	data, err := json.MarshalIndent(cc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.BootstrapOut), 0o700); err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(cfg.BootstrapOut, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", cfg.BootstrapOut, err)
	}
	fmt.Fprintf(stdout, "admin token %s (%s) written to %s\n", nc.Credential.ID, cfg.BootstrapName, cfg.BootstrapOut)
	fmt.Fprintf(stdout, "use it with: UMBRA_CONFIG=%s umbra agent list\n", cfg.BootstrapOut)
	if fp != "" {
		fmt.Fprintf(stdout, "CA fingerprint for agents: %s\n", fp)
	}
	return nil
}

// clientAddr turns a listen address into one a client on this host can
// dial.
func clientAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
