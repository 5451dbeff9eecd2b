//go:build !windows

package accounts

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/shirou/gopsutil/v4/host"
	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

// Collect lists local accounts from /etc/passwd (on macOS the directory
// service's local accounts are not all there; /etc/passwd holds the
// system ones) and the sessions from utmp.
func Collect(ctx context.Context) ([]wire.User, []wire.Session, []error) {
	var errs []error
	var users []wire.User
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		errs = append(errs, source.Wrap(SourceUsers, err))
	} else {
		group, _ := os.ReadFile("/etc/group")
		users = ParsePasswd(passwd, group)
		if lastlog, err := os.ReadFile("/var/log/lastlog"); err == nil {
			for i := range users {
				if uid, err := strconv.Atoi(users[i].ID); err == nil {
					users[i].LastLogon = LastLogon(lastlog, uid)
				}
			}
		}
	}
	var sessions []wire.Session
	if runtime.GOOS == "linux" {
		if b, err := os.ReadFile("/var/run/utmp"); err == nil {
			sessions = ParseUtmp(b)
		} else if !os.IsNotExist(err) {
			errs = append(errs, source.Wrap(SourceSessions, err))
		}
		return users, sessions, errs
	}
	us, err := host.UsersWithContext(ctx)
	if err != nil {
		errs = append(errs, source.Wrap(SourceSessions, err))
	}
	for _, u := range us {
		s := wire.Session{User: u.User, Terminal: u.Terminal, Remote: u.Host}
		if u.Started > 0 {
			s.Since = unix(int64(u.Started))
		}
		sessions = append(sessions, s)
	}
	return users, sessions, errs
}

func unix(sec int64) time.Time {
	if sec <= 0 || sec > 1<<40 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
