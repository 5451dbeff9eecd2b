package store

import (
	"context"
	"fmt"
	"time"
)

// Credential kinds.
const (
	KindAgentCredential = "agent"
	KindAdminToken      = "admin"
	KindEnrollSecret    = "enroll"
)

// Credential is one version of an agent credential, an admin token or an
// enrolment secret. Only a hash of its secret is stored.
type Credential struct {
	ID         string
	Kind       string
	Name       string
	Role       string // admin tokens
	AgentID    string // agent credentials
	SecretHash string
	CreatedAt  time.Time
	CreatedBy  string
	ExpiresAt  time.Time // zero: never
	MaxUses    uint32    // enrolment secrets; zero: unlimited
	IssuedBy   string    // agent credentials: the enrolment secret's id
	Revoked    bool
	RevokedAt  time.Time
	RevokedBy  string
	Version    uint64
}

func zeroTime(t time.Time) time.Time {
	if t.IsZero() {
		return minDateTime
	}
	return dateTime(t)
}

func fromDB(t time.Time) time.Time {
	if !t.After(minDateTime) {
		return time.Time{}
	}
	return t.UTC()
}

const credentialColumns = `cred_id, kind, name, role, agent_id, secret_hash, created_at, created_by,
    expires_at, max_uses, issued_by, revoked, revoked_at, revoked_by, version`

// PutCredential writes a version of c; the greatest Version wins.
func (db *DB) PutCredential(ctx context.Context, c Credential) error {
	err := db.insertRow(ctx, "INSERT INTO credentials ("+credentialColumns+")",
		c.ID, c.Kind, c.Name, c.Role, c.AgentID, c.SecretHash, zeroTime(c.CreatedAt), c.CreatedBy,
		zeroTime(c.ExpiresAt), c.MaxUses, c.IssuedBy, boolUint8(c.Revoked), zeroTime(c.RevokedAt), c.RevokedBy, c.Version)
	if err != nil {
		return fmt.Errorf("storing credential %s: %w", c.ID, err)
	}
	return nil
}

