package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// testWriter sends log lines to the test.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testConfig(t testing.TB, dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.QueryThreads = 2
	cfg.QueryMemoryLimit = "1GB"
	cfg.FlushAge = time.Hour // tests flush explicitly
	cfg.CompactionOff = true // and compact explicitly
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cfg
}

// mustStartNode starts a node and waits until it leads.
func mustStartNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	for n.raft.State().String() != "Leader" {
		if ctx.Err() != nil {
			n.Close()
			t.Fatal("node did not become leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// eventually polls cond until it returns nil, and fails the test with
// cond's last error when timeout passes first: the one way tests wait for
// something, instead of fixed sleeps.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type client struct {
	t      testing.TB
	base   string
	write  miniodbv1connect.WriteServiceClient
	query  miniodbv1connect.QueryServiceClient
	tables miniodbv1connect.TableServiceClient
	clus   miniodbv1connect.ClusterServiceClient
}

func newClient(t testing.TB, n *Node) *client {
	base := "http://" + n.HTTPAddr()
	return &client{
		t:      t,
		base:   base,
		write:  miniodbv1connect.NewWriteServiceClient(http.DefaultClient, base),
		query:  miniodbv1connect.NewQueryServiceClient(http.DefaultClient, base),
		tables: miniodbv1connect.NewTableServiceClient(http.DefaultClient, base),
		clus:   miniodbv1connect.NewClusterServiceClient(http.DefaultClient, base),
	}
}

// postJSON sends a Connect JSON request the way curl does and returns the
// status and body.
func (c *client) postJSON(path, body string) (int, string) {
	c.t.Helper()
	resp, err := http.Post(c.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sql runs a query and returns the rows as JSON text, one row per line.
func (c *client) sql(q string) string {
	c.t.Helper()
	resp, err := c.query.Query(context.Background(), connect.NewRequest(&v1.QueryRequest{Sql: q}))
	if err != nil {
		c.t.Fatalf("query %q: %v", q, err)
	}
	return rowsJSON(resp.Msg.Rows)
}

// rowsJSON renders rows as JSON arrays, one per line.
func rowsJSON(rows []*structpb.ListValue) string {
	var b strings.Builder
	for _, r := range rows {
		j, _ := json.Marshal(r.AsSlice())
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func (c *client) flush(table string) *v1.FlushResponse {
	c.t.Helper()
	resp, err := c.clus.Flush(context.Background(), connect.NewRequest(&v1.FlushRequest{Table: table}))
	if err != nil {
		c.t.Fatalf("flush: %v", err)
	}
	return resp.Msg
}

func TestWriteQueryFlushRestart(t *testing.T) {
	dir := t.TempDir()
	n := mustStartNode(t, testConfig(t, dir))
	c := newClient(t, n)

	// The README's curl tour, over Connect JSON.
	status, body := c.postJSON("/miniodb.v1.WriteService/Write",
		`{"table":"events","rows":[{"id":"dev-1","ts":"2026-01-01T00:00:00Z","value":1.5,"region":"eu"},
		  {"id":"dev-2","ts":"2026-01-01T01:00:00Z","value":2,"region":"us"},
		  {"id":"dev-3","ts":"2026-01-02T00:00:00Z","value":4.5,"region":"eu","big":9007199254740993}]}`)
	var wr struct{ RowsWritten, RaftIndex string }
	if err := json.Unmarshal([]byte(body), &wr); status != 200 || err != nil || wr.RowsWritten != "3" || wr.RaftIndex == "" {
		t.Fatalf("write: %d %s", status, body)
	}
	status, body = c.postJSON("/miniodb.v1.QueryService/Query",
		`{"sql":"SELECT region, count(*) AS n, avg(value) AS avg FROM events GROUP BY region ORDER BY region"}`)
	var qr struct {
		Columns []struct{ Name, Type string }
		Rows    [][]any
	}
	if err := json.Unmarshal([]byte(body), &qr); status != 200 || err != nil || fmt.Sprint(qr.Rows) != "[[eu 2 3] [us 1 2]]" ||
		len(qr.Columns) != 3 || qr.Columns[2].Type != "DOUBLE" {
		t.Fatalf("query: %d %s", status, body)
	}
	// Exact 64-bit integers survive the JSON path.
	if got := c.sql("SELECT big FROM events WHERE big IS NOT NULL"); got != "[\"9007199254740993\"]\n" {
		t.Fatalf("big integer: %q", got)
	}
	// NDJSON bulk endpoint.
	resp, err := http.Post(c.base+"/v1/tables/events/rows", "application/x-ndjson",
		strings.NewReader("{\"id\":\"dev-4\",\"ts\":\"2026-01-02T05:00:00Z\",\"value\":7,\"region\":\"ap\"}\n{\"id\":\"dev-5\",\"value\":8,\"region\":\"ap\",\"ts\":\"2026-01-03T00:00:00Z\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"rowsWritten":"2"`) {
		t.Fatalf("ndjson: %d %s", resp.StatusCode, b)
	}
	const q = "SELECT id, value, region, ts FROM events ORDER BY id"
	before := c.sql(q)
	if strings.Count(before, "\n") != 5 {
		t.Fatalf("rows before flush:\n%s", before)
	}
	// Flush: three day partitions → three files; results unchanged.
	f := c.flush("")
	if f.FilesWritten != 3 || f.RowsFlushed != 5 {
		t.Fatalf("flush: %+v", f)
	}
	if got := c.sql(q); got != before {
		t.Fatalf("after flush:\n%s\nwant\n%s", got, before)
	}
	info, err := c.tables.GetTable(context.Background(), connect.NewRequest(&v1.GetTableRequest{Name: "events"}))
	if err != nil {
		t.Fatal(err)
	}
	if ti := info.Msg.Table; ti.FileCount != 3 || ti.HotRows != 0 || ti.FlushedRows != 5 {
		t.Fatalf("table info after flush: %+v", ti)
	}
	// More hot rows on top of files, then a restart from the same directory.
	c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"events","rows":[{"id":"dev-6","ts":"2026-01-03T02:00:00Z","value":9,"region":"eu"}]}`)
	before = c.sql(q)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = mustStartNode(t, testConfig(t, dir))
	defer n.Close()
	c = newClient(t, n)
	if got := c.sql(q); got != before {
		t.Fatalf("after restart:\n%s\nwant\n%s", got, before)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.MaxRequestBytes = 4096
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	if s, b := c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"a":1,"s":"x"}]}`); s != 200 {
		t.Fatalf("seed write: %d %s", s, b)
	}
	tests := []struct {
		name, body string
		code       string
		msg        string
	}{
		{"malformed json", `{"table":"t","rows":[{"a":1,}]}`, "invalid_argument", ""},
		{"row not an object", `{"table":"t","rows":[{"a":1},[1,2]]}`, "invalid_argument", "row 2"},
		{"bad table name", `{"table":"no such-table","rows":[{"a":1}]}`, "invalid_argument", "table"},
		{"type conflict", `{"table":"t","rows":[{"a":2},{"a":"three"}]}`, "invalid_argument", `row 2: field "a"`},
		{"conflict with schema", `{"table":"t","rows":[{"s":5}]}`, "invalid_argument", `field "s"`},
		{"bad ts", `{"table":"t","rows":[{"ts":12}]}`, "invalid_argument", `"ts"`},
		{"no rows", `{"table":"t"}`, "invalid_argument", "no rows"},
		{"oversized", `{"table":"t","rows":[{"s":"` + strings.Repeat("x", 5000) + `"}]}`, "resource_exhausted", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := c.postJSON("/miniodb.v1.WriteService/Write", tt.body)
			var e struct{ Code, Message string }
			json.Unmarshal([]byte(body), &e)
			if e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("got %s, want code %s with %q", body, tt.code, tt.msg)
			}
		})
	}
	if got := c.sql("SELECT count(*) FROM t"); got != "[1]\n" {
		t.Fatalf("bad input changed the table: %s", got)
	}
	info, _ := c.tables.GetTable(context.Background(), connect.NewRequest(&v1.GetTableRequest{Name: "t"}))
	if len(info.Msg.Table.Columns) != 3 {
		t.Fatalf("bad input changed the schema: %v", info.Msg.Table.Columns)
	}
}

func TestQueryRefusals(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"events","rows":[{"a":1}]}`)
	c.flush("")
	tests := []struct {
		sql  string
		code connect.Code
		msg  string
	}{
		{"SELECT * FROM read_csv('/etc/passwd')", connect.CodeInvalidArgument, "read_csv"},
		{"SELECT * FROM '/etc/passwd'", connect.CodeNotFound, "/etc/passwd"},
		{"SELECT * FROM read_parquet('x.parquet')", connect.CodeInvalidArgument, "read_parquet"},
		{"SELECT * FROM events, read_text('/etc/hostname')", connect.CodeInvalidArgument, "read_text"},
		{"SELECT * FROM miniodb_hot.t_events", connect.CodeInvalidArgument, "qualified"},
		{"SELECT * FROM duckdb_settings()", connect.CodeInvalidArgument, "duckdb_settings"},
		{"INSERT INTO events VALUES (1)", connect.CodeInvalidArgument, "read-only"},
		{"DROP TABLE events", connect.CodeInvalidArgument, "read-only"},
		{"SELECT 1; SELECT 2", connect.CodeInvalidArgument, "one statement"},
		{"SELEC 1", connect.CodeInvalidArgument, "syntax error"},
		{"SELECT nope FROM events", connect.CodeInvalidArgument, "nope"},
		{"SELECT * FROM missing", connect.CodeNotFound, "missing"},
		{"SET enable_external_access = true", connect.CodeInvalidArgument, "read-only"},
		{"", connect.CodeInvalidArgument, "empty"},
		// The review's allow-list bypasses (issue 8, item 9).
		{"SELECT * FROM (WITH pg_settings AS (SELECT 1) SELECT 1) a, pg_settings b", connect.CodeNotFound, "pg_settings"},
		{"SELECT * FROM (WITH duckdb_views AS (SELECT 1) SELECT 1) a, duckdb_views b", connect.CodeNotFound, "duckdb_views"},
		{"SHOW ALL TABLES", connect.CodeInvalidArgument, "SHOW"},
		{"DESCRIBE pg_settings", connect.CodeNotFound, "pg_settings"},
		{"SELECT current_setting('allowed_directories')", connect.CodeInvalidArgument, "current_setting"},
		{"SELECT pg_get_viewdef('events')", connect.CodeInvalidArgument, "pg_get_viewdef"},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			_, err := c.query.Query(context.Background(), connect.NewRequest(&v1.QueryRequest{Sql: tt.sql}))
			if connect.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want %v containing %q", err, tt.code, tt.msg)
			}
		})
	}
	// A CTE may shadow nothing and still be fine; allowed table functions work.
	if got := c.sql("WITH x AS (SELECT a FROM events) SELECT count(*) FROM x, range(3)"); got != "[3]\n" {
		t.Fatalf("cte + range: %s", got)
	}
	// DESCRIBE and SUMMARIZE of a MinIODB table answer.
	if got := c.sql("SELECT column_name, column_type FROM (DESCRIBE events) ORDER BY 1"); !strings.Contains(got, `["a","BIGINT"]`) {
		t.Fatalf("describe: %s", got)
	}
	if got := c.sql("DESCRIBE events"); !strings.Contains(got, `"a","BIGINT"`) {
		t.Fatalf("describe: %s", got)
	}
}

func TestQueryStreamAndHTTPFormats(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	var rows bytes.Buffer
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&rows, "{\"i\":%d,\"s\":\"v%d\"}\n", i, i)
	}
	resp, err := http.Post(c.base+"/v1/tables/nums/rows", "application/x-ndjson", &rows)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("write: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	stream, err := c.query.QueryStream(context.Background(), connect.NewRequest(&v1.QueryRequest{Sql: "SELECT i, s FROM nums ORDER BY i"}))
	if err != nil {
		t.Fatal(err)
	}
	var got, msgs int
	var cols []*v1.ResultColumn
	for stream.Receive() {
		msgs++
		if len(stream.Msg().Columns) > 0 {
			cols = stream.Msg().Columns
		}
		for _, r := range stream.Msg().Rows {
			if int(r.Values[0].GetNumberValue()) != got {
				t.Fatalf("row %d out of order", got)
			}
			got++
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got != 3000 || msgs < 3 || len(cols) != 2 || cols[0].Type != "BIGINT" {
		t.Fatalf("stream: %d rows in %d messages, columns %v", got, msgs, cols)
	}
	for format, want := range map[string]string{
		"csv":    "i,s\n0,v0\n1,v1\n",
		"json":   `[{"i":0,"s":"v0"},{"i":1,"s":"v1"}]` + "\n",
		"ndjson": "{\"i\":0,\"s\":\"v0\"}\n{\"i\":1,\"s\":\"v1\"}\n",
	} {
		resp, err := http.Get(c.base + "/v1/query?format=" + format + "&sql=" + strings.ReplaceAll("SELECT i, s FROM nums ORDER BY i LIMIT 2", " ", "+"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.ReplaceAll(string(b), " ", "") != strings.ReplaceAll(want, " ", "") {
			t.Errorf("format %s: got %q want %q", format, b, want)
		}
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		resp, err := http.Get(c.base + path)
		if err != nil || resp.StatusCode != want {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if path == "/metrics" && !strings.Contains(string(b), "miniodb_write_rows_total 3000") {
			t.Fatalf("metrics lack the write counter:\n%s", b)
		}
	}
}
