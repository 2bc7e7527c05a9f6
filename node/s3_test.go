package node

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miniodb/miniodb/backup"
	"github.com/miniodb/miniodb/internal/miniotest"
	"github.com/miniodb/miniodb/objstore"
)

// TestFlushToMinIO runs a node whose object store is a real MinIO server:
// rows are flushed there, read back by queries, and survive a restart.
func TestFlushToMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MinIO")
	}
	m := miniotest.Start(t)
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.ObjectStore = fmt.Sprintf("s3://miniodb-test/cluster-a?endpoint=%s&insecure=true", m.Endpoint)
	cfg.AccessKey, cfg.SecretKey = m.AccessKey, m.SecretKey
	n := mustStartNode(t, cfg)
	c := newClient(t, n)
	var rows strings.Builder
	rows.WriteString(`{"table":"events","rows":[`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			rows.WriteString(",")
		}
		fmt.Fprintf(&rows, `{"id":"d%d","ts":"2026-02-0%dT10:00:00Z","value":%d}`, i, 1+i%2, i)
	}
	rows.WriteString(`]}`)
	if s, b := c.postJSON("/miniodb.v1.WriteService/Write", rows.String()); s != 200 {
		t.Fatalf("write: %d %s", s, b)
	}
	if f := c.flush("events"); f.FilesWritten != 2 || f.RowsFlushed != 1000 {
		t.Fatalf("flush: %+v", f)
	}
	const q = "SELECT count(*), sum(value), min(ts) FROM events"
	want := "[1000,499500,\"2026-02-01T10:00:00Z\"]\n"
	if got := c.sql(q); got != want {
		t.Fatalf("after flush to MinIO: %s", got)
	}
	st := n.Status(t.Context())
	if !st.ObjectStoreOk || !strings.HasPrefix(st.ObjectStore, "s3://") {
		t.Fatalf("status: %v %q %q", st.ObjectStoreOk, st.ObjectStore, st.ObjectStoreError)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart starts with an empty local cache: the files come from MinIO.
	n = mustStartNode(t, cfg)
	defer n.Close()
	if got := newClient(t, n).sql(q); got != want {
		t.Fatalf("after restart: %s", got)
	}
}

// TestBackupToMinIO backs up a node whose files are in MinIO to another
// bucket of the same MinIO: the files are copied server-side (not through
// the node), verified, and restored into a third place.
func TestBackupToMinIO(t *testing.T) {
	if testing.Short() {
		t.Skip("needs MinIO")
	}
	m := miniotest.Start(t)
	cfg := testConfig(t, t.TempDir())
	cfg.ObjectStore = fmt.Sprintf("s3://miniodb-data/c1?endpoint=%s&insecure=true", m.Endpoint)
	cfg.AccessKey, cfg.SecretKey = m.AccessKey, m.SecretKey
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	writeFiles(t, n, c, 3, 500)
	ctx := t.Context()
	dest := fmt.Sprintf("s3://miniodb-backups/c1?endpoint=%s&insecure=true", m.Endpoint)
	bm, err := n.Backup(ctx, dest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bm.BytesCopied == 0 || bm.BytesCopiedInStore != bm.BytesCopied {
		t.Fatalf("backup copied %d bytes, %d of them in the store; want all server-side", bm.BytesCopied, bm.BytesCopiedInStore)
	}
	creds := objstore.Credentials{AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	store, err := objstore.OpenStore(ctx, dest, creds)
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.Verify(ctx, store, bm, backup.Options{}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	dir := t.TempDir() + "/restored"
	raftAddr := freeTCPAddr(t)
	target := fmt.Sprintf("s3://miniodb-restored/r1?endpoint=%s&insecure=true", m.Endpoint)
	if _, err := RestoreDataDir(ctx, RestoreOptions{From: dest, DataDir: dir, NodeID: "r1", RaftAddr: raftAddr, ObjectStore: target, Credentials: creds}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	rcfg := testConfig(t, dir)
	rcfg.NodeID, rcfg.RaftAddr, rcfg.ObjectStore = "r1", raftAddr, target
	rcfg.AccessKey, rcfg.SecretKey = m.AccessKey, m.SecretKey
	r := mustStartNode(t, rcfg)
	defer r.Close()
	if got, want := newClient(t, r).sql("SELECT count(*), count(DISTINCT id) FROM events"), "[1500,1500]\n"; got != want {
		t.Fatalf("restored from MinIO: %s, want %s", got, want)
	}
}
