package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// These tests run the client commands against a small in-process Connect
// server with canned answers: the wire format and the command logic, not
// the real node (see e2e_test.go for that).

type fakeWrite struct {
	miniodbv1connect.UnimplementedWriteServiceHandler
	mu       sync.Mutex
	failures map[string][]error // request id → errors to answer before success
	seen     map[string]bool
	attempts []string // request ids in arrival order
	rows     map[string]string
}

func (f *fakeWrite) Write(_ context.Context, req *connect.Request[miniodbv1.WriteRequest]) (*connect.Response[miniodbv1.WriteResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := req.Msg.GetRequestId()
	f.attempts = append(f.attempts, id)
	if errs := f.failures[id]; len(errs) > 0 {
		f.failures[id] = errs[1:]
		return nil, errs[0]
	}
	n := int64(strings.Count(string(req.Msg.GetRowsNdjson()), "\n"))
	if f.seen[id] {
		return connect.NewResponse(&miniodbv1.WriteResponse{RowsWritten: 0, Duplicate: true}), nil
	}
	f.seen[id] = true
	f.rows[id] = req.Msg.GetTable() + ":" + string(req.Msg.GetRowsNdjson())
	return connect.NewResponse(&miniodbv1.WriteResponse{RowsWritten: n}), nil
}

type fakeQuery struct {
	miniodbv1connect.UnimplementedQueryServiceHandler
	lastSQL, lastConsistency string
}

func (f *fakeQuery) QueryStream(_ context.Context, req *connect.Request[miniodbv1.QueryRequest], stream *connect.ServerStream[miniodbv1.QueryStreamResponse]) error {
	f.lastSQL, f.lastConsistency = req.Msg.GetSql(), req.Msg.GetConsistency()
	if strings.HasPrefix(req.Msg.GetSql(), "SELEC ") {
		return connect.NewError(connect.CodeInvalidArgument, errors.New(`syntax error at or near "SELEC"`))
	}
	if err := stream.Send(&miniodbv1.QueryStreamResponse{Columns: []*miniodbv1.ResultColumn{{Name: "n", Type: "BIGINT"}, {Name: "s", Type: "VARCHAR"}}}); err != nil {
		return err
	}
	for chunk := 0; chunk < 3; chunk++ {
		var rows []*structpb.ListValue
		for i := 0; i < 2; i++ {
			l, _ := structpb.NewList([]any{chunk*2 + i, "x"})
			rows = append(rows, l)
		}
		if err := stream.Send(&miniodbv1.QueryStreamResponse{Rows: rows}); err != nil {
			return err
		}
	}
	return nil
}

type fakeCluster struct {
	miniodbv1connect.UnimplementedClusterServiceHandler
	flushed string
}

func (f *fakeCluster) Status(context.Context, *connect.Request[miniodbv1.StatusRequest]) (*connect.Response[miniodbv1.StatusResponse], error) {
	return connect.NewResponse(testStatus()), nil
}

func (f *fakeCluster) Flush(_ context.Context, req *connect.Request[miniodbv1.FlushRequest]) (*connect.Response[miniodbv1.FlushResponse], error) {
	f.flushed = req.Msg.GetTable()
	return connect.NewResponse(&miniodbv1.FlushResponse{FilesWritten: 2, RowsFlushed: 1500}), nil
}

type fakeTables struct {
	miniodbv1connect.UnimplementedTableServiceHandler
}

func (fakeTables) ListTables(context.Context, *connect.Request[miniodbv1.ListTablesRequest]) (*connect.Response[miniodbv1.ListTablesResponse], error) {
	return connect.NewResponse(&miniodbv1.ListTablesResponse{Tables: []*miniodbv1.TableInfo{testTable()}}), nil
}

func (fakeTables) GetTable(_ context.Context, req *connect.Request[miniodbv1.GetTableRequest]) (*connect.Response[miniodbv1.GetTableResponse], error) {
	if req.Msg.GetName() != "events" {
		return nil, connect.NewError(connect.CodeNotFound, errors.New(`table "`+req.Msg.GetName()+`" not found`))
	}
	return connect.NewResponse(&miniodbv1.GetTableResponse{Table: testTable()}), nil
}

type fakes struct {
	write   *fakeWrite
	query   *fakeQuery
	cluster *fakeCluster
	addr    string
}

func startFakes(t *testing.T) *fakes {
	t.Helper()
	f := &fakes{
		write:   &fakeWrite{failures: map[string][]error{}, seen: map[string]bool{}, rows: map[string]string{}},
		query:   &fakeQuery{},
		cluster: &fakeCluster{},
	}
	mux := http.NewServeMux()
	mux.Handle(miniodbv1connect.NewWriteServiceHandler(f.write))
	mux.Handle(miniodbv1connect.NewQueryServiceHandler(f.query))
	mux.Handle(miniodbv1connect.NewClusterServiceHandler(f.cluster))
	mux.Handle(miniodbv1connect.NewTableServiceHandler(fakeTables{}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.addr = srv.URL
	return f
}

func TestWriteRetriesWithTheSameRequestID(t *testing.T) {
	f := startFakes(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "rows.csv")
	os.WriteFile(file, []byte("a,b\n1,x\n2,y\n3,z\n"), 0o644)

	f.write.failures["load-1"] = []error{
		connect.NewError(connect.CodeUnavailable, errors.New("no leader")),
		connect.NewError(connect.CodeResourceExhausted, errors.New("hot buffers full")),
	}
	f.write.failures["load-2"] = []error{connect.NewError(connect.CodeDeadlineExceeded, errors.New("slow"))}
	code, stdout, stderr := runCLI(t, "", "write", "events", file, "--addr", f.addr,
		"--batch-rows", "2", "--request-id-prefix", "load", "--parallel", "1")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "wrote 3 rows to events in ") || !strings.HasSuffix(stdout, " rows/s)\n") {
		t.Errorf("summary %q", stdout)
	}
	want := []string{"load-1", "load-1", "load-1", "load-2", "load-2"}
	if strings.Join(f.write.attempts, " ") != strings.Join(want, " ") {
		t.Errorf("attempts %v, want %v", f.write.attempts, want)
	}
	if got := f.write.rows["load-1"]; got != "events:{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n" {
		t.Errorf("batch 1 = %q", got)
	}
	if got := f.write.rows["load-2"]; got != "events:{\"a\":3,\"b\":\"z\"}\n" {
		t.Errorf("batch 2 = %q", got)
	}

	// Running the same load again: every batch is a duplicate, and the
	// summary says so.
	code, stdout, stderr = runCLI(t, "", "write", "events", file, "--addr", f.addr,
		"--batch-rows", "2", "--request-id-prefix", "load")
	if code != exitOK || !strings.Contains(stdout, "3 of them in 2 batches had been written before") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestWriteStopsOnAPermanentError(t *testing.T) {
	f := startFakes(t)
	f.write.failures["p-2"] = []error{connect.NewError(connect.CodeInvalidArgument, errors.New(`row 1: field "a": want BIGINT, got string`))}
	input := strings.Repeat("{\"a\":1}\n", 6)
	code, stdout, stderr := runCLI(t, input, "write", "--addr", f.addr, "--table", "events",
		"--batch-rows", "2", "--request-id-prefix", "p", "--parallel", "1", "-")
	if code != exitError {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	for _, want := range []string{
		"miniodb write: batch 2 (request id p-2, rows 3-4): invalid_argument: row 1: field \"a\"",
		"2 rows in 1 batches were written before the error",
		"--request-id-prefix p",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := len(f.write.attempts); n < 2 || n > 3 || f.write.attempts[1] != "p-2" {
		t.Errorf("attempts %v: want p-1, p-2 and at most the batch after it", f.write.attempts)
	}
}

func TestWriteGivesUpAfterRetries(t *testing.T) {
	f := startFakes(t)
	unavailable := connect.NewError(connect.CodeUnavailable, errors.New("no leader"))
	f.write.failures["r-1"] = []error{unavailable, unavailable, unavailable, unavailable}
	code, _, stderr := runCLI(t, "{\"a\":1}\n", "write", "--addr", f.addr, "--retries", "2", "--request-id-prefix", "r", "t", "-")
	if code != exitError || !strings.Contains(stderr, "after 3 attempts): unavailable: no leader") || !strings.Contains(stderr, "nothing was written") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if len(f.write.attempts) != 3 {
		t.Errorf("attempts %v, want 3", f.write.attempts)
	}
}

func TestWriteMalformedLine(t *testing.T) {
	f := startFakes(t)
	input := "{\"a\":1}\n{\"a\":2}\nnot json\n{\"a\":4}\n"
	code, _, stderr := runCLI(t, input, "write", "--addr", f.addr, "--batch-rows", "1", "--request-id-prefix", "m", "t", "-")
	if code != exitError || !strings.Contains(stderr, `stdin:3: not a JSON object (starts with "not json")`) ||
		!strings.Contains(stderr, "2 rows in 2 batches were written before the error") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestSQLAgainstServer(t *testing.T) {
	f := startFakes(t)
	code, stdout, stderr := runCLI(t, "", "sql", "--addr", f.addr, "--format", "csv", "--consistency", "local", "SELECT n, s FROM t")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "n,s\n0,x\n1,x\n2,x\n3,x\n4,x\n5,x\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	if f.query.lastSQL != "SELECT n, s FROM t" || f.query.lastConsistency != "local" {
		t.Errorf("server got %q / %q", f.query.lastSQL, f.query.lastConsistency)
	}

	code, stdout, _ = runCLI(t, "SELECT 1\n", "sql", "--addr", f.addr)
	if code != exitOK || !strings.Contains(stdout, "│      5 │ x       │\n└") || !strings.Contains(stdout, "┘\n6 rows (") {
		t.Errorf("table from stdin SQL: exit %d\n%s", code, stdout)
	}
	if f.query.lastSQL != "SELECT 1\n" || f.query.lastConsistency != "strong" {
		t.Errorf("server got %q / %q", f.query.lastSQL, f.query.lastConsistency)
	}

	code, stdout, stderr = runCLI(t, "", "sql", "--addr", f.addr, "SELEC 1")
	if code != exitError || stdout != "" || stderr != "miniodb sql: invalid_argument: syntax error at or near \"SELEC\"\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestNoServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there now
	code, _, stderr := runCLI(t, "", "status", "--addr", addr)
	if code != exitError || !strings.Contains(stderr, "miniodb status: unavailable:") || !strings.Contains(stderr, "is a server running there?") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestAdminCommandsAgainstServer(t *testing.T) {
	f := startFakes(t)
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{args: []string{"status"}, want: []string{"node id:         n2", "TABLE", "events"}},
		{args: []string{"status", "--format", "json"}, want: []string{`"nodeId": "n2"`, `"objectStoreOk": true`}},
		{args: []string{"flush", "events"}, want: []string{"flushed 1,500 rows from events into 2 Parquet files in "}},
		{args: []string{"tables"}, want: []string{"NAME", "events"}},
		{args: []string{"tables", "events"}, want: []string{"table:", "COLUMN  TYPE"}},
		{args: []string{"tables", "--format", "json", "events"}, want: []string{`"name": "events"`, `"type": "COLUMN_TYPE_BIGINT"`}},
		{args: []string{"tables", "nope"}, code: exitError},
	}
	for _, tt := range tests {
		code, stdout, stderr := runCLI(t, "", append(tt.args, "--addr", f.addr)...)
		if code != tt.code {
			t.Errorf("%q: exit %d, stderr %s", tt.args, code, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("%q: stdout lacks %q:\n%s", tt.args, w, stdout)
			}
		}
	}
	if f.cluster.flushed != "events" {
		t.Errorf("flushed %q", f.cluster.flushed)
	}
	_, _, stderr := runCLI(t, "", "tables", "nope", "--addr", f.addr)
	if stderr != "miniodb tables: not_found: table \"nope\" not found\n" {
		t.Errorf("stderr %q", stderr)
	}
}

func TestStatusJSONIsStable(t *testing.T) {
	a, err := jsonText(testStatus())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString(a)
	if !strings.HasPrefix(a, "{\n  \"nodeId\": \"n2\",\n") || strings.Contains(a, ":  ") {
		t.Errorf("status json:\n%s", a)
	}
}
