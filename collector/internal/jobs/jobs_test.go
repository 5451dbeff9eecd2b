package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/auth"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// fakeStore keeps everything in memory.
type fakeStore struct {
	mu       sync.Mutex
	jobs     map[string]store.Job
	scheds   map[string]store.Schedule
	creds    map[string]store.ScanCredential
	prefixes map[string][]netip.Prefix
	observed map[string][]netip.Addr
	agents   []store.Agent
	audit    []string
}

func newFakeStore() *fakeStore {
	return &fakeStore{jobs: map[string]store.Job{}, scheds: map[string]store.Schedule{}, creds: map[string]store.ScanCredential{},
		prefixes: map[string][]netip.Prefix{}, observed: map[string][]netip.Addr{}}
}

func (f *fakeStore) PutJob(_ context.Context, j store.Job) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs[j.ID] = j
	return nil
}
func (f *fakeStore) Jobs(context.Context, time.Time) ([]store.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Job
	for _, j := range f.jobs {
		out = append(out, j)
	}
	return out, nil
}
func (f *fakeStore) PutSchedule(_ context.Context, s store.Schedule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scheds[s.ID] = s
	return nil
}
func (f *fakeStore) Schedules(context.Context) ([]store.Schedule, error) { return nil, nil }
func (f *fakeStore) PutScanCredential(_ context.Context, c store.ScanCredential) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.Deleted {
		delete(f.creds, c.Name)
	} else {
		f.creds[c.Name] = c
	}
	return nil
}
func (f *fakeStore) ScanCredentials(context.Context) ([]store.ScanCredential, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.ScanCredential
	for _, c := range f.creds {
		out = append(out, c)
	}
	return out, nil
}
func (f *fakeStore) AgentPrefixes(context.Context, time.Time) (map[string][]netip.Prefix, error) {
	return f.prefixes, nil
}
func (f *fakeStore) ObservedAddrs(context.Context, time.Time, int) (map[string][]netip.Addr, error) {
	return f.observed, nil
}
func (f *fakeStore) Agents(context.Context) ([]store.Agent, error) { return f.agents, nil }
func (f *fakeStore) Audit(_ context.Context, actor auth.Principal, action, target, outcome, _, detail string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audit = append(f.audit, fmt.Sprintf("%s %s %s %s %s", actor.Actor(), action, target, outcome, detail))
	return nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var operator = auth.Principal{Kind: store.KindAdminToken, Role: auth.RoleOperator, CredID: "tok1", Name: "netops"}

func setup(t *testing.T) (*Service, *fakeStore, *clock) {
	t.Helper()
	st := newFakeStore()
	st.agents = []store.Agent{{AgentID: "a-office"}, {AgentID: "a-other"}, {AgentID: "a-seen"}, {AgentID: "a-revoked", Revoked: true}}
	st.prefixes["a-office"] = []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24")}
	st.prefixes["a-other"] = []netip.Prefix{netip.MustParsePrefix("198.18.9.0/24")}
	st.prefixes["a-revoked"] = []netip.Prefix{netip.MustParsePrefix("198.18.2.0/24")}
	st.observed["a-seen"] = []netip.Addr{netip.MustParseAddr("198.18.2.10")}
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := New(st, st, Config{Allow: []netip.Prefix{netip.MustParsePrefix("198.18.0.0/16")}, MaxAddrs: 1024, Lease: 30 * time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)), clk.now)
	return s, st, clk
}

