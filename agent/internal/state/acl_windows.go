//go:build windows

package state

import "golang.org/x/sys/windows"

// restrict replaces the DACL of path with privateSDDL's, protected from
// inheritance, so that only LocalSystem and Administrators may open it.
func restrict(path string, dir bool) error {
	sd, err := windows.SecurityDescriptorFromString(privateSDDL(dir))
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	return windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
}

// daclSDDL reads back the DACL of path in SDDL (tests).
func daclSDDL(path string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", err
	}
	return sd.String(), nil
}
