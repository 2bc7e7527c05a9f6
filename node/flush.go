package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/miniodb/miniodb/ingest"
	"github.com/miniodb/miniodb/objstore"
	"github.com/miniodb/miniodb/parquetio"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// FlushResult counts what a flush wrote.
type FlushResult struct {
	Files int64
	Rows  int64
}

// flushLoop flushes partitions past their thresholds while this node leads.
func (n *Node) flushLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.FlushCheck)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.raft.State() != raft.Leader {
			continue
		}
		if backoff > 0 {
			select {
			case <-n.stop:
				return
			case <-time.After(backoff):
			}
		}
		ctx, cancel := n.stopContext()
		_, err := n.flush(ctx, "", false)
		cancel()
		if err != nil {
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			n.logger.Warn("flush failed; retrying", "error", err, "backoff", backoff)
			continue
		}
		backoff = 0
	}
}

// stopContext returns a context canceled when the node stops (no helper
// goroutine per call: it derives from the node's own stop context).
func (n *Node) stopContext() (context.Context, context.CancelFunc) {
	return context.WithCancel(n.stopCtx)
}

// Flush writes the hot rows of one table (or all tables, if table is "")
// to Parquet and commits the files. force flushes every non-empty
// partition; otherwise only those past a threshold.
func (n *Node) Flush(ctx context.Context, table string, force bool) (FlushResult, error) {
	if table != "" {
		t, err := normalizeTable(table)
		if err != nil {
			return FlushResult{}, err
		}
		if !n.fsm.Exists(t) {
			return FlushResult{}, fmt.Errorf("%w: table %q", ErrNotFound, table)
		}
		table = t
	}
	if n.raft.State() != raft.Leader {
		return FlushResult{}, n.notLeader()
	}
	return n.flush(ctx, table, force)
}

func (n *Node) flush(ctx context.Context, only string, force bool) (FlushResult, error) {
	n.flushMu.Lock()
	defer n.flushMu.Unlock()
	term, err := n.leaderReady(ctx)
	if err != nil {
		return FlushResult{}, err
	}
	var res FlushResult
	var errs []error
	now := time.Now()
	for _, view := range n.fsm.Tables() {
		if only != "" && view.Spec.Name != only {
			continue
		}
		maxRows, maxBytes, maxAge := n.cfg.FlushRows, n.cfg.FlushBytes, n.cfg.FlushAge
		if p := view.Spec.Flush; p != nil {
			if p.MaxRows > 0 {
				maxRows = p.MaxRows
			}
			if p.MaxBytes > 0 {
				maxBytes = p.MaxBytes
			}
			if p.MaxAgeMs > 0 {
				maxAge = time.Duration(p.MaxAgeMs) * time.Millisecond
			}
		}
		for _, p := range view.Partitions {
			key := view.Spec.Name + "/" + p.Name
			if len(p.Batches) == 0 {
				n.clearHotSince(key)
				continue
			}
			since := n.markHotSince(key, now)
			if !force && p.Rows < maxRows && p.Bytes < maxBytes && now.Sub(since) < maxAge {
				continue
			}
			rows, err := n.flushPartition(ctx, term, view, p)
			if err != nil {
				errs = append(errs, fmt.Errorf("flush %s: %w", key, err))
				continue
			}
			n.clearHotSince(key)
			if rows > 0 {
				res.Files++
				res.Rows += rows
			}
		}
	}
	err = errors.Join(errs...)
	if err == nil {
		n.setStoreErr(nil)
	}
	return res, err
}

func (n *Node) markHotSince(key string, now time.Time) time.Time {
	n.ageMu.Lock()
	defer n.ageMu.Unlock()
	t, ok := n.hotSince[key]
	if !ok {
		n.hotSince[key] = now
		return now
	}
	return t
}

func (n *Node) clearHotSince(key string) {
	n.ageMu.Lock()
	delete(n.hotSince, key)
	n.ageMu.Unlock()
}

