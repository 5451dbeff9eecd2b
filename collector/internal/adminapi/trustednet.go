package adminapi

import "time"

// PathTrustedNetworks lists (GET) and adds (POST) the trusted networks;
// DELETE PathTrustedNetworks/{id} removes one. Agents scan and listen only
// on a network one of them matches.
const PathTrustedNetworks = "/api/v1/trusted-networks"

// CreateTrustedNetwork is the body of POST PathTrustedNetworks.
type CreateTrustedNetwork struct {
	Kind  string `json:"kind"` // subnet, gateway-mac or dns-suffix
	Value string `json:"value"`
	Note  string `json:"note,omitempty"`
}

// TrustedNetwork is one rule.
type TrustedNetwork struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Value     string    `json:"value"`
	Note      string    `json:"note,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// TrustedNetworkList is the answer to GET PathTrustedNetworks. TrustAll is
// the collector's setting that trusts every network while no rule exists.
type TrustedNetworkList struct {
	TrustAll bool             `json:"trust_all"`
	Rules    []TrustedNetwork `json:"rules"`
}

// Presence is an agent's latest heartbeat, as the collector received it.
type Presence struct {
	At             time.Time `json:"at"`
	AgentVersion   string    `json:"agent_version,omitempty"`
	UptimeSeconds  int64     `json:"uptime_seconds"`
	SpoolRecords   int64     `json:"spool_records"`
	SpoolBytes     int64     `json:"spool_bytes"`
	DroppedRecords int64     `json:"dropped_records"`
	// Trusted says whether the agent's network matched the trusted
	// networks (nil: the agent knew no policy yet).
	Trusted *bool  `json:"trusted,omitempty"`
	Network string `json:"network,omitempty"`
}
