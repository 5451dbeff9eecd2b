package shared_test

import (
	"os/exec"
	"strings"
	"testing"
)

// shared is imported by both sides, so it may import only the standard
// library and itself.
func TestSharedImportsOnlyStdlib(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, "github.com/umbrasec/umbra/shared") {
			t.Errorf("shared depends on %s; it may use only the standard library", p)
		}
	}
}
