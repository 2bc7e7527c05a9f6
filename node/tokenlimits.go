package node

import (
	"fmt"
	"sync"
	"time"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// tokenLimits enforces the per-token limits of TokenRecord on this node:
// running queries (where a query runs: the leader for strong reads, this
// node for local ones) and write bytes per second (on the leader, where
// writes are applied). A forwarded request counts once, where it runs.
type tokenLimits struct {
	mu      sync.Mutex
	queries map[string]int
	writes  map[string]*byteBudget
}

// byteBudget is a token bucket that may go into debt: a request is let
// through while the budget is positive and then charged in full, so a
// request larger than one second's allowance is not refused forever; the
// debt delays the requests after it.
type byteBudget struct {
	avail float64
	last  time.Time
}

// startQuery counts a query of the token; done must be called when it
// ends.
func (l *tokenLimits) startQuery(rec *v1.TokenRecord) (done func(), err error) {
	if rec == nil || rec.MaxConcurrentQueries <= 0 {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.queries == nil {
		l.queries = map[string]int{}
	}
	if l.queries[rec.Id] >= int(rec.MaxConcurrentQueries) {
		return nil, fmt.Errorf("%w: token %s is running %d queries on this node, its limit; retry when one ends", ErrBackpressure, rec.Id, rec.MaxConcurrentQueries)
	}
	l.queries[rec.Id]++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.queries[rec.Id]--; l.queries[rec.Id] <= 0 {
			delete(l.queries, rec.Id)
		}
	}, nil
}

// chargeWrite admits a write of n bytes for the token or says how long to
// wait.
func (l *tokenLimits) chargeWrite(rec *v1.TokenRecord, n int64, now time.Time) error {
	if rec == nil || rec.WriteBytesPerSecond <= 0 {
		return nil
	}
	rate := float64(rec.WriteBytesPerSecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.writes == nil {
		l.writes = map[string]*byteBudget{}
	}
	b, ok := l.writes[rec.Id]
	if !ok {
		b = &byteBudget{avail: rate, last: now}
		l.writes[rec.Id] = b
	}
	b.avail = min(rate, b.avail+rate*now.Sub(b.last).Seconds())
	b.last = now
	if b.avail <= 0 {
		wait := time.Duration((1 - b.avail) / rate * float64(time.Second))
		return fmt.Errorf("%w: token %s may write %d bytes per second and wrote more; retry in %v", ErrBackpressure, rec.Id, rec.WriteBytesPerSecond, wait.Round(time.Millisecond))
	}
	b.avail -= float64(n)
	return nil
}
