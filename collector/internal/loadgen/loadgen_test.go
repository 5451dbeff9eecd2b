package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// fakeCollector enrols agents and counts the reports they post, refusing
// the first report of every third agent with 503 to exercise the retry.
type fakeCollector struct {
	mu       sync.Mutex
	creds    map[string]string // credential → agent id
	ids      map[string]bool
	refused  map[string]bool
	packages int
	problems []string
	// TLS sessions: enrolments that resumed one, reports that did not.
	enrollResumed, reportsFresh int
}

func (f *fakeCollector) fail(format string, args ...any) {
	f.mu.Lock()
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch r.URL.Path {
	case wire.PathEnroll:
		f.mu.Lock()
		if r.TLS != nil && r.TLS.DidResume {
			f.enrollResumed++
		}
		f.mu.Unlock()
		if auth != "s3cret" {
			http.Error(w, `{"error":"bad secret"}`, http.StatusUnauthorized)
			return
		}
		var er wire.EnrollRequest
		if err := json.NewDecoder(r.Body).Decode(&er); err != nil || er.Hostname == "" {
			f.fail("enrol: %v %+v", err, er)
		}
		f.mu.Lock()
		n := len(f.creds)
		id, cred := fmt.Sprintf("agent-%d", n), fmt.Sprintf("cred-%d", n)
		f.creds[cred] = id
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(wire.EnrollResponse{AgentID: id, Credential: cred})
	case wire.PathReports:
		f.mu.Lock()
		if r.TLS == nil || !r.TLS.DidResume {
			f.reportsFresh++
		}
		agentID, ok := f.creds[auth]
		f.mu.Unlock()
		if !ok {
			http.Error(w, `{"error":"no credential"}`, http.StatusUnauthorized)
			return
		}
		if r.Header.Get("Content-Encoding") != "gzip" {
			f.fail("report not gzip")
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			f.fail("gzip: %v", err)
			return
		}
		rep, err := wire.Decode(zr, wire.DefaultLimits, time.Now())
		if err != nil {
			f.fail("decode: %v", err)
			http.Error(w, `{"error":"bad report"}`, http.StatusBadRequest)
			return
		}
		if rep.AgentID != agentID {
			f.fail("report %s of %s sent with the credential of %s", rep.ID, rep.AgentID, agentID)
		}
		if len(rep.Inventory.Software) != f.packages {
			f.fail("report %s has %d packages", rep.ID, len(rep.Inventory.Software))
		}
		keys := map[wire.PackageKey]bool{}
		for _, p := range rep.Inventory.Software {
			keys[p.Key()] = true
		}
		if len(keys) != f.packages {
			f.fail("report %s has %d distinct package keys", rep.ID, len(keys))
		}
		var n int
		fmt.Sscanf(agentID, "agent-%d", &n)
		f.mu.Lock()
		if n%3 == 0 && !f.refused[agentID] {
			f.refused[agentID] = true
			f.mu.Unlock()
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return
		}
		dup := f.ids[rep.ID]
		f.ids[rep.ID] = true
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(wire.Accepted{ID: rep.ID, Duplicate: dup})
	default:
		http.NotFound(w, r)
	}
}