func (db *DB) queryCredentials(ctx context.Context, query string, args ...any) ([]Credential, error) {
	rows, err := db.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []Credential
	for rows.Next() {
		var c Credential
		var revoked uint8
		if err := rows.Scan(&c.ID, &c.Kind, &c.Name, &c.Role, &c.AgentID, &c.SecretHash, &c.CreatedAt, &c.CreatedBy,
			&c.ExpiresAt, &c.MaxUses, &c.IssuedBy, &revoked, &c.RevokedAt, &c.RevokedBy, &c.Version); err != nil {
			return nil, err
		}
		c.Revoked = revoked != 0
		c.CreatedAt, c.ExpiresAt, c.RevokedAt = fromDB(c.CreatedAt), fromDB(c.ExpiresAt), fromDB(c.RevokedAt)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// Credential returns the latest version of credential id; ok is false when
// there is none.
func (db *DB) Credential(ctx context.Context, id string) (c Credential, ok bool, err error) {
	cs, err := db.queryCredentials(ctx, "SELECT "+credentialColumns+" FROM credentials FINAL WHERE cred_id = ?", id)
	if err != nil {
		return Credential{}, false, fmt.Errorf("looking up credential: %w", err)
	}
	if len(cs) == 0 {
		return Credential{}, false, nil
	}
	best := cs[0]
	for _, c := range cs[1:] { // FINAL has not merged across partitions on every server
		if c.Version > best.Version {
			best = c
		}
	}
	return best, true, nil
}

// Credentials lists the latest version of every credential of a kind,
// newest first.
func (db *DB) Credentials(ctx context.Context, kind string) ([]Credential, error) {
	// kind never changes between versions, so filtering on it is safe
	// with FINAL.
	cs, err := db.queryCredentials(ctx, "SELECT "+credentialColumns+" FROM credentials FINAL WHERE kind = ? ORDER BY created_at DESC, cred_id", kind)
	if err != nil {
		return nil, fmt.Errorf("listing credentials: %w", err)
	}
	return cs, nil
}

// CredentialUses counts the agent credentials issued with an enrolment
// secret.
func (db *DB) CredentialUses(ctx context.Context, secretID string) (uint64, error) {
	n, err := db.Count(ctx, "SELECT uniqExact(cred_id) FROM credentials WHERE kind = 'agent' AND issued_by = ?", secretID)
	if err != nil {
		return 0, fmt.Errorf("counting uses of enrolment secret %s: %w", secretID, err)
	}
	return n, nil
}

// Agent is one version of an enrolled agent.
type Agent struct {
	AgentID         string
	MachineKey      string // "hostid:…": what makes a re-enrolled machine the same agent
	Hostname        string
	OS              string
	AgentVersion    string
	CredID          string // the current credential
	EnrolledBy      string // the enrolment secret's id
	RemoteAddr      string
	FirstEnrolledAt time.Time
	EnrolledAt      time.Time
	Revoked         bool
	RevokedAt       time.Time
	RevokedBy       string
	Version         uint64
}

const agentColumns = `agent_id, machine_key, hostname, os, agent_version, cred_id, enrolled_by, remote_addr,
    first_enrolled_at, enrolled_at, revoked, revoked_at, revoked_by, version`

// PutAgent writes a version of a; the greatest Version wins.
func (db *DB) PutAgent(ctx context.Context, a Agent) error {
	err := db.insertRow(ctx, "INSERT INTO agents ("+agentColumns+")",
		a.AgentID, a.MachineKey, a.Hostname, a.OS, a.AgentVersion, a.CredID, a.EnrolledBy, a.RemoteAddr,
		zeroTime(a.FirstEnrolledAt), zeroTime(a.EnrolledAt), boolUint8(a.Revoked), zeroTime(a.RevokedAt), a.RevokedBy, a.Version)
	if err != nil {
		return fmt.Errorf("storing agent %s: %w", a.AgentID, err)
	}
	return nil
}

// latestAgents picks, per agent, the columns of its greatest version; the
// HAVING clause filters after that choice, never before.
const latestAgents = `SELECT agent_id,
    argMax(machine_key, version) AS mk, argMax(hostname, version), argMax(os, version), argMax(agent_version, version),
    argMax(cred_id, version), argMax(enrolled_by, version), argMax(remote_addr, version),
    min(first_enrolled_at), argMax(enrolled_at, version), argMax(revoked, version),
    argMax(revoked_at, version), argMax(revoked_by, version), max(version)
FROM agents GROUP BY agent_id`

func (db *DB) queryAgents(ctx context.Context, query string, args ...any) ([]Agent, error) {
	rows, err := db.conn.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading agents: %w", classify(err))
	}
	defer rows.Close()
	var out []Agent
	for rows.Next() {
		var a Agent
		var revoked uint8
		if err := rows.Scan(&a.AgentID, &a.MachineKey, &a.Hostname, &a.OS, &a.AgentVersion, &a.CredID, &a.EnrolledBy,
			&a.RemoteAddr, &a.FirstEnrolledAt, &a.EnrolledAt, &revoked, &a.RevokedAt, &a.RevokedBy, &a.Version); err != nil {
			return nil, fmt.Errorf("reading agents: %w", err)
		}
		a.Revoked = revoked != 0
		a.FirstEnrolledAt, a.EnrolledAt, a.RevokedAt = fromDB(a.FirstEnrolledAt), fromDB(a.EnrolledAt), fromDB(a.RevokedAt)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading agents: %w", classify(err))
	}
	return out, nil
}

// AgentByID returns the latest version of an agent.
func (db *DB) AgentByID(ctx context.Context, agentID string) (Agent, bool, error) {
	as, err := db.queryAgents(ctx, latestAgents+" HAVING agent_id = ?", agentID)
	if err != nil || len(as) == 0 {
		return Agent{}, false, err
	}
	return as[0], true, nil
}

// AgentsByMachine returns the agents whose latest version has machine key
// mk, most recently enrolled first.
func (db *DB) AgentsByMachine(ctx context.Context, mk string) ([]Agent, error) {
	return db.queryAgents(ctx, latestAgents+" HAVING mk = ? ORDER BY max(version) DESC", mk)
}

// Agents lists every enrolled agent.
func (db *DB) Agents(ctx context.Context) ([]Agent, error) {
	return db.queryAgents(ctx, latestAgents+" ORDER BY agent_id")
}

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	At         time.Time
	EventID    string
	Actor      string // credential id, or "bootstrap"
	ActorKind  string // admin, agent, enroll, local
	Action     string // e.g. token.create
	Target     string
	Outcome    string // ok, denied, error
	RemoteAddr string
	Detail     string
}

// Audit appends an event to the audit log.
func (db *DB) Audit(ctx context.Context, e AuditEvent) error {
	err := db.insertRow(ctx, "INSERT INTO audit_log (at, event_id, actor, actor_kind, action, target, outcome, remote_addr, detail)",
		dateTime(e.At), e.EventID, e.Actor, e.ActorKind, e.Action, e.Target, e.Outcome, e.RemoteAddr, e.Detail)
	if err != nil {
		return fmt.Errorf("writing the audit log: %w", err)
	}
	return nil
}

// AuditLog returns the latest events, newest first, at most limit.
func (db *DB) AuditLog(ctx context.Context, limit int) ([]AuditEvent, error) {
	rows, err := db.conn.Query(ctx, `SELECT at, event_id, actor, actor_kind, action, target, outcome, remote_addr, detail
FROM audit_log FINAL ORDER BY at DESC, event_id DESC LIMIT ?`, uint64(max(limit, 0)))
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", classify(err))
	}
	defer rows.Close()
	var out []AuditEvent
	for rows.Next() {
		var e AuditEvent
		if err := rows.Scan(&e.At, &e.EventID, &e.Actor, &e.ActorKind, &e.Action, &e.Target, &e.Outcome, &e.RemoteAddr, &e.Detail); err != nil {
			return nil, fmt.Errorf("reading the audit log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", classify(err))
	}
	return out, nil
}
