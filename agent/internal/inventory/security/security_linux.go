package security

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

func collect(ctx context.Context) (*wire.Security, []error) {
	root := os.DirFS("/")
	var errs []error
	sec := &wire.Security{Encryption: LinuxEncryption(root)}

	// nftables has no /proc view: only nft can read the rules.
	out, err := run(ctx, "nft", "list", "ruleset")
	switch {
	case err == nil:
		sec.Firewalls = append(sec.Firewalls, Nftables(out))
	case errors.Is(err, exec.ErrNotFound):
		errs = append(errs, source.Errorf(SourceFirewall, "nft not installed, nftables rules unknown: %w", source.ErrUnavailable))
	default:
		errs = append(errs, source.Errorf(SourceFirewall, "nft list ruleset: %v: %w", err, source.ErrUnavailable))
	}
	if tables, err := os.ReadFile("/proc/net/ip_tables_names"); err == nil && len(bytes.TrimSpace(tables)) > 0 {
		save, err := run(ctx, "iptables-legacy-save")
		if errors.Is(err, exec.ErrNotFound) {
			save, err = run(ctx, "iptables-save")
		}
		if err != nil {
			save = nil
		}
		sec.Firewalls = append(sec.Firewalls, Iptables(tables, save))
	}
	sec.Firewalls = append(sec.Firewalls, ConfiguredFirewalls(root)...)
	sec.Antivirus = LinuxAntivirus(root, ProcessNames(root), time.Now())
	return sec, errs
}

// run runs a tool for at most ten seconds and returns its output; a
// missing tool is exec.ErrNotFound.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	bin, err := exec.LookPath(name)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, errors.New(firstLine(msg))
		}
		return nil, err
	}
	return out, nil
}
