package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/umbrasec/umbra/collector/internal/store"
)

// ErrNotFound is a credential or agent that does not exist (or is of
// another kind than the caller named).
var ErrNotFound = errors.New("not found")

// ErrUsedUp is an enrolment secret that was used as often as it may.
var ErrUsedUp = errors.New("enrolment secret used up")

// Store is what the service reads and writes.
type Store interface {
	credentialStore
	PutCredential(ctx context.Context, c store.Credential) error
	Credentials(ctx context.Context, kind string) ([]store.Credential, error)
	EnrolmentUses(ctx context.Context, secretID string) (uint64, error)
	PutAgent(ctx context.Context, a store.Agent) error
	AgentByID(ctx context.Context, agentID string) (store.Agent, bool, error)
	AgentsByMachine(ctx context.Context, mk string) ([]store.Agent, error)
	Agents(ctx context.Context) ([]store.Agent, error)
	Audit(ctx context.Context, e store.AuditEvent) error
}

// Service makes, lists and revokes credentials and enrols agents; every
// change is written to the audit log.
type Service struct {
	st   Store
	auth *Authenticator
	now  func() time.Time

	mu      sync.Mutex // serialises changes, so versions grow and uses are counted right
	lastVer uint64
}

// NewService returns a service over st whose changes reach auth's cache
// at once. now nil means time.Now.
func NewService(st Store, auth *Authenticator, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, auth: auth, now: now}
}

// version returns a row version greater than every one this service made
// and than prev; s.mu must be held.
func (s *Service) version(prev uint64) uint64 {
	v := uint64(s.now().UnixNano())
	v = max(v, s.lastVer+1, prev+1)
	s.lastVer = v
	return v
}

// Audit records an event; RemoteAddr and Detail are optional.
func (s *Service) Audit(ctx context.Context, actor Principal, action, target, outcome, remote, detail string) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return s.st.Audit(ctx, store.AuditEvent{
		At: s.now(), EventID: hex.EncodeToString(b[:]), Actor: actor.Actor(), ActorKind: actor.Kind,
		Action: action, Target: target, Outcome: outcome, RemoteAddr: remote, Detail: detail,
	})
}

// NewCredential is what CreateToken and CreateEnrollSecret make.
type NewCredential struct {
	Credential store.Credential
	// Secret is the plaintext, shown once.
	Secret string
}

// CreateToken makes an admin token; ttl zero means it never expires.
func (s *Service) CreateToken(ctx context.Context, actor Principal, name string, role Role, ttl time.Duration, remote string) (NewCredential, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return NewCredential{}, err
	}
	return s.create(ctx, actor, store.KindAdminToken, name, role, ttl, 0, "token.create", remote)
}

// CreateEnrollSecret makes an enrolment secret; ttl zero means it never
// expires and maxUses zero that it may be used any number of times.
func (s *Service) CreateEnrollSecret(ctx context.Context, actor Principal, name string, ttl time.Duration, maxUses uint32, remote string) (NewCredential, error) {
	return s.create(ctx, actor, store.KindEnrollSecret, name, "", ttl, maxUses, "enroll-secret.create", remote)
}

