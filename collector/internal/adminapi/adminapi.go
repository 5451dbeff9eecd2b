// Package adminapi holds the JSON messages of the collector's admin API, the
// contract between the collector and its clients (the umbra CLI, scripts).
// It imports only the standard library, so clients stay small.
package adminapi

import "time"

// Paths of the admin API.
const (
	PathHosts = "/api/v1/hosts"
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
}