// flushPartition writes the partition's hot batches to one Parquet object
// under a key no other upload uses, uploads it, and commits it through
// Raft. A commit that loses to another flush of the same rows (a retry
// after an ambiguous timeout) flushes nothing; its object is an orphan
// the collector can prove superseded.
func (n *Node) flushPartition(ctx context.Context, term uint64, view raftfsm.TableView, p raftfsm.PartitionView) (int64, error) {
	start := time.Now()
	upto := p.Batches[len(p.Batches)-1].Index
	batches := make([]*v1.RowBatch, 0, len(p.Batches))
	var rows, expired int64
	cutoff, ttl := retentionCutoff(view.Spec, n.now())
	for _, b := range p.Batches {
		rb := b.Rows
		if ttl {
			var dropped int64
			rb, dropped = ingest.DropBefore(rb, cutoff)
			expired += dropped
		}
		if rb.RowCount > 0 {
			batches = append(batches, rb)
		}
		rows += rb.RowCount
	}
	if rows == 0 {
		// Every row is older than the table's TTL: they leave the buffer
		// without a file.
		r, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_FlushCommit{FlushCommit: &v1.FlushCommitCommand{
			File:              &v1.DataFile{Table: view.Spec.Name, Partition: p.Name, FromIndex: p.FlushedUpto, UptoIndex: upto},
			TableCreatedIndex: view.CreatedIndex, ExpiredRows: expired,
		}}})
		if errors.Is(err, raftfsm.ErrStaleFlush) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("commit expired rows of %s/%s: %w", view.Spec.Name, p.Name, err)
		}
		n.logger.Info("dropped expired hot rows", "table", view.Spec.Name, "partition", p.Name, "rows", r.Rows, "upto_index", upto)
		return 0, nil
	}
	key := objstore.ObjectKey(objstore.KeyInfo{
		Table: view.Spec.Name, TableCreatedIndex: view.CreatedIndex, Partition: p.Name,
		FromIndex: p.FlushedUpto, UptoIndex: upto, Term: term, Seq: n.uploadSeq.Add(1),
	})
	tmpDir := filepath.Join(n.cfg.DataDir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return 0, fmt.Errorf("create tmp dir: %w", err)
	}
	f, err := os.CreateTemp(tmpDir, "flush-*.parquet")
	if err != nil {
		return 0, fmt.Errorf("create temp file: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	// A bloom filter on a VARCHAR id lets point lookups skip the file
	// (query.Engine.bloomPrune) and DuckDB skip row groups.
	var opts parquetio.WriteOptions
	for _, c := range view.Spec.Columns {
		if c.Name == "id" && c.Type == v1.ColumnType_COLUMN_TYPE_VARCHAR {
			opts.BloomFilterColumns = []string{"id"}
		}
	}
	meta, err := parquetio.WriteFile(f, view.Spec.Columns, batches, opts)
	if err != nil {
		return 0, fmt.Errorf("write parquet: %w", err)
	}
	if meta.RowCount != rows {
		return 0, fmt.Errorf("write parquet: wrote %d rows of %d", meta.RowCount, rows)
	}
	size, err := f.Seek(0, 1)
	if err != nil {
		return 0, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return 0, err
	}
	// minio-go retries internally for a long time; bound the upload so a
	// dead store shows up as an error (and back-off) instead of a hang.
	putCtx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(size/(1<<20))*time.Second)
	defer cancel()
	if err := n.store.Put(putCtx, key, f, size); err != nil {
		n.setStoreErr(err)
		n.metrics.flushErrors.Inc()
		return 0, fmt.Errorf("upload %s: %w", key, err)
	}
	if err := n.cfg.Failpoints.Inject("flush-after-upload"); err != nil {
		return 0, err
	}
	file := &v1.DataFile{
		Key:       key,
		Table:     view.Spec.Name,
		Partition: p.Name,
		FromIndex: p.FlushedUpto,
		UptoIndex: upto,
		RowCount:  rows,
		SizeBytes: size,
		Stats:     meta.Stats,
		Columns:   view.Spec.Columns,
		// The planner's cooldown counts from here.
		CreatedUnixMicros: n.now().UnixMicro(),
	}
	r, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_FlushCommit{FlushCommit: &v1.FlushCommitCommand{
		File: file, TableCreatedIndex: view.CreatedIndex, ExpiredRows: expired,
	}}})
	if errors.Is(err, raftfsm.ErrStaleFlush) {
		n.logger.Info("flush lost to another flush of the same rows; its object is an orphan", "object_key", key, "reason", err)
		return 0, nil
	}
	if err != nil {
		n.metrics.flushErrors.Inc()
		return 0, fmt.Errorf("commit %s: %w", key, err)
	}
	if err := n.cfg.Failpoints.Inject("flush-after-commit"); err != nil {
		return 0, err
	}
	if r.Duplicate {
		return 0, nil
	}
	n.flushedBytes.Add(size)
	n.metrics.flushedBytes.Add(float64(size))
	n.metrics.flushes.Inc()
	n.metrics.flushedRows.Add(float64(rows))
	n.metrics.flushSeconds.Observe(time.Since(start).Seconds())
	n.logger.Info("flushed", "table", view.Spec.Name, "partition", p.Name, "rows", rows,
		"bytes", size, "upto_index", upto, "object_key", key, "seconds", time.Since(start).Seconds())
	return rows, nil
}

