package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/miniodb/miniodb/compaction"
	"github.com/miniodb/miniodb/objstore"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// CompactResult counts what merges did.
type CompactResult struct {
	Merges       int64
	FilesMerged  int64
	BytesRead    int64
	BytesWritten int64
	Rows         int64
}

func (r *CompactResult) add(o CompactResult) {
	r.Merges += o.Merges
	r.FilesMerged += o.FilesMerged
	r.BytesRead += o.BytesRead
	r.BytesWritten += o.BytesWritten
	r.Rows += o.Rows
}

// compactions is the leader's bookkeeping of merges: what runs, and the
// keys of merged objects whose commit is not known to have failed, which
// the garbage collector must not take for orphans (a merged object holds
// rows already in files, so its key alone cannot prove it unneeded, as a
// flush's can).
type compactions struct {
	mu      sync.Mutex
	running map[string]int // table → merges running
	// outputs: merged object key → 0 while its merge runs, or the term in
	// which its commit's outcome became unknown (an apply error: the entry
	// may still commit). A leader whose state machine applied everything
	// committed before a later term knows the outcome from the catalog.
	outputs map[string]uint64
	// tombSeen: tombstone index → when this leader first planned with it
	// (the purge deadline counts from there).
	tombSeen map[uint64]time.Time
}

func (c *compactions) start(table, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running[table]++
	c.outputs[key] = 0
}

// finish records a merge's end: known says whether its commit's outcome is
// known (committed, or rejected by the state machine, or never proposed).
func (c *compactions) finish(table, key string, known bool, term uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running[table]--
	if c.running[table] <= 0 {
		delete(c.running, table)
	}
	if known {
		delete(c.outputs, key)
	} else {
		c.outputs[key] = term
	}
}

// protects reports whether the collector must keep the object key, given
// that the state machine has applied everything committed before term
// readyTerm began.
func (c *compactions) protects(key string, readyTerm uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.outputs[key]
	if !ok {
		return false
	}
	if t != 0 && t < readyTerm {
		delete(c.outputs, key) // resolved: the catalog now says whether it is live
		return false
	}
	return true
}

