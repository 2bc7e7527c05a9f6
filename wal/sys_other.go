//go:build !linux

package wal

import "os"

// fdatasync falls back to fsync where fdatasync is not available.
func fdatasync(f *os.File) error { return f.Sync() }

// preallocate is a no-op where fallocate is not available; files grow as
// they are written.
func preallocate(*os.File, int64) error { return nil }
