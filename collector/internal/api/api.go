// Package api is the collector's HTTP interface: report ingest for agents,
// the admin API, and health checks.
package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/umbrasec/umbra/collector/internal/adminapi"
	"github.com/umbrasec/umbra/collector/internal/auth"
	"github.com/umbrasec/umbra/collector/internal/ingest"
	"github.com/umbrasec/umbra/collector/internal/jobs"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// Store is what the handlers need from the database.
type Store interface {
	StoreInventory(ctx context.Context, received time.Time, r *wire.Report) (duplicate bool, err error)
	ListHosts(ctx context.Context) ([]store.Host, error)
	Ping(ctx context.Context) error
}

// Options tune the handler. Auth and Service are required unless NoAuth.
type Options struct {
	// MaxRequestBytes bounds a request body as sent (compressed); zero
	// means DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// Limits bound a decoded report; zero means wire.DefaultLimits.
	Limits wire.Limits
	// StoreTimeout bounds each database call; zero means 30 seconds.
	StoreTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Auth checks credentials and Service manages them.
	Auth    *auth.Authenticator
	Service *auth.Service
	// NoAuth serves every route to anyone, as if the caller were an admin
	// or the report's own agent. Only tests set it.
	NoAuth bool
	// Ingest stores reports; nil stores each report directly with the
	// Store, one insert per table per report.
	Ingest Ingester
	// Metrics, when set, is served on /metrics.
	Metrics http.Handler
	// Jobs runs scan jobs; nil answers the scan routes with 501.
	Jobs *jobs.Service
	// TrustAllNetworks lets agents scan on any network while no trusted
	// network is configured; by default they scan nowhere until one is.
	TrustAllNetworks bool
}

// Ingester stores reports, possibly batching them with others; body is
// the report as it arrived.
type Ingester interface {
	Submit(ctx context.Context, received time.Time, r *wire.Report, body ingest.Body) (duplicate bool, err error)
}

type directIngest struct{ st Store }

func (d directIngest) Submit(ctx context.Context, received time.Time, r *wire.Report, _ ingest.Body) (bool, error) {
	return d.st.StoreInventory(ctx, received, r)
}

// DefaultMaxRequestBytes bounds a compressed request body.
const DefaultMaxRequestBytes = 8 << 20

// RetryAfter is what a 503 answer asks the agent to wait, unless the
// error says otherwise (a full ingest queue says when it will have room).
const RetryAfter = 10 * time.Second

type handler struct {
	st  Store
	log *slog.Logger
	opt Options
}