// forgetTombstones drops the first-seen times of tombstones no table has
// any more (purged, or their table dropped).
func (c *compactions) forgetTombstones(views []raftfsm.TableView) {
	live := map[uint64]bool{}
	for _, v := range views {
		for _, t := range v.Tombstones {
			live[t.Index] = true
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for idx := range c.tombSeen {
		if !live[idx] {
			delete(c.tombSeen, idx)
		}
	}
}

func (c *compactions) runningFor(table string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(c.running[table])
}

func (c *compactions) total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int
	for _, r := range c.running {
		n += r
	}
	return int64(n)
}

// compactionPolicy returns a table's effective policy.
func (n *Node) compactionPolicy(spec *v1.TableSpec) compaction.Policy {
	return n.cfg.Compaction.Override(spec.GetCompaction())
}

// compactLoop merges small files in the background while this node leads.
func (n *Node) compactLoop() {
	if n.cfg.CompactionOff {
		n.wg.Done()
		return
	}
	n.whileLeader(n.cfg.CompactionCheck, time.Hour, "compaction failed", func(ctx context.Context) error {
		_, err := n.compactRound(ctx, "", false)
		return err
	})
}

// Compact merges the small files of one table (or all, if table is "")
// now, whatever their age and tier. With wait it runs rounds until
// nothing is left to merge; otherwise one round.
func (n *Node) Compact(ctx context.Context, table string, wait bool) (CompactResult, error) {
	if table != "" {
		t, err := normalizeTable(table)
		if err != nil {
			return CompactResult{}, err
		}
		v, ok := n.fsm.Table(t)
		if !ok {
			return CompactResult{}, fmt.Errorf("%w: table %q", ErrNotFound, table)
		}
		if n.compactionPolicy(v.Spec).Disabled {
			return CompactResult{}, fmt.Errorf("%w: compaction is disabled for table %q (AlterTable with compaction.disabled=false turns it on)", ErrInvalid, table)
		}
		table = t
	}
	if n.raft.State() != raft.Leader {
		return CompactResult{}, n.notLeader()
	}
	var total CompactResult
	for round := 0; ; round++ {
		res, err := n.compactRound(ctx, table, true)
		total.add(res)
		if err != nil || !wait || res.Merges == 0 {
			return total, err
		}
		if round == 1000 {
			return total, fmt.Errorf("node: compaction did not converge after %d rounds", round)
		}
	}
}

// compactRound plans merges over the current catalog and runs them, at
// most CompactionConcurrency at once, and waits for them. Rounds run one
// at a time, so a round's inputs are never another running merge's.
func (n *Node) compactRound(ctx context.Context, only string, full bool) (CompactResult, error) {
	n.compactMu.Lock()
	defer n.compactMu.Unlock()
	term, err := n.leaderReady(ctx)
	if err != nil {
		return CompactResult{}, err
	}
	var tasks []compaction.Task
	now := n.now()
	views := n.fsm.Tables()
	for _, v := range views {
		if only != "" && v.Spec.Name != only {
			continue
		}
		tasks = append(tasks, planTable(v, n.compactionPolicy(v.Spec), compaction.Options{Now: now, Full: full, Rewrite: n.rewriteFiles(v, now, full)})...)
	}
	n.compacting.forgetTombstones(views)
	var (
		mu    sync.Mutex
		total CompactResult
		errs  []error
		wg    sync.WaitGroup
	)
	slots := make(chan struct{}, max(n.cfg.CompactionConcurrency, 1))
	for _, task := range tasks {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			res, err := n.merge(ctx, term, task)
			mu.Lock()
			defer mu.Unlock()
			total.add(res)
			if err != nil {
				errs = append(errs, fmt.Errorf("merge %s/%s: %w", task.Table, task.Partition, err))
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// planTable plans the merges of every partition of a table, handing each
// partition's planning only its own files.
func planTable(v raftfsm.TableView, p compaction.Policy, o compaction.Options) []compaction.Task {
	if p.Disabled {
		return nil
	}
	var tasks []compaction.Task
	for _, part := range v.Partitions { // sorted by name, each with its own files
		for _, t := range compaction.Plan(v.Spec.Name, v.CreatedIndex, part.Name, part.Files, p, o) {
			t.Watermark, t.Tombstones = v.AppliedIndex, v.Tombstones
			tasks = append(tasks, t)
		}
	}
	return tasks
}

// rewriteFiles returns the planner's test for files to rewrite because
// they hold deleted rows: any tombstone in a full compaction, otherwise
// one this leader has known for TombstoneDeadline.
func (n *Node) rewriteFiles(v raftfsm.TableView, now time.Time, full bool) func(*v1.DataFile) bool {
	if len(v.Tombstones) == 0 {
		return nil
	}
	due := map[uint64]bool{}
	n.compacting.mu.Lock()
	for _, t := range v.Tombstones {
		seen, ok := n.compacting.tombSeen[t.Index]
		if !ok {
			seen = now
			n.compacting.tombSeen[t.Index] = now
		}
		due[t.Index] = full || now.Sub(seen) >= n.cfg.TombstoneDeadline
	}
	n.compacting.mu.Unlock()
	return func(f *v1.DataFile) bool {
		for _, t := range v.Tombstones {
			if due[t.Index] && raftfsm.Applies(t, f) {
				return true
			}
		}
		return false
	}
}

// maxFilesPerPartition returns the most files one partition of v has.
func maxFilesPerPartition(v raftfsm.TableView) int64 {
	var most int64
	for _, p := range v.Partitions {
		most = max(most, int64(len(p.Files)))
	}
	return most
}

// pendingMerges counts the merges the background planner would start now
// in one table (or all). It is 0 on followers and with background merges
// off.
func (n *Node) pendingMerges(table string) int64 {
	if n.cfg.CompactionOff || n.raft.State() != raft.Leader {
		return 0
	}
	var count int64
	now := n.now()
	for _, v := range n.fsm.Tables() {
		if table == "" || v.Spec.Name == table {
			count += int64(len(planTable(v, n.compactionPolicy(v.Spec), compaction.Options{Now: now})))
		}
	}
	return count
}

// merge runs one planned merge: the inputs from the file cache, the merged
// file under a key no other upload uses, then CompactionCommit. A commit
// the state machine rejects (an input was replaced or dropped meanwhile)
// merges nothing; its object is an orphan for the collector.
func (n *Node) merge(ctx context.Context, term uint64, task compaction.Task) (res CompactResult, err error) {
	start := time.Now()
	from, upto := task.Inputs[0].FromIndex, task.Inputs[0].UptoIndex
	for _, f := range task.Inputs {
		from, upto = min(from, f.FromIndex), max(upto, f.UptoIndex)
	}
	seq := n.uploadSeq.Add(1)
	key := objstore.ObjectKey(objstore.KeyInfo{
		Table: task.Table, TableCreatedIndex: task.CreatedIndex, Partition: task.Partition,
		FromIndex: from, UptoIndex: upto, Term: term, Seq: seq,
	})
	n.compacting.start(task.Table, key)
	n.metrics.compactionsRunning.Inc()
	known := true // whether the commit's outcome is known when merge returns
	defer func() {
		n.metrics.compactionsRunning.Dec()
		n.compacting.finish(task.Table, key, known, n.raft.CurrentTerm())
		outcome := "ok"
		switch {
		case err != nil:
			outcome = "error"
		case res.Merges == 0:
			outcome = "stale"
		}
		n.metrics.compactions.WithLabelValues(outcome).Inc()
	}()

	inputs := make([]compaction.Input, len(task.Inputs))
	for i, f := range task.Inputs {
		path, release, err := n.engine.Cache().Acquire(ctx, f.Key, f.SizeBytes)
		if err != nil {
			return res, fmt.Errorf("fetch input %s: %w", f.Key, err)
		}
		defer release()
		var tombs []*v1.Tombstone
		for _, t := range task.Tombstones {
			if raftfsm.Applies(t, f) {
				tombs = append(tombs, t)
			}
		}
		inputs[i] = compaction.Input{File: f, Path: path, Tombstones: tombs}
	}
	tmpDir := filepath.Join(n.cfg.DataDir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return res, fmt.Errorf("create tmp dir: %w", err)
	}
	// The tmp directory is cleared at start; term and seq make the name
	// unique in this process.
	path := filepath.Join(tmpDir, fmt.Sprintf("merge-%d-%d.parquet", term, seq))
	out, size, err := compaction.MergeFile(ctx, inputs, path, compaction.MergeOptions{BufferRows: n.cfg.CompactionBufferRows})
	if err != nil {
		return res, err
	}
	defer os.Remove(path)
	merged, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer merged.Close()
	if err := n.cfg.Failpoints.Inject("compaction-before-upload"); err != nil {
		return res, err
	}
	putCtx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(size/(1<<20))*time.Second)
	defer cancel()
	if err := n.store.Put(putCtx, key, merged, size); err != nil {
		n.setStoreErr(err)
		return res, fmt.Errorf("upload %s: %w", key, err)
	}
	if err := n.cfg.Failpoints.Inject("compaction-after-upload"); err != nil {
		return res, err
	}
	now := n.now().UnixMicro()
	keys := make([]string, len(task.Inputs))
	for i, f := range task.Inputs {
		keys[i] = f.Key
	}
	known = false
	r, err := n.applyRaw(ctx, &v1.Command{Cmd: &v1.Command_CompactionCommit{CompactionCommit: &v1.CompactionCommitCommand{
		Table: task.Table, TableCreatedIndex: task.CreatedIndex, Partition: task.Partition, Inputs: keys, UnixMicros: now,
		TombstoneWatermark: task.Watermark, DeletedRows: out.DeletedRows,
		Output: &v1.DataFile{
			Key: key, Table: task.Table, Partition: task.Partition, FromIndex: from, UptoIndex: upto,
			RowCount: out.RowCount, SizeBytes: size, Stats: out.Stats, Columns: out.Columns, CreatedUnixMicros: now,
		},
	}}})
	if err != nil {
		return res, fmt.Errorf("commit %s: %w", key, err)
	}
	known = true
	if r.Err != nil {
		if errors.Is(r.Err, raftfsm.ErrStaleCompaction) || errors.Is(r.Err, raftfsm.ErrTableNotFound) {
			n.logger.Info("merge lost to a concurrent change; its object is an orphan", "object_key", key, "reason", r.Err)
			return res, nil
		}
		return res, fmt.Errorf("commit %s: %w", key, r.Err)
	}
	if err := n.cfg.Failpoints.Inject("compaction-after-commit"); err != nil {
		return res, err
	}
	if r.Duplicate {
		return res, nil
	}
	res = CompactResult{Merges: 1, FilesMerged: int64(len(task.Inputs)), BytesRead: task.Bytes(), BytesWritten: size, Rows: out.RowCount}
	n.compactedBytes.Add(size)
	n.metrics.compactionBytesRead.Add(float64(task.Bytes()))
	n.metrics.compactionBytesWritten.Add(float64(size))
	n.metrics.compactionSeconds.Observe(time.Since(start).Seconds())
	n.logger.Info("merged files", "table", task.Table, "partition", task.Partition, "inputs", len(task.Inputs),
		"rows", out.RowCount, "bytes_in", task.Bytes(), "bytes_out", size, "object_key", key, "seconds", time.Since(start).Seconds())
	return res, nil
}
