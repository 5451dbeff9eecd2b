// Package wire holds the messages that cross the network between the agent and
// the collector, and the rules for decoding and validating them. Both sides
// import it; it imports only the standard library.
//
// Versioning: every report names the Schema it was written in. The collector
// decodes every schema from MinSchema to Schema; fields are only ever added,
// never renamed or retyped, so an old agent's report decodes into today's
// types with the new fields at their zero value. A report from a newer agent
// than the collector knows is refused with a clear error.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Schema is the version of the report format this build writes.
const Schema = 1

// MinSchema is the oldest report format this build still decodes.
const MinSchema = 1

// Kind says what a report carries.
type Kind string

// The kinds of report.
const (
	KindInventory Kind = "inventory"
	KindDiscovery Kind = "discovery"
)

// Report is the envelope of everything an agent sends.
type Report struct {
	// Schema is the wire format version the report was written in.
	Schema int `json:"schema"`
	// ID identifies the report; a retried report carries the same ID and is
	// stored once.
	ID string `json:"id"`
	// Kind says which payload field is set.
	Kind Kind `json:"kind"`
	// AgentID identifies the agent that wrote the report.
	AgentID string `json:"agent_id"`
	// AgentVersion is the agent's build version.
	AgentVersion string `json:"agent_version"`
	// CreatedAt is when the agent wrote the report, by the agent's clock.
	CreatedAt time.Time `json:"created_at"`

	Inventory *Inventory `json:"inventory,omitempty"`
	Discovery *Discovery `json:"discovery,omitempty"`
}

// Limits bound what a single report may hold. The collector enforces them on
// every report it receives; the agent trims to them before it sends.
type Limits struct {
	MaxBodyBytes    int64 // decoded (decompressed) JSON size
	MaxStringLen    int   // any single string field
	MaxInterfaces   int   // network interfaces in one inventory
	MaxAddresses    int   // addresses on one interface
	MaxSourceErrors int   // source errors in one inventory
	MaxClockSkew    time.Duration

	MaxPackages   int // software packages in one inventory or delta
	MaxDisks      int // physical disks
	MaxModules    int // memory modules
	MaxMonitors   int // monitors
	MaxBatteries  int // batteries
	MaxUsers      int // local accounts
	MaxSessions   int // logged-in sessions
	MaxServices   int // system services
	MaxListeners  int // listening sockets
	MaxPostureLen int // entries in each list of the security posture
}

// DefaultLimits are generous for any real host and small enough that one
// hostile report cannot hurt the collector.
var DefaultLimits = Limits{
	MaxBodyBytes:    16 << 20,
	MaxStringLen:    1024,
	MaxInterfaces:   512,
	MaxAddresses:    64,
	MaxSourceErrors: 64,
	MaxClockSkew:    366 * 24 * time.Hour,

	MaxPackages:   20000,
	MaxDisks:      256,
	MaxModules:    256,
	MaxMonitors:   32,
	MaxBatteries:  16,
	MaxUsers:      5000,
	MaxSessions:   1000,
	MaxServices:   5000,
	MaxListeners:  5000,
	MaxPostureLen: 64,
}

// ErrTooLarge is returned when a report exceeds Limits.MaxBodyBytes.
var ErrTooLarge = errors.New("report too large")

// DecodeError is a report that could not be read as JSON of the right shape.
type DecodeError struct{ Err error }

func (e *DecodeError) Error() string { return "decoding report: " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// ValidationError lists every problem found in a well-formed report.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	var b bytes.Buffer
	b.WriteString("invalid report: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p)
	}
	return b.String()
}

// Decode reads one report of at most lim.MaxBodyBytes from r and validates
// it. It returns ErrTooLarge, a *DecodeError or a *ValidationError, each
// with a message fit to show the sender.
func Decode(r io.Reader, lim Limits, now time.Time) (*Report, error) {
	rep, _, err := DecodeSized(r, 0, lim, now)
	return rep, err
}

// DecodeSized is Decode reading the JSON into a buffer of sizeHint bytes
// (the gzip trailer says how long a compressed body is: the buffer then
// need not grow), and also returns the JSON's length.
func DecodeSized(r io.Reader, sizeHint int, lim Limits, now time.Time) (*Report, int, error) {
	return DecodeSizedWith(r, sizeHint, lim, now, nil)
}

func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("field %s: got JSON %s, want %s", field, typ.Value, typ.Type)
	case errors.Is(err, io.EOF):
		return errors.New("empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated JSON")
	}
	return err
}

// Validate checks a decoded report against lim and reports every problem at
// once.
func (r *Report) Validate(lim Limits, now time.Time) error {
	v := &validator{lim: lim, now: now}
	switch {
	case r.Schema < MinSchema:
		v.addf("schema %d is older than the oldest supported (%d)", r.Schema, MinSchema)
	case r.Schema > Schema:
		v.addf("schema %d is newer than this collector understands (%d); upgrade the collector", r.Schema, Schema)
	}
	v.id("id", r.ID)
	v.id("agent_id", r.AgentID)
	v.str("agent_version", r.AgentVersion)
	if r.CreatedAt.IsZero() {
		v.addf("created_at is missing")
	} else {
		v.clock("created_at", r.CreatedAt)
	}
	switch r.Kind {
	case KindInventory:
		if r.Inventory == nil {
			v.addf("kind %q without an inventory", r.Kind)
		} else {
			r.Inventory.validate(v)
		}
	case KindDiscovery:
		if r.Discovery == nil {
			v.addf("kind %q without a discovery", r.Kind)
		} else {
			r.Discovery.validate(v, now)
		}
	case "":
		v.addf("kind is missing")
	default:
		v.addf("unknown kind %q", truncate(string(r.Kind), 64))
	}
	if len(v.problems) > 0 {
		return &ValidationError{Problems: v.problems}
	}
	return nil
}

type validator struct {
	lim      Limits
	now      time.Time
	problems []string
}

const maxProblems = 20

func (v *validator) addf(format string, args ...any) {
	if len(v.problems) == maxProblems {
		v.problems = append(v.problems, "… more problems not listed")
	}
	if len(v.problems) > maxProblems {
		return
	}
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *validator) str(field, s string) {
	if len(s) > v.lim.MaxStringLen {
		v.addf("%s is %d bytes long, the limit is %d", field, len(s), v.lim.MaxStringLen)
	}
}

// clock checks that a timestamp from the agent's clock is within
// MaxClockSkew of the collector's.
func (v *validator) clock(field string, t time.Time) {
	if d := t.Sub(v.now); d > v.lim.MaxClockSkew || -d > v.lim.MaxClockSkew {
		v.addf("%s %s is too far from the collector's clock", field, t.UTC().Format(time.RFC3339))
	}
}

// id checks an identifier.
func (v *validator) id(field, s string) {
	if err := CheckID(s); err != nil {
		v.addf("%s %v", field, err)
	}
}

// CheckID reports whether s is a valid report or agent id: 1 to 128 bytes of
// letters, digits and -_.:
func CheckID(s string) error {
	if s == "" {
		return errors.New("is missing")
	}
	if len(s) > 128 {
		return errors.New("is longer than 128 bytes")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return fmt.Errorf("has a character outside [A-Za-z0-9-_.:] at byte %d", i)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
