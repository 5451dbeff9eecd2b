package osinfo

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/umbrasec/umbra/agent/internal/inventory/source"
)

func collect(ctx context.Context) (Info, []error) {
	var info Info
	var errs []error
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/sw_vers", "-buildVersion").Output()
	if err != nil {
		errs = append(errs, source.Errorf(Source, "sw_vers -buildVersion: %w", err))
	} else {
		info.Build = strings.TrimSpace(string(out))
	}
	// Setup Assistant leaves this file when it finishes the first setup.
	if st, err := os.Stat("/var/db/.AppleSetupDone"); err == nil && plausible(st.ModTime()) {
		info.InstallDate = st.ModTime().UTC()
	}
	return info, errs
}
