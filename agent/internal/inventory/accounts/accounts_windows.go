package accounts

import (
	"context"
	"strings"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
	"github.com/yusufpapurcu/wmi"
)

type win32UserAccount struct {
	Name, SID, FullName string
	Disabled            bool
	SIDType             uint8
}

type win32NetworkLoginProfile struct {
	Name      string // DOMAIN\user
	LastLogon string // CIM datetime
}

type win32LogonSessionUser struct {
	Antecedent string // Win32_Account.Domain="X",Name="user"
	Dependent  string
}

// Collect lists local accounts (Win32_UserAccount), their last logon
// (Win32_NetworkLoginProfile) and the logged-on users (Win32_LoggedOnUser).
func Collect(ctx context.Context) ([]wire.User, []wire.Session, []error) {
	var errs []error
	var accts []win32UserAccount
	if err := wmi.Query("SELECT Name, SID, FullName, Disabled, SIDType FROM Win32_UserAccount WHERE LocalAccount = TRUE", &accts); err != nil {
		errs = append(errs, source.Errorf(SourceUsers, "WMI Win32_UserAccount: %w", err))
	}
	var profiles []win32NetworkLoginProfile
	_ = wmi.Query("SELECT Name, LastLogon FROM Win32_NetworkLoginProfile", &profiles)
	var logged []win32LogonSessionUser
	if err := wmi.Query("SELECT Antecedent, Dependent FROM Win32_LoggedOnUser", &logged); err != nil {
		errs = append(errs, source.Errorf(SourceSessions, "WMI Win32_LoggedOnUser: %w", err))
	}
	return FromWMI(accts, profiles, logged), sessionsFromWMI(logged), errs
}

// FromWMI builds the accounts from WMI rows.
func FromWMI(accts []win32UserAccount, profiles []win32NetworkLoginProfile, _ []win32LogonSessionUser) []wire.User {
	last := map[string]string{}
	for _, p := range profiles {
		_, name, _ := strings.Cut(p.Name, `\`)
		last[strings.ToLower(name)] = p.LastLogon
	}
	var out []wire.User
	for _, a := range accts {
		u := wire.User{Name: a.Name, ID: a.SID, FullName: a.FullName, Disabled: a.Disabled,
			Admin: strings.HasSuffix(a.SID, "-500")}
		u.System = strings.HasSuffix(a.SID, "-501") || strings.HasSuffix(a.SID, "-503") || strings.HasSuffix(a.SID, "-504")
		u.LastLogon = cimTime(last[strings.ToLower(a.Name)])
		out = append(out, u)
	}
	return out
}

func sessionsFromWMI(rows []win32LogonSessionUser) []wire.Session {
	seen := map[string]bool{}
	var out []wire.Session
	for _, r := range rows {
		i := strings.Index(r.Antecedent, `Name="`)
		if i < 0 {
			continue
		}
		name := strings.TrimSuffix(r.Antecedent[i+6:], `"`)
		if seen[name] || strings.HasSuffix(name, "$") || name == "SYSTEM" || name == "LOCAL SERVICE" || name == "NETWORK SERVICE" {
			continue
		}
		seen[name] = true
		out = append(out, wire.Session{User: name})
	}
	return out
}

// cimTime reads a CIM datetime, 20241127080100.000000+060.
func cimTime(s string) time.Time {
	if len(s) < 14 {
		return time.Time{}
	}
	t, err := time.Parse("20060102150405", s[:14])
	if err != nil || t.Year() < 1980 {
		return time.Time{}
	}
	return t.UTC()
}
