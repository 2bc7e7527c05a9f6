package node

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miniodb/miniodb/internal/miniotest"
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
