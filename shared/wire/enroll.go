package wire

// PathEnroll takes one EnrollRequest per POST, authenticated with an
// enrolment secret as a bearer token, and answers an EnrollResponse.
const PathEnroll = "/api/v1/enroll"

// ReenrollHeader is set on a 401 answer to an agent whose credential was
// revoked or is unknown: the agent must be enrolled again.
const ReenrollHeader = "Umbra-Reenroll"

// EnrollRequest is what an agent says about its machine when it enrols.
// Re-enrolling the same machine (same host id, or same agent id where there
// is none) gets the same agent id back.
type EnrollRequest struct {
	AgentID      string `json:"agent_id,omitempty"`
	HostID       string `json:"host_id,omitempty"`
	Hostname     string `json:"hostname"`
	OS           string `json:"os,omitempty"`
	AgentVersion string `json:"agent_version,omitempty"`
}

// EnrollResponse is the answer to an enrolment.
type EnrollResponse struct {
	AgentID string `json:"agent_id"`
	// Credential is the agent's bearer token for every later request.
	Credential string `json:"credential"`
	Reenrolled bool   `json:"reenrolled,omitempty"`
}
