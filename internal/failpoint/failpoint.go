// Package failpoint lets tests make MinIODB crash, pause or fail at named
// points of the write and flush paths. A nil *Set is inert: production code
// calls Inject unconditionally and pays one nil check.
//
// A set is parsed from a spec like the one MINIODB_FAILPOINTS carries:
//
//	flush-after-upload=crash,snapshot-mid-write=pause(500ms),wal-mid-batch=error@3
//
// Actions: crash (the process SIGKILLs itself: no deferred code, no
// flushing, as a power cut would), error (Inject returns an error), and
// pause(D) (Inject sleeps for D). "@N" fires on the Nth hit only; without
// it every hit fires.
package failpoint

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Points names every fail point the product has.
var Points = []string{
	"flush-after-upload",       // after the Parquet upload, before FlushCommit
	"flush-after-commit",       // after FlushCommit is applied on the leader
	"snapshot-mid-write",       // between records of an FSM snapshot
	"wal-mid-batch",            // halfway through a wal StoreLogs batch
	"fsm-apply",                // before the state machine applies an entry (pause: a slow replica)
	"compaction-before-upload", // a merged file is written, not uploaded
	"compaction-after-upload",  // after the merged upload, before CompactionCommit
	"compaction-after-commit",  // after CompactionCommit is applied on the leader
	"gc-mid-delete",            // the collector deleted objects, before ForgetObjects
	"fragment-run",             // a node starts a fragment of another node's distributed query
}

// ErrInjected is returned by Inject for the error action.
var ErrInjected = errors.New("failpoint: injected error")

type action struct {
	kind  string // crash, error, pause
	pause time.Duration
	nth   int // 0: every hit
}

// Set is a set of enabled fail points. Safe for concurrent use.
type Set struct {
	mu      sync.Mutex
	actions map[string]action
	hits    map[string]int
}

// Parse parses a spec; an empty spec gives a nil (inert) set.
func Parse(spec string) (*Set, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	s := &Set{actions: map[string]action{}, hits: map[string]int{}}
	for _, item := range strings.Split(spec, ",") {
		name, act, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return nil, fmt.Errorf("failpoint: %q: want name=action", item)
		}
		known := false
		for _, p := range Points {
			known = known || p == name
		}
		if !known {
			return nil, fmt.Errorf("failpoint: unknown point %q (known: %s)", name, strings.Join(Points, ", "))
		}
		var a action
		if body, nth, ok := strings.Cut(act, "@"); ok {
			n, err := strconv.Atoi(nth)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("failpoint: %q: @N wants a positive number", item)
			}
			a.nth, act = n, body
		}
		switch {
		case act == "crash", act == "error":
			a.kind = act
		case strings.HasPrefix(act, "pause(") && strings.HasSuffix(act, ")"):
			d, err := time.ParseDuration(act[len("pause(") : len(act)-1])
			if err != nil {
				return nil, fmt.Errorf("failpoint: %q: %v", item, err)
			}
			a.kind, a.pause = "pause", d
		default:
			return nil, fmt.Errorf("failpoint: %q: action must be crash, error or pause(D)", item)
		}
		s.actions[name] = a
	}
	return s, nil
}

// Hits returns how many times the named point was reached.
func (s *Set) Hits(name string) int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[name]
}

// Inject runs the action enabled at the named point, if any.
func (s *Set) Inject(name string) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	a, ok := s.actions[name]
	s.hits[name]++
	hit := s.hits[name]
	s.mu.Unlock()
	if !ok || (a.nth > 0 && hit != a.nth) {
		return nil
	}
	switch a.kind {
	case "crash":
		syscall.Kill(syscall.Getpid(), syscall.SIGKILL)
		select {} // never returns
	case "pause":
		time.Sleep(a.pause)
	case "error":
		return fmt.Errorf("%w at %s", ErrInjected, name)
	}
	return nil
}
