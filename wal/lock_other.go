//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package wal

import (
	"fmt"
	"os"
)

// lockFile only creates the lock file where flock is not available; the
// caller must make sure one process owns the directory.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("wal: lock: %w", err)
	}
	return f, nil
}
