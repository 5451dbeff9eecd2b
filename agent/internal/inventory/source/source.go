// Package source names the sources of an inventory and carries their
// failures: a source that cannot be read costs only itself, and the
// inventory says which and why.
package source

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrUnavailable marks data that exists but that this agent cannot read:
// it lacks a privilege or a tool. A permission error counts as unavailable
// too.
var ErrUnavailable = errors.New("unavailable")

// Error is the failure of one source.
type Error struct {
	Source string // "dpkg", "hardware.dmi", …
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error for src with a formatted message.
func Errorf(src, format string, args ...any) error {
	return &Error{Source: src, Err: fmt.Errorf(format, args...)}
}

// Wrap returns err as a failure of src, or nil.
func Wrap(src string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Source: src, Err: err}
}

// IsUnavailable reports whether err means the data exists but could not be
// read for lack of privilege or a tool.
func IsUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, fs.ErrPermission)
}

// Errors collects at most Max failures and counts the rest.
type Errors struct {
	Max     int
	list    []error
	dropped int
}

// Add records err (nil is ignored) of src.
func (e *Errors) Add(src string, err error) {
	if err == nil {
		return
	}
	if e.Max > 0 && len(e.list) >= e.Max {
		e.dropped++
		return
	}
	var se *Error
	if !errors.As(err, &se) {
		err = &Error{Source: src, Err: err}
	}
	e.list = append(e.list, err)
}

// List returns the failures; when some were dropped, the last one says how
// many.
func (e *Errors) List() []error {
	if e.dropped == 0 || len(e.list) == 0 {
		return e.list
	}
	out := append([]error(nil), e.list...)
	src := "inventory"
	var se *Error
	if errors.As(out[len(out)-1], &se) {
		src = se.Source
	}
	out[len(out)-1] = Errorf(src, "%d more errors not listed", e.dropped+1)
	return out
}
