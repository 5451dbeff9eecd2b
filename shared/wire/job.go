package wire

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Paths of the agent-facing job API. An agent long-polls PathJobsNext for
// a scan job meant for it and posts progress to PathJobProgress(id); the
// results travel as ordinary discovery reports.
const (
	// PathJobsNext answers 200 with a Job, or 204 when none came within
	// the wait (query parameter wait, in seconds, at most MaxJobWait).
	PathJobsNext = "/api/v1/jobs/next"
	// PathJobsPrefix + "{id}/progress" takes a JobProgress and answers a
	// JobAck.
	PathJobsPrefix = "/api/v1/jobs/"
)

// PathJobProgress is where the agent posts the progress of job id.
func PathJobProgress(id string) string { return PathJobsPrefix + id + "/progress" }

// MaxJobWait bounds the long poll of PathJobsNext.
const MaxJobWait = 25 * time.Second

// Scan methods a job may ask for.
const (
	ScanSweep = "sweep" // ARP, ICMP and TCP liveness and ports
	ScanSNMP  = "snmp"
	ScanMDNS  = "mdns"
	ScanNames = "names" // reverse DNS and NetBIOS
)

// ScanMethods are every method, the default of a job.
var ScanMethods = []string{ScanSweep, ScanSNMP, ScanMDNS, ScanNames}

// Secret is a credential value. It prints as [redacted] (fmt, %v, slog)
// but is marshalled as itself: it crosses the wire only inside a Job, over
// TLS, to the agent that runs the job.
type Secret string

// String hides the value.
func (Secret) String() string { return "[redacted]" }

// GoString hides the value.
func (Secret) GoString() string { return "[redacted]" }

// LogValue hides the value from slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// SNMPCredential is one SNMP credential of a job: a v1/v2c community or a
// v3 user.
type SNMPCredential struct {
	Name      string `json:"name"`
	Version   string `json:"version"` // "2c" or "3"
	Community Secret `json:"community,omitempty"`
	User      string `json:"user,omitempty"`
	AuthProto string `json:"auth_proto,omitempty"`
	AuthPass  Secret `json:"auth_pass,omitempty"`
	PrivProto string `json:"priv_proto,omitempty"`
	PrivPass  Secret `json:"priv_pass,omitempty"`
}

// Validate reports what is wrong with c.
func (c SNMPCredential) Validate() []string {
	var p []string
	switch c.Version {
	case "1", "2c":
		if c.Community == "" {
			p = append(p, fmt.Sprintf("credential %q: community is empty", c.Name))
		}
	case "3":
		if c.User == "" {
			p = append(p, fmt.Sprintf("credential %q: user is empty", c.Name))
		}
		if (c.AuthProto == "") != (c.AuthPass == "") || (c.PrivProto == "") != (c.PrivPass == "") {
			p = append(p, fmt.Sprintf("credential %q: a protocol needs its passphrase", c.Name))
		}
		if c.PrivProto != "" && c.AuthProto == "" {
			p = append(p, fmt.Sprintf("credential %q: privacy needs authentication", c.Name))
		}
	default:
		p = append(p, fmt.Sprintf("credential %q: version %q: want 1, 2c or 3", c.Name, c.Version))
	}
	return p
}

// Job is a scan the collector asks one agent to run.
type Job struct {
	ID string `json:"id"`
	// Targets are CIDR prefixes; the agent scans nothing else.
	Targets []string `json:"targets"`
	// Methods are a subset of ScanMethods.
	Methods []string `json:"methods"`
	// Rate caps the packets per second the agent sends for this job: its
	// share of the subnet's budget.
	Rate int `json:"rate"`
	// MaxAddrs bounds the addresses the agent accepts to scan.
	MaxAddrs int `json:"max_addrs"`
	// Credentials are the SNMP credentials to try.
	Credentials []SNMPCredential `json:"credentials,omitempty"`
	// LeaseSeconds is how long the job stays the agent's without a
	// progress report; after it the collector gives it to another.
	LeaseSeconds int `json:"lease_seconds"`
}

