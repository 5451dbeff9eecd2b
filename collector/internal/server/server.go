// Package server runs the collector: it opens and migrates the store, serves
// the HTTP API and shuts down gracefully.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/umbrasec/umbra/collector/internal/api"
	"github.com/umbrasec/umbra/collector/internal/auth"
	"github.com/umbrasec/umbra/collector/internal/config"
	"github.com/umbrasec/umbra/collector/internal/ingest"
	"github.com/umbrasec/umbra/collector/internal/jobs"
	"github.com/umbrasec/umbra/collector/internal/metrics"
	"github.com/umbrasec/umbra/collector/internal/pki"
	"github.com/umbrasec/umbra/collector/internal/reconcile"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/version"
	"github.com/umbrasec/umbra/shared/wire"
)

// Run serves until ctx is cancelled, then shuts down within
// cfg.ShutdownTimeout. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	db, err := store.Open(ctx, cfg.Store)
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer db.Close()
	ver, err := db.ServerVersion(ctx)
	if err != nil {
		return err
	}
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrating database %s: %w", cfg.Store.Database, err)
	}
	logger.Info("store ready", "clickhouse", cfg.Store.Addr, "clickhouse_version", ver,
		"database", cfg.Store.Database, "migrations_applied", applied)

	authn := auth.NewAuthenticator(db, cfg.AuthCacheTTL, nil)
	svc := auth.NewService(db, authn, nil)
	reg := metrics.New()
	ing, err := ingest.New(db, logger, ingest.Options{
		MaxQueueBytes: cfg.Ingest.MaxQueueBytes, FlushInterval: cfg.Ingest.FlushInterval,
		MaxBatchReports: cfg.Ingest.MaxBatchReports, Metrics: reg.Ingest,
		Journal: filepath.Join(cfg.StateDir, "journal"), AckAfter: cfg.Ingest.AckWait,
	})
	if err != nil {
		return err
	}
	ingDone := make(chan struct{})
	ingCtx, stopIngest := context.WithCancel(context.WithoutCancel(ctx))
	go func() { defer close(ingDone); ing.Run(ingCtx) }()
	defer func() { stopIngest(); <-ingDone }()
	if cfg.ReconcileInterval > 0 {
		rec := reconcile.New(db, logger.With("component", "reconcile"), nil)
		recDone := make(chan struct{})
		recCtx, stopRec := context.WithCancel(ctx)
		var alerts []reconcile.Alerter
		if cfg.AlertWebhook != "" {
			alerts = append(alerts, reconcile.Webhook{URL: cfg.AlertWebhook})
		}
		if cfg.AlertSyslog != "" {
			alerts = append(alerts, reconcile.Syslog{Addr: cfg.AlertSyslog})
		}
		go func() { defer close(recDone); rec.Loop(recCtx, cfg.ReconcileInterval, alerts...) }()
		defer func() { stopRec(); <-recDone }()
	}

	js := jobs.New(db, svc, jobs.Config{Allow: cfg.Scan.Allow, MaxAddrs: cfg.Scan.MaxAddrs, SubnetRate: cfg.Scan.SubnetRate,
		Lease: cfg.Scan.Lease}, logger.With("component", "jobs"), nil)
	if err := js.Load(ctx); err != nil {
		return fmt.Errorf("loading scan jobs: %w", err)
	}
	jobsDone := make(chan struct{})
	jobsCtx, stopJobs := context.WithCancel(ctx)
	go func() { defer close(jobsDone); js.Run(jobsCtx) }()
	defer func() { stopJobs(); <-jobsDone }()
	if len(cfg.Scan.Allow) == 0 {
		logger.Info("scans are refused: no --scan-allow ranges")
	} else {
		logger.Info("scans allowed", "ranges", fmt.Sprint(cfg.Scan.Allow), "max_addrs", cfg.Scan.MaxAddrs, "subnet_rate", cfg.Scan.SubnetRate)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	url := "https://" + ln.Addr().String()
	if cfg.InsecureHTTP {
		url = "http://" + ln.Addr().String()
		logger.Warn("!!! SERVING PLAIN HTTP WITHOUT TLS (--insecure-http): agent credentials, enrolment secrets and admin tokens cross the network in clear text; anyone on the path can steal them. Never do this outside a test or behind a TLS-terminating proxy on the same host. !!!")
	} else {
		tlsCfg, fp, err := serverTLS(cfg, logger)
		if err != nil {
			ln.Close()
			return err
		}
		ln = tls.NewListener(ln, tlsCfg)
		logger.Info("TLS ready: agents enrol with this CA fingerprint", "ca_fingerprint", fp,
			"ca_file", filepath.Join(cfg.StateDir, pki.CAFile))
	}
	if cfg.AddrFile != "" {
		if err := writeFileAtomic(cfg.AddrFile, []byte(url+"\n")); err != nil {
			ln.Close()
			return fmt.Errorf("writing the address file: %w", err)
		}
		defer os.Remove(cfg.AddrFile)
	}

	srv := &http.Server{
		Handler: api.New(db, logger, api.Options{
			Auth: authn, Service: svc, Ingest: ing, Metrics: reg.Handler(),
			Limits: wire.DefaultLimits, Jobs: js, TrustAllNetworks: cfg.Scan.TrustAllNetworks,
		}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("collector listening", "url", url, "version", version.Version)

	select {
	case err := <-served:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout_seconds", cfg.ShutdownTimeout.Seconds())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	shutErr := srv.Shutdown(sctx)
	if shutErr != nil {
		srv.Close()
		shutErr = fmt.Errorf("graceful shutdown: %w", shutErr)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(shutErr, fmt.Errorf("serving HTTP: %w", err))
	}
	return shutErr
}

// writeFileAtomic writes data to a temporary file beside path and renames it,
// so a reader never sees half a URL.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
