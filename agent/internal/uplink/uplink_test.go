package uplink

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

func testReport() *wire.Report {
	now := time.Now().UTC().Truncate(time.Second)
	return &wire.Report{
		Schema: wire.Schema, ID: "0b6f1c2e-1d7a-4f0e-9b51-0c2a2f9f4c11", Kind: wire.KindInventory,
		AgentID: "7d9e4a52-3b1c-4f7e-8a6d-2e5f1b0c9d84", AgentVersion: "test", CreatedAt: now,
		Inventory: &wire.Inventory{CollectedAt: now, Full: true, Host: wire.Host{Hostname: "pc-1"},
			Interfaces: []wire.Interface{{Name: "eth0", MAC: "00:1a:2b:3c:4d:5e", Addrs: []string{"192.0.2.7/24", "2001:db8::7/64"}, Up: true}}},
	}
}

// collector is a fake collector that decodes every report it is sent and
// answers from a script, one answer per request (the last one repeats).
type collector struct {
	t       *testing.T
	answers []func(http.ResponseWriter)

	mu      sync.Mutex
	reports []*wire.Report
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != wire.PathReports {
		c.t.Errorf("request %s %s, want POST %s", r.Method, r.URL.Path, wire.PathReports)
	}
	if ct, ce := r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"); ct != "application/json" || ce != "gzip" {
		c.t.Errorf("Content-Type %q, Content-Encoding %q, want application/json and gzip", ct, ce)
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		c.t.Errorf("body is not gzip: %v", err)
		http.Error(w, "bad gzip", http.StatusBadRequest)
		return
	}
	rep, err := wire.Decode(zr, wire.DefaultLimits, time.Now())
	if err != nil {
		c.t.Errorf("wire.Decode(body): %v", err)
	}
	c.mu.Lock()
	c.reports = append(c.reports, rep)
	n := len(c.reports)
	c.mu.Unlock()
	c.answers[min(n, len(c.answers))-1](w)
}

func (c *collector) received() []*wire.Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*wire.Report(nil), c.reports...)
}

func answer(code int, body any, header ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	}
}

func newClient(t *testing.T, srv *httptest.Server) *Client {
	t.Helper()
	c, err := New(srv.URL+"/", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	c.backoff = time.Millisecond
	return c
}

func TestSendSuccess(t *testing.T) {
	col := &collector{t: t, answers: []func(http.ResponseWriter){answer(http.StatusAccepted, wire.Accepted{ID: testReport().ID})}}
	srv := httptest.NewServer(col)
	defer srv.Close()

	rep := testReport()
	sent, err := newClient(t, srv).Send(t.Context(), rep)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if sent.Attempts != 1 || sent.Bytes == 0 || sent.Accepted.ID != rep.ID {
		t.Errorf("Send() = %+v, want 1 attempt, some bytes and accepted id %s", sent, rep.ID)
	}
	got := col.received()
	if len(got) != 1 || !reflect.DeepEqual(got[0], rep) {
		t.Errorf("collector received %+v, want %+v", got, rep)
	}
}

func TestSendRefused(t *testing.T) {
	problem := wire.Problem{Error: "invalid report: inventory.host.hostname is missing", Problems: []string{"inventory.host.hostname is missing"}}
	col := &collector{t: t, answers: []func(http.ResponseWriter){answer(http.StatusBadRequest, problem)}}
	srv := httptest.NewServer(col)
	defer srv.Close()

	_, err := newClient(t, srv).Send(t.Context(), testReport())
	var refused *RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("Send() error = %v, want a *RefusedError", err)
	}
	want := "collector refused report: 400 Bad Request: invalid report: inventory.host.hostname is missing"
	if refused.Error() != want || !reflect.DeepEqual(refused.Problem, problem) {
		t.Errorf("Send() refusal = %q %+v, want %q", refused.Error(), refused.Problem, want)
	}
	if n := len(col.received()); n != 1 {
		t.Errorf("a 400 was tried %d times, want 1", n)
	}
}

func TestSendRefusedWithoutProblem(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "413 request entity too large\nmore", http.StatusRequestEntityTooLarge)
	}))
	defer srv.Close()
	_, err := newClient(t, srv).Send(t.Context(), testReport())
	if err == nil || !strings.HasSuffix(err.Error(), "collector refused report: 413 Request Entity Too Large: 413 request entity too large") {
		t.Errorf("Send() error = %v, want the first line of the plain-text answer", err)
	}
}

func TestSendRetriesSameReport(t *testing.T) {
	col := &collector{t: t, answers: []func(http.ResponseWriter){
		answer(http.StatusServiceUnavailable, wire.Problem{Error: "store unavailable"}),
		answer(http.StatusTooManyRequests, wire.Problem{Error: "slow down"}, "Retry-After", "1"),
		answer(http.StatusOK, wire.Accepted{ID: testReport().ID, Duplicate: true}),
	}}
	srv := httptest.NewServer(col)
	defer srv.Close()

	c := newClient(t, srv)
	c.maxRetryAfter = 10 * time.Millisecond // Retry-After: 1 is honoured up to this cap
	start := time.Now()
	sent, err := c.Send(t.Context(), testReport())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("Send took %v: Retry-After was not capped", d)
	}
	if sent.Attempts != 3 || !sent.Accepted.Duplicate {
		t.Errorf("Send() = %+v, want 3 attempts and a duplicate", sent)
	}
	got := col.received()
	for i, r := range got {
		if r == nil || r.ID != got[0].ID {
			t.Fatalf("attempt %d sent report %+v, want the same id each time", i, r)
		}
	}
}

func TestSendGivesUp(t *testing.T) {
	col := &collector{t: t, answers: []func(http.ResponseWriter){answer(http.StatusBadGateway, wire.Problem{Error: "down"})}}
	srv := httptest.NewServer(col)
	defer srv.Close()

	_, err := newClient(t, srv).Send(t.Context(), testReport())
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Code != http.StatusBadGateway || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("Send() error = %v, want a 502 refusal after 3 attempts", err)
	}
	if n := len(col.received()); n != 3 {
		t.Errorf("collector got %d attempts, want 3", n)
	}
}

func TestSendNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	c := newClient(t, srv)
	srv.Close() // nothing listens any more
	_, err := c.Send(t.Context(), testReport())
	if err == nil || !strings.Contains(err.Error(), "3 attempts failed") {
		t.Errorf("Send(to closed server) error = %v, want a network error after 3 attempts", err)
	}
}

func TestSendCancelStopsRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		once.Do(cancel) // the caller gives up while the first answer is on its way
		answer(http.StatusServiceUnavailable, wire.Problem{Error: "busy"}, "Retry-After", "3600")(w)
	}))
	defer srv.Close()
	c := newClient(t, srv)
	c.maxRetryAfter = time.Hour
	c.backoff = time.Hour

	done := make(chan error, 1)
	go func() {
		_, err := c.Send(ctx, testReport())
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Send() error = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after its context was cancelled")
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "collector:8443", "ftp://c", "http://", "https://c/?x=1", "http://u:p@c", "http://c/#f", "://"} {
		if _, err := New(u, nil); err == nil {
			t.Errorf("New(%q) = nil error, want one", u)
		}
	}
	c, err := New("https://collector.example:8443/umbra/", nil)
	if err != nil || c.endpoint != "https://collector.example:8443/umbra"+wire.PathReports {
		t.Errorf("New(base with path) endpoint = %q, %v", c.endpoint, err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"5", 5 * time.Second},
		{" 0 ", 0},
		{"-3", 0},
		{"soon", 0},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second},
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0},
	} {
		if got := retryAfter(tt.in, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
