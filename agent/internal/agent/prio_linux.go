package agent

import (
	"errors"
	"os"
	"strconv"
	"syscall"
)

// lowerPriority sets the nice value of every thread of the process: on
// Linux nice is per thread, and threads the runtime starts later inherit it
// from the thread that starts them.
func lowerPriority(nice int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
