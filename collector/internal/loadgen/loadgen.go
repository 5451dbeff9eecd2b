// Package loadgen simulates many Umbra agents posting inventory reports to
// a collector, to measure its ingest latency and throughput. It speaks the
// agents' wire protocol (enrolment, then gzip JSON reports with the agent
// credential, retrying 503 and 429 after Retry-After) and imports nothing
// of the collector.
package loadgen

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// Config is one load run.
type Config struct {
	Collector       string         // https://127.0.0.1:PORT
	RootCAs         *x509.CertPool // the collector's CA
	Secret          string         // a multi-use enrolment secret
	Agents          int
	ReportsPerAgent int
	Packages        int // software packages per report
	Concurrency     int // agents posting at once; 0 means all of them
	// EnrollConcurrency is how many agents enrol at once; 0 means 16.
	// Enrolments are serialised by the collector, so more only make
	// requests wait (and time out) in its queue.
	EnrollConcurrency int
	// StartFile, if set, holds the posting back after the enrolment until
	// the file exists, so a benchmark can let the enrolment's writes
	// settle first.
	StartFile   string
	Seed        uint64
	MaxRetries  int  // per request on 503/429; 0 means 10
	AllowRemote bool // permit a collector that is not on loopback
}

// Stats is the outcome of a run.
type Stats struct {
	Agents          int            `json:"agents"`
	Enrolled        int            `json:"enrolled"`
	Reports         int            `json:"reports"` // attempted
	Accepted        int            `json:"accepted"`
	Duplicates      int            `json:"duplicates"`
	Failed          int            `json:"failed"`
	Retries         int            `json:"retries"`
	SoftwareRows    int            `json:"software_rows"`   // packages in accepted reports
	BodyBytes       int64          `json:"body_bytes"`      // gzip bytes sent in accepted reports
	Statuses        map[string]int `json:"statuses"`        // every non-2xx answer (or "transport") to a report, retried or not
	EnrollStatuses  map[string]int `json:"enroll_statuses"` // the same for enrolments
	EnrollSeconds   float64        `json:"enroll_seconds"`
	WallSeconds     float64        `json:"wall_seconds"` // first report sent to last answer
	FirstSend       time.Time      `json:"first_send"`   // when the first report was sent
	ReportsPerSec   float64        `json:"reports_per_sec"`
	RowsPerSec      float64        `json:"software_rows_per_sec"`
	LatencyP50      float64        `json:"latency_p50_seconds"` // per report: first send to accepted, retries included
	LatencyP95      float64        `json:"latency_p95_seconds"`
	LatencyP99      float64        `json:"latency_p99_seconds"`
	LatencyMax      float64        `json:"latency_max_seconds"`
	FirstError      string         `json:"first_error,omitempty"`
	latencies       []time.Duration
	mu              sync.Mutex
	firstSend, last time.Time
}

func (c *Config) check() error {
	u, err := url.Parse(c.Collector)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("collector URL %q: want https://host:port", c.Collector)
	}
	if !c.AllowRemote && !isLoopback(u.Hostname()) {
		return fmt.Errorf("collector %s is not on loopback (pass AllowRemote to load a remote collector)", u.Host)
	}
	if c.Agents <= 0 || c.ReportsPerAgent <= 0 || c.Packages < 0 {
		return errors.New("agents and reports per agent must be positive, packages not negative")
	}
	if c.Packages > wire.DefaultLimits.MaxPackages {
		return fmt.Errorf("at most %d packages per report", wire.DefaultLimits.MaxPackages)
	}
	if strings.TrimSpace(c.Secret) == "" {
		return errors.New("the enrolment secret is empty")
	}
	return nil
}

