package store

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Job is one version of a scan job.
type Job struct {
	ID             string
	CreatedAt      time.Time
	CreatedBy      string
	ScheduleID     string
	Targets        []string
	Methods        []string
	Credentials    []string // credential names
	RequestedAgent string
	AgentID        string // the agent the job is given to
	State          string
	Rate           uint32
	Attempts       uint32
	TriedAgents    []string
	Phase          string
	Probed         uint64
	Total          uint64
	Found          uint64
	Percent        float64
	ETASeconds     int64
	Reports        uint32
	Error          string
	StartedAt      time.Time
	FinishedAt     time.Time
	UpdatedAt      time.Time
	Version        uint64
}

const jobColumns = `job_id, created_at, created_by, schedule_id, targets, methods, credentials, requested_agent,
    agent_id, state, rate, attempts, tried_agents, phase, probed, total, found, percent, eta_seconds, reports,
    error, started_at, finished_at, updated_at, version`

// PutJob writes a version of j; the greatest Version wins.
func (db *DB) PutJob(ctx context.Context, j Job) error {
	err := db.insertRow(ctx, "INSERT INTO scan_jobs ("+jobColumns+")",
		j.ID, zeroTime(j.CreatedAt), j.CreatedBy, j.ScheduleID, nonNilStrings(j.Targets), nonNilStrings(j.Methods),
		nonNilStrings(j.Credentials), j.RequestedAgent, j.AgentID, j.State, j.Rate, j.Attempts, nonNilStrings(j.TriedAgents),
		j.Phase, j.Probed, j.Total, j.Found, j.Percent, j.ETASeconds, j.Reports, j.Error,
		zeroTime(j.StartedAt), zeroTime(j.FinishedAt), zeroTime(j.UpdatedAt), j.Version)
	if err != nil {
		return fmt.Errorf("storing scan job %s: %w", j.ID, err)
	}
	return nil
}

