//go:build !linux

package miniotest

import (
	"syscall"
	"time"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

// waitStopped cannot observe the process state here; it gives the signal
// a moment to take effect.
func waitStopped(pid int, timeout time.Duration) error {
	time.Sleep(100 * time.Millisecond)
	return nil
}