func (s *Service) create(ctx context.Context, actor Principal, kind, name string, role Role, ttl time.Duration, maxUses uint32, action, remote string) (NewCredential, error) {
	if ttl < 0 {
		return NewCredential{}, fmt.Errorf("ttl %s is negative", ttl)
	}
	tok, plain, hash, err := NewToken(kind)
	if err != nil {
		return NewCredential{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC().Truncate(time.Second)
	c := store.Credential{ID: tok.ID, Kind: kind, Name: name, Role: string(role), SecretHash: hash,
		CreatedAt: now, CreatedBy: actor.Actor(), MaxUses: maxUses, Version: s.version(0)}
	if ttl > 0 {
		c.ExpiresAt = now.Add(ttl)
	}
	if err := s.st.PutCredential(ctx, c); err != nil {
		return NewCredential{}, err
	}
	if err := s.Audit(ctx, actor, action, tok.ID, "ok", remote, fmt.Sprintf("name=%q role=%q ttl=%s max_uses=%d", name, role, ttl, maxUses)); err != nil {
		return NewCredential{}, err
	}
	return NewCredential{Credential: c, Secret: plain}, nil
}

// Credentials lists credentials of a kind.
func (s *Service) Credentials(ctx context.Context, kind string) ([]store.Credential, error) {
	return s.st.Credentials(ctx, kind)
}

// Uses counts the successful enrolments with an enrolment secret.
func (s *Service) Uses(ctx context.Context, secretID string) (uint64, error) {
	return s.st.EnrolmentUses(ctx, secretID)
}

// Revoke revokes the credential id of kind.
func (s *Service) Revoke(ctx context.Context, actor Principal, kind, id, remote string) error {
	action := map[string]string{store.KindAdminToken: "token.revoke", store.KindEnrollSecret: "enroll-secret.revoke"}[kind]
	if action == "" || !ValidID(id) {
		return ErrNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok, err := s.st.Credential(ctx, id)
	if err != nil {
		return err
	}
	if !ok || c.Kind != kind {
		return ErrNotFound
	}
	if err := s.revoke(ctx, actor, c); err != nil {
		return err
	}
	return s.Audit(ctx, actor, action, id, "ok", remote, "")
}

// revoke writes a revoked version of c; s.mu must be held.
func (s *Service) revoke(ctx context.Context, actor Principal, c store.Credential) error {
	if c.Revoked {
		return nil
	}
	c.Revoked, c.RevokedAt, c.RevokedBy, c.Version = true, s.now().UTC(), actor.Actor(), s.version(c.Version)
	if err := s.st.PutCredential(ctx, c); err != nil {
		return err
	}
	s.auth.Forget(c.ID)
	return nil
}

// EnrollRequest is what an agent says about itself when it enrols.
type EnrollRequest struct {
	// AgentID is the id the agent has used so far, if any.
	AgentID string
	// HostID is the machine's stable id (SMBIOS UUID, machine-id), if known.
	HostID       string
	Hostname     string
	OS           string
	AgentVersion string
}

// Enrolled is the outcome of an enrolment.
type Enrolled struct {
	AgentID    string
	Credential string
	// Reenrolled is true when the machine was enrolled before.
	Reenrolled bool
}

// Enroll exchanges an enrolment secret (already authenticated as secret)
// for an agent credential. A machine enrolled before, known by its host id
// or its agent id, gets its old agent id back and its old credential is
// revoked: re-enrolling never makes a second host.
func (s *Service) Enroll(ctx context.Context, secret Principal, req EnrollRequest, remote string) (Enrolled, error) {
	if secret.Kind != store.KindEnrollSecret {
		return Enrolled{}, errors.New("enrolment needs an enrolment secret")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The secret as the request's authentication just read it (a
	// revocation made here is seen at once, one made through another
	// collector within the cache TTL, as for every credential).
	lookup := s.st.Credential
	if s.auth != nil {
		lookup = s.auth.lookup
	}
	sc, ok, err := lookup(ctx, secret.CredID)
	if err != nil {
		return Enrolled{}, err
	}
	if !ok || sc.Revoked {
		return Enrolled{}, ErrRevoked
	}
	if sc.MaxUses > 0 {
		n, err := s.st.EnrolmentUses(ctx, sc.ID)
		if err != nil {
			return Enrolled{}, err
		}
		if n >= uint64(sc.MaxUses) {
			_ = s.Audit(ctx, secret, "agent.enroll", req.Hostname, "denied", remote, "enrolment secret used up")
			return Enrolled{}, ErrUsedUp
		}
	}

	mk := ""
	if h := strings.TrimSpace(req.HostID); h != "" {
		mk = "hostid:" + strings.ToLower(h)
	}
	var prev store.Agent
	var found bool
	if mk != "" {
		as, err := s.st.AgentsByMachine(ctx, mk)
		if err != nil {
			return Enrolled{}, err
		}
		if len(as) > 0 {
			prev, found = as[0], true
		}
	}
	if !found && uuid.Validate(req.AgentID) == nil {
		a, ok, err := s.st.AgentByID(ctx, req.AgentID)
		if err != nil {
			return Enrolled{}, err
		}
		// An agent id copied with a disk image onto another machine must
		// not take over the original's identity.
		if ok && (a.MachineKey == "" || mk == "" || a.MachineKey == mk) {
			prev, found = a, true
		}
		if !ok {
			prev.AgentID = req.AgentID
		}
	}
	if found && mk == "" {
		mk = prev.MachineKey // a request without a host id keeps the one known
	}
	agentID := prev.AgentID
	if agentID == "" {
		agentID = uuid.NewString()
	}

	// The new credential, which names the secret it was issued by, is what
	// counts a use of the secret (EnrolmentUses); it is the last write of
	// an enrolment, after everything that may fail. An enrolment that fails
	// on the way (a store error, a timeout under load) thus consumes no use,
	// and the agent's retry enrols it all the same: the agent row written
	// meanwhile names this machine, so the retry finds it and keeps its
	// agent id. When that last write itself fails, a later version voids
	// the credential in case the write landed.
	tok, plain, hash, err := NewToken(store.KindAgentCredential)
	if err != nil {
		return Enrolled{}, err
	}
	now := s.now().UTC().Truncate(time.Second)
	if found && prev.CredID != "" {
		if old, ok, err := s.st.Credential(ctx, prev.CredID); err != nil {
			return Enrolled{}, err
		} else if ok {
			if err := s.revoke(ctx, secret, old); err != nil {
				return Enrolled{}, err
			}
		}
	}
	a := store.Agent{AgentID: agentID, MachineKey: mk, Hostname: req.Hostname, OS: req.OS, AgentVersion: req.AgentVersion,
		CredID: tok.ID, EnrolledBy: sc.ID, RemoteAddr: remote, FirstEnrolledAt: now, EnrolledAt: now, Version: s.version(prev.Version)}
	if found && !prev.FirstEnrolledAt.IsZero() {
		a.FirstEnrolledAt = prev.FirstEnrolledAt
	}
	if err := s.st.PutAgent(ctx, a); err != nil {
		return Enrolled{}, err
	}
	detail := fmt.Sprintf("hostname=%q machine=%q reenrolled=%v credential=%s", req.Hostname, mk, found, tok.ID)
	if err := s.Audit(ctx, secret, "agent.enroll", agentID, "ok", remote, detail); err != nil {
		return Enrolled{}, err
	}
	cred := store.Credential{ID: tok.ID, Kind: store.KindAgentCredential, Name: req.Hostname, AgentID: agentID,
		SecretHash: hash, CreatedAt: now, CreatedBy: secret.Actor(), IssuedBy: sc.ID, Version: s.version(0)}
	if err := s.st.PutCredential(ctx, cred); err != nil {
		// The write may have landed all the same (a timeout waiting for
		// its reply): void the credential with a later version that names
		// no issuer and is revoked, which gives the use back. Best effort,
		// with time of its own: the store is likely failing.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		void := cred
		void.IssuedBy, void.Revoked, void.RevokedAt, void.RevokedBy, void.Version = "", true, s.now().UTC(), "enrolment failed", s.version(cred.Version)
		_ = s.st.PutCredential(cctx, void)
		// The audit log says ok: add that it did not hold.
		_ = s.Audit(cctx, secret, "agent.enroll", agentID, "error", remote,
			fmt.Sprintf("credential=%s not stored: %v", tok.ID, err))
		return Enrolled{}, err
	}
	if s.auth != nil {
		s.auth.Remember(cred)
	}
	return Enrolled{AgentID: agentID, Credential: plain, Reenrolled: found}, nil
}

// Agents lists the enrolled agents.
func (s *Service) Agents(ctx context.Context) ([]store.Agent, error) { return s.st.Agents(ctx) }

// RevokeAgent revokes an agent's credential: its next request is refused
// and it must be enrolled again.
func (s *Service) RevokeAgent(ctx context.Context, actor Principal, agentID, remote string) error {
	if uuid.Validate(agentID) != nil {
		return ErrNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok, err := s.st.AgentByID(ctx, agentID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	if c, ok, err := s.st.Credential(ctx, a.CredID); err != nil {
		return err
	} else if ok {
		if err := s.revoke(ctx, actor, c); err != nil {
			return err
		}
	}
	if !a.Revoked {
		a.Revoked, a.RevokedAt, a.RevokedBy, a.Version = true, s.now().UTC(), actor.Actor(), s.version(a.Version)
		if err := s.st.PutAgent(ctx, a); err != nil {
			return err
		}
	}
	return s.Audit(ctx, actor, "agent.revoke", agentID, "ok", remote, "")
}
