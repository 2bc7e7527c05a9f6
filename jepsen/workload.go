//go:build linux

package jepsen

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"time"
)

// Table is the workload's table.
const Table = "jepsen_set"

// DoomedTable holds the rows the deleters write and then delete.
const DoomedTable = "jepsen_doomed"

// WorkloadOptions shape the clients.
type WorkloadOptions struct {
	Writers, Readers int
	// Deleters write batches of rows to DoomedTable and delete them again;
	// the checker requires no acknowledged delete's row to be back at the
	// end (merges racing deletes must not resurrect them).
	Deleters       int
	MaxBatch       int              // rows per write: 1..MaxBatch
	Attempts       int              // tries per write, same request_id
	AttemptTimeout [2]time.Duration // per try, uniform in [min, max]
	ReadTimeout    time.Duration
	WriterThink    time.Duration // pause between writes, uniform in [0, d]
	ReaderThink    time.Duration
	// FlushEvery, if set, runs a client that forces a flush through a
	// random node that often, so flushes also happen at the start of a
	// term, right after a leader change or restart.
	FlushEvery time.Duration
}

// workload runs writer and reader clients against the nodes' real API
// listeners until stopped.
type workload struct {
	c    *Cluster
	h    *History
	opts WorkloadOptions
	seed int64
	stop chan struct{}
	wg   sync.WaitGroup
}

func startWorkload(c *Cluster, h *History, opts WorkloadOptions, seed int64) *workload {
	w := &workload{c: c, h: h, opts: opts, seed: seed, stop: make(chan struct{})}
	for k := 0; k < opts.Writers; k++ {
		w.wg.Add(1)
		go w.writer(k, rand.New(rand.NewSource(seed+int64(k)*7919+1)))
	}
	for r := 0; r < opts.Readers; r++ {
		w.wg.Add(1)
		go w.reader(opts.Writers+r, rand.New(rand.NewSource(seed+int64(r)*104729+2)))
	}
	for d := 0; d < opts.Deleters; d++ {
		w.wg.Add(1)
		go w.deleter(opts.Writers+opts.Readers+d, rand.New(rand.NewSource(seed+int64(d)*15485863+4)))
	}
	if opts.FlushEvery > 0 {
		w.wg.Add(1)
		go w.flusher(rand.New(rand.NewSource(seed + 3)))
	}
	return w
}

func (w *workload) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// sleep waits d or until the workload stops; it reports whether to go on.
func (w *workload) sleep(d time.Duration) bool {
	if d <= 0 {
		return !w.stopped()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.stop:
		return false
	case <-t.C:
		return true
	}
}

// Stop stops the clients and waits for their last operations (each is
// bounded by its attempts' timeouts).
func (w *workload) Stop() {
	close(w.stop)
	w.wg.Wait()
}

func uniform(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int63n(int64(hi-lo)))
}

// writer k writes batches of new rows c<k>-<seq>, one request per batch,
// through random nodes. A try that fails is retried through another
// random node with the same request_id, so the server's dedupe window
// makes the retry apply at most once. The operation is ok when a try
// succeeds, fail when every try certainly did not take effect, and info
// (unknown) otherwise.
func (w *workload) writer(k int, rng *rand.Rand) {
	defer w.wg.Done()
	seq := 0
	for n := 0; !w.stopped(); n++ {
		size := 1 + rng.Intn(max(1, w.opts.MaxBatch))
		ids := make([]string, size)
		var body strings.Builder
		for i := range ids {
			seq++
			ids[i] = rowID(k, seq)
			fmt.Fprintf(&body, `{"id":%q,"client":%d,"seq":%d,"ts":"2026-01-01T%02d:00:00Z"}`+"\n", ids[i], k, seq, seq%4)
		}
		reqID := fmt.Sprintf("c%d-r%d", k, n)
		inv := w.h.Invoke(k, FAdd, ids)
		var attempts []Attempt
		result := Fail
		var lastErr error
		for try := 0; try < w.opts.Attempts; try++ {
			if try > 0 && !w.sleep(uniform(rng, 50*time.Millisecond, 250*time.Millisecond)) {
				break
			}
			nd := w.c.Nodes[rng.Intn(len(w.c.Nodes))]
			timeout := uniform(rng, w.opts.AttemptTimeout[0], w.opts.AttemptTimeout[1])
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			at := Attempt{Node: nd.ID, Start: w.h.Now()}
			res, err := w.c.api.write(ctx, nd.HTTPAddr, Table, reqID, []byte(body.String()))
			cancel()
			at.End = w.h.Now()
			out := classify(err)
			at.Outcome = out.String()
			if err != nil {
				at.Error = err.Error()
				lastErr = err
			} else {
				at.RaftIndex, at.Duplicate = res.RaftIndex, res.Duplicate
			}
			attempts = append(attempts, at)
			if out == outOK {
				result = OK
				break
			}
			if out == outUnknown {
				result = Info
			}
		}
		w.h.Complete(inv, result, func(e *Event) {
			e.RequestID, e.Attempts = reqID, attempts
			if result != OK && lastErr != nil {
				e.Error = lastErr.Error()
			}
		})
		if !w.sleep(uniform(rng, 0, w.opts.WriterThink)) {
			return
		}
	}
}

