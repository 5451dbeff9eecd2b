package snmp

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"

	"github.com/gosnmp/gosnmp"
)

// Secret is a community string or a pass phrase. It never prints.
type Secret string

func (Secret) String() string               { return "[redacted]" }
func (Secret) GoString() string             { return "[redacted]" }
func (Secret) Format(f fmt.State, _ rune)   { fmt.Fprint(f, "[redacted]") }
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }
func (s Secret) reveal() string             { return string(s) }

// Version is an SNMP protocol version.
type Version string

// The versions.
const (
	V1  Version = "1"
	V2c Version = "2c"
	V3  Version = "3"
)

// Credential is one way to talk to an SNMP agent: a community (v1, v2c) or
// a USM user with its authentication and privacy protocols (v3).
type Credential struct {
	Version   Version
	Community Secret // v1, v2c

	User     string // v3
	Auth     string // MD5, SHA, SHA224, SHA256, SHA384, SHA512; "" for none
	AuthPass Secret
	Priv     string // DES, AES, AES192, AES256, AES192C, AES256C; "" for none
	PrivPass Secret
}

// Community returns a v2c credential.
func Community(name string) Credential {
	return Credential{Version: V2c, Community: Secret(name)}
}

// String describes the credential without its secrets.
func (c Credential) String() string {
	switch c.Version {
	case V3:
		s := "v3 user " + c.User
		if c.Auth != "" {
			s += " auth " + c.Auth
		}
		if c.Priv != "" {
			s += " priv " + c.Priv
		}
		return s
	case "":
		return "none"
	}
	return "v" + string(c.Version) + " community [redacted]"
}

var authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"":       gosnmp.NoAuth,
	"NONE":   gosnmp.NoAuth,
	"MD5":    gosnmp.MD5,
	"SHA":    gosnmp.SHA,
	"SHA1":   gosnmp.SHA,
	"SHA224": gosnmp.SHA224,
	"SHA256": gosnmp.SHA256,
	"SHA384": gosnmp.SHA384,
	"SHA512": gosnmp.SHA512,
}

var privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"":        gosnmp.NoPriv,
	"NONE":    gosnmp.NoPriv,
	"DES":     gosnmp.DES,
	"AES":     gosnmp.AES,
	"AES128":  gosnmp.AES,
	"AES192":  gosnmp.AES192,  // Blumenthal
	"AES256":  gosnmp.AES256,  // Blumenthal
	"AES192C": gosnmp.AES192C, // Reeder (Cisco)
	"AES256C": gosnmp.AES256C, // Reeder (Cisco)
}

func normProto(s string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", "_", "").Replace(strings.TrimSpace(s)))
}

// ParseV3 parses "user:authproto:authpass:privproto:privpass". The privacy
// part may be left out (authNoPriv), and so may the authentication part
// (noAuthNoPriv: "user"). Protocols: MD5, SHA, SHA-224, SHA-256, SHA-384,
// SHA-512; DES, AES (AES-128), AES-192, AES-256, and the Cisco (Reeder)
// key extension AES-192-C, AES-256-C.
func ParseV3(s string) (Credential, error) {
	f := strings.SplitN(s, ":", 5)
	c := Credential{Version: V3, User: f[0]}
	if c.User == "" {
		return Credential{}, fmt.Errorf("SNMPv3 credential: the user is missing")
	}
	switch len(f) {
	case 1:
	case 3, 5:
		c.Auth, c.AuthPass = normProto(f[1]), Secret(f[2])
		if len(f) == 5 {
			c.Priv, c.PrivPass = normProto(f[3]), Secret(f[4])
		}
	default:
		return Credential{}, fmt.Errorf("SNMPv3 credential for %s: want user:authproto:authpass[:privproto:privpass]", c.User)
	}
	if c.Auth == "NONE" {
		c.Auth = ""
	}
	if c.Priv == "NONE" {
		c.Priv = ""
	}
	return c, c.Validate()
}

// Validate checks that the credential can be used.
func (c Credential) Validate() error {
	switch c.Version {
	case V1, V2c:
		if c.Community == "" {
			return fmt.Errorf("SNMPv%s credential: the community is empty", c.Version)
		}
		return nil
	case V3:
	default:
		return fmt.Errorf("unknown SNMP version %q (want 1, 2c or 3)", c.Version)
	}
	if c.User == "" {
		return fmt.Errorf("SNMPv3 credential: the user is missing")
	}
	if _, ok := authProtocols[c.Auth]; !ok {
		return fmt.Errorf("SNMPv3 credential for %s: unknown authentication protocol %q (want MD5, SHA, SHA224, SHA256, SHA384 or SHA512)", c.User, c.Auth)
	}
	if _, ok := privProtocols[c.Priv]; !ok {
		return fmt.Errorf("SNMPv3 credential for %s: unknown privacy protocol %q (want DES, AES, AES192, AES256, AES192C or AES256C)", c.User, c.Priv)
	}
	if c.Auth != "" && len(c.AuthPass) < 8 {
		return fmt.Errorf("SNMPv3 credential for %s: the authentication pass phrase is shorter than 8 characters", c.User)
	}
	if c.Priv != "" {
		if c.Auth == "" {
			return fmt.Errorf("SNMPv3 credential for %s: privacy needs authentication", c.User)
		}
		if len(c.PrivPass) < 8 {
			return fmt.Errorf("SNMPv3 credential for %s: the privacy pass phrase is shorter than 8 characters", c.User)
		}
	}
	return nil
}

// apply sets c on g.
func (c Credential) apply(g *gosnmp.GoSNMP) {
	switch c.Version {
	case V1:
		g.Version = gosnmp.Version1
		g.Community = c.Community.reveal()
	case V2c:
		g.Version = gosnmp.Version2c
		g.Community = c.Community.reveal()
	case V3:
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		sp := &gosnmp.UsmSecurityParameters{
			UserName:                 c.User,
			AuthenticationProtocol:   authProtocols[c.Auth],
			AuthenticationPassphrase: c.AuthPass.reveal(),
			PrivacyProtocol:          privProtocols[c.Priv],
			PrivacyPassphrase:        c.PrivPass.reveal(),
		}
		switch {
		case c.Priv != "":
			g.MsgFlags = gosnmp.AuthPriv
		case c.Auth != "":
			g.MsgFlags = gosnmp.AuthNoPriv
		default:
			g.MsgFlags = gosnmp.NoAuthNoPriv
		}
		g.SecurityParameters = sp
	}
}

// Store remembers which credential worked for which device, so the next
// scan tries it first. Implementations must be safe for concurrent use; a
// persistent one may keep the credential's index or a reference, never
// print its secrets.
type Store interface {
	Get(addr netip.Addr) (Credential, bool)
	Put(addr netip.Addr, c Credential)
}

// MemoryStore is a Store in memory.
type MemoryStore struct {
	mu sync.Mutex
	m  map[netip.Addr]Credential
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{m: map[netip.Addr]Credential{}} }

// Get returns the credential that last worked for addr.
func (s *MemoryStore) Get(addr netip.Addr) (Credential, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[addr]
	return c, ok
}

// Put remembers that c worked for addr.
func (s *MemoryStore) Put(addr netip.Addr, c Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[addr] = c
}