func TestCreateChecks(t *testing.T) {
	s, st, _ := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		targets []string
		agent   string
		creds   []string
		want    string // a problem's text, or "" for ok
		routed  string
	}{
		{[]string{"198.18.1.0/24"}, "", nil, "", "a-office"},
		{[]string{"198.18.1.7"}, "", nil, "", "a-office"},
		{[]string{"198.18.2.0/24"}, "", nil, "", "a-seen"},
		{[]string{"198.18.9.0/24"}, "a-office", nil, "", "a-office"},
		{[]string{"10.0.0.0/24"}, "", nil, "not inside the allowed ranges", ""},
		{[]string{"198.18.0.0/20"}, "", nil, "at most 1024", ""},
		{[]string{"198.18.3.0/24"}, "", nil, "no agent sits on", ""},
		{[]string{"198.18.1.0/24"}, "a-revoked", nil, "no enrolled agent", ""},
		{[]string{"198.18.1.0/24"}, "", []string{"nope"}, "no credential named", ""},
		{[]string{"fe80::/64"}, "", nil, "not inside", ""},
		{nil, "", nil, "no target", ""},
		{[]string{"junk"}, "", nil, "want a CIDR", ""},
	} {
		j, _, err := s.Create(ctx, operator, Request{Targets: tc.targets, Agent: tc.agent, Credentials: tc.creds}, "192.0.2.1:5")
		if tc.want == "" {
			if err != nil || j.AgentID != tc.routed || j.State != StatePending {
				t.Errorf("Create(%v, agent %q) = %+v, %v; want pending on %s", tc.targets, tc.agent, j, err, tc.routed)
			}
			continue
		}
		var re *RequestError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Create(%v, agent %q) = %v, want a refusal with %q", tc.targets, tc.agent, err, tc.want)
		}
	}
	// Every request is audited with who asked, refused ones too.
	ok, denied := 0, 0
	for _, a := range st.audit {
		if !strings.HasPrefix(a, "admin:tok1 scan.create") {
			t.Errorf("audit %q does not name the operator", a)
		}
		if strings.Contains(a, " ok ") {
			ok++
		}
		if strings.Contains(a, " denied ") {
			denied++
		}
	}
	if ok != 4 || denied != 8 {
		t.Errorf("audit has %d ok and %d denied scan.create, want 4 and 8:\n%s", ok, denied, strings.Join(st.audit, "\n"))
	}
}

