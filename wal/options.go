package wal

import (
	"errors"
	"fmt"
	"log/slog"
)

// Segment size limits. Record offsets inside a segment are kept as uint32,
// so segments stay well below 4 GiB.
const (
	// DefaultSegmentSize is the segment size DefaultOptions uses.
	DefaultSegmentSize = 64 << 20
	// MinSegmentSize is the smallest accepted SegmentSize. Sizes this small
	// are only useful in tests that want many segment rollovers.
	MinSegmentSize = 256
	// MaxSegmentSize is the largest accepted SegmentSize.
	MaxSegmentSize = 1 << 30
)

// Options configures a Store. The zero value of each field means "use the
// default"; Open fills defaults in and then calls Validate.
type Options struct {
	// SegmentSize is the size in bytes a segment file may reach before the
	// store starts a new one. A segment is preallocated to this size while
	// it is written, and the newest segment is also kept in memory to serve
	// reads, so it bounds the store's memory use as well. One record larger
	// than SegmentSize gets a segment of its own. Default 64 MiB; must be in
	// [MinSegmentSize, MaxSegmentSize].
	SegmentSize int64

	// Logger receives recovery and truncation events. Nil discards them.
	Logger *slog.Logger

	// NoSync skips every fsync (files and directory). For tests and
	// benchmarks of everything but durability only: with NoSync a machine
	// crash can lose entries the store has acknowledged, which breaks
	// Raft's safety. A process crash alone loses nothing.
	NoSync bool

	// FailHook, when set, is called halfway through writing a batch, after
	// its first half reached the file and before the rest and the fsync
	// (fail point "wal-mid-batch"). A non-nil error fails the write. Tests
	// use it to crash the process with a torn batch on disk.
	FailHook func(point string) error
}

// DefaultOptions returns the options for production use.
func DefaultOptions() Options {
	return Options{SegmentSize: DefaultSegmentSize}
}

// withDefaults returns o with zero fields replaced by their defaults.
func (o Options) withDefaults() Options {
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports every problem with o in one error (errors.Join), one
// line per problem. A zero SegmentSize is valid: it means the default.
func (o Options) Validate() error {
	var errs []error
	if o.SegmentSize != 0 && (o.SegmentSize < MinSegmentSize || o.SegmentSize > MaxSegmentSize) {
		errs = append(errs, fmt.Errorf("wal: SegmentSize %d is outside [%d, %d]",
			o.SegmentSize, MinSegmentSize, MaxSegmentSize))
	}
	return errors.Join(errs...)
}
