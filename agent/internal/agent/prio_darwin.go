package agent

import "syscall"

// lowerPriority sets the process's nice value.
func lowerPriority(nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, 0, nice)
}
