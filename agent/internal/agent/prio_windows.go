package agent

import "golang.org/x/sys/windows"

// lowerPriority puts the process in the below-normal priority class.
func lowerPriority(int) error {
	return windows.SetPriorityClass(windows.CurrentProcess(), windows.BELOW_NORMAL_PRIORITY_CLASS)
}
