package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/backup"
	"github.com/miniodb/miniodb/ingest"
	"github.com/miniodb/miniodb/objstore"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/query"
)

// runBackup calls the Backup RPC and returns its last message.
func runBackup(t *testing.T, c *client, to string, keep int32) *v1.BackupResponse {
	t.Helper()
	s, err := c.clus.Backup(context.Background(), connect.NewRequest(&v1.BackupRequest{To: to, Keep: keep}))
	if err != nil {
		t.Fatal(err)
	}
	var last *v1.BackupResponse
	for s.Receive() {
		last = s.Msg()
	}
	if err := s.Err(); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if last == nil || !last.Done {
		t.Fatalf("backup ended without its final message: %v", last)
	}
	return last
}

// restoreNode restores the newest backup of dest into a new data
// directory and starts a node on it.
func restoreNode(t *testing.T, dest string) (*Node, *backup.Manifest) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "restored")
	raftAddr := freeTCPAddr(t)
	m, err := RestoreDataDir(context.Background(), RestoreOptions{From: dest, DataDir: dir, NodeID: "r1", RaftAddr: raftAddr})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	cfg := testConfig(t, dir)
	cfg.NodeID, cfg.RaftAddr = "r1", raftAddr
	r := mustStartNode(t, cfg)
	t.Cleanup(func() { r.Close() })
	return r, m
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func ndjson(s string) ingest.Input { return ingest.NDJSON([]byte(s)) }