func TestRunAgainstFake(t *testing.T) {
	const agents, perAgent, packages = 30, 4, 50
	f := &fakeCollector{creds: map[string]string{}, ids: map[string]bool{}, refused: map[string]bool{}, packages: packages}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	st, err := Run(context.Background(), Config{Collector: srv.URL, RootCAs: roots, Secret: "s3cret",
		Agents: agents, ReportsPerAgent: perAgent, Packages: packages, Concurrency: 8, Seed: 7}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.problems {
		t.Error(p)
	}
	refused := (agents + 2) / 3
	if len(f.ids) != agents*perAgent {
		t.Errorf("the collector got %d distinct reports, want %d", len(f.ids), agents*perAgent)
	}
	if st.Enrolled != agents || st.Reports != agents*perAgent || st.Accepted != agents*perAgent ||
		st.Failed != 0 || st.Duplicates != 0 {
		t.Errorf("stats %+v", st)
	}
	if st.Retries != refused || st.Statuses["503"] != refused || len(st.Statuses) != 1 {
		t.Errorf("retries %d, statuses %v; want %d 503s, all retried", st.Retries, st.Statuses, refused)
	}
	// Each agent is its own process: its enrolment is a full handshake (no
	// session of another agent's to resume), and its reports come on a
	// new connection, which resumes the session of its enrolment.
	if f.enrollResumed != 0 || f.reportsFresh != 0 {
		t.Errorf("%d enrolments resumed a TLS session, %d report requests did not; want none of either", f.enrollResumed, f.reportsFresh)
	}
	if st.SoftwareRows != agents*perAgent*packages {
		t.Errorf("software rows %d, want %d", st.SoftwareRows, agents*perAgent*packages)
	}
	if !(0 < st.LatencyP50 && st.LatencyP50 <= st.LatencyP95 && st.LatencyP95 <= st.LatencyP99 && st.LatencyP99 <= st.LatencyMax) {
		t.Errorf("latencies out of order: %+v", st)
	}
	if st.WallSeconds <= 0 || st.RowsPerSec != float64(st.SoftwareRows)/st.WallSeconds {
		t.Errorf("wall %v, rows/s %v", st.WallSeconds, st.RowsPerSec)
	}
	var out bytes.Buffer
	st.Print(&out)
	if !strings.Contains(out.String(), "p99") || !strings.Contains(out.String(), "503×") {
		t.Errorf("summary:\n%s", out.String())
	}
}

func TestRefusesRemoteCollector(t *testing.T) {
	_, err := Run(context.Background(), Config{Collector: "https://192.0.2.1:8443", Secret: "x", Agents: 1, ReportsPerAgent: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v", err)
	}
}

func TestDeterministic(t *testing.T) {
	a := newHost(3, 5, 100, catalog(3, 2000))
	b := newHost(3, 5, 100, catalog(3, 2000))
	ra, _ := json.Marshal(a.report("x", "y", time.Unix(0, 0)))
	rb, _ := json.Marshal(b.report("x", "y", time.Unix(0, 0)))
	if !bytes.Equal(ra, rb) {
		t.Fatal("the same seed made different hosts")
	}
	var tsv bytes.Buffer
	n, err := WriteSoftwareTSV(&tsv, Config{Agents: 3, ReportsPerAgent: 2, Packages: 10, Seed: 3})
	if err != nil || n != 60 || strings.Count(tsv.String(), "\n") != 60 {
		t.Fatalf("tsv: %d rows, %v", n, err)
	}
	if cols := strings.Count(strings.SplitN(tsv.String(), "\n", 2)[0], "\t") + 1; cols != strings.Count(SoftwareColumns, ",")+1 {
		t.Fatalf("tsv has %d columns", cols)
	}
}

// TestStartFileHoldsPosting enrols, then posts nothing until the start
// file exists.
func TestStartFileHoldsPosting(t *testing.T) {
	f := &fakeCollector{creds: map[string]string{}, ids: map[string]bool{}, refused: map[string]bool{}, packages: 5}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	start := filepath.Join(t.TempDir(), "start")
	type result struct {
		st  *Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := Run(context.Background(), Config{Collector: srv.URL, RootCAs: roots, Secret: "s3cret",
			Agents: 3, ReportsPerAgent: 1, Packages: 5, StartFile: start}, nil)
		done <- result{st, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.mu.Lock()
		enrolled, posted := len(f.creds), len(f.ids)
		f.mu.Unlock()
		if posted > 0 {
			t.Fatal("reports were posted before the start file existed")
		}
		if enrolled == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agents did not enrol")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("Run returned before the start file existed: %+v, %v", r.st, r.err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := os.WriteFile(start, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.st.Accepted != 3 {
		t.Fatalf("Run = %+v, %v; want 3 reports accepted", r.st, r.err)
	}
}
