// Package accounts lists the local user accounts and the users logged in.
package accounts

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// Source names, as they appear in the inventory's errors.
const (
	SourceUsers    = "users"
	SourceSessions = "sessions"
)

// adminGroups are the Unix groups whose members may become root.
var adminGroups = map[string]bool{"sudo": true, "wheel": true, "admin": true, "root": true}

// ParsePasswd reads /etc/passwd and /etc/group. Accounts below uid 1000
// (other than root) or without a login shell are marked System.
func ParsePasswd(passwd, group []byte) []wire.User {
	admins := map[string]bool{}
	for l := range strings.Lines(string(group)) {
		f := strings.Split(strings.TrimSpace(l), ":")
		if len(f) == 4 && adminGroups[f[0]] {
			for _, m := range strings.Split(f[3], ",") {
				admins[m] = true
			}
		}
	}
	var out []wire.User
	for l := range strings.Lines(string(passwd)) {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == '+' || l[0] == '-' {
			continue
		}
		f := strings.Split(l, ":")
		if len(f) != 7 || f[0] == "" {
			continue
		}
		uid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		gecos, _, _ := strings.Cut(f[4], ",")
		u := wire.User{Name: f[0], ID: f[2], FullName: gecos, Home: f[5], Shell: f[6],
			Admin: uid == 0 || admins[f[0]]}
		noLogin := strings.HasSuffix(u.Shell, "nologin") || strings.HasSuffix(u.Shell, "/false") || u.Shell == "/bin/sync"
		u.System = uid != 0 && (uid < 1000 || uid == 65534 || noLogin)
		out = append(out, u)
	}
	return out
}

// utmp record layout of glibc on every 64-bit and 32-bit Linux (384 bytes).
const (
	utmpSize        = 384
	utmpUserProcess = 7
)

// ParseUtmp reads Linux utmp records (/var/run/utmp) and returns the user
// processes: the sessions open now.
func ParseUtmp(b []byte) []wire.Session {
	var out []wire.Session
	for len(b) >= utmpSize {
		r := b[:utmpSize]
		b = b[utmpSize:]
		if int16(binary.LittleEndian.Uint16(r)) != utmpUserProcess {
			continue
		}
		s := wire.Session{User: cstr(r[44:76]), Terminal: cstr(r[8:40]), Remote: cstr(r[76:332])}
		if sec := int32(binary.LittleEndian.Uint32(r[340:])); sec > 0 {
			s.Since = time.Unix(int64(sec), 0).UTC()
		}
		if s.User != "" {
			out = append(out, s)
		}
	}
	return out
}

// lastlog record: time int32, line [32]byte, host [256]byte.
const lastlogSize = 292

// LastLogon returns the last logon of uid from /var/log/lastlog.
func LastLogon(lastlog []byte, uid int) time.Time {
	off := uid * lastlogSize
	if uid < 0 || off+4 > len(lastlog) {
		return time.Time{}
	}
	if sec := int32(binary.LittleEndian.Uint32(lastlog[off:])); sec > 0 {
		return time.Unix(int64(sec), 0).UTC()
	}
	return time.Time{}
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.ToValidUTF8(string(b), "")
}
