package collector_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// banned are packages the collector must never link: they belong to the
// agent (host inventory, packet capture, OS service management).
var banned = []string{
	"github.com/shirou/gopsutil",
	"github.com/gopacket",
	"github.com/google/gopacket",
	"github.com/kardianos/service",
}

func TestBannedDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH")
	}
	for _, goos := range []string{"linux", "windows", "darwin"} {
		t.Run(goos, func(t *testing.T) {
			cmd := exec.Command("go", "list", "-deps", "-test", "./...")
			cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64")
			out, err := cmd.Output()
			if err != nil {
				var stderr string
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("go list -deps: %v\n%s", err, stderr)
			}
			for _, pkg := range strings.Fields(string(out)) {
				for _, b := range banned {
					if pkg == b || strings.HasPrefix(pkg, b+"/") {
						t.Errorf("the collector depends on %s (banned: %s)", pkg, b)
					}
				}
			}
		})
	}
}
