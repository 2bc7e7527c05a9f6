package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/miniodb/miniodb/compaction"
	"github.com/miniodb/miniodb/ingest"
	"github.com/miniodb/miniodb/internal/failpoint"
	"github.com/miniodb/miniodb/objstore"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// writeFiles writes files batches of rows rows (ids r<file>-<row>, one
// day) to table events, flushing after each: files files in one partition.
func writeFiles(t *testing.T, n *Node, c *client, files, rows int) {
	t.Helper()
	for i := range files {
		var b strings.Builder
		for k := range rows {
			fmt.Fprintf(&b, `{"id":"r%d-%d","ts":"2026-01-01T00:00:00Z"}`+"\n", i, k)
		}
		if _, err := n.Write(context.Background(), WriteInput{Table: "events", Input: ingest.NDJSON([]byte(b.String()))}); err != nil {
			t.Fatal(err)
		}
		c.flush("events")
	}
}

func (c *client) compact(table string, wait bool) *v1.CompactResponse {
	c.t.Helper()
	resp, err := c.clus.Compact(context.Background(), connect.NewRequest(&v1.CompactRequest{Table: table, Wait: wait}))
	if err != nil {
		c.t.Fatalf("compact: %v", err)
	}
	return resp.Msg
}

// TestDifferentialAfterCompaction compacts the differential fixture's
// files (several per partition, BIGINT widened to DOUBLE, a column added
// later) through the public API, and requires every differential query
// to give DuckDB's answer over the same rows again, with pruning on and
// off.
func TestDifferentialAfterCompaction(t *testing.T) {
	f := newDiffFixture(t)
	before, _ := f.node.fsm.Table("events")
	c := newClient(t, f.node)
	res := c.compact("events", true)
	after, _ := f.node.fsm.Table("events")
	if res.Merges == 0 || int(res.FilesMerged) != len(before.Files) {
		t.Fatalf("compact: %+v; %d files before", res, len(before.Files))
	}
	if got := maxFilesPerPartition(after); got != 1 {
		t.Fatalf("after compaction a partition has %d files, want 1", got)
	}
	_, rowsBefore, _ := before.FileTotals()
	_, rowsAfter, _ := after.FileTotals()
	if rowsBefore != rowsAfter {
		t.Fatalf("files hold %d rows after compaction, %d before", rowsAfter, rowsBefore)
	}
	if len(f.node.fsm.PendingDeletes()) != len(before.Files) {
		t.Errorf("%d pending deletes, want the %d replaced files", len(f.node.fsm.PendingDeletes()), len(before.Files))
	}
	for _, q := range differentialQueries {
		f.check(t, q)
	}
	// Nothing is left to merge: another call merges nothing.
	if again := c.compact("", true); again.Merges != 0 {
		t.Errorf("second compaction merged %d times", again.Merges)
	}
}

// TestQueriesThroughCompactions runs queries without pause while rows are
// written and flushed and the background compactor merges files and the
// collector deletes replaced ones after a one-second grace: every answer
// must count every acknowledged row exactly once.
func TestQueriesThroughCompactions(t *testing.T) {
	compacting := func(cfg *Config) {
		cfg.CompactionOff = false
		cfg.CompactionCheck = 50 * time.Millisecond
		cfg.Compaction = compaction.Policy{TargetFileBytes: 1 << 30, MinFiles: 2, MaxFiles: 8}
		cfg.DeleteGrace = MinDeleteGrace
	}
	t.Run("single", func(t *testing.T) {
		cfg := testConfig(t, t.TempDir())
		compacting(&cfg)
		n := mustStartNode(t, cfg)
		defer n.Close()
		queriesThroughCompactions(t, n, "")
	})
	// Distributed and gathered on three nodes: the fragments read files
	// on the followers while merges replace them and the leader's
	// collector deletes them a second later.
	for _, execution := range []string{"distributed", "gathered"} {
		t.Run(execution, func(t *testing.T) {
			nodes := startCluster(t, 3, func(_ int, cfg *Config) { compacting(cfg) })
			queriesThroughCompactions(t, nodes[0], execution)
		})
	}
}