func TestNoAllowRefusesAll(t *testing.T) {
	st := newFakeStore()
	s := New(st, st, Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	_, _, err := s.Create(context.Background(), operator, Request{Targets: []string{"198.18.1.0/24"}, Agent: "x"}, "")
	if err == nil || !strings.Contains(err.Error(), "allows no scans") {
		t.Errorf("Create without allowed ranges = %v, want refused", err)
	}
}

func TestLeaseProgressFailover(t *testing.T) {
	s, st, clk := setup(t)
	ctx := context.Background()
	st.prefixes["a-other"] = append(st.prefixes["a-other"], netip.MustParsePrefix("198.18.1.0/24"))
	if err := s.AddCredential(ctx, operator, store.ScanCredential{Name: "ro", Version: "2c", Community: "s3cret"}, ""); err != nil {
		t.Fatal(err)
	}
	j, _, err := s.Create(ctx, operator, Request{Targets: []string{"198.18.1.0/24"}, Credentials: []string{"ro"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	first := j.AgentID
	second := map[string]string{"a-office": "a-other", "a-other": "a-office"}[first]

	// Only the routed agent gets it; the job carries the credential and a rate.
	if _, ok, _ := s.Next(ctx, second, 10*time.Millisecond); ok {
		t.Fatal("the other agent got the job")
	}
	wj, ok, err := s.Next(ctx, first, time.Second)
	if err != nil || !ok || wj.ID != j.ID || wj.Rate != DefaultSubnetRate || len(wj.Credentials) != 1 || wj.Credentials[0].Community != "s3cret" {
		t.Fatalf("Next(%s) = %+v, %v, %v", first, wj, ok, err)
	}
	if strings.Contains(fmt.Sprint(wj), "s3cret") || strings.Contains(fmt.Sprintf("%+v", *wj), "s3cret") {
		t.Error("a job prints its community")
	}
	ack, err := s.Progress(ctx, first, j.ID, wire.JobProgress{State: wire.JobRunning, Phase: "arp", Probed: 10, Total: 256, Found: 2, Percent: 4})
	if err != nil || ack.Stop {
		t.Fatalf("Progress = %+v, %v", ack, err)
	}
	// The agent goes silent: after the lease the job goes to the other.
	clk.add(31 * time.Second)
	if err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.Get(j.ID)
	if got.AgentID != second || got.State != StatePending || got.Attempts != 1 {
		t.Fatalf("after the lease: %+v; want pending on %s", got, second)
	}
	// The first agent comes back: it is told to stop.
	if ack, _ := s.Progress(ctx, first, j.ID, wire.JobProgress{State: wire.JobRunning}); !ack.Stop {
		t.Error("the old agent was not told to stop")
	}
	if _, ok, _ := s.Next(ctx, second, time.Second); !ok {
		t.Fatal("the second agent did not get the job")
	}
	if _, err := s.Progress(ctx, second, j.ID, wire.JobProgress{State: wire.JobDone, Found: 9, Total: 256, Probed: 256, Percent: 100}); err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.Get(j.ID)
	if got.State != StateDone || got.Found != 9 || got.FinishedAt.IsZero() {
		t.Errorf("finished job = %+v", got)
	}
	if _, err := s.Cancel(ctx, operator, j.ID, ""); !errors.Is(err, ErrFinished) {
		t.Errorf("Cancel of a finished job = %v", err)
	}
	for _, a := range st.audit {
		if strings.Contains(a, "s3cret") {
			t.Errorf("the audit log holds the secret: %s", a)
		}
	}
}

func TestOneScannerPerSegmentAndLongPoll(t *testing.T) {
	s, _, _ := setup(t)
	ctx := context.Background()
	a, _, _ := s.Create(ctx, operator, Request{Targets: []string{"198.18.1.0/24"}}, "")
	b, _, _ := s.Create(ctx, operator, Request{Targets: []string{"198.18.1.0/25"}}, "")
	c, _, _ := s.Create(ctx, operator, Request{Targets: []string{"198.18.9.0/24"}, Agent: "a-office"}, "")
	wj, ok, _ := s.Next(ctx, "a-office", time.Second)
	if !ok || wj.ID != a.ID {
		t.Fatalf("first Next = %+v; want %s", wj, a.ID)
	}
	// b overlaps the running a: it waits; c does not.
	wj, ok, _ = s.Next(ctx, "a-office", time.Second)
	if !ok || wj.ID != c.ID {
		t.Fatalf("second Next = %+v; want %s (not the overlapping %s)", wj, c.ID, b.ID)
	}
	// A long poll wakes when a finishes and b becomes free.
	got := make(chan string, 1)
	go func() {
		wj, ok, _ := s.Next(ctx, "a-office", 5*time.Second)
		if ok {
			got <- wj.ID
		} else {
			got <- ""
		}
	}()
	time.Sleep(50 * time.Millisecond)
	if _, err := s.Progress(ctx, "a-office", a.ID, wire.JobProgress{State: wire.JobDone}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		if id != b.ID {
			t.Errorf("woken long poll got %q, want %s", id, b.ID)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the long poll did not wake")
	}
}

func TestCancelStopsAgent(t *testing.T) {
	s, st, _ := setup(t)
	ctx := context.Background()
	j, _, _ := s.Create(ctx, operator, Request{Targets: []string{"198.18.1.0/24"}}, "")
	if _, ok, _ := s.Next(ctx, "a-office", time.Second); !ok {
		t.Fatal("no job")
	}
	if _, err := s.Cancel(ctx, operator, j.ID, ""); err != nil {
		t.Fatal(err)
	}
	if ack, _ := s.Progress(ctx, "a-office", j.ID, wire.JobProgress{State: wire.JobRunning}); !ack.Stop {
		t.Error("a cancelled job's agent was not told to stop")
	}
	if !strings.Contains(strings.Join(st.audit, "\n"), "scan.cancel") {
		t.Error("the cancel is not audited")
	}
}

func TestSegmentBudgetShared(t *testing.T) {
	s, _, _ := setup(t)
	ctx := context.Background()
	_, _, _ = s.Create(ctx, operator, Request{Targets: []string{"198.18.1.0/25"}}, "")
	_, _, _ = s.Create(ctx, operator, Request{Targets: []string{"198.18.1.128/25"}, Agent: "a-other"}, "")
	w1, _, _ := s.Next(ctx, "a-office", time.Second)
	w2, _, _ := s.Next(ctx, "a-other", time.Second)
	if w1 == nil || w2 == nil || w1.Rate != DefaultSubnetRate || w2.Rate != DefaultSubnetRate/2 {
		t.Errorf("rates %+v %+v; want the whole budget, then half of it", w1, w2)
	}
}

func TestSchedule(t *testing.T) {
	s, _, clk := setup(t)
	ctx := context.Background()
	if _, err := s.AddSchedule(ctx, operator, Request{Targets: []string{"198.18.1.0/24"}}, time.Minute, ""); err == nil {
		t.Error("a 1m schedule was accepted")
	}
	if _, err := s.AddSchedule(ctx, operator, Request{Targets: []string{"198.18.1.0/24"}}, time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	_ = s.Tick(ctx)
	if n := len(s.List(0)); n != 1 {
		t.Fatalf("%d jobs after the first tick, want 1", n)
	}
	clk.add(30 * time.Minute)
	_ = s.Tick(ctx)
	if n := len(s.List(0)); n != 1 {
		t.Fatalf("%d jobs after 30m, want 1", n)
	}
	clk.add(31 * time.Minute)
	_ = s.Tick(ctx)
	js := s.List(0)
	if len(js) != 2 || js[0].ScheduleID == "" || !strings.HasPrefix(js[0].CreatedBy, "admin:schedule:") {
		t.Fatalf("after an hour: %+v", js)
	}
}
