package ingest

import (
	"os"
	"syscall"
)

// datasync flushes f's data, not its metadata (the segment was written in
// full before use, so nothing else changed).
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