// queriesThroughCompactions writes and flushes small files through the
// leader n while two clients query without pause with the given execution
// mode; every answer must hold every row acknowledged before it, once.
func queriesThroughCompactions(t *testing.T, n *Node, execution string) {
	c := newClient(t, n)
	ctx := context.Background()

	var acked atomic.Int64 // rows acknowledged (and flushed)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var queries, bad atomic.Int64
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := acked.Load()
				resp, err := c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT count(*), count(DISTINCT id), sum(one) FROM events", Execution: execution}))
				if err != nil {
					if connect.CodeOf(err) == connect.CodeNotFound && floor == 0 {
						continue // the table is not created yet
					}
					t.Errorf("query: %v", err)
					bad.Add(1)
					return
				}
				got := rowsJSON(resp.Msg.Rows)
				var total, distinct, sum int64
				if _, err := fmt.Sscanf(got, "[%d,%d,%d]", &total, &distinct, &sum); err != nil || total != distinct || total != sum || total < floor {
					t.Errorf("answer %q with %d rows acknowledged before the query", got, floor)
					bad.Add(1)
					return
				}
				queries.Add(1)
			}
		})
	}
	deadline := time.Now().Add(6 * time.Second)
	id := 0
	for time.Now().Before(deadline) && bad.Load() == 0 {
		var b strings.Builder
		for range 50 {
			fmt.Fprintf(&b, `{"id":"r%d","one":1,"ts":"2026-01-0%dT00:00:00Z"}`+"\n", id, 1+id%2)
			id++
		}
		if _, err := n.Write(ctx, WriteInput{Table: "events", Input: ingest.NDJSON([]byte(b.String()))}); err != nil {
			t.Fatal(err)
		}
		c.flush("events")
		acked.Store(int64(id))
	}
	close(stop)
	wg.Wait()
	if m := testutil.ToFloat64(n.metrics.compactions.WithLabelValues("ok")); m < 5 {
		t.Errorf("only %v merges committed during the run", m)
	}
	if queries.Load() < 20 {
		t.Errorf("only %d queries answered", queries.Load())
	}
	t.Logf("%d rows, %d queries, %v merges", id, queries.Load(), testutil.ToFloat64(n.metrics.compactions.WithLabelValues("ok")))
	// The collector deleted replaced files (the grace is one second).
	eventually(t, 30*time.Second, "replaced files deleted", func() error {
		if p := len(n.fsm.PendingDeletes()); p > 0 {
			return fmt.Errorf("%d pending deletes", p)
		}
		return nil
	})
	if got := c.sql("SELECT count(*), count(DISTINCT id) FROM events"); got != fmt.Sprintf("[%d,%d]\n", id, id) {
		t.Errorf("final answer %s, want %d rows", got, id)
	}
}