// New returns the collector's HTTP handler.
func New(st Store, logger *slog.Logger, opt Options) http.Handler {
	if opt.MaxRequestBytes <= 0 {
		opt.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opt.Limits == (wire.Limits{}) {
		opt.Limits = wire.DefaultLimits
	}
	if opt.StoreTimeout <= 0 {
		opt.StoreTimeout = 30 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Ingest == nil {
		opt.Ingest = directIngest{st}
	}
	if !opt.NoAuth && (opt.Auth == nil || opt.Service == nil) {
		panic("api.New: Options.Auth and Options.Service are required unless NoAuth")
	}
	h := &handler{st: st, log: logger, opt: opt}

	mux := http.NewServeMux()
	for _, rt := range h.routes() {
		mux.Handle(rt.Method+" "+rt.Pattern, h.authorize(rt.Policy, rt.handler))
	}
	mux.HandleFunc("GET /healthz", h.healthz)
	mux.HandleFunc("GET /readyz", h.readyz)
	return h.logRequests(h.recoverPanics(mux))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client is gone if this fails
}

func writeProblem(w http.ResponseWriter, status int, p wire.Problem) {
	writeJSON(w, status, p)
}

func (h *handler) postReport(w http.ResponseWriter, r *http.Request) {
	log := h.log.With("remote_addr", r.RemoteAddr)
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		writeProblem(w, http.StatusUnsupportedMediaType, wire.Problem{Error: fmt.Sprintf("Content-Type %q is not application/json", truncate(ct, 64))})
		return
	}
	// The body is kept as it came (compressed, small): the ingest journal
	// keeps it until the report is in ClickHouse.
	raw, err := readBody(http.MaxBytesReader(w, r.Body, h.opt.MaxRequestBytes), r.ContentLength)
	if err != nil {
		h.decodeFailed(w, log, err)
		return
	}
	kept := ingest.Body{Data: raw}
	var in io.Reader = bytes.NewReader(raw)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		kept.Gzip = true
		zr, err := gzipReader(in)
		if err != nil {
			h.decodeFailed(w, log, fmt.Errorf("reading gzip body: %w", err))
			return
		}
		defer gzipReaders.Put(zr)
		in = zr
	default:
		w.Header().Set("Accept-Encoding", "gzip, identity")
		writeProblem(w, http.StatusUnsupportedMediaType, wire.Problem{Error: fmt.Sprintf("Content-Encoding %q is not supported: use gzip or identity", truncate(enc, 64))})
		return
	}

	now := h.opt.Now()
	hint := len(raw)
	if kept.Gzip && len(raw) >= 4 {
		// The gzip trailer's ISIZE: the JSON's length (mod 2^32). The
		// sender writes it, so it is believed only up to a ratio that
		// repetitive JSON reaches (package lists compress 40-100x): a
		// small body cannot make a big buffer.
		hint = min(int(binary.LittleEndian.Uint32(raw[len(raw)-4:])), 256*len(raw))
	}
	rep, size, err := wire.DecodeSizedWith(in, hint, h.opt.Limits, now, fastDecode)
	if err != nil {
		h.decodeFailed(w, log, err)
		return
	}
	kept.Size = size
	log = log.With("report_id", rep.ID, "agent_id", rep.AgentID)
	if p, ok := auth.FromContext(r.Context()); ok && p.AgentID != rep.AgentID {
		log.Warn("report refused: agent id is not the credential's", "credential_agent_id", p.AgentID)
		writeProblem(w, http.StatusForbidden, wire.Problem{Error: "the report's agent_id is not this credential's agent"})
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.opt.StoreTimeout)
	defer cancel()
	var dup bool
	switch rep.Kind {
	case wire.KindInventory, wire.KindDiscovery:
		dup, err = h.opt.Ingest.Submit(ctx, now, rep, kept)
	default:
		// Validate refuses unknown kinds; this guards a kind added to wire
		// before the collector learns to store it.
		writeProblem(w, http.StatusUnprocessableEntity, wire.Problem{Error: fmt.Sprintf("kind %q cannot be stored by this collector", rep.Kind)})
		return
	}
	if err != nil {
		h.storeFailed(w, log, err)
		return
	}
	log.Info("report stored", "kind", string(rep.Kind), "duplicate", dup)
	writeJSON(w, http.StatusAccepted, wire.Accepted{ID: rep.ID, Duplicate: dup})
}

// readBody reads a request body whose Content-Length is n (-1 when
// unknown) into a buffer of that size, up to 64 KiB: the sender's word
// makes no bigger buffer than that before the bytes have come.
func readBody(r io.Reader, n int64) ([]byte, error) {
	const maxPresize = 64 << 10
	var b bytes.Buffer
	if n > 0 {
		b.Grow(int(min(n, maxPresize)) + bytes.MinRead)
	}
	_, err := b.ReadFrom(r)
	return b.Bytes(), err
}

// gzipReaders keeps gzip readers (each holds a 32 KiB window and tables)
// for the next request.
var gzipReaders sync.Pool

// gzipReader returns a gzip reader of r, a kept one reset when there is
// one; it goes back to gzipReaders after use.
func gzipReader(r io.Reader) (*gzip.Reader, error) {
	if zr, ok := gzipReaders.Get().(*gzip.Reader); ok {
		if err := zr.Reset(r); err != nil {
			gzipReaders.Put(zr)
			return nil, err
		}
		return zr, nil
	}
	return gzip.NewReader(r)
}

