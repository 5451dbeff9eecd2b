package wire

import (
	"fmt"
	"time"
)

// User is a local account.
type User struct {
	Name string `json:"name"`
	// ID is the uid on Unix, the SID on Windows.
	ID       string `json:"id,omitempty"`
	FullName string `json:"full_name,omitempty"`
	Home     string `json:"home,omitempty"`
	Shell    string `json:"shell,omitempty"`
	// System is true for an account of the OS or a daemon rather than a
	// person (uid below the login range, no login shell, a service SID).
	System   bool `json:"system,omitempty"`
	Disabled bool `json:"disabled,omitempty"`
	Admin    bool `json:"admin,omitempty"`
	// LastLogon is the account's last logon, where the OS records it.
	LastLogon time.Time `json:"last_logon,omitzero"`
}

// Session is a user logged in at collection time.
type Session struct {
	User     string    `json:"user"`
	Terminal string    `json:"terminal,omitempty"` // tty1, pts/0, console, RDP-Tcp#3
	Remote   string    `json:"remote,omitempty"`   // the host or address it came from
	Since    time.Time `json:"since,omitzero"`
}

// Service is a system service.
type Service struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name,omitempty"`
	// Manager is systemd, sysv, windows or launchd.
	Manager string `json:"manager,omitempty"`
	// State is running, stopped, failed, … where known; StartMode is auto,
	// manual or disabled.
	State     string `json:"state,omitempty"`
	StartMode string `json:"start_mode,omitempty"`
	// Path is the executable or unit file.
	Path string `json:"path,omitempty"`
	User string `json:"user,omitempty"`
}

// Listener is a socket waiting for connections (TCP) or datagrams (UDP).
type Listener struct {
	Protocol string `json:"protocol"` // tcp or udp
	Address  string `json:"address"`  // 0.0.0.0, ::, 127.0.0.1
	Port     int    `json:"port"`
	PID      int    `json:"pid,omitempty"`
	Process  string `json:"process,omitempty"`
	User     string `json:"user,omitempty"`
}

func validateUsers(v *validator, users []User, sessions []Session) {
	if v.count("inventory.users", len(users), v.lim.MaxUsers) {
		for i, u := range users {
			p := fmt.Sprintf("inventory.users[%d]", i)
			if u.Name == "" {
				v.addf("%s.name is missing", p)
			}
			v.strs(p, "name", u.Name, "id", u.ID, "full_name", u.FullName, "home", u.Home, "shell", u.Shell)
		}
	}
	if v.count("inventory.sessions", len(sessions), v.lim.MaxSessions) {
		for i, s := range sessions {
			p := fmt.Sprintf("inventory.sessions[%d]", i)
			if s.User == "" {
				v.addf("%s.user is missing", p)
			}
			v.strs(p, "user", s.User, "terminal", s.Terminal, "remote", s.Remote)
		}
	}
}

func validateServices(v *validator, services []Service, listeners []Listener) {
	if v.count("inventory.services", len(services), v.lim.MaxServices) {
		for i, s := range services {
			p := fmt.Sprintf("inventory.services[%d]", i)
			if s.Name == "" {
				v.addf("%s.name is missing", p)
			}
			v.strs(p, "name", s.Name, "display_name", s.DisplayName, "path", s.Path, "user", s.User)
			v.token(p+".manager", s.Manager, false)
			v.token(p+".state", s.State, false)
			v.token(p+".start_mode", s.StartMode, false)
		}
	}
	if v.count("inventory.listeners", len(listeners), v.lim.MaxListeners) {
		for i, l := range listeners {
			p := fmt.Sprintf("inventory.listeners[%d]", i)
			if l.Protocol != "tcp" && l.Protocol != "udp" {
				v.addf("%s.protocol %q is not tcp or udp", p, truncate(l.Protocol, 16))
			}
			if l.Port < 0 || l.Port > 65535 {
				v.addf("%s.port %d is out of range", p, l.Port)
			}
			v.nonNegative(p+".pid", l.PID)
			v.strs(p, "address", l.Address, "process", l.Process, "user", l.User)
		}
	}
}