// TestBackupRestore backs up a table with files of two schemas, hot rows
// and deletes, restores it as a new cluster and runs the differential
// corpus there: every answer equals DuckDB's over the same rows. A second
// backup copies only the new file; a tampered backup fails verification
// and restore.
func TestBackupRestore(t *testing.T) {
	f := newDiffFixture(t)
	ctx := context.Background()
	c := newClient(t, f.node)
	if _, err := c.write.Delete(ctx, connect.NewRequest(&v1.DeleteRequest{Table: "events", Ids: []string{"id-5", "id-1500", "id-2390"}})); err != nil {
		t.Fatal(err)
	}
	if _, err := f.raw.ExecContext(ctx, `DELETE FROM events WHERE id IN ('id-5', 'id-1500', 'id-2390')`); err != nil {
		t.Fatal(err)
	}
	destDir := t.TempDir()
	dest := "file://" + destDir
	first := runBackup(t, c, dest, 0)
	view, _ := f.node.fsm.Table("events")
	hosts, _ := f.node.fsm.Table("hosts")
	if int(first.FilesTotal) != len(view.Files)+len(hosts.Files) || first.BytesReused != 0 || first.BytesCopied == 0 {
		t.Fatalf("first backup: %+v, %d files in the catalog", first, len(view.Files)+len(hosts.Files))
	}

	r, m := restoreNode(t, dest)
	if m.ID != first.BackupId || m.RaftIndex != first.RaftIndex {
		t.Fatalf("restored %s at %d, backed up %s at %d", m.ID, m.RaftIndex, first.BackupId, first.RaftIndex)
	}
	if r.fsm.AppliedIndex() < m.RaftIndex {
		t.Fatalf("restored node applied %d, the backup is at %d", r.fsm.AppliedIndex(), m.RaftIndex)
	}
	noPrune, err := query.Open(ctx, query.Config{Dir: t.TempDir(), Store: r.store, Catalog: r.fsm, NoPruning: true, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer noPrune.Close()
	restored := &diffFixture{node: r, raw: f.raw, noPrune: noPrune}
	for _, q := range differentialQueries {
		restored.check(t, q)
	}
	waitFor(t, 10*time.Second, "the restore in the audit log", func() bool {
		a := r.fsm.Audit(10)
		return len(a) > 0 && a[len(a)-1].Action == "restore" && a[len(a)-1].Target == m.ID
	})
	// The restored node is a cluster of its own: it takes writes.
	if s, b := newClient(t, r).postJSON("/miniodb.v1.WriteService/Write", `{"table":"events","rows":[{"id":"after-restore"}]}`); s != 200 {
		t.Fatalf("write to the restored node: %d %s", s, b)
	}
	// and keeps them over a restart (its log starts after the snapshot).
	want := newClient(t, r).sql("SELECT count(*) FROM events")
	r.Close()
	r2 := mustStartNode(t, r.cfg)
	defer r2.Close()
	if got := newClient(t, r2).sql("SELECT count(*) FROM events"); got != want {
		t.Fatalf("restored node after a restart: %s, before %s", got, want)
	}
	r2.Close()

	// Incremental: one more file; the second backup copies only it.
	if _, err := f.node.Write(ctx, WriteInput{Table: "events", Input: ndjson(`{"id":"new-1","ts":"2026-01-02T00:00:00Z"}`)}); err != nil {
		t.Fatal(err)
	}
	c.flush("events")
	view2, _ := f.node.fsm.Table("events")
	var newBytes int64
	old := map[string]bool{}
	for _, fl := range view.Files {
		old[fl.Key] = true
	}
	for _, fl := range view2.Files {
		if !old[fl.Key] {
			newBytes += fl.SizeBytes
		}
	}
	second := runBackup(t, c, dest, 0)
	if second.BytesCopied != newBytes || second.BytesReused != first.BytesCopied {
		t.Errorf("second backup copied %d and reused %d bytes; the new files hold %d, the first backup copied %d",
			second.BytesCopied, second.BytesReused, newBytes, first.BytesCopied)
	}
	store, err := objstore.OpenStore(ctx, dest, objstore.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := backup.List(ctx, store)
	if err != nil || len(ms) != 2 {
		t.Fatalf("list: %v %d", err, len(ms))
	}
	if err := backup.Verify(ctx, store, ms[1], backup.Options{}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Keep one: the first backup goes, every file the second names stays.
	third := runBackup(t, c, dest, 1)
	if len(third.Pruned) != 2 {
		t.Errorf("pruned %v, want the two older backups", third.Pruned)
	}
	if ms, _ := backup.List(ctx, store); len(ms) != 1 || backup.Verify(ctx, store, ms[0], backup.Options{}) != nil {
		t.Errorf("after pruning: %d backups", len(ms))
	}

	// Tampered: one byte of one file changed.
	victim := filepath.Join(destDir, "files", filepath.FromSlash(view2.Files[0].Key))
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}
	latest, _ := backup.Find(ctx, store, "")
	if err := backup.Verify(ctx, store, latest, backup.Options{}); !errors.Is(err, backup.ErrChecksum) || !strings.Contains(err.Error(), view2.Files[0].Key) {
		t.Errorf("verify of a tampered backup: %v", err)
	}
	dir := filepath.Join(t.TempDir(), "again")
	if _, err := RestoreDataDir(ctx, RestoreOptions{From: dest, DataDir: dir, NodeID: "r1", RaftAddr: "127.0.0.1:1"}); !errors.Is(err, backup.ErrChecksum) {
		t.Errorf("restore of a tampered backup: %v", err)
	}
	if snaps, _ := filepath.Glob(filepath.Join(dir, "raft", "snapshots", "*", "state.bin")); len(snaps) != 0 {
		t.Errorf("a tampered restore left a snapshot: %v", snaps)
	}
	// A restore never writes into a data directory that holds something.
	if _, err := RestoreDataDir(ctx, RestoreOptions{From: dest, DataDir: f.node.cfg.DataDir, NodeID: "r1", RaftAddr: "127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("restore into a used directory: %v", err)
	}
}

// TestBackupDuringWrites backs up while writers keep writing: the restored
// node holds exactly the acknowledged rows with a raft index at or below
// the backup's.
func TestBackupDuringWrites(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.FlushRows = 500 // files keep coming while the backup runs
	cfg.FlushCheck = 20 * time.Millisecond
	n := mustStartNode(t, cfg)
	defer n.Close()
	ctx := context.Background()
	var mu sync.Mutex
	acked := map[string]uint64{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				res, err := n.Write(ctx, WriteInput{Table: "events", Input: ndjson(fmt.Sprintf(`{"id":%q,"ts":"2026-01-01T00:00:00Z"}`, id))})
				if err == nil {
					mu.Lock()
					acked[id] = res.Index
					mu.Unlock()
				}
			}
		}()
	}
	waitFor(t, 20*time.Second, "files to be flushed", func() bool {
		v, _ := n.fsm.Table("events")
		return len(v.Files) >= 3
	})
	dest := "file://" + t.TempDir()
	last := runBackup(t, newClient(t, n), dest, 0)
	// Writes go on after the backup too.
	waitFor(t, 10*time.Second, "writes after the backup", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, idx := range acked {
			if idx > last.RaftIndex {
				return true
			}
		}
		return false
	})
	close(stop)
	wg.Wait()

	r, m := restoreNode(t, dest)
	if m.RaftIndex != last.RaftIndex {
		t.Fatalf("manifest index %d, backup answered %d", m.RaftIndex, last.RaftIndex)
	}
	got := map[string]int{}
	rows, _, err := r.engine.Query(ctx, "SELECT id FROM events")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		v, _ := rows.Values()
		got[v[0].(string)]++
	}
	rows.Close()
	var before, after int
	for id, idx := range acked {
		switch {
		case idx <= m.RaftIndex:
			before++
			if got[id] != 1 {
				t.Errorf("row %s (index %d, backup at %d) restored %d times", id, idx, m.RaftIndex, got[id])
			}
		default:
			after++
			if got[id] != 0 {
				t.Errorf("row %s written after the backup (index %d > %d) is in it", id, idx, m.RaftIndex)
			}
		}
	}
	if before == 0 || after == 0 {
		t.Fatalf("%d rows before the backup, %d after: the test did not write through it", before, after)
	}
	for id, k := range got {
		if _, ok := acked[id]; !ok || k != 1 {
			t.Errorf("restored row %s (%d times) was not acknowledged once", id, k)
		}
	}
}

