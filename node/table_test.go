package node

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

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
	cfg.DeleteGrace = 0
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	ctx := context.Background()
	c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"x":1}]}`)
	c.flush("")
	// An orphan, as a leader killed between upload and commit leaves.
	if err := n.store.Put(ctx, "data/t/1/orphan/00000000000000000099.parquet", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.tables.DropTable(ctx, connect.NewRequest(&v1.DropTableRequest{Name: "t"})); err != nil {
		t.Fatal(err)
	}
	if err := n.collectGarbage(ctx); err != nil {
		t.Fatal(err)
	}
	objs, err := n.store.List(ctx, "data/")
	if err != nil || len(objs) != 0 {
		t.Fatalf("objects left: %v %v", objs, err)
	}
	if p := n.fsm.PendingDeletes(); len(p) != 0 {
		t.Fatalf("pending deletes left: %v", p)
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