// Job limits.
const (
	MaxJobTargets     = 64
	MaxJobCredentials = 16
	MaxJobRate        = 100000
)

// Validate reports every problem of j at once.
func (j *Job) Validate() error {
	var p []string
	if j.ID == "" || len(j.ID) > 64 {
		p = append(p, "id must be 1 to 64 characters")
	}
	if len(j.Targets) == 0 || len(j.Targets) > MaxJobTargets {
		p = append(p, fmt.Sprintf("targets: want 1 to %d prefixes", MaxJobTargets))
	}
	for _, t := range j.Targets {
		if _, err := netip.ParsePrefix(t); err != nil {
			p = append(p, fmt.Sprintf("target %q is not a prefix", t))
		}
	}
	if len(j.Methods) == 0 {
		p = append(p, "methods are empty")
	}
	for _, m := range j.Methods {
		if !validMethod(m) {
			p = append(p, fmt.Sprintf("method %q: want sweep, snmp, mdns or names", m))
		}
	}
	if j.Rate < 1 || j.Rate > MaxJobRate {
		p = append(p, fmt.Sprintf("rate %d: want 1 to %d packets per second", j.Rate, MaxJobRate))
	}
	if j.MaxAddrs < 1 {
		p = append(p, "max_addrs must be positive")
	}
	if len(j.Credentials) > MaxJobCredentials {
		p = append(p, fmt.Sprintf("more than %d credentials", MaxJobCredentials))
	}
	for _, c := range j.Credentials {
		p = append(p, c.Validate()...)
	}
	if j.LeaseSeconds < 1 {
		p = append(p, "lease_seconds must be positive")
	}
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

// Has reports whether the job asks for method m.
func (j *Job) Has(m string) bool {
	for _, x := range j.Methods {
		if x == m {
			return true
		}
	}
	return false
}

func validMethod(m string) bool {
	for _, x := range ScanMethods {
		if x == m {
			return true
		}
	}
	return false
}

// ValidMethod reports whether m is a scan method.
func ValidMethod(m string) bool { return validMethod(m) }

// Job states in progress reports.
const (
	JobRunning = "running"
	JobDone    = "done"
	JobFailed  = "failed"
)

// JobProgress is what an agent reports while it runs a job, and once at
// the end (State done or failed).
type JobProgress struct {
	State string `json:"state"`
	Phase string `json:"phase,omitempty"`
	// Probed of Total addresses were probed; Found hosts answered.
	Probed  int     `json:"probed"`
	Total   int     `json:"total"`
	Found   int     `json:"found"`
	Percent float64 `json:"percent"`
	// ETASeconds estimates the time left; negative when unknown.
	ETASeconds int `json:"eta_seconds"`
	// Reports counts the discovery reports spooled so far.
	Reports int    `json:"reports"`
	Error   string `json:"error,omitempty"`
}

// Validate reports every problem of p at once.
func (p *JobProgress) Validate() error {
	var out []string
	switch p.State {
	case JobRunning, JobDone, JobFailed:
	default:
		out = append(out, fmt.Sprintf("state %q: want running, done or failed", p.State))
	}
	if p.Probed < 0 || p.Total < 0 || p.Found < 0 || p.Reports < 0 || p.Probed > p.Total && p.Total > 0 {
		out = append(out, "counts must be non-negative and probed at most total")
	}
	if p.Percent < 0 || p.Percent > 100 || p.Percent != p.Percent {
		out = append(out, "percent must be 0 to 100")
	}
	if len(p.Phase) > 32 || len(p.Error) > 1024 {
		out = append(out, "phase or error too long")
	}
	if len(out) > 0 {
		return &ValidationError{Problems: out}
	}
	return nil
}

// JobAck answers a progress report. Stop tells the agent to abandon the
// job: it was cancelled, or given to another agent.
type JobAck struct {
	Stop   bool   `json:"stop"`
	Reason string `json:"reason,omitempty"`
}