func TestCompactRefusals(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	ctx := context.Background()
	_, err := c.clus.Compact(ctx, connect.NewRequest(&v1.CompactRequest{Table: "nope"}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("compact of a missing table: %v", err)
	}
	_, err = c.tables.CreateTable(ctx, connect.NewRequest(&v1.CreateTableRequest{Name: "t", Compaction: &v1.CompactionPolicy{MinFiles: 1}}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "min files 1 is below 2") {
		t.Errorf("min_files 1: %v", err)
	}
	_, err = c.tables.CreateTable(ctx, connect.NewRequest(&v1.CreateTableRequest{Name: "t", Compaction: &v1.CompactionPolicy{CooldownMs: -1}}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("negative cooldown: %v", err)
	}
	if _, err := c.tables.CreateTable(ctx, connect.NewRequest(&v1.CreateTableRequest{Name: "t", Compaction: &v1.CompactionPolicy{MinFiles: 3}})); err != nil {
		t.Fatal(err)
	}
	resp, err := c.tables.AlterTable(ctx, connect.NewRequest(&v1.AlterTableRequest{Name: "t", Compaction: &v1.CompactionPolicy{Disabled: true}}))
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Msg.Table.GetCompaction().GetDisabled() {
		t.Errorf("AlterTable answered %v", resp.Msg.Table)
	}
	_, err = c.clus.Compact(ctx, connect.NewRequest(&v1.CompactRequest{Table: "t"}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("compact of a table with compaction disabled: %v", err)
	}
	_, err = c.tables.AlterTable(ctx, connect.NewRequest(&v1.AlterTableRequest{Name: "missing", Compaction: &v1.CompactionPolicy{}}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("alter a missing table: %v", err)
	}
	_, err = c.tables.AlterTable(ctx, connect.NewRequest(&v1.AlterTableRequest{Name: "t"}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("alter with nothing to change: %v", err)
	}
}

// TestCollectorSparesMergesInFlight checks the bookkeeping that keeps the
// collector off a merged object whose commit may still come.
func TestCollectorSparesMergesInFlight(t *testing.T) {
	c := compactions{running: map[string]int{}, outputs: map[string]uint64{}}
	c.start("t", "k1")
	if !c.protects("k1", 5) || c.protects("other", 5) {
		t.Fatal("a running merge's output is not protected")
	}
	c.finish("t", "k1", true, 5)
	if c.protects("k1", 5) {
		t.Error("protected after its commit's outcome is known")
	}
	c.start("t", "k2")
	c.finish("t", "k2", false, 5) // the apply failed in term 5: it may still commit
	if !c.protects("k2", 5) {
		t.Error("an ambiguous commit is not protected in its own term")
	}
	if c.protects("k2", 6) {
		t.Error("still protected once a later term's leader applied everything before it")
	}
	if c.runningFor("t") != 0 || c.total() != 0 {
		t.Errorf("running: %d", c.total())
	}
	c.tombSeen = map[uint64]time.Time{4: {}, 9: {}}
	c.forgetTombstones([]raftfsm.TableView{{Tombstones: []*v1.Tombstone{{Index: 9}}}})
	if _, ok := c.tombSeen[4]; ok || len(c.tombSeen) != 1 {
		t.Errorf("tombstone times kept: %v", c.tombSeen)
	}
}

// TestCompactionFailpoints fails a merge before its upload, between the
// upload and the commit, and after the commit, and the collector between
// deleting objects and forgetting them: answers stay exact throughout,
// the next attempt succeeds, and in the end the object store holds
// exactly the catalog's files (no orphan kept, nothing live deleted).
func TestCompactionFailpoints(t *testing.T) {
	for _, point := range []string{"compaction-before-upload", "compaction-after-upload", "compaction-after-commit", "gc-mid-delete"} {
		t.Run(point, func(t *testing.T) {
			cfg := testConfig(t, t.TempDir())
			cfg.DeleteGrace = MinDeleteGrace
			fp, err := failpoint.Parse(point + "=error@1")
			if err != nil {
				t.Fatal(err)
			}
			cfg.Failpoints = fp
			n := mustStartNode(t, cfg)
			defer n.Close()
			c := newClient(t, n)
			ctx := context.Background()
			writeFiles(t, n, c, 4, 100)
			const want = "[400,400]\n"
			count := func() string { return c.sql("SELECT count(*), count(DISTINCT id) FROM events") }
			_, err = n.Compact(ctx, "", true)
			committed := point == "compaction-after-commit" || point == "gc-mid-delete"
			if point != "gc-mid-delete" && !errors.Is(err, failpoint.ErrInjected) {
				t.Fatalf("compact with %s: %v", point, err)
			}
			if got := count(); got != want {
				t.Fatalf("after the failed merge: %s", got)
			}
			v, _ := n.fsm.Table("events")
			if merged := len(v.Files) == 1; merged != committed {
				t.Fatalf("%d files after the failed merge", len(v.Files))
			}
			if _, err := n.Compact(ctx, "", true); err != nil {
				t.Fatalf("compact again: %v", err)
			}
			if got := count(); got != want {
				t.Fatalf("after compaction: %s", got)
			}
			eventually(t, 30*time.Second, "the store holds exactly the live files", func() error {
				if p := n.fsm.PendingDeletes(); len(p) > 0 {
					return fmt.Errorf("%d pending deletes", len(p))
				}
				objs, err := n.store.List(ctx, objstore.DataPrefix)
				if err != nil {
					return err
				}
				live := n.fsm.LiveKeys()
				if len(objs) != len(live) {
					return fmt.Errorf("%d objects, %d live files", len(objs), len(live))
				}
				for _, o := range objs {
					if !live[o.Key] {
						return fmt.Errorf("object %s is not live", o.Key)
					}
				}
				return nil
			})
			if got := count(); got != want {
				t.Fatalf("after garbage collection: %s", got)
			}
			if fp.Hits(point) == 0 {
				t.Fatalf("the fail point %s was never reached", point)
			}
		})
	}
}
