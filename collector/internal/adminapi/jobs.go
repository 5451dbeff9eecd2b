package adminapi

import "time"

// Paths of the scan API.
const (
	PathScans           = "/api/v1/scans"            // GET lists, POST creates; GET /{id}; POST /{id}/cancel
	PathScanCredentials = "/api/v1/scan-credentials" // GET lists (no secrets), POST adds, DELETE /{name}
	PathScanSchedules   = "/api/v1/scan-schedules"   // GET lists, POST adds, DELETE /{id}
)

// CreateScan is the body of POST PathScans.
type CreateScan struct {
	Targets     []string `json:"targets"`
	Methods     []string `json:"methods,omitempty"`
	Credentials []string `json:"credentials,omitempty"`
	Agent       string   `json:"agent,omitempty"`
}

// Scan is one scan job.
type Scan struct {
	ID             string     `json:"id"`
	State          string     `json:"state"` // pending, running, done, failed, cancelled
	Targets        []string   `json:"targets"`
	Methods        []string   `json:"methods"`
	Credentials    []string   `json:"credentials"`
	RequestedAgent string     `json:"requested_agent,omitempty"`
	Agent          string     `json:"agent"`
	Route          string     `json:"route,omitempty"` // why this agent
	ScheduleID     string     `json:"schedule_id,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	CreatedBy      string     `json:"created_by"`
	StartedAt      *time.Time `json:"started_at,omitempty"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	Rate           uint32     `json:"rate"`
	Attempts       uint32     `json:"attempts"`
	TriedAgents    []string   `json:"tried_agents"`
	Phase          string     `json:"phase,omitempty"`
	Probed         uint64     `json:"probed"`
	Total          uint64     `json:"total"`
	Found          uint64     `json:"found"`
	Percent        float64    `json:"percent"`
	ETASeconds     int64      `json:"eta_seconds"`
	Reports        uint32     `json:"reports"`
	Error          string     `json:"error,omitempty"`
}

// ScanList is the answer to GET PathScans.
type ScanList struct {
	Scans []Scan `json:"scans"`
}

// CreateScanCredential is the body of POST PathScanCredentials. Its
// secrets are never given back.
type CreateScanCredential struct {
	Name      string `json:"name"`
	Version   string `json:"version"` // 1, 2c or 3
	Community string `json:"community,omitempty"`
	User      string `json:"user,omitempty"`
	AuthProto string `json:"auth_proto,omitempty"`
	AuthPass  string `json:"auth_pass,omitempty"`
	PrivProto string `json:"priv_proto,omitempty"`
	PrivPass  string `json:"priv_pass,omitempty"`
}

// ScanCredential describes a stored credential without its secrets.
type ScanCredential struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	User      string    `json:"user,omitempty"`
	AuthProto string    `json:"auth_proto,omitempty"`
	PrivProto string    `json:"priv_proto,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// ScanCredentialList is the answer to GET PathScanCredentials.
type ScanCredentialList struct {
	Credentials []ScanCredential `json:"credentials"`
}

// CreateScanSchedule is the body of POST PathScanSchedules.
type CreateScanSchedule struct {
	CreateScan
	IntervalSeconds int64 `json:"interval_seconds"`
}

// ScanSchedule is one recurring scan.
type ScanSchedule struct {
	ID              string     `json:"id"`
	Targets         []string   `json:"targets"`
	Methods         []string   `json:"methods"`
	Credentials     []string   `json:"credentials"`
	Agent           string     `json:"agent,omitempty"`
	IntervalSeconds int64      `json:"interval_seconds"`
	CreatedAt       time.Time  `json:"created_at"`
	CreatedBy       string     `json:"created_by"`
	LastRun         *time.Time `json:"last_run,omitempty"`
}

// ScanScheduleList is the answer to GET PathScanSchedules.
type ScanScheduleList struct {
	Schedules []ScanSchedule `json:"schedules"`
}