// deleter p writes batches of rows x<p>-<seq> to DoomedTable and, once a
// write is acknowledged, deletes the batch's ids through random nodes
// (retrying: a delete applied twice deletes nothing more). The operation
// is ok when the delete is acknowledged, fail when the write or the delete
// certainly did not happen, info otherwise.
func (w *workload) deleter(p int, rng *rand.Rand) {
	defer w.wg.Done()
	seq := 0
	for n := 0; !w.stopped(); n++ {
		size := 1 + rng.Intn(3)
		ids := make([]string, size)
		// Every other operation upserts its rows instead of deleting them.
		f, prefix := FDelete, "x"
		if n%2 == 1 {
			f, prefix = FUpsert, "u"
		}
		var body, again strings.Builder
		for i := range ids {
			seq++
			ids[i] = fmt.Sprintf("%s%d-%d", prefix, p, seq)
			fmt.Fprintf(&body, `{"id":%q,"client":%d,"seq":%d,"ts":"2026-01-01T%02d:00:00Z"}`+"\n", ids[i], p, seq, seq%4)
			// The upsert moves the row to another hour: another partition.
			fmt.Fprintf(&again, `{"id":%q,"client":%d,"seq":%d,"ts":"2026-01-01T%02d:30:00Z"}`+"\n", ids[i], p, -seq, (seq+1)%4)
		}
		reqID := fmt.Sprintf("x%d-r%d", p, n)
		inv := w.h.Invoke(p, f, ids)
		var attempts []Attempt
		try := func(f func(ctx context.Context, addr string) error) outcome {
			out := outFail
			for k := 0; k < w.opts.Attempts; k++ {
				if k > 0 && !w.sleep(uniform(rng, 50*time.Millisecond, 250*time.Millisecond)) {
					break
				}
				nd := w.c.Nodes[rng.Intn(len(w.c.Nodes))]
				ctx, cancel := context.WithTimeout(context.Background(), uniform(rng, w.opts.AttemptTimeout[0], w.opts.AttemptTimeout[1]))
				at := Attempt{Node: nd.ID, Start: w.h.Now()}
				err := f(ctx, nd.HTTPAddr)
				cancel()
				at.End = w.h.Now()
				o := classify(err)
				at.Outcome = o.String()
				if err != nil {
					at.Error = err.Error()
				}
				attempts = append(attempts, at)
				if o == outOK {
					return outOK
				}
				if o == outUnknown {
					out = outUnknown
				}
			}
			return out
		}
		result := Fail
		switch try(func(ctx context.Context, addr string) error {
			_, err := w.c.api.write(ctx, addr, DoomedTable, reqID, []byte(body.String()))
			return err
		}) {
		case outOK:
			second := func(ctx context.Context, addr string) error { return w.c.api.delete(ctx, addr, DoomedTable, ids) }
			if f == FUpsert {
				second = func(ctx context.Context, addr string) error {
					_, err := w.c.api.writeRows(ctx, addr, DoomedTable, reqID+"-u", "id", []byte(again.String()))
					return err
				}
			}
			switch try(second) {
			case outOK:
				result = OK
			default:
				result = Info // written, and the second step may or may not have happened
			}
		case outUnknown:
			result = Info
		}
		w.h.Complete(inv, result, func(e *Event) { e.RequestID, e.Attempts = reqID, attempts })
		if !w.sleep(uniform(rng, 0, 5*w.opts.WriterThink)) {
			return
		}
	}
}

// reader p makes strong reads of every id through random nodes.
func (w *workload) reader(p int, rng *rand.Rand) {
	defer w.wg.Done()
	for !w.stopped() {
		nd := w.c.Nodes[rng.Intn(len(w.c.Nodes))]
		inv := w.h.Invoke(p, FRead, nil)
		ctx, cancel := context.WithTimeout(context.Background(), w.opts.ReadTimeout)
		// A third of the reads let the leader choose, a third run
		// distributed and a third gathered: fragments on every node,
		// through the same faults.
		execution := []string{"", "distributed", "gathered"}[rng.Intn(3)]
		ids, err := w.c.api.readIDs(ctx, nd.HTTPAddr, Table, "strong", execution)
		cancel()
		typ := OK
		if err != nil {
			typ = Fail // a read changes nothing: a failed one is simply left out
		}
		w.h.Complete(inv, typ, func(e *Event) {
			e.Node = nd.ID
			if err != nil {
				e.Error = err.Error()
			} else {
				e.Read = NewReadSet(ids)
			}
		})
		if !w.sleep(uniform(rng, 0, w.opts.ReaderThink)) {
			return
		}
	}
}

// flusher forces flushes through random nodes (each forwards to the
// leader). Its outcomes are not part of the history: a flush changes no
// row, and the checkers judge what the flushes did to the rows.
func (w *workload) flusher(rng *rand.Rand) {
	defer w.wg.Done()
	for w.sleep(uniform(rng, w.opts.FlushEvery/2, w.opts.FlushEvery*3/2)) {
		nd := w.c.Nodes[rng.Intn(len(w.c.Nodes))]
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		w.c.api.flush(ctx, nd.HTTPAddr)
		cancel()
	}
}