func isLoopback(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Client returns the HTTP client of one simulated agent: TLS verified
// against roots, host name not checked (like the agent, which pins the
// CA), and TLS sessions kept to be resumed on the next connection (like
// the agent, whose every report comes on a new connection).
func Client(roots *x509.CertPool, conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // loopback: never through a proxy
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		ForceAttemptHTTP2:   false,
		DisableCompression:  true,
		TLSHandshakeTimeout: time.Minute,
		TLSClientConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(4),
			InsecureSkipVerify: true, //nolint:gosec // the chain is verified against roots below
			VerifyConnection: func(cs tls.ConnectionState) error {
				if cs.DidResume {
					// Verified when the session was made, by this
					// client (its session cache is its own). The agent
					// checks a resumed session again, against the CA
					// its enrolment holds now; the collector sees the
					// same handshake either way, and this check, an
					// ECDSA verification on the load generator's side
					// (a seventh of its CPU in the burst), competed
					// with the collector for this machine's cores.
					return nil
				}
				if len(cs.PeerCertificates) == 0 {
					return errors.New("the collector sent no certificate")
				}
				inter := x509.NewCertPool()
				for _, c := range cs.PeerCertificates[1:] {
					inter.AddCert(c)
				}
				_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
					KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
				return err
			},
		},
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

type agent struct {
	hc         *http.Client // its own connections and TLS sessions, as a separate process has
	h          *host
	id, cred   string
	bodies     [][]byte
	reportIDs  []string
	enrollErr  error
	enrollTime time.Duration
}

// Run enrols cfg.Agents agents, then has each post cfg.ReportsPerAgent
// reports, at most cfg.Concurrency agents at once. Reports are built and
// compressed before the timed phase so the load generator's own work does
// not count against the collector. log gets progress lines; may be nil.
func Run(ctx context.Context, cfg Config, log io.Writer) (*Stats, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	if cfg.Concurrency <= 0 || cfg.Concurrency > cfg.Agents {
		cfg.Concurrency = cfg.Agents
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 10
	}
	base := strings.TrimSuffix(cfg.Collector, "/")
	st := &Stats{Agents: cfg.Agents, Statuses: map[string]int{}, EnrollStatuses: map[string]int{}}
	if cfg.EnrollConcurrency <= 0 {
		cfg.EnrollConcurrency = 16
	}

	var runTok [4]byte
	_, _ = rand.Read(runTok[:])
	run := hex.EncodeToString(runTok[:])
	cat := catalog(cfg.Seed, max(2000, 2*cfg.Packages))
	agents := make([]*agent, cfg.Agents)
	for i := range agents {
		agents[i] = &agent{h: newHost(cfg.Seed, i, cfg.Packages, cat), hc: Client(cfg.RootCAs, 2)}
	}
	defer func() {
		for _, a := range agents {
			a.hc.CloseIdleConnections()
		}
	}()

	// Enrolment, as many at once as the concurrency.
	fmt.Fprintf(log, "loadgen: enrolling %d agents\n", cfg.Agents)
	t0 := time.Now()
	parallel(min(cfg.EnrollConcurrency, len(agents)), len(agents), func(i int) {
		a := agents[i]
		a.enrollErr = enroll(ctx, a.hc, base, cfg.Secret, a, st, cfg.MaxRetries)
		// A real agent reports long after its last connection closed: its
		// reports come on a new connection, which resumes the TLS session.
		a.hc.CloseIdleConnections()
	})
	st.EnrollSeconds = time.Since(t0).Seconds()
	for _, a := range agents {
		if a.enrollErr == nil {
			st.Enrolled++
		} else if st.FirstError == "" {
			st.FirstError = a.enrollErr.Error()
		}
	}
	if st.Enrolled == 0 {
		return st, fmt.Errorf("no agent enrolled: %s", st.FirstError)
	}

	// Build every report up front.
	now := time.Now().UTC().Truncate(time.Second)
	parallel(4, len(agents), func(i int) {
		a := agents[i]
		if a.enrollErr != nil {
			return
		}
		for k := 0; k < cfg.ReportsPerAgent; k++ {
			id := fmt.Sprintf("lg-%s-%05d-%03d", run, a.h.index, k)
			a.reportIDs = append(a.reportIDs, id)
			a.bodies = append(a.bodies, encode(a.h.report(a.id, id, now.Add(time.Duration(k)*time.Second))))
		}
	})

	if cfg.StartFile != "" {
		fmt.Fprintf(log, "loadgen: %d agents enrolled; waiting for %s to post\n", st.Enrolled, cfg.StartFile)
		if err := waitForFile(ctx, cfg.StartFile); err != nil {
			return st, err
		}
	}
	fmt.Fprintf(log, "loadgen: %d agents posting %d reports each (%d packages), %d at once\n",
		st.Enrolled, cfg.ReportsPerAgent, cfg.Packages, cfg.Concurrency)
	st.latencies = make([]time.Duration, 0, st.Enrolled*cfg.ReportsPerAgent)
	parallel(cfg.Concurrency, len(agents), func(i int) {
		a := agents[i]
		for k, body := range a.bodies {
			if ctx.Err() != nil {
				return
			}
			post(ctx, a.hc, base, a, a.reportIDs[k], body, cfg.Packages, st, cfg.MaxRetries)
		}
	})
	st.finish()
	return st, ctx.Err()
}

// waitForFile returns once path exists.
func waitForFile(ctx context.Context, path string) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func parallel(n, items int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < items; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

func encode(r *wire.Report) []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.DefaultCompression)
	bw := bufio.NewWriter(zw)
	if err := json.NewEncoder(bw).Encode(r); err != nil {
		panic(err) // a Report always encodes
	}
	_ = bw.Flush()
	_ = zw.Close()
	return b.Bytes()
}