// decodeFailed answers a report that could not be read or is invalid. None
// of these is the server's fault, so none is a 5xx.
func (h *handler) decodeFailed(w http.ResponseWriter, log *slog.Logger, err error) {
	var maxErr *http.MaxBytesError
	var valErr *wire.ValidationError
	var status int
	var p wire.Problem
	switch {
	case errors.As(err, &maxErr):
		status, p = http.StatusRequestEntityTooLarge, wire.Problem{Error: fmt.Sprintf("request body is larger than %d bytes", maxErr.Limit)}
	case errors.Is(err, wire.ErrTooLarge):
		status, p = http.StatusRequestEntityTooLarge, wire.Problem{Error: err.Error()}
	case errors.As(err, &valErr):
		status, p = http.StatusUnprocessableEntity, wire.Problem{Error: "invalid report", Problems: valErr.Problems}
	default:
		status, p = http.StatusBadRequest, wire.Problem{Error: err.Error()}
	}
	log.Info("report refused", "status", status, "error", err)
	writeProblem(w, status, p)
}

func (h *handler) storeFailed(w http.ResponseWriter, log *slog.Logger, err error) {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		log.Warn("database unavailable", "error", err)
		after, msg := RetryAfter, "the database is unavailable; retry later"
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			// The ingest queue is full and knows how fast it drains.
			after, msg = ra.RetryAfter(), "the collector is busy; retry later"
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(max(after.Round(time.Second), time.Second)/time.Second)))
		writeProblem(w, http.StatusServiceUnavailable, wire.Problem{Error: msg})
		return
	}
	log.Error("database error", "error", err)
	writeProblem(w, http.StatusInternalServerError, wire.Problem{Error: "internal error"})
}

func (h *handler) getHosts(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opt.StoreTimeout)
	defer cancel()
	hosts, err := h.st.ListHosts(ctx)
	if err != nil {
		h.storeFailed(w, h.log.With("remote_addr", r.RemoteAddr), err)
		return
	}
	out := adminapi.HostList{Hosts: make([]adminapi.Host, 0, len(hosts))}
	hbs := h.heartbeats(ctx, r)
	for _, s := range hosts {
		hb, seen := hbs[s.AgentID]
		out.Hosts = append(out.Hosts, adminapi.Host{
			AgentID: s.AgentID, ReportID: s.ReportID, HostID: s.HostID, Hostname: s.Hostname,
			OSFamily: s.OSFamily, Platform: s.Platform, PlatformVersion: s.PlatformVersion,
			Kernel: s.Kernel, Arch: s.Arch, Virtualization: s.Virtualization, VirtualizationRole: s.VirtualizationRole,
			CPUModel: s.CPUModel, CPUCores: s.CPUCores, CPUThreads: s.CPUThreads, MemoryBytes: s.MemoryBytes,
			MACs: nonNil(s.MACs), Addresses: nonNil(s.Addresses),
			CollectedAt: s.CollectedAt.UTC(), FirstSeen: s.FirstSeen.UTC(), LastSeen: s.LastSeen.UTC(), Reports: s.Reports,
			Heartbeat: presenceOut(hb, seen),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := h.st.Ping(ctx); err != nil {
		h.log.Warn("not ready", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (h *handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelWarn
		}
		h.log.Log(r.Context(), level, "http request",
			"method", r.Method, "path", r.URL.Path, "status", rec.status,
			"remote_addr", r.RemoteAddr, "duration_seconds", time.Since(start).Seconds())
	})
}

func (h *handler) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // compared as net/http does
				panic(v)
			}
			h.log.Error("panic serving request", "path", r.URL.Path, "remote_addr", r.RemoteAddr,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			writeProblem(w, http.StatusInternalServerError, wire.Problem{Error: "internal error"})
		}()
		next.ServeHTTP(w, r)
	})
}
