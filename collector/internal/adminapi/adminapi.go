// Package adminapi holds the JSON messages of the collector's admin API, the
// contract between the collector and its clients (the umbra CLI, scripts).
// It imports only the standard library and shared/wire (itself standard
// library only), so clients stay small.
package adminapi

import (
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// Paths of the admin API.
const (
	PathHosts         = "/api/v1/hosts"
	PathTokens        = "/api/v1/tokens"         // GET lists, POST creates, DELETE /{id} revokes
	PathEnrollSecrets = "/api/v1/enroll-secrets" // GET lists, POST creates, DELETE /{id} revokes
	PathAgents        = "/api/v1/agents"         // GET lists, DELETE /{agent_id} revokes
	PathAudit         = "/api/v1/audit"          // GET lists the latest events
	PathMetrics       = "/metrics"               // Prometheus text format
)

// HostList is the answer to GET PathHosts.
type HostList struct {
	Hosts []Host `json:"hosts"`
}

// Host is one agent's host as its latest inventory describes it. Every
// string is device-supplied and may hold anything: clients that print to a
// terminal must neutralise control characters.
type Host struct {
	AgentID            string    `json:"agent_id"`
	ReportID           string    `json:"report_id"`
	HostID             string    `json:"host_id,omitempty"`
	Hostname           string    `json:"hostname"`
	OSFamily           string    `json:"os_family"`
	Platform           string    `json:"platform"`
	PlatformVersion    string    `json:"platform_version,omitempty"`
	Kernel             string    `json:"kernel,omitempty"`
	Arch               string    `json:"arch,omitempty"`
	Virtualization     string    `json:"virtualization,omitempty"`
	VirtualizationRole string    `json:"virtualization_role,omitempty"`
	CPUModel           string    `json:"cpu_model,omitempty"`
	CPUCores           uint32    `json:"cpu_cores,omitempty"`
	CPUThreads         uint32    `json:"cpu_threads,omitempty"`
	MemoryBytes        uint64    `json:"memory_bytes"`
	MACs               []string  `json:"macs"`
	Addresses          []string  `json:"addresses"`
	CollectedAt        time.Time `json:"collected_at"`
	FirstSeen          time.Time `json:"first_seen"`
	LastSeen           time.Time `json:"last_seen"`
	Reports            uint64    `json:"reports"`
	// Heartbeat is the agent's latest heartbeat, its last contact between
	// inventories; nil when it has sent none.
	Heartbeat *Presence `json:"heartbeat,omitempty"`
}

// CreateToken is the body of POST PathTokens.
type CreateToken struct {
	Name string `json:"name"`
	Role string `json:"role"` // admin, operator or auditor
	// TTLSeconds is how long the token works; zero means until revoked.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// CreateEnrollSecret is the body of POST PathEnrollSecrets.
type CreateEnrollSecret struct {
	Name string `json:"name"`
	// TTLSeconds is how long the secret works; zero means until revoked.
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
	// MaxUses bounds the enrolments; zero means unlimited.
	MaxUses uint32 `json:"max_uses,omitempty"`
}

// Credential describes an admin token or an enrolment secret, never with
// its secret except in the answer to its creation.
type Credential struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"` // admin or enroll
	Name      string     `json:"name"`
	Role      string     `json:"role,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	MaxUses   uint32     `json:"max_uses,omitempty"`
	Uses      uint64     `json:"uses,omitempty"`
	Revoked   bool       `json:"revoked"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty"`
	// Active is true when the credential works now.
	Active bool `json:"active"`
	// Secret is set only in the answer to a creation.
	Secret string `json:"secret,omitempty"`
}

// CredentialList is the answer to GET PathTokens and PathEnrollSecrets.
type CredentialList struct {
	Credentials []Credential `json:"credentials"`
}

// Agent is an enrolled agent.
type Agent struct {
	AgentID         string     `json:"agent_id"`
	Hostname        string     `json:"hostname"`
	OS              string     `json:"os,omitempty"`
	AgentVersion    string     `json:"agent_version,omitempty"`
	MachineKey      string     `json:"machine_key,omitempty"`
	EnrolledBy      string     `json:"enrolled_by"`
	RemoteAddr      string     `json:"remote_addr,omitempty"`
	FirstEnrolledAt time.Time  `json:"first_enrolled_at"`
	EnrolledAt      time.Time  `json:"enrolled_at"`
	Revoked         bool       `json:"revoked"`
	RevokedAt       *time.Time `json:"revoked_at,omitempty"`
	RevokedBy       string     `json:"revoked_by,omitempty"`
	// Heartbeat is the agent's latest heartbeat; nil when it has sent none.
	Heartbeat *Presence `json:"heartbeat,omitempty"`
}

// AgentList is the answer to GET PathAgents.
type AgentList struct {
	Agents []Agent `json:"agents"`
}

// AuditEvent is one entry of the audit log.
type AuditEvent struct {
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Target     string    `json:"target,omitempty"`
	Outcome    string    `json:"outcome"`
	RemoteAddr string    `json:"remote_addr,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// AuditLog is the answer to GET PathAudit.
type AuditLog struct {
	Events []AuditEvent `json:"events"`
}

// Enrolment, agent side: the messages live in shared/wire, which both
// sides import.
const (
	PathEnroll     = wire.PathEnroll
	ReenrollHeader = wire.ReenrollHeader
)

// EnrollRequest is the body of POST PathEnroll, authenticated with an
// enrolment secret as a bearer token.
type EnrollRequest = wire.EnrollRequest

// EnrollResponse is the answer to an enrolment.
type EnrollResponse = wire.EnrollResponse

// ClientConfig is the umbra CLI's config file, JSON. umbra-collector
// bootstrap-token writes one; it holds a token, so it must be readable by
// its owner only.
type ClientConfig struct {
	// Collector is the collector's base URL.
	Collector string `json:"collector"`
	// Token is an admin token.
	Token string `json:"token,omitempty"`
	// CAFile is the PEM file of the CA that signed the collector's
	// certificate; empty means the system's roots.
	CAFile string `json:"ca_file,omitempty"`
}
