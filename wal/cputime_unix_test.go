//go:build unix

package wal

import (
	"syscall"
	"time"
)

// processCPU returns the user+system CPU time the process has used. On a
// shared machine it is a steadier cost measure than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
