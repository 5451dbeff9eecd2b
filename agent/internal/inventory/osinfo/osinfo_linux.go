package osinfo

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func collect(context.Context) (Info, []error) {
	root := os.DirFS("/")
	var info Info
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		info.Build = OSReleaseBuild(b)
	}
	info.InstallDate = LinuxInstallDate(root, rootBirth())
	return info, nil
}

// rootBirth is the birth time of "/", where the file system records it.
func rootBirth() time.Time {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, "/", 0, unix.STATX_BTIME, &st); err != nil || st.Mask&unix.STATX_BTIME == 0 {
		return time.Time{}
	}
	return time.Unix(st.Btime.Sec, int64(st.Btime.Nsec))
}