// retentionCutoff returns the ts (microseconds) below which a table's rows
// have expired at now, and false when the table keeps rows forever.
func retentionCutoff(spec *v1.TableSpec, now time.Time) (int64, bool) {
	if spec.GetTtlMs() <= 0 {
		return 0, false
	}
	return now.UnixMicro() - spec.GetTtlMs()*1000, true
}

// now is the node's clock (tests set their own).
func (n *Node) now() time.Time {
	if n.cfg.testNow != nil {
		return n.cfg.testNow()
	}
	return time.Now()
}

// retentionLoop removes files of expired rows while this node leads.
func (n *Node) retentionLoop() {
	n.whileLeader(n.cfg.RetentionCheck, 5*time.Minute, "retention failed", func(ctx context.Context) error {
		return n.expire(ctx)
	})
}

// expire removes, per table with a TTL, the live files whose rows are all
// older than the table's cutoff, with one Expire entry per table; their
// objects go to the pending-delete list.
func (n *Node) expire(ctx context.Context) error {
	if _, err := n.leaderReady(ctx); err != nil {
		return err
	}
	now := n.now()
	var errs []error
	for _, v := range n.fsm.Tables() {
		cutoff, ok := retentionCutoff(v.Spec, now)
		if !ok {
			continue
		}
		var keys []string
		for _, f := range v.Files {
			if max, ok := raftfsm.TimeMax(f); ok && max < cutoff {
				keys = append(keys, f.Key)
			}
		}
		if len(keys) == 0 {
			continue
		}
		r, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_Expire{Expire: &v1.ExpireCommand{
			Table: v.Spec.Name, TableCreatedIndex: v.CreatedIndex, CutoffMicros: cutoff, Files: keys, UnixMicros: now.UnixMicro(),
		}}})
		if errors.Is(err, raftfsm.ErrStaleCompaction) || errors.Is(err, raftfsm.ErrTableNotFound) {
			continue // a merge or a drop won; the next round sees the new state
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("expire files of %s: %w", v.Spec.Name, err))
			continue
		}
		n.logger.Info("expired files", "table", v.Spec.Name, "files", len(keys), "rows", r.Rows, "cutoff_micros", cutoff)
	}
	return errors.Join(errs...)
}

// gcLoop deletes objects whose grace period has passed (replaced, dropped,
// or never committed) while this node leads.
func (n *Node) gcLoop() {
	interval := min(max(n.cfg.DeleteGrace/4, time.Second), time.Minute)
	n.whileLeader(interval, 5*time.Minute, "object garbage collection failed", func(ctx context.Context) error {
		return n.collectGarbage(ctx, time.Now())
	})
}

