package node

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"

	"github.com/miniodb/miniodb/ingest"
	"github.com/miniodb/miniodb/objstore"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

func TestExplicitSchemaAndDrop(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	ctx := context.Background()
	create := &v1.CreateTableRequest{
		Name:         "Metrics",
		Columns:      []*v1.Column{{Name: "host", Type: v1.ColumnType_COLUMN_TYPE_VARCHAR}, {Name: "cpu", Type: v1.ColumnType_COLUMN_TYPE_DOUBLE}},
		Partitioning: v1.Partitioning_PARTITIONING_HOUR,
	}
	resp, err := c.tables.CreateTable(ctx, connect.NewRequest(create))
	if err != nil {
		t.Fatal(err)
	}
	if ti := resp.Msg.Table; ti.Name != "metrics" || !ti.ExplicitSchema || ti.Columns[0].Name != "ts" {
		t.Fatalf("created: %+v", ti)
	}
	if got := c.sql("SELECT count(*), max(cpu) FROM metrics"); got != "[0,null]\n" {
		t.Fatalf("an empty table: %s", got)
	}
	if _, err := c.tables.CreateTable(ctx, connect.NewRequest(create)); connect.CodeOf(err) != connect.CodeAlreadyExists {
		t.Fatalf("second create: %v", err)
	}
	create.IfNotExists = true
	if _, err := c.tables.CreateTable(ctx, connect.NewRequest(create)); err != nil {
		t.Fatalf("create if not exists: %v", err)
	}
	if s, b := c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"metrics","rows":[{"host":"a","cpu":1,"ts":"2026-01-01T10:15:00Z"},{"host":"b","cpu":0.5,"ts":"2026-01-01T11:15:00Z"}]}`); s != 200 {
		t.Fatalf("conforming write: %d %s", s, b)
	}
	if s, b := c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"metrics","rows":[{"host":"a","mem":1}]}`); s != 400 || !strings.Contains(b, "mem") {
		t.Fatalf("unknown column in an explicit schema: %d %s", s, b)
	}
	if f := c.flush("metrics"); f.FilesWritten != 2 {
		t.Fatalf("hour partitions: %+v", f)
	}
	if got := c.sql("SELECT host, cpu FROM metrics ORDER BY host"); got != "[\"a\",1]\n[\"b\",0.5]\n" {
		t.Fatalf("rows: %s", got)
	}
	list, err := c.tables.ListTables(ctx, connect.NewRequest(&v1.ListTablesRequest{}))
	if err != nil || len(list.Msg.Tables) != 1 || list.Msg.Tables[0].FileCount != 2 {
		t.Fatalf("list: %v %v", err, list)
	}
	if _, err := c.tables.DropTable(ctx, connect.NewRequest(&v1.DropTableRequest{Name: "metrics"})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT * FROM metrics"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("query after drop: %v", err)
	}
	if _, err := c.tables.DropTable(ctx, connect.NewRequest(&v1.DropTableRequest{Name: "metrics"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("second drop: %v", err)
	}
	if p := n.fsm.PendingDeletes(); len(p) != 2 {
		t.Fatalf("dropped files pending deletion: %v", p)
	}
	// The same name again is a new table; its files get new keys.
	c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"metrics","rows":[{"x":1}]}`)
	if got := c.sql("SELECT count(*) FROM metrics"); got != "[1]\n" {
		t.Fatalf("recreated: %s", got)
	}
}

func TestGarbageCollection(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.DeleteGrace = MinDeleteGrace
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	ctx := context.Background()
	put := func(key string) {
		t.Helper()
		if err := n.store.Put(ctx, key, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	keys := func() map[string]bool {
		t.Helper()
		objs, err := n.store.List(ctx, "data/")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, o := range objs {
			m[o.Key] = true
		}
		return m
	}
	later := time.Now().Add(time.Hour) // every grace period has passed

	c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"x":1}]}`)
	c.flush("")
	c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"x":2}]}`)
	view, _ := n.fsm.Table("t")
	live := view.Files[0].Key
	part := view.Partitions[0]
	key := func(from, upto uint64) string {
		return objstore.ObjectKey(objstore.KeyInfo{Table: "t", TableCreatedIndex: view.CreatedIndex, Partition: part.Name,
			FromIndex: from, UptoIndex: upto, Term: 99, Seq: 1})
	}
	// What a leader killed between upload and commit leaves: an object for
	// rows that are in a committed file now (superseded), and one for rows
	// that are still hot (its flush may yet commit, or a later flush will
	// supersede it). Neither is named by the catalog.
	superseded := key(0, part.FlushedUpto)
	pending := key(part.FlushedUpto, part.Batches[0].Index)
	put(superseded)
	put(pending)
	put("data/t/1/p/00000000000000000099.parquet") // not a key of this version
	if err := n.collectGarbage(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := keys(); !got[superseded] || !got[pending] || !got[live] {
		t.Fatalf("objects younger than the grace period were deleted: %v", got)
	}
	if err := n.collectGarbage(ctx, later); err != nil {
		t.Fatal(err)
	}
	got := keys()
	if got[superseded] {
		t.Error("a superseded orphan was kept")
	}
	if !got[pending] || !got[live] || !got["data/t/1/p/00000000000000000099.parquet"] {
		t.Fatalf("an object the catalog may need was deleted: %v", got)
	}

	// Dropping the table: its files become pending deletes, its other
	// objects belong to a gone incarnation.
	if _, err := c.tables.DropTable(ctx, connect.NewRequest(&v1.DropTableRequest{Name: "t"})); err != nil {
		t.Fatal(err)
	}
	if err := n.collectGarbage(ctx, later); err != nil {
		t.Fatal(err)
	}
	if got := keys(); len(got) != 1 || !got["data/t/1/p/00000000000000000099.parquet"] {
		t.Fatalf("objects left: %v", got)
	}
	if p := n.fsm.PendingDeletes(); len(p) != 0 {
		t.Fatalf("pending deletes left: %v", p)
	}
}

// TestGarbageCollectionAfterRestart is the review's reproduction of lost
// files: after a restart the node leads before its state machine has
// replayed the log, and a sweep at that moment took every file committed
// since the last snapshot for an orphan. The sweep must wait for the
// replay (leaderReady) and delete only what the catalog proves unneeded.
func TestGarbageCollectionAfterRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.DeleteGrace = MinDeleteGrace
	cfg.SnapshotThreshold = 1 << 30 // the whole history stays in the log
	cfg.SnapshotInterval = time.Hour
	n := mustStartNode(t, cfg)
	c := newClient(t, n)
	ctx := context.Background()
	// A long log to replay, then a flushed table.
	var rows strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&rows, `{"x":%d}`+"\n", i)
	}
	for i := 0; i < 1500; i++ {
		if _, err := n.Write(ctx, WriteInput{Table: "big", Input: ingest.NDJSON([]byte(rows.String()))}); err != nil {
			t.Fatal(err)
		}
	}
	c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"small","rows":[{"x":1},{"x":2}]}`)
	c.flush("small")
	n.Close()

	n, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	for start := time.Now(); n.raft.State() != raft.Leader; time.Sleep(time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the restarted node did not lead")
		}
	}
	if err := n.collectGarbage(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c = newClient(t, n)
	if got := c.sql("SELECT sum(x) FROM small"); got != "[3]\n" {
		t.Fatalf("small after restart and sweep: %q", got)
	}
	if got := c.sql("SELECT count(*) FROM big"); got != "[300000]\n" {
		t.Fatalf("big after restart: %q", got)
	}
}

