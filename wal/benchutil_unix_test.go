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

// settleDisk flushes the file systems before a timed loop, so that one
// benchmark does not pay for the writeback (and, on a file system mounted
// with discard, the TRIMs) of the previous one's files.
func settleDisk() { syscall.Sync() }
