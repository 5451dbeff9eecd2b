// Package software lists the installed software of a host from every
// package source it has: dpkg, rpm, apk, pacman, snap and flatpak on Linux,
// the registry's Uninstall keys and hotfixes on Windows, applications, pkg
// receipts and Homebrew on macOS.
//
// The OS files (software_linux.go, …) only fetch bytes; every parser is
// portable and tested on Linux from fixtures recorded on each OS.
package software

import (
	"context"
	"io/fs"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// maxParseErrors bounds the errors one source reports about its own
// content.
const maxParseErrors = 8

// Collect lists the software of this host. Each element of errs is a
// *source.Error naming the package source that failed; the others are
// still listed.
func Collect(ctx context.Context) (pkgs []wire.Package, errs []error) {
	return collect(ctx)
}

// CollectFS lists the software found under a Unix root (normally "/"):
// the Linux package managers, and on macOS the applications, receipts and
// Homebrew. It is what Collect does on Linux and macOS, and lets tests run
// against a fixture tree.
func CollectFS(ctx context.Context, root fs.FS, sources []string) (pkgs []wire.Package, errs []error) {
	for _, s := range sources {
		if ctx.Err() != nil {
			break
		}
		fn := fsSources[s]
		if fn == nil {
			continue
		}
		p, e := fn(root)
		if pkgs == nil {
			pkgs = p // most hosts have one source: no copy
		} else {
			pkgs = append(pkgs, p...)
		}
		errs = append(errs, e...)
	}
	return pkgs, errs
}

// fsSources read one package source from a root file system. A source the
// host does not have returns nothing and no error.
var fsSources = map[string]func(fs.FS) ([]wire.Package, []error){
	wire.SourceDpkg:     readDpkg,
	wire.SourceRPM:      readRPM,
	wire.SourceAPK:      readAPK,
	wire.SourcePacman:   readPacman,
	wire.SourceSnap:     readSnap,
	wire.SourceFlatpak:  readFlatpak,
	wire.SourceMacApp:   readMacApps,
	wire.SourceMacPkg:   readReceipts,
	wire.SourceHomebrew: readHomebrew,
}

// LinuxSources and MacSources are the sources CollectFS reads on each OS.
var (
	LinuxSources = []string{wire.SourceDpkg, wire.SourceRPM, wire.SourceAPK, wire.SourcePacman, wire.SourceSnap, wire.SourceFlatpak}
	MacSources   = []string{wire.SourceMacApp, wire.SourceMacPkg, wire.SourceHomebrew}
)

// unixTime turns seconds since 1970 into a time, or the zero time for a
// value outside 1980–2200.
func unixTime(sec int64) time.Time {
	if sec < 315532800 || sec > 7258118400 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

// parseErrors collects a parser's complaints, at most maxParseErrors.
type parseErrors struct {
	src     string
	errs    []error
	dropped int
}
