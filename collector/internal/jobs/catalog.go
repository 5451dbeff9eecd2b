package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/umbrasec/umbra/collector/internal/auth"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/shared/wire"
)

// AddCredential stores a named SNMP credential, replacing one of the same
// name. Its secrets are neither logged nor audited.
func (s *Service) AddCredential(ctx context.Context, actor auth.Principal, c store.ScanCredential, remote string) error {
	var problems []string
	if c.Name == "" || len(c.Name) > 64 || strings.ContainsFunc(c.Name, func(r rune) bool { return r <= ' ' || r == 0x7f || r == ',' }) {
		problems = append(problems, "name must be 1 to 64 printable characters without spaces or commas")
	}
	problems = append(problems, wire.SNMPCredential{Name: c.Name, Version: c.Version, Community: wire.Secret(c.Community), User: c.User,
		AuthProto: c.AuthProto, AuthPass: wire.Secret(c.AuthPass), PrivProto: c.PrivProto, PrivPass: wire.Secret(c.PrivPass)}.Validate()...)
	if len(problems) > 0 {
		return &RequestError{Problems: problems}
	}
	s.mu.Lock()
	c.CreatedAt, c.CreatedBy, c.RowVer = s.now(), actor.Actor(), s.version()
	s.mu.Unlock()
	if err := s.st.PutScanCredential(ctx, c); err != nil {
		return err
	}
	return s.audit.Audit(ctx, actor, "scan-credential.add", c.Name, "ok", remote, fmt.Sprintf("version=%s user=%q", c.Version, c.User))
}

// Credentials lists the stored credentials; callers must not show their
// secrets.
func (s *Service) Credentials(ctx context.Context) ([]store.ScanCredential, error) {
	return s.st.ScanCredentials(ctx)
}

// RemoveCredential deletes a named credential.
func (s *Service) RemoveCredential(ctx context.Context, actor auth.Principal, name, remote string) error {
	cs, err := s.st.ScanCredentials(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.Name != name {
			continue
		}
		s.mu.Lock()
		tomb := store.ScanCredential{Name: name, CreatedAt: c.CreatedAt, CreatedBy: c.CreatedBy, Version: c.Version, Deleted: true, RowVer: s.version()}
		s.mu.Unlock()
		if err := s.st.PutScanCredential(ctx, tomb); err != nil {
			return err
		}
		return s.audit.Audit(ctx, actor, "scan-credential.remove", name, "ok", remote, "")
	}
	return ErrNotFound
}

// MinScheduleInterval bounds how often a schedule may run.
const MinScheduleInterval = 5 * time.Minute

// AddSchedule stores a recurring scan, checked like a scan; its first run
// is at the next tick.
func (s *Service) AddSchedule(ctx context.Context, actor auth.Principal, r Request, every time.Duration, remote string) (store.Schedule, error) {
	c, err := s.check(ctx, r)
	if err == nil && every < MinScheduleInterval {
		err = &RequestError{Problems: []string{fmt.Sprintf("interval %s: at least %s", every, MinScheduleInterval)}}
	}
	if err == nil {
		_, _, err = s.route(ctx, c.targets, r.Agent, nil)
	}
	if err != nil {
		_ = s.audit.Audit(ctx, actor, "scan-schedule.add", strings.Join(r.Targets, ","), "denied", remote, err.Error())
		return store.Schedule{}, err
	}
	s.mu.Lock()
	sc := store.Schedule{ID: strings.Replace(newID(), "scan-", "sched-", 1), CreatedAt: s.now(), CreatedBy: actor.Actor(),
		Targets: prefixStrings(c.targets), Methods: c.methods, Credentials: r.Credentials, RequestedAgent: r.Agent,
		Interval: every, Version: s.version()}
	s.mu.Unlock()
	if err := s.st.PutSchedule(ctx, sc); err != nil {
		return sc, err
	}
	s.mu.Lock()
	s.schedules[sc.ID] = sc
	s.mu.Unlock()
	return sc, s.audit.Audit(ctx, actor, "scan-schedule.add", sc.ID, "ok", remote,
		fmt.Sprintf("targets=%s every=%s", strings.Join(sc.Targets, ","), every))
}

// Schedules lists the schedules with their last run.
func (s *Service) Schedules() ([]store.Schedule, map[string]time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Schedule, 0, len(s.schedules))
	last := map[string]time.Time{}
	for id, sc := range s.schedules {
		out = append(out, sc)
		last[id] = s.lastRun[id]
	}
	return out, last
}

// RemoveSchedule deletes a schedule; its running jobs go on.
func (s *Service) RemoveSchedule(ctx context.Context, actor auth.Principal, id, remote string) error {
	s.mu.Lock()
	sc, ok := s.schedules[id]
	if ok {
		sc.Deleted, sc.Version = true, s.version()
	}
	s.mu.Unlock()
	if !ok {
		return ErrNotFound
	}
	if err := s.st.PutSchedule(ctx, sc); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.schedules, id)
	s.mu.Unlock()
	return s.audit.Audit(ctx, actor, "scan-schedule.remove", id, "ok", remote, "")
}