// cacheLoop drops cached files of objects the catalog no longer names, on
// every node: the leader drops what it deletes at once, but a follower
// learns of a deletion only when ForgetObjects reaches its catalog.
func (n *Node) cacheLoop() {
	defer n.wg.Done()
	t := time.NewTicker(min(max(n.cfg.DeleteGrace/4, time.Second), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		// The catalog is read after the cache's entries are fixed (Retain
		// holds its lock), so every entry came from a catalog state no
		// newer than the one it is checked against.
		var live map[string]bool
		n.engine.Cache().Retain(func(key string) bool {
			if live == nil {
				live = n.fsm.LiveKeys()
			}
			return live[key]
		})
	}
}

// whileLeader calls fn every interval while this node leads, and at once
// when it becomes leader (a new leader's duties, such as sweeping what a
// crashed leader left, should not wait a whole interval; this is also the
// moment the state machine is most likely behind, which fn must handle).
// Each call is bounded by timeout and canceled when the node stops;
// failures are logged with msg. It returns when the node stops.
func (n *Node) whileLeader(interval, timeout time.Duration, msg string, fn func(context.Context) error) {
	defer n.wg.Done()
	poll := min(interval, 100*time.Millisecond)
	t := time.NewTicker(poll)
	defer t.Stop()
	var lastTerm uint64
	var lastRun time.Time
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.raft.State() != raft.Leader {
			continue
		}
		if term := n.raft.CurrentTerm(); term == lastTerm && time.Since(lastRun) < interval {
			continue
		} else {
			lastTerm = term
		}
		lastRun = time.Now()
		ctx, cancel := n.stopContext()
		ctx, cancelT := context.WithTimeout(ctx, timeout)
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			n.logger.Warn(msg, "error", err)
		}
		cancelT()
		cancel()
	}
}

// collectGarbage deletes objects the catalog provably no longer needs and
// whose grace period ended before now: pending deletes (files replaced or
// dropped by a committed entry) and orphans (uploads that were never
// committed). An orphan is deleted only when its key proves it superseded
// (raftfsm.FSM.ObjectUnneeded): never merely because the catalog does not
// name it, since the state machine may not have applied everything yet,
// and never by clocks alone. It runs only on a leader whose state machine
// has applied everything committed before its term (leaderReady).
func (n *Node) collectGarbage(ctx context.Context, now time.Time) error {
	readyTerm, err := n.leaderReady(ctx)
	if err != nil {
		return err
	}
	cutoff := now.Add(-n.cfg.DeleteGrace)
	var forget []string
	for _, p := range n.fsm.PendingDeletes() {
		if time.UnixMicro(p.UnixMicros).After(cutoff) || n.backupPins.has(p.Key) || n.queryPins.has(p.Key) {
			continue
		}
		if err := n.store.Delete(ctx, p.Key); err != nil {
			return fmt.Errorf("delete %s: %w", p.Key, err)
		}
		n.engine.Cache().Drop(p.Key)
		forget = append(forget, p.Key)
	}
	if len(forget) > 0 {
		if err := n.cfg.Failpoints.Inject("gc-mid-delete"); err != nil {
			return err
		}
		if _, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_ForgetObjects{ForgetObjects: &v1.ForgetObjectsCommand{Keys: forget}}}); err != nil {
			return err
		}
	}
	objs, err := n.store.List(ctx, objstore.DataPrefix)
	if err != nil {
		return fmt.Errorf("list objects: %w", err)
	}
	for _, o := range objs {
		if o.ModTime.After(cutoff) {
			continue
		}
		k, err := objstore.ParseObjectKey(o.Key)
		if err != nil {
			continue // not a key this version writes: nothing proves it unneeded
		}
		// A merged object holds rows that are in files already, so its
		// key cannot tell it from an orphan while its commit may still
		// come: ask the merges first, then the catalog (in this order: a
		// merge that ends in between has its outcome in the catalog).
		if n.compacting.protects(o.Key, readyTerm) {
			continue
		}
		if !n.fsm.ObjectUnneeded(o.Key, k.Table, k.TableCreatedIndex, k.Partition, k.UptoIndex) {
			continue
		}
		if err := n.store.Delete(ctx, o.Key); err != nil {
			return fmt.Errorf("delete orphan %s: %w", o.Key, err)
		}
		n.engine.Cache().Drop(o.Key)
		n.logger.Info("deleted orphan object", "object_key", o.Key)
	}
	return nil
}
