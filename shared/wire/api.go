package wire

// Paths of the collector's agent-facing HTTP API.
const (
	// PathReports takes one Report per POST, JSON, optionally gzip-encoded
	// (Content-Encoding: gzip).
	PathReports = "/api/v1/reports"
)

// Accepted is the collector's answer to a stored report.
type Accepted struct {
	ID string `json:"id"`
	// Duplicate is true when a report with this ID had been stored before.
	Duplicate bool `json:"duplicate,omitempty"`
}

// Problem is the body of every error answer of the collector's API.
type Problem struct {
	Error string `json:"error"`
	// Problems lists every validation problem when there are several.
	Problems []string `json:"problems,omitempty"`
}
