// Package version names the build of every Umbra binary.
package version

// Version is set at link time with
// -ldflags "-X github.com/umbrasec/umbra/shared/version.Version=v1.2.3".
var Version = "dev"
