package osservice

import (
	"strings"
)

// windowsCommandLine is a service's command line with every part in double
// quotes, escaped as CommandLineToArgvW reads it.
func windowsCommandLine(exe string, args []string) string {
	parts := make([]string, 0, 1+len(args))
	for _, a := range append([]string{exe}, args...) {
		parts = append(parts, quoteWindows(a))
	}
	return strings.Join(parts, " ")
}

func quoteWindows(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}
