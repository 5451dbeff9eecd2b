package state

import (
	"fmt"
	"os"
)

// privateSDDL is the security descriptor, in SDDL, that Restrict gives a
// file or folder on Windows: a protected DACL (nothing inherited from the
// parent, "P") granting full control ("FA") to LocalSystem ("SY") and the
// BUILTIN\Administrators group ("BA") and to no one else. A folder's two
// entries are inherited by the files and folders made in it ("OICI"). The
// owner is left as it is: changing it needs a privilege the agent may lack.
func privateSDDL(dir bool) string {
	inherit := ""
	if dir {
		inherit = "OICI"
	}
	return "D:P(A;" + inherit + ";FA;;;SY)(A;" + inherit + ";FA;;;BA)"
}

// Restrict makes path readable only by the system: on Windows the DACL of
// privateSDDL (mode bits mean nothing there); elsewhere mode 0700 for a
// folder and 0600 for a file.
func Restrict(path string, dir bool) error {
	if err := restrict(path, dir); err != nil {
		return fmt.Errorf("restricting access to %s: %w", path, err)
	}
	return nil
}

// MkdirPrivate makes the folder dir (and its parents) and restricts dir
// itself to the system (Restrict), also when it already existed.
func MkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("making folder %s: %w", dir, err)
	}
	return Restrict(dir, true)
}