func TestAgeFlushAndGRPC(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.FlushAge = 200 * time.Millisecond
	cfg.FlushCheck = 50 * time.Millisecond
	n := mustStartNode(t, cfg)
	defer n.Close()
	base := "http://" + n.HTTPAddr()
	// gRPC and Connect binary clients on the same port as Connect JSON.
	h2c := &http.Client{Transport: &http.Transport{Protocols: func() *http.Protocols {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		return &p
	}()}}
	grpc := miniodbv1connect.NewWriteServiceClient(h2c, base, connect.WithGRPC())
	if _, err := grpc.Write(context.Background(), connect.NewRequest(&v1.WriteRequest{
		Table: "t", RowsNdjson: []byte(`{"x":9007199254740993}`),
	})); err != nil {
		t.Fatalf("gRPC write: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := n.fsm.Table("t")
		if len(v.Files) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the age threshold did not flush the partition")
		}
		time.Sleep(20 * time.Millisecond)
	}
	q := miniodbv1connect.NewQueryServiceClient(h2c, base, connect.WithGRPC())
	resp, err := q.Query(context.Background(), connect.NewRequest(&v1.QueryRequest{Sql: "SELECT x FROM t"}))
	if err != nil || resp.Msg.Rows[0].Values[0].GetStringValue() != "9007199254740993" {
		t.Fatalf("gRPC query: %v %v", err, resp)
	}
}
