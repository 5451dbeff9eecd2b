package services

import (
	"strings"
)

// Unit is what the inventory needs of a systemd unit file.
type Unit struct {
	Description string
	ExecStart   string // the first ExecStart= of [Service]
	User        string
	DynamicUser bool
	// HasInstall is true when the unit has an [Install] section with
	// something to enable (WantedBy=, RequiredBy=, Alias=, Also=): without
	// one, systemd calls it static.
	HasInstall bool
}

// maxUnitLine bounds a logical line after joining continuations, so a
// hostile or broken file cannot make the parser hold megabytes.
const maxUnitLine = 64 << 10

// ParseUnit reads a systemd unit file (systemd.syntax(7)): [Section]
// headers, Key=Value lines, comments starting with # or ;, and lines
// continued by a trailing backslash. Unknown sections and keys are
// ignored; a later assignment overrides an earlier one, and an empty
// assignment resets the key, as systemd does.
func ParseUnit(data []byte) Unit {
	var u Unit
	section := ""
	var cont strings.Builder
	continuing := false
	for raw := range strings.Lines(string(data)) {
		line := strings.TrimRight(raw, "\r\n")
		if continuing {
			t := strings.TrimSpace(line)
			if strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
				continue // comments inside a continued line are skipped
			}
			line = t
		} else {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			if line[0] == '[' {
				if end := strings.IndexByte(line, ']'); end > 0 {
					section = line[1:end]
				}
				continue
			}
		}
		if strings.HasSuffix(line, "\\") {
			if cont.Len() < maxUnitLine {
				cont.WriteString(strings.TrimSuffix(line, "\\"))
				cont.WriteByte(' ')
			}
			continuing = true
			continue
		}
		if continuing {
			if cont.Len() < maxUnitLine {
				cont.WriteString(line)
			}
			line = cont.String()
			cont.Reset()
			continuing = false
		}
		u.set(section, line)
	}
	if continuing {
		u.set(section, strings.TrimSpace(cont.String()))
	}
	return u
}

func (u *Unit) set(section, line string) {
	k, v, ok := strings.Cut(line, "=")
	if !ok {
		return
	}
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	switch section + "." + k {
	case "Unit.Description":
		u.Description = v
	case "Service.ExecStart":
		if v == "" {
			u.ExecStart = ""
		} else if u.ExecStart == "" {
			u.ExecStart = v
		}
	case "Service.User":
		u.User = v
	case "Service.DynamicUser":
		u.DynamicUser = parseBool(v)
	case "Install.WantedBy", "Install.RequiredBy", "Install.UpheldBy", "Install.Alias", "Install.Also":
		if v != "" {
			u.HasInstall = true
		}
	}
}

func parseBool(s string) bool {
	switch strings.ToLower(s) {
	case "1", "yes", "true", "on":
		return true
	}
	return false
}

// Executable returns the program of an ExecStart= value: its first word,
// without the prefixes (@, -, :, +, !) that change how systemd runs it
// and without quotes.
func Executable(exec string) string {
	s := strings.TrimLeft(strings.TrimSpace(exec), "@-:+!|")
	if s == "" {
		return ""
	}
	if s[0] == '"' || s[0] == '\'' {
		if end := strings.IndexByte(s[1:], s[0]); end >= 0 {
			return s[1 : end+1]
		}
		return s[1:]
	}
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}
