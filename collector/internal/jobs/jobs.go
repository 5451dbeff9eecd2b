// Package jobs is the collector's scan scheduler: it checks scan requests
// against the allowed ranges, routes each job to the one agent that sits
// on the target, hands it out by long poll under a lease, fails over when
// that agent stops reporting, and fires recurring schedules.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/umbrasec/umbra/collector/internal/auth"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// Job states.
const (
	StatePending   = "pending"
	StateRunning   = "running"
	StateDone      = "done"
	StateFailed    = "failed"
	StateCancelled = "cancelled"
)

// Errors.
var (
	ErrNotFound = errors.New("not found")
	ErrFinished = errors.New("the scan has already finished")
)

// RequestError is a request the service refuses: outside the allowed
// ranges, too large, unroutable, naming an unknown credential.
type RequestError struct{ Problems []string }

func (e *RequestError) Error() string { return "scan refused: " + strings.Join(e.Problems, "; ") }

// Store is what the service reads and writes.
type Store interface {
	PutJob(ctx context.Context, j store.Job) error
	Jobs(ctx context.Context, since time.Time) ([]store.Job, error)
	PutSchedule(ctx context.Context, s store.Schedule) error
	Schedules(ctx context.Context) ([]store.Schedule, error)
	PutScanCredential(ctx context.Context, c store.ScanCredential) error
	ScanCredentials(ctx context.Context) ([]store.ScanCredential, error)
	AgentPrefixes(ctx context.Context, since time.Time) (map[string][]netip.Prefix, error)
	ObservedAddrs(ctx context.Context, since time.Time, limit int) (map[string][]netip.Addr, error)
	Agents(ctx context.Context) ([]store.Agent, error)
}

// Auditor writes the audit log (*auth.Service).
type Auditor interface {
	Audit(ctx context.Context, actor auth.Principal, action, target, outcome, remote, detail string) error
}

// Config tunes the service.
type Config struct {
	// Allow lists the ranges scans may target; empty refuses every scan.
	Allow []netip.Prefix
	// MaxAddrs bounds the addresses of one scan.
	MaxAddrs int
	// Lease is how long a job stays an agent's without a progress report.
	Lease time.Duration
	// SubnetRate is the packet budget per second of one /24 (IPv4)
	// segment, shared by every job scanning there.
	SubnetRate int
	// Tick is how often leases and schedules are checked.
	Tick time.Duration
	// MaxAttempts bounds the agents a job is given to before it fails.
	MaxAttempts int
	// History is how far back jobs are loaded at start.
	History time.Duration
}

// Defaults.
const (
	DefaultMaxAddrs    = 4096
	DefaultLease       = 45 * time.Second
	DefaultSubnetRate  = 400
	DefaultTick        = 2 * time.Second
	DefaultMaxAttempts = 3
	defaultHistory     = 30 * 24 * time.Hour
	// how far back inventories and observations count for routing
	routeInventoryAge   = 7 * 24 * time.Hour
	routeObservationAge = 7 * 24 * time.Hour
)