// Jobs returns the latest version of every job created since since,
// newest first.
func (db *DB) Jobs(ctx context.Context, since time.Time) ([]Job, error) {
	rows, err := db.conn.Query(ctx, "SELECT "+jobColumns+" FROM scan_jobs FINAL WHERE created_at >= ? ORDER BY created_at DESC, job_id", dateTime(since))
	if err != nil {
		return nil, fmt.Errorf("listing scan jobs: %w", classify(err))
	}
	defer rows.Close()
	latest := map[string]int{}
	var out []Job
	for rows.Next() {
		var j Job
		if err := rows.Scan(&j.ID, &j.CreatedAt, &j.CreatedBy, &j.ScheduleID, &j.Targets, &j.Methods, &j.Credentials,
			&j.RequestedAgent, &j.AgentID, &j.State, &j.Rate, &j.Attempts, &j.TriedAgents, &j.Phase, &j.Probed, &j.Total,
			&j.Found, &j.Percent, &j.ETASeconds, &j.Reports, &j.Error, &j.StartedAt, &j.FinishedAt, &j.UpdatedAt, &j.Version); err != nil {
			return nil, err
		}
		j.CreatedAt, j.StartedAt, j.FinishedAt, j.UpdatedAt = fromDB(j.CreatedAt), fromDB(j.StartedAt), fromDB(j.FinishedAt), fromDB(j.UpdatedAt)
		if i, ok := latest[j.ID]; ok {
			if j.Version > out[i].Version {
				out[i] = j
			}
			continue
		}
		latest[j.ID] = len(out)
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// Schedule is one version of a recurring scan.
type Schedule struct {
	ID             string
	CreatedAt      time.Time
	CreatedBy      string
	Targets        []string
	Methods        []string
	Credentials    []string
	RequestedAgent string
	Interval       time.Duration
	Deleted        bool
	Version        uint64
}

const scheduleColumns = `schedule_id, created_at, created_by, targets, methods, credentials, requested_agent, interval_seconds, deleted, version`

// PutSchedule writes a version of s.
func (db *DB) PutSchedule(ctx context.Context, s Schedule) error {
	err := db.insertRow(ctx, "INSERT INTO scan_schedules ("+scheduleColumns+")",
		s.ID, zeroTime(s.CreatedAt), s.CreatedBy, nonNilStrings(s.Targets), nonNilStrings(s.Methods), nonNilStrings(s.Credentials),
		s.RequestedAgent, uint64(s.Interval/time.Second), boolUint8(s.Deleted), s.Version)
	if err != nil {
		return fmt.Errorf("storing scan schedule %s: %w", s.ID, err)
	}
	return nil
}

// Schedules returns the latest version of every schedule that is not
// deleted.
func (db *DB) Schedules(ctx context.Context) ([]Schedule, error) {
	rows, err := db.conn.Query(ctx, "SELECT "+scheduleColumns+" FROM scan_schedules FINAL ORDER BY schedule_id")
	if err != nil {
		return nil, fmt.Errorf("listing scan schedules: %w", classify(err))
	}
	defer rows.Close()
	best := map[string]Schedule{}
	var order []string
	for rows.Next() {
		var s Schedule
		var secs uint64
		var deleted uint8
		if err := rows.Scan(&s.ID, &s.CreatedAt, &s.CreatedBy, &s.Targets, &s.Methods, &s.Credentials, &s.RequestedAgent, &secs, &deleted, &s.Version); err != nil {
			return nil, err
		}
		s.Interval, s.Deleted, s.CreatedAt = time.Duration(secs)*time.Second, deleted != 0, fromDB(s.CreatedAt)
		if b, ok := best[s.ID]; !ok || s.Version > b.Version {
			if !ok {
				order = append(order, s.ID)
			}
			best[s.ID] = s
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	var out []Schedule
	for _, id := range order {
		if s := best[id]; !s.Deleted {
			out = append(out, s)
		}
	}
	return out, nil
}

// ScanCredential is one version of a named SNMP credential. Its secrets
// are Secrets: they never print.
type ScanCredential struct {
	Name      string
	CreatedAt time.Time
	CreatedBy string
	Version   string // SNMP version: "1", "2c" or "3"
	Community Secret
	User      string
	AuthProto string
	AuthPass  Secret
	PrivProto string
	PrivPass  Secret
	Deleted   bool
	RowVer    uint64
}

const scanCredentialColumns = `name, created_at, created_by, snmp_version, community, user, auth_proto, auth_pass, priv_proto, priv_pass, deleted, version`

// PutScanCredential writes a version of c.
func (db *DB) PutScanCredential(ctx context.Context, c ScanCredential) error {
	err := db.insertRow(ctx, "INSERT INTO scan_credentials ("+scanCredentialColumns+")",
		c.Name, zeroTime(c.CreatedAt), c.CreatedBy, c.Version, string(c.Community), c.User, c.AuthProto, string(c.AuthPass),
		c.PrivProto, string(c.PrivPass), boolUint8(c.Deleted), c.RowVer)
	if err != nil {
		return fmt.Errorf("storing scan credential %q: %w", c.Name, err)
	}
	return nil
}

// ScanCredentials returns the latest version of every credential that is
// not deleted, by name.
func (db *DB) ScanCredentials(ctx context.Context) ([]ScanCredential, error) {
	rows, err := db.conn.Query(ctx, "SELECT "+scanCredentialColumns+" FROM scan_credentials FINAL ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("listing scan credentials: %w", classify(err))
	}
	defer rows.Close()
	best := map[string]ScanCredential{}
	var order []string
	for rows.Next() {
		var c ScanCredential
		var community, auth, priv string
		var deleted uint8
		if err := rows.Scan(&c.Name, &c.CreatedAt, &c.CreatedBy, &c.Version, &community, &c.User, &c.AuthProto, &auth,
			&c.PrivProto, &priv, &deleted, &c.RowVer); err != nil {
			return nil, err
		}
		c.Community, c.AuthPass, c.PrivPass, c.Deleted, c.CreatedAt = Secret(community), Secret(auth), Secret(priv), deleted != 0, fromDB(c.CreatedAt)
		if b, ok := best[c.Name]; !ok || c.RowVer > b.RowVer {
			if !ok {
				order = append(order, c.Name)
			}
			best[c.Name] = c
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	var out []ScanCredential
	for _, n := range order {
		if c := best[n]; !c.Deleted {
			out = append(out, c)
		}
	}
	return out, nil
}

// AgentPrefixes returns, for every agent whose inventory since since lists
// network interfaces, the IPv4 and IPv6 prefixes of its latest inventory's
// interfaces (loopback left out).
func (db *DB) AgentPrefixes(ctx context.Context, since time.Time) (map[string][]netip.Prefix, error) {
	rows, err := db.conn.Query(ctx, `SELECT agent_id, report_id, collected_at, addrs FROM host_interfaces
    WHERE collected_at >= ? AND loopback = 0 ORDER BY agent_id, collected_at`, dateTime(since))
	if err != nil {
		return nil, fmt.Errorf("reading agents' interfaces: %w", classify(err))
	}
	defer rows.Close()
	type latest struct {
		report string
		at     time.Time
		pfx    []netip.Prefix
	}
	by := map[string]*latest{}
	for rows.Next() {
		var agent, report string
		var at time.Time
		var addrs []string
		if err := rows.Scan(&agent, &report, &at, &addrs); err != nil {
			return nil, err
		}
		l := by[agent]
		if l == nil || (report != l.report && !at.Before(l.at)) {
			l = &latest{report: report, at: at}
			by[agent] = l
		}
		if report != l.report {
			continue
		}
		for _, a := range addrs {
			p, err := netip.ParsePrefix(strings.TrimSpace(a))
			if err != nil {
				continue
			}
			l.pfx = append(l.pfx, p.Masked())
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	out := make(map[string][]netip.Prefix, len(by))
	for a, l := range by {
		out[a] = l.pfx
	}
	return out, nil
}

// ObservedAddrs returns the addresses each agent reported observations of
// since since, at most limit rows.
func (db *DB) ObservedAddrs(ctx context.Context, since time.Time, limit int) (map[string][]netip.Addr, error) {
	rows, err := db.conn.Query(ctx, `SELECT agent_id, ip FROM observations
    WHERE received_at >= ? AND ip != '' GROUP BY agent_id, ip LIMIT ?`, dateTime(since), uint64(limit))
	if err != nil {
		return nil, fmt.Errorf("reading observed addresses: %w", classify(err))
	}
	defer rows.Close()
	out := map[string][]netip.Addr{}
	for rows.Next() {
		var agent, ip string
		if err := rows.Scan(&agent, &ip); err != nil {
			return nil, err
		}
		if a, err := netip.ParseAddr(ip); err == nil {
			out[agent] = append(out[agent], a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}
