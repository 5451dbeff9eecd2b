package security

import (
	"context"
	"os"
	"os/exec"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
	"github.com/umbrasec/umbra/shared/wire"
)

func collect(ctx context.Context) (*wire.Security, []error) {
	sec := &wire.Security{}
	var errs []error
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()

	out, err := exec.CommandContext(ctx, "/usr/bin/fdesetup", "status").Output()
	if v, ok := ParseFdesetup(out); err == nil && ok {
		sec.Encryption = append(sec.Encryption, v)
	} else {
		errs = append(errs, source.Errorf(SourceEncryption, "fdesetup status: %v: %q", err, firstLine(string(out))))
	}

	fw, ok := wire.Firewall{}, false
	if b, err := os.ReadFile("/Library/Preferences/com.apple.alf.plist"); err == nil {
		fw, ok = ALFPlist(b)
	}
	if !ok {
		out, err := exec.CommandContext(ctx, "/usr/libexec/ApplicationFirewall/socketfilterfw", "--getglobalstate").Output()
		if fw, ok = ParseSocketfilterfw(out); !ok {
			errs = append(errs, source.Errorf(SourceFirewall, "socketfilterfw --getglobalstate: %v", err))
		}
	}
	if ok {
		sec.Firewalls = append(sec.Firewalls, fw)
	}
	sec.Antivirus = MacAntivirus(os.DirFS("/"))
	return sec, errs
}