func (c *Config) defaults() {
	if c.MaxAddrs <= 0 {
		c.MaxAddrs = DefaultMaxAddrs
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.SubnetRate <= 0 {
		c.SubnetRate = DefaultSubnetRate
	}
	if c.Tick <= 0 {
		c.Tick = DefaultTick
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.History <= 0 {
		c.History = defaultHistory
	}
}

type entry struct {
	job      store.Job
	route    string
	targets  []netip.Prefix
	lease    time.Time // running: when the lease ends
	assigned time.Time // when the current agent got it
	saved    time.Time // last write to the store
	// seq orders jobs created in the same instant (clocks are coarse, and
	// ClickHouse keeps seconds): the first created is the first served.
	seq uint64
}

// Service runs scan jobs. Its methods are safe for concurrent use.
type Service struct {
	st    Store
	audit Auditor
	cfg   Config
	log   *slog.Logger
	now   func() time.Time

	mu        sync.Mutex
	jobs      map[string]*entry
	seq       uint64               // the last entry's seq
	polls     map[string]time.Time // agent → last poll
	wake      chan struct{}        // closed on every change
	lastVer   uint64
	schedules map[string]store.Schedule
	lastRun   map[string]time.Time
}

// New returns a service; call Load before serving and Run to keep leases
// and schedules going. now nil means time.Now.
func New(st Store, audit Auditor, cfg Config, log *slog.Logger, now func() time.Time) *Service {
	cfg.defaults()
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, audit: audit, cfg: cfg, log: log, now: now, jobs: map[string]*entry{},
		polls: map[string]time.Time{}, wake: make(chan struct{}), schedules: map[string]store.Schedule{}, lastRun: map[string]time.Time{}}
}

// Config returns the service's configuration with defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Load reads the jobs and schedules from the store. Jobs that were running
// get a fresh lease: their agent may still be at it.
func (s *Service) Load(ctx context.Context) error {
	js, err := s.st.Jobs(ctx, s.now().Add(-s.cfg.History))
	if err != nil {
		return err
	}
	scheds, err := s.st.Schedules(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, j := range js {
		s.seq++
		e := &entry{job: j, targets: mustPrefixes(j.Targets), assigned: now, saved: now, seq: s.seq}
		if j.State == StateRunning {
			e.lease = now.Add(s.cfg.Lease)
		}
		s.jobs[j.ID] = e
		s.lastVer = max(s.lastVer, j.Version)
		if j.ScheduleID != "" && j.CreatedAt.After(s.lastRun[j.ScheduleID]) {
			s.lastRun[j.ScheduleID] = j.CreatedAt
		}
	}
	for _, sc := range scheds {
		s.schedules[sc.ID] = sc
	}
	return nil
}

func mustPrefixes(ts []string) []netip.Prefix {
	var out []netip.Prefix
	for _, t := range ts {
		if p, err := netip.ParsePrefix(t); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "scan-" + hex.EncodeToString(b[:])
}

// version returns a row version greater than every earlier one; s.mu held.
func (s *Service) version() uint64 {
	v := max(uint64(s.now().UnixNano()), s.lastVer+1)
	s.lastVer = v
	return v
}

// broadcast wakes every long poll; s.mu held.
func (s *Service) broadcast() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// save writes e's job; s.mu held.
func (s *Service) save(ctx context.Context, e *entry) error {
	e.job.Version = s.version()
	e.job.UpdatedAt = s.now()
	e.saved = e.job.UpdatedAt
	return s.st.PutJob(ctx, e.job)
}

// Request is a scan to create.
type Request struct {
	Targets     []string
	Methods     []string
	Credentials []string
	Agent       string
	ScheduleID  string
}

// checked is a request that passed the checks.
type checked struct {
	targets []netip.Prefix
	methods []string
}

// check validates r against the allowed ranges, the size bound and the
// stored credentials.
func (s *Service) check(ctx context.Context, r Request) (checked, error) {
	var c checked
	var problems []string
	if len(r.Targets) == 0 {
		problems = append(problems, "no target: give a CIDR prefix such as 10.1.2.0/24")
	}
	if len(r.Targets) > wire.MaxJobTargets {
		problems = append(problems, fmt.Sprintf("at most %d targets", wire.MaxJobTargets))
	}
	total := 0.0
	for _, t := range r.Targets {
		p, err := parseTarget(t)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if !s.allowed(p) {
			if len(s.cfg.Allow) == 0 {
				problems = append(problems, fmt.Sprintf("%s is not in an allowed range: this collector allows no scans (start it with --scan-allow)", p))
			} else {
				problems = append(problems, fmt.Sprintf("%s is not inside the allowed ranges %s", p, joinPrefixes(s.cfg.Allow)))
			}
			continue
		}
		total += math.Pow(2, float64(p.Addr().BitLen()-p.Bits()))
		c.targets = append(c.targets, p)
	}
	if total > float64(s.cfg.MaxAddrs) {
		problems = append(problems, fmt.Sprintf("the targets hold %.0f addresses; this collector allows at most %d per scan", total, s.cfg.MaxAddrs))
	}
	c.methods = r.Methods
	if len(c.methods) == 0 {
		c.methods = slices.Clone(wire.ScanMethods)
	}
	for _, m := range c.methods {
		if !wire.ValidMethod(m) {
			problems = append(problems, fmt.Sprintf("method %q: want %s", m, strings.Join(wire.ScanMethods, ", ")))
		}
	}
	if len(r.Credentials) > wire.MaxJobCredentials {
		problems = append(problems, fmt.Sprintf("at most %d credentials", wire.MaxJobCredentials))
	}
	if len(r.Credentials) > 0 {
		creds, err := s.st.ScanCredentials(ctx)
		if err != nil {
			return c, err
		}
		for _, n := range r.Credentials {
			if !slices.ContainsFunc(creds, func(x store.ScanCredential) bool { return x.Name == n }) {
				problems = append(problems, fmt.Sprintf("no credential named %q (umbra credential list)", n))
			}
		}
	}
	if len(problems) > 0 {
		return c, &RequestError{Problems: problems}
	}
	return c, nil
}

func parseTarget(t string) (netip.Prefix, error) {
	t = strings.TrimSpace(t)
	p, err := netip.ParsePrefix(t)
	if err != nil {
		a, aerr := netip.ParseAddr(t)
		if aerr != nil {
			return netip.Prefix{}, fmt.Errorf("target %q: want a CIDR prefix such as 10.1.2.0/24 or an address", t)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("target %q: no zones", t)
	}
	return p.Masked(), nil
}

func (s *Service) allowed(p netip.Prefix) bool {
	for _, a := range s.cfg.Allow {
		if a.Bits() <= p.Bits() && a.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func joinPrefixes(ps []netip.Prefix) string {
	var ss []string
	for _, p := range ps {
		ss = append(ss, p.String())
	}
	return strings.Join(ss, ", ")
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// Create checks and stores a scan and routes it to an agent. Every
// request, refused or not, is in the audit log with who asked.
func (s *Service) Create(ctx context.Context, actor auth.Principal, r Request, remote string) (store.Job, string, error) {
	detail := fmt.Sprintf("targets=%s methods=%s credentials=%s agent=%q schedule=%q", strings.Join(r.Targets, ","),
		strings.Join(r.Methods, ","), strings.Join(r.Credentials, ","), r.Agent, r.ScheduleID)
	c, err := s.check(ctx, r)
	if err == nil {
		var agent, why string
		agent, why, err = s.route(ctx, c.targets, r.Agent, nil)
		if err == nil {
			return s.create(ctx, actor, r, c, agent, why, remote, detail)
		}
	}
	var re *RequestError
	if errors.As(err, &re) {
		_ = s.audit.Audit(ctx, actor, "scan.create", strings.Join(r.Targets, ","), "denied", remote, detail+" reason="+strings.Join(re.Problems, "; "))
	}
	return store.Job{}, "", err
}

func (s *Service) create(ctx context.Context, actor auth.Principal, r Request, c checked, agent, why, remote, detail string) (store.Job, string, error) {
	now := s.now()
	e := &entry{job: store.Job{
		ID: newID(), CreatedAt: now, CreatedBy: actor.Actor(), ScheduleID: r.ScheduleID, Targets: prefixStrings(c.targets),
		Methods: c.methods, Credentials: r.Credentials, RequestedAgent: r.Agent, AgentID: agent, State: StatePending,
	}, route: why, targets: c.targets, assigned: now}
	s.mu.Lock()
	err := s.save(ctx, e)
	if err == nil {
		s.seq++
		e.seq = s.seq
		s.jobs[e.job.ID] = e
		s.broadcast()
	}
	s.mu.Unlock()
	if err != nil {
		return store.Job{}, "", err
	}
	if err := s.audit.Audit(ctx, actor, "scan.create", e.job.ID, "ok", remote, detail+fmt.Sprintf(" routed_to=%s (%s)", agent, why)); err != nil {
		return store.Job{}, "", err
	}
	s.log.Info("scan created", "scan_id", e.job.ID, "targets", strings.Join(e.job.Targets, ","), "agent_id", agent, "route", why, "actor", actor.Actor())
	return e.job, why, nil
}

// route picks the agent to scan targets: the one named; else one with an
// interface on every target; else one that reported observations there
// recently. Agents in exclude (tried already) are passed over while
// another fits.
func (s *Service) route(ctx context.Context, targets []netip.Prefix, named string, exclude []string) (string, string, error) {
	agents, err := s.st.Agents(ctx)
	if err != nil {
		return "", "", err
	}
	live := map[string]bool{}
	for _, a := range agents {
		if !a.Revoked {
			live[a.AgentID] = true
		}
	}
	if named != "" {
		if !live[named] {
			return "", "", &RequestError{Problems: []string{fmt.Sprintf("no enrolled agent %q (umbra agent list)", named)}}
		}
		return named, "named by the operator", nil
	}
	now := s.now()
	pfx, err := s.st.AgentPrefixes(ctx, now.Add(-routeInventoryAge))
	if err != nil {
		return "", "", err
	}
	var onLink []string
	for a, ps := range pfx {
		if !live[a] {
			continue
		}
		all := true
		for _, t := range targets {
			if !slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Bits() <= t.Bits() && p.Contains(t.Addr()) || t.Overlaps(p) }) {
				all = false
			}
		}
		if all {
			onLink = append(onLink, a)
		}
	}
	if a, ok := s.pick(onLink, exclude); ok {
		return a, "has an interface on the target", nil
	}
	obs, err := s.st.ObservedAddrs(ctx, now.Add(-routeObservationAge), 200000)
	if err != nil {
		return "", "", err
	}
	count := map[string]int{}
	var seen []string
	for a, addrs := range obs {
		if !live[a] {
			continue
		}
		for _, ad := range addrs {
			for _, t := range targets {
				if t.Contains(ad) {
					count[a]++
				}
			}
		}
		if count[a] > 0 {
			seen = append(seen, a)
		}
	}
	sort.SliceStable(seen, func(i, j int) bool { return count[seen[i]] > count[seen[j]] })
	if a, ok := s.pick(seen, exclude); ok {
		return a, "reported observations on the target recently", nil
	}
	return "", "", &RequestError{Problems: []string{fmt.Sprintf(
		"no agent sits on %s: none has an interface there in its latest inventory or saw hosts there in the last %s; name one with --agent",
		joinPrefixes(targets), routeObservationAge)}}
}

// pick returns the best candidate: one not excluded, preferring agents
// polling for jobs now, then by id for a stable choice.
func (s *Service) pick(cands, exclude []string) (string, bool) {
	if len(cands) == 0 {
		return "", false
	}
	s.mu.Lock()
	polls := make(map[string]time.Time, len(cands))
	for _, c := range cands {
		polls[c] = s.polls[c]
	}
	s.mu.Unlock()
	fresh := s.now().Add(-2 * wire.MaxJobWait)
	rank := func(a string) int {
		r := 0
		if slices.Contains(exclude, a) {
			r += 2
		}
		if polls[a].Before(fresh) {
			r++
		}
		return r
	}
	c := slices.Clone(cands)
	sort.Slice(c, func(i, j int) bool {
		if ri, rj := rank(c[i]), rank(c[j]); ri != rj {
			return ri < rj
		}
		return c[i] < c[j]
	})
	return c[0], true
}

// Get returns a job.
func (s *Service) Get(id string) (store.Job, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.jobs[id]
	if !ok {
		return store.Job{}, "", ErrNotFound
	}
	return e.job, e.route, nil
}

// List returns the jobs, newest first, at most limit.
func (s *Service) List(limit int) []store.Job {
	s.mu.Lock()
	out := make([]store.Job, 0, len(s.jobs))
	for _, e := range s.jobs {
		out = append(out, e.job)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func terminal(state string) bool {
	return state == StateDone || state == StateFailed || state == StateCancelled
}

// Cancel stops a job; its agent learns it at its next progress report.
func (s *Service) Cancel(ctx context.Context, actor auth.Principal, id, remote string) (store.Job, error) {
	s.mu.Lock()
	e, ok := s.jobs[id]
	if !ok {
		s.mu.Unlock()
		return store.Job{}, ErrNotFound
	}
	if terminal(e.job.State) {
		s.mu.Unlock()
		return e.job, ErrFinished
	}
	e.job.State, e.job.FinishedAt, e.job.Error = StateCancelled, s.now(), "cancelled by "+actor.Actor()
	err := s.save(ctx, e)
	s.broadcast()
	j := e.job
	s.mu.Unlock()
	if err != nil {
		return j, err
	}
	return j, s.audit.Audit(ctx, actor, "scan.cancel", id, "ok", remote, "")
}

// busy reports whether another running job covers addresses of e; s.mu
// held. Exactly one scanner works a set of addresses at a time.
func (s *Service) busy(e *entry) bool {
	for _, o := range s.jobs {
		if o != e && o.job.State == StateRunning && overlaps(o.targets, e.targets) {
			return true
		}
	}
	return false
}

func overlaps(a, b []netip.Prefix) bool {
	for _, x := range a {
		for _, y := range b {
			if x.Overlaps(y) {
				return true
			}
		}
	}
	return false
}

// segments widens IPv4 prefixes longer than /24 to their /24.
func segments(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.Addr().Is4() && p.Bits() > 24 {
			p, _ = p.Addr().Prefix(24)
		}
		out = append(out, p)
	}
	return out
}

// rate is e's share of its segments' packet budget: the budget divided
// among the running jobs there, e included; s.mu held.
func (s *Service) rate(e *entry) int {
	n := 1
	seg := segments(e.targets)
	for _, o := range s.jobs {
		if o != e && o.job.State == StateRunning && overlaps(segments(o.targets), seg) {
			n++
		}
	}
	return max(1, s.cfg.SubnetRate/n)
}

// Next waits up to wait for a job for agent and leases it. ok is false
// when none came.
func (s *Service) Next(ctx context.Context, agent string, wait time.Duration) (job *wire.Job, ok bool, err error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		s.polls[agent] = s.now()
		e := s.nextFor(agent)
		var wake chan struct{}
		if e == nil {
			wake = s.wake
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil, false, nil
			case <-timer.C:
				return nil, false, nil
			case <-wake:
				continue
			}
		}
		now := s.now()
		e.job.State, e.lease, e.job.Rate = StateRunning, now.Add(s.cfg.Lease), uint32(s.rate(e))
		if e.job.StartedAt.IsZero() {
			e.job.StartedAt = now
		}
		if err := s.save(ctx, e); err != nil {
			e.job.State = StatePending
			s.mu.Unlock()
			return nil, false, err
		}
		j := e.job
		s.mu.Unlock()
		wj, err := s.wireJob(ctx, j)
		if err != nil {
			return nil, false, err
		}
		s.log.Info("scan handed to agent", "scan_id", j.ID, "agent_id", agent, "rate", j.Rate)
		return wj, true, nil
	}
}

// nextFor returns the oldest pending job of agent whose addresses no
// other job is scanning; s.mu held.
func (s *Service) nextFor(agent string) *entry {
	var best *entry
	for _, e := range s.jobs {
		if e.job.State != StatePending || e.job.AgentID != agent || s.busy(e) {
			continue
		}
		if best == nil || e.job.CreatedAt.Before(best.job.CreatedAt) ||
			e.job.CreatedAt.Equal(best.job.CreatedAt) && e.seq < best.seq {
			best = e
		}
	}
	return best
}

func (s *Service) wireJob(ctx context.Context, j store.Job) (*wire.Job, error) {
	wj := &wire.Job{ID: j.ID, Targets: j.Targets, Methods: j.Methods, Rate: int(j.Rate), MaxAddrs: s.cfg.MaxAddrs,
		LeaseSeconds: int(s.cfg.Lease / time.Second)}
	if len(j.Credentials) > 0 {
		creds, err := s.st.ScanCredentials(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range j.Credentials {
			for _, c := range creds {
				if c.Name == n {
					wj.Credentials = append(wj.Credentials, wire.SNMPCredential{Name: c.Name, Version: c.Version,
						Community: wire.Secret(c.Community), User: c.User, AuthProto: c.AuthProto, AuthPass: wire.Secret(c.AuthPass),
						PrivProto: c.PrivProto, PrivPass: wire.Secret(c.PrivPass)})
				}
			}
		}
	}
	return wj, wj.Validate()
}

// progressSaveEvery bounds how often running progress is written.
const progressSaveEvery = 2 * time.Second

// Progress records an agent's progress on job id and renews its lease.
// The answer tells the agent to stop when the job is no longer its own.
func (s *Service) Progress(ctx context.Context, agent, id string, p wire.JobProgress) (wire.JobAck, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.jobs[id]
	if !ok {
		return wire.JobAck{}, ErrNotFound
	}
	if e.job.AgentID != agent {
		return wire.JobAck{Stop: true, Reason: "the scan was given to another agent"}, nil
	}
	if e.job.State != StateRunning {
		return wire.JobAck{Stop: true, Reason: "the scan is " + e.job.State}, nil
	}
	now := s.now()
	e.lease = now.Add(s.cfg.Lease)
	e.job.Phase, e.job.Probed, e.job.Total, e.job.Found = p.Phase, uint64(p.Probed), uint64(p.Total), uint64(p.Found)
	e.job.Percent, e.job.ETASeconds, e.job.Reports = p.Percent, int64(p.ETASeconds), uint32(p.Reports)
	changed := false
	switch p.State {
	case wire.JobDone:
		e.job.State, e.job.FinishedAt, e.job.Percent, e.job.ETASeconds, changed = StateDone, now, 100, 0, true
	case wire.JobFailed:
		e.job.State, e.job.FinishedAt, e.job.Error, changed = StateFailed, now, p.Error, true
	}
	if changed || now.Sub(e.saved) >= progressSaveEvery {
		if err := s.save(ctx, e); err != nil {
			return wire.JobAck{}, err
		}
	}
	if changed {
		s.broadcast()
		s.log.Info("scan finished", "scan_id", id, "agent_id", agent, "state", e.job.State, "found", p.Found, "error", p.Error)
	}
	return wire.JobAck{}, nil
}

// Run checks leases and schedules every Tick until ctx is done.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("scan scheduler tick", "error", err)
		}
	}
}

// system is the actor of what the scheduler does by itself.
var system = auth.Principal{Kind: store.KindAdminToken, Role: auth.RoleAdmin, CredID: "scheduler"}

// Tick fails over expired leases and pending jobs whose agent stopped
// polling, and creates the jobs of due schedules.
func (s *Service) Tick(ctx context.Context) error {
	now := s.now()
	s.mu.Lock()
	var stale []*entry
	for _, e := range s.jobs {
		switch {
		case e.job.State == StateRunning && now.After(e.lease):
			stale = append(stale, e)
		case e.job.State == StatePending && now.Sub(e.assigned) > s.cfg.Lease && now.Sub(s.polls[e.job.AgentID]) > s.cfg.Lease && !s.busy(e):
			stale = append(stale, e)
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, e := range stale {
		s.mu.Lock()
		old, tried, targets, named := e.job.AgentID, append(slices.Clone(e.job.TriedAgents), e.job.AgentID), e.targets, e.job.RequestedAgent
		s.mu.Unlock()
		var agent, why string
		var rerr error
		if named == "" {
			agent, why, rerr = s.route(ctx, targets, "", tried)
		} else {
			agent, why = named, "named by the operator"
		}
		s.mu.Lock()
		if e.job.AgentID != old || terminal(e.job.State) {
			s.mu.Unlock()
			continue
		}
		e.job.Attempts++
		e.job.TriedAgents = tried
		detail := fmt.Sprintf("agent %s stopped reporting", old)
		if int(e.job.Attempts) >= s.cfg.MaxAttempts || rerr != nil {
			e.job.State, e.job.FinishedAt, e.job.Error = StateFailed, now, detail+fmt.Sprintf("; gave up after %d attempts", e.job.Attempts)
			if rerr != nil {
				e.job.Error = detail + "; " + rerr.Error()
			}
		} else {
			e.job.State, e.job.AgentID, e.route, e.assigned = StatePending, agent, why, now
			detail += "; given to " + agent
		}
		err := s.save(ctx, e)
		s.broadcast()
		id, state := e.job.ID, e.job.State
		s.mu.Unlock()
		s.log.Warn("scan failover", "scan_id", id, "from_agent_id", old, "to_agent_id", agent, "state", state)
		errs = append(errs, err, s.audit.Audit(ctx, system, "scan.failover", id, state, "", detail))
	}
	errs = append(errs, s.fireSchedules(ctx, now))
	return errors.Join(errs...)
}

func (s *Service) fireSchedules(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	var due []store.Schedule
	for id, sc := range s.schedules {
		if now.Sub(s.lastRun[id]) >= sc.Interval {
			due = append(due, sc)
			s.lastRun[id] = now
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, sc := range due {
		actor := auth.Principal{Kind: store.KindAdminToken, Role: auth.RoleOperator, CredID: "schedule:" + sc.ID}
		_, _, err := s.Create(ctx, actor, Request{Targets: sc.Targets, Methods: sc.Methods, Credentials: sc.Credentials,
			Agent: sc.RequestedAgent, ScheduleID: sc.ID}, "")
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", sc.ID, err))
		}
	}
	return errors.Join(errs...)
}
