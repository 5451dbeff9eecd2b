package adminapi

import (
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// The parts of a host's detail that the agent reported are its wire types
// as sent: shared/wire imports only the standard library too, and one
// definition cannot drift from the other.

// Paths of the detail routes. A host's detail is GET PathHosts/{agent_id}.
const (
	PathSoftware     = "/api/v1/software"     // ?name=SUBSTRING&source=dpkg&limit=N
	PathDevices      = "/api/v1/devices"      // ?address=IP|MAC&since=RFC3339&limit=N
	PathObservations = "/api/v1/observations" // ?address=IP|MAC&since=RFC3339&limit=N
)

// HostDetail is the answer to GET PathHosts/{agent_id}: everything the
// agent's latest inventory says. Every string is device-supplied.
type HostDetail struct {
	Host Host `json:"host"`

	FQDN             string     `json:"fqdn,omitempty"`
	Domain           string     `json:"domain,omitempty"`
	Workgroup        string     `json:"workgroup,omitempty"`
	OSBuild          string     `json:"os_build,omitempty"`
	OSInstallDate    *time.Time `json:"os_install_date,omitempty"`
	TimeZone         string     `json:"time_zone,omitempty"`
	UTCOffsetSeconds int        `json:"utc_offset_seconds,omitempty"`
	CPUVendor        string     `json:"cpu_vendor,omitempty"`
	CPUSockets       uint32     `json:"cpu_sockets,omitempty"`
	CPUMHz           float64    `json:"cpu_mhz,omitempty"`

	Interfaces []wire.Interface   `json:"interfaces"`
	Gateways   []string           `json:"gateways,omitempty"`
	DNSServers []string           `json:"dns_servers,omitempty"`
	Hardware   *wire.Hardware     `json:"hardware,omitempty"`
	Users      []wire.User        `json:"users"`
	Sessions   []wire.Session     `json:"sessions"`
	Services   []wire.Service     `json:"services"`
	Listeners  []wire.Listener    `json:"listeners"`
	Security   *wire.Security     `json:"security,omitempty"`
	Errors     []wire.SourceError `json:"errors"`

	Software HostSoftware `json:"software"`
}

// HostSoftware is a host's current software, rebuilt from its latest full
// list and the deltas after it.
type HostSoftware struct {
	// Mode is how the latest inventory sent its software: full or delta.
	Mode string `json:"mode,omitempty"`
	// AsOfReportID is the report the list is current as of; when it is
	// not Host.ReportID, a later delta did not follow on and the list
	// waits for the agent's next full inventory.
	AsOfReportID string `json:"as_of_report_id,omitempty"`
	// Verified is true when the list has the digest the agent computed.
	Verified bool           `json:"verified"`
	Count    int            `json:"count"`
	BySource map[string]int `json:"by_source"`
	Packages []wire.Package `json:"packages"`
}

// SoftwareList is the answer to GET PathSoftware.
type SoftwareList struct {
	Software []Software `json:"software"`
}

// Software is one piece of software across the fleet.
type Software struct {
	Name       string   `json:"name"`
	Source     string   `json:"source"`
	Publishers []string `json:"publishers"`
	Versions   []string `json:"versions"`
	// Installs is the number of hosts whose current software has it.
	Installs uint64 `json:"installs"`
}

// DeviceList is the answer to GET PathDevices.
type DeviceList struct {
	Devices []Device `json:"devices"`
}

// Device is what discovery saw of one device: its observations grouped by
// MAC address, else by IP address. Every string is device-supplied.
type Device struct {
	MAC          string    `json:"mac,omitempty"`
	MACLocal     bool      `json:"mac_local,omitempty"`
	IP           string    `json:"ip,omitempty"`
	IPs          []string  `json:"ips"`
	Hostname     string    `json:"hostname,omitempty"`
	Vendor       string    `json:"vendor,omitempty"`
	Model        string    `json:"model,omitempty"`
	Serial       string    `json:"serial,omitempty"`
	Kind         string    `json:"kind,omitempty"`
	KindReason   string    `json:"kind_reason,omitempty"`
	OpenPorts    []int     `json:"open_ports"`
	Methods      []string  `json:"methods"`
	Observers    []string  `json:"observers"`
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	Observations uint64    `json:"observations"`
}

// ObservationList is the answer to GET PathObservations.
type ObservationList struct {
	Observations []Observation `json:"observations"`
}

// Observation is one stored observation and the report that carried it.
type Observation struct {
	wire.Observation
	AgentID    string    `json:"agent_id"`
	ReportID   string    `json:"report_id"`
	ReceivedAt time.Time `json:"received_at"`
}
