//go:build !windows

package security

import "strings"

// firstLine returns the first line of a tool's message.
func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