// The collector does not delete a replaced file that a backup still
// copies, whatever its grace.
func TestCollectorSparesBackupPins(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	writeFiles(t, n, c, 4, 10)
	v, _ := n.fsm.Table("events")
	keys := make([]string, len(v.Files))
	for i, f := range v.Files {
		keys[i] = f.Key
	}
	n.backupPins.add(keys)
	c.compact("events", true)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	if err := n.collectGarbage(ctx, later); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, err := n.store.Stat(ctx, k); err != nil {
			t.Errorf("pinned %s: %v", k, err)
		}
	}
	n.backupPins.remove(keys)
	if err := n.collectGarbage(ctx, later); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, err := n.store.Stat(ctx, k); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("%s after its pin went: %v", k, err)
		}
	}
}

// Scheduled backups: the leader backs up every BackupEvery and keeps the
// newest BackupKeep.
func TestScheduledBackups(t *testing.T) {
	dest := "file://" + t.TempDir()
	cfg := testConfig(t, t.TempDir())
	cfg.BackupTo, cfg.BackupEvery, cfg.BackupKeep = dest, 200*time.Millisecond, 2
	n := mustStartNode(t, cfg)
	defer n.Close()
	if _, err := n.Write(context.Background(), WriteInput{Table: "events", Input: ndjson(`{"id":"a"}`)}); err != nil {
		t.Fatal(err)
	}
	store, err := objstore.OpenStore(context.Background(), dest, objstore.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "three scheduled backups", func() bool {
		backups := 0
		for _, a := range n.fsm.Audit(100) {
			if a.Action == "backup" && a.Actor == "node n1" {
				backups++
			}
		}
		return backups >= 3
	})
	ms, err := backup.List(context.Background(), store)
	if err != nil || len(ms) < 2 || len(ms) > 3 {
		t.Fatalf("%d backups kept (%v), want the newest 2 (and one just written, before its prune)", len(ms), err)
	}
}

// A restored node is a cluster of its own that other nodes join as usual.
func TestJoinRestoredNode(t *testing.T) {
	src := mustStartNode(t, testConfig(t, t.TempDir()))
	defer src.Close()
	writeFiles(t, src, newClient(t, src), 2, 100)
	if _, err := src.Write(context.Background(), WriteInput{Table: "events", Input: ndjson(`{"id":"hot","ts":"2026-01-01T00:00:00Z"}`)}); err != nil {
		t.Fatal(err)
	}
	dest := "file://" + t.TempDir()
	if _, err := src.Backup(context.Background(), dest, nil); err != nil {
		t.Fatal(err)
	}
	shared := "file://" + filepath.Join(t.TempDir(), "objects")
	dir := filepath.Join(t.TempDir(), "r1")
	raftAddr := freeTCPAddr(t)
	if _, err := RestoreDataDir(context.Background(), RestoreOptions{From: dest, DataDir: dir, NodeID: "r1", RaftAddr: raftAddr, ObjectStore: shared}); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, dir)
	cfg.NodeID, cfg.RaftAddr, cfg.ObjectStore, cfg.ObjectStoreShared = "r1", raftAddr, shared, true
	r := mustStartNode(t, cfg)
	defer r.Close()
	jcfg := testConfig(t, t.TempDir())
	jcfg.NodeID, jcfg.ObjectStore, jcfg.ObjectStoreShared = "r2", shared, true
	jcfg.JoinAddrs = []string{r.HTTPAddr()}
	j, err := New(context.Background(), jcfg)
	if err != nil {
		t.Fatalf("join the restored node: %v", err)
	}
	defer j.Close()
	if got := newClient(t, j).sql("SELECT count(*) FROM events"); got != "[201]\n" {
		t.Fatalf("a strong read through the joined node: %s", got)
	}
	waitFor(t, 10*time.Second, "the joined node to apply the restored state", func() bool {
		return j.fsm.AppliedIndex() >= r.fsm.AppliedIndex() && len(j.fsm.Tables()) == 1
	})
}