// do sends a request built by mk, retrying 503 and 429 after their
// Retry-After; it returns the final answer's status and body.
func do(ctx context.Context, hc *http.Client, mk func() (*http.Request, error), count func(status string, retried bool), maxRetries int) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		req, err := mk()
		if err != nil {
			return 0, nil, err
		}
		resp, err := hc.Do(req.WithContext(ctx))
		if err != nil {
			count("transport", false)
			return 0, nil, err
		}
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if rerr != nil {
			count("transport", false)
			return 0, nil, rerr
		}
		code := resp.StatusCode
		if code/100 == 2 {
			return code, body, nil
		}
		retry := (code == http.StatusServiceUnavailable || code == http.StatusTooManyRequests) && attempt < maxRetries
		count(strconv.Itoa(code), retry)
		if !retry {
			return code, body, nil
		}
		wait := retryAfter(resp.Header.Get("Retry-After"), attempt)
		select {
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// retryAfter reads Retry-After in seconds (as the collector sends it);
// without one it backs off 0.5 s doubling to 8 s.
func retryAfter(h string, attempt int) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	return min(500*time.Millisecond<<attempt, 8*time.Second)
}

func (st *Stats) count(status string, retried bool) {
	st.mu.Lock()
	st.Statuses[status]++
	if retried {
		st.Retries++
	}
	st.mu.Unlock()
}

func (st *Stats) countEnroll(status string, _ bool) {
	st.mu.Lock()
	st.EnrollStatuses[status]++
	st.mu.Unlock()
}

func enroll(ctx context.Context, hc *http.Client, base, secret string, a *agent, st *Stats, maxRetries int) error {
	body, _ := json.Marshal(wire.EnrollRequest{HostID: a.h.hostID, Hostname: a.h.hostname, OS: a.h.os.family, AgentVersion: "loadgen"})
	t := time.Now()
	code, answer, err := do(ctx, hc, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, base+wire.PathEnroll, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "umbra-loadgen")
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(secret))
		return req, nil
	}, st.countEnroll, maxRetries)
	a.enrollTime = time.Since(t)
	if err != nil {
		return fmt.Errorf("enrolling %s: %w", a.h.hostname, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("enrolling %s: %d: %s", a.h.hostname, code, firstLine(answer))
	}
	var er wire.EnrollResponse
	if err := json.Unmarshal(answer, &er); err != nil || er.Credential == "" || wire.CheckID(er.AgentID) != nil {
		return fmt.Errorf("enrolling %s: unreadable answer %q", a.h.hostname, firstLine(answer))
	}
	a.id, a.cred = er.AgentID, er.Credential
	return nil
}

