package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/umbrasec/umbra/collector/internal/auth"
	"github.com/umbrasec/umbra/collector/internal/store"
	"github.com/umbrasec/umbra/collector/internal/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

// flakyStore is a real store whose writes fail once when armed: the failure
// an enrolment meets when ClickHouse times out under load.
type flakyStore struct {
	*store.DB
	mu   sync.Mutex
	fail func(call string, v any) bool // nil: disarmed
	hit  bool
	// land makes the failing write happen before the error, as when its
	// reply is lost.
	land bool
}

var errInjected = fmt.Errorf("%w: injected failure", store.ErrUnavailable)

func (f *flakyStore) arm(fail func(call string, v any) bool, land bool) {
	f.mu.Lock()
	f.fail, f.hit, f.land = fail, false, land
	f.mu.Unlock()
}

// check returns errInjected for the first call fail matches, then disarms.
func (f *flakyStore) check(call string, v any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil && f.fail(call, v) {
		f.fail, f.hit = nil, true
		return errInjected
	}
	return nil
}

func (f *flakyStore) PutCredential(ctx context.Context, c store.Credential) error {
	if err := f.check("PutCredential", c); err != nil {
		if f.land {
			if err := f.DB.PutCredential(ctx, c); err != nil {
				return err
			}
		}
		return err
	}
	return f.DB.PutCredential(ctx, c)
}

func (f *flakyStore) PutAgent(ctx context.Context, a store.Agent) error {
	if err := f.check("PutAgent", a); err != nil {
		return err
	}
	return f.DB.PutAgent(ctx, a)
}

func (f *flakyStore) Audit(ctx context.Context, e store.AuditEvent) error {
	if err := f.check("Audit", e); err != nil {
		return err
	}
	return f.DB.Audit(ctx, e)
}

// TestFailedEnrolmentUsesNoSecret makes each write of an enrolment fail in
// turn, for a first enrolment and a re-enrolment: the secret's uses stay as
// they were, the agent's retry succeeds, and the machine stays one agent.
func TestFailedEnrolmentUsesNoSecret(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	fs := &flakyStore{DB: db}
	authn := auth.NewAuthenticator(db, 0, nil)
	svc := auth.NewService(fs, authn, nil)

	steps := []struct {
		name string
		fail func(call string, v any) bool
		// first: the step is part of a first enrolment too (revoking the
		// previous credential is not).
		first bool
		// land: the write lands and only its reply is lost.
		land bool
	}{
		{"revoking the previous credential", func(call string, v any) bool {
			c, ok := v.(store.Credential)
			return call == "PutCredential" && ok && c.Revoked
		}, false, false},
		{"writing the agent", func(call string, _ any) bool { return call == "PutAgent" }, true, false},
		{"auditing", func(call string, v any) bool {
			e, ok := v.(store.AuditEvent)
			return call == "Audit" && ok && e.Action == "agent.enroll" && e.Outcome == "ok"
		}, true, false},
		{"writing the new credential", func(call string, v any) bool {
			c, ok := v.(store.Credential)
			return call == "PutCredential" && ok && c.Kind == store.KindAgentCredential && !c.Revoked
		}, true, false},
		{"the reply of the new credential's write", func(call string, v any) bool {
			c, ok := v.(store.Credential)
			return call == "PutCredential" && ok && c.Kind == store.KindAgentCredential && !c.Revoked
		}, true, true},
	}
	for i, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			sec, err := svc.CreateEnrollSecret(ctx, auth.Principal{}, fmt.Sprintf("s%d", i), 0, 2, "")
			if err != nil {
				t.Fatal(err)
			}
			p, err := authn.Authenticate(ctx, sec.Secret)
			if err != nil {
				t.Fatal(err)
			}
			machine := fmt.Sprintf("SMBIOS-%d", i)
			req := auth.EnrollRequest{HostID: machine, Hostname: fmt.Sprintf("host-%d", i)}
			uses := func() uint64 {
				t.Helper()
				n, err := svc.Uses(ctx, sec.Credential.ID)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			// enrol enrols the machine, first with the failure armed when
			// armed, and returns the retry's result.
			enrol := func(armed bool, wantUses uint64) auth.Enrolled {
				t.Helper()
				if armed {
					fs.arm(step.fail, step.land)
					if _, err := svc.Enroll(ctx, p, req, "test"); !errors.Is(err, errInjected) {
						t.Fatalf("Enroll with a failure injected = %v, want the injected failure", err)
					}
					if !fs.hit {
						t.Fatal("the failure was not injected")
					}
					if n := uses(); n != wantUses-1 {
						t.Fatalf("after a failed enrolment the secret has %d uses, want %d", n, wantUses-1)
					}
				}
				got, err := svc.Enroll(ctx, p, req, "test")
				if err != nil {
					t.Fatalf("retried Enroll = %v", err)
				}
				if n := uses(); n != wantUses {
					t.Fatalf("after the enrolment the secret has %d uses, want %d", n, wantUses)
				}
				if _, err := authn.Authenticate(ctx, got.Credential); err != nil {
					t.Fatalf("the new credential is refused: %v", err)
				}
				return got
			}
			first := enrol(step.first, 1)
			again := enrol(true, 2)
			if again.AgentID != first.AgentID || !again.Reenrolled {
				t.Errorf("re-enrolment = agent %s reenrolled %v, want agent %s again", again.AgentID, again.Reenrolled, first.AgentID)
			}
			if _, err := authn.Authenticate(ctx, first.Credential); !errors.Is(err, auth.ErrRevoked) {
				t.Errorf("the first credential after re-enrolment: %v, want revoked", err)
			}
			as, err := db.AgentsByMachine(ctx, "hostid:"+"smbios-"+fmt.Sprint(i))
			if err != nil || len(as) != 1 || as[0].AgentID != first.AgentID {
				t.Errorf("agents of the machine = %+v, %v; want one, %s", as, err, first.AgentID)
			}
			// Both uses were taken by successful enrolments: a third machine
			// is refused.
			other := auth.EnrollRequest{HostID: machine + "-other", Hostname: "other"}
			if _, err := svc.Enroll(ctx, p, other, "test"); !errors.Is(err, auth.ErrUsedUp) {
				t.Errorf("a third enrolment with a two-use secret = %v, want ErrUsedUp", err)
			}
		})
	}
}
