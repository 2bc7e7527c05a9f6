package compaction

import (
	"errors"
	"fmt"
	"time"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Defaults of a Policy's fields.
const (
	DefaultTargetFileBytes = 256 << 20
	DefaultMinFiles        = 4
	DefaultMaxFiles        = 32
	DefaultCooldown        = 30 * time.Second
)

// Policy is the effective compaction setting of one table: the table's
// own CompactionPolicy over the server's defaults.
type Policy struct {
	// TargetFileBytes: files at least this large are not merged, and no
	// merge plans an output larger than this.
	TargetFileBytes int64
	// MinFiles files of one size tier make a merge; MaxFiles is the most
	// one merge takes.
	MinFiles, MaxFiles int
	// Cooldown: a file joins a merge only once it has been live this long.
	Cooldown time.Duration
	Disabled bool
}

// DefaultPolicy returns the built-in defaults.
func DefaultPolicy() Policy {
	return Policy{
		TargetFileBytes: DefaultTargetFileBytes,
		MinFiles:        DefaultMinFiles,
		MaxFiles:        DefaultMaxFiles,
		Cooldown:        DefaultCooldown,
	}
}

// Override returns p with the fields that t sets (non-zero) replaced.
func (p Policy) Override(t *v1.CompactionPolicy) Policy {
	if t == nil {
		return p
	}
	if t.TargetFileBytes > 0 {
		p.TargetFileBytes = t.TargetFileBytes
	}
	if t.MinFiles > 0 {
		p.MinFiles = int(t.MinFiles)
	}
	if t.MaxFiles > 0 {
		p.MaxFiles = int(t.MaxFiles)
	}
	if t.CooldownMs > 0 {
		p.Cooldown = time.Duration(t.CooldownMs) * time.Millisecond
	}
	p.Disabled = p.Disabled || t.Disabled
	return p
}

// Validate reports every problem of p in one error.
func (p Policy) Validate() error {
	var errs []error
	if p.TargetFileBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("target file size %d is below 1 MiB", p.TargetFileBytes))
	}
	if p.MinFiles < 2 {
		errs = append(errs, fmt.Errorf("min files %d is below 2", p.MinFiles))
	}
	if p.MaxFiles < p.MinFiles {
		errs = append(errs, fmt.Errorf("max files %d is below min files %d", p.MaxFiles, p.MinFiles))
	}
	if p.Cooldown < 0 {
		errs = append(errs, fmt.Errorf("cooldown %v is negative", p.Cooldown))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("compaction: policy: %w", errors.Join(errs...))
}

// ValidateTablePolicy checks a table's CompactionPolicy as a client sends
// it: negative values are errors, and the result over defaults must be
// valid.
func ValidateTablePolicy(t *v1.CompactionPolicy, defaults Policy) error {
	if t == nil {
		return nil
	}
	var errs []error
	if t.TargetFileBytes < 0 {
		errs = append(errs, fmt.Errorf("target_file_bytes %d is negative", t.TargetFileBytes))
	}
	if t.MinFiles < 0 {
		errs = append(errs, fmt.Errorf("min_files %d is negative", t.MinFiles))
	}
	if t.MaxFiles < 0 {
		errs = append(errs, fmt.Errorf("max_files %d is negative", t.MaxFiles))
	}
	if t.CooldownMs < 0 {
		errs = append(errs, fmt.Errorf("cooldown_ms %d is negative", t.CooldownMs))
	}
	if len(errs) > 0 {
		return fmt.Errorf("compaction: policy: %w", errors.Join(errs...))
	}
	return defaults.Override(t).Validate()
}