func post(ctx context.Context, hc *http.Client, base string, a *agent, id string, body []byte, pkgs int, st *Stats, maxRetries int) {
	t := time.Now()
	st.mu.Lock()
	st.Reports++
	if st.firstSend.IsZero() || t.Before(st.firstSend) {
		st.firstSend = t
	}
	st.mu.Unlock()
	code, answer, err := do(ctx, hc, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, base+wire.PathReports, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("User-Agent", "umbra-loadgen")
		req.Header.Set("Authorization", "Bearer "+a.cred)
		return req, nil
	}, st.count, maxRetries)
	done := time.Now()
	var acc wire.Accepted
	ok := err == nil && code/100 == 2 && json.Unmarshal(answer, &acc) == nil && acc.ID == id
	st.mu.Lock()
	defer st.mu.Unlock()
	if done.After(st.last) {
		st.last = done
	}
	if !ok {
		st.Failed++
		if st.FirstError == "" {
			switch {
			case err != nil:
				st.FirstError = err.Error()
			default:
				st.FirstError = fmt.Sprintf("report %s: %d: %s", id, code, firstLine(answer))
			}
		}
		return
	}
	st.Accepted++
	if acc.Duplicate {
		st.Duplicates++
	}
	st.SoftwareRows += pkgs
	st.BodyBytes += int64(len(body))
	st.latencies = append(st.latencies, done.Sub(t))
}

func (st *Stats) finish() {
	if !st.firstSend.IsZero() {
		st.WallSeconds = st.last.Sub(st.firstSend).Seconds()
		st.FirstSend = st.firstSend.UTC()
	}
	if st.WallSeconds > 0 {
		st.ReportsPerSec = float64(st.Accepted) / st.WallSeconds
		st.RowsPerSec = float64(st.SoftwareRows) / st.WallSeconds
	}
	l := st.latencies
	slices.Sort(l)
	pct := func(p float64) float64 {
		if len(l) == 0 {
			return 0
		}
		i := int(p*float64(len(l))+0.999999) - 1
		return l[max(0, min(i, len(l)-1))].Seconds()
	}
	st.LatencyP50, st.LatencyP95, st.LatencyP99 = pct(0.50), pct(0.95), pct(0.99)
	if len(l) > 0 {
		st.LatencyMax = l[len(l)-1].Seconds()
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// Print writes the human summary of st.
func (st *Stats) Print(w io.Writer) {
	fmt.Fprintf(w, "agents         %d enrolled of %d (%.2f s)\n", st.Enrolled, st.Agents, st.EnrollSeconds)
	fmt.Fprintf(w, "reports        %d accepted of %d (%d duplicates, %d failed, %d retries)\n",
		st.Accepted, st.Reports, st.Duplicates, st.Failed, st.Retries)
	fmt.Fprintf(w, "latency        p50 %.3f s  p95 %.3f s  p99 %.3f s  max %.3f s\n",
		st.LatencyP50, st.LatencyP95, st.LatencyP99, st.LatencyMax)
	fmt.Fprintf(w, "throughput     %.1f reports/s, %.0f software rows/s over %.2f s (%d rows, %.1f MB gzip)\n",
		st.ReportsPerSec, st.RowsPerSec, st.WallSeconds, st.SoftwareRows, float64(st.BodyBytes)/1e6)
	printCounts(w, "errors         ", st.Statuses)
	printCounts(w, "enrol errors   ", st.EnrollStatuses)
	if st.FirstError != "" {
		fmt.Fprintf(w, "first error    %s\n", st.FirstError)
	}
}

// printCounts prints a line of counts by status, in order, if there are any.
func printCounts(w io.Writer, label string, counts map[string]int) {
	if len(counts) == 0 {
		return
	}
	fmt.Fprint(w, label)
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(w, "%s×%d ", k, counts[k])
	}
	fmt.Fprintln(w)
}
