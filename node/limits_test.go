package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/internal/failpoint"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/query"
)

// endless is a query that runs until it is stopped.
const endless = "SELECT count(*) FROM range(10000000000000) a, range(1000) b"

func connectCode(err error) connect.Code {
	var ce *connect.Error
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return connect.CodeUnknown
}

// TestQueryLimits: one query must not be able to take a node down (issue
// 8, item 10). Each limit answers with a clear error and the node keeps
// serving.
func TestQueryLimits(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.QueryTimeout = time.Second
	cfg.MaxConcurrentQueries = 1
	cfg.MaxResultBytes = 4 << 10
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	ctx := context.Background()
	// alive checks the node still answers, once the refused or stopped
	// query has given its slot back (a client that gives up at its
	// deadline can be a moment ahead of the server).
	alive := func() {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			resp, err := c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT 41 + 1"}))
			if connectCode(err) == connect.CodeResourceExhausted && time.Now().Before(deadline) {
				continue
			}
			if err != nil || len(resp.Msg.Rows) != 1 || resp.Msg.Rows[0].Values[0].GetNumberValue() != 42 {
				t.Fatalf("node after a refused query: %v %v", resp, err)
			}
			return
		}
	}

	t.Run("statement timeout", func(t *testing.T) {
		start := time.Now()
		_, err := c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: endless}))
		if connectCode(err) != connect.CodeDeadlineExceeded || !strings.Contains(err.Error(), "--query-timeout") {
			t.Fatalf("got %v", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("the timeout of 1s took %v", d)
		}
		alive()
	})
	t.Run("per request lower", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.query.Query(cctx, connect.NewRequest(&v1.QueryRequest{Sql: endless}))
		// The request's own deadline ended it, not the statement timeout
		// (whose error names --query-timeout).
		if connectCode(err) != connect.CodeDeadlineExceeded || strings.Contains(err.Error(), "--query-timeout") || time.Since(start) > 5*time.Second {
			t.Fatalf("got %v after %v", err, time.Since(start))
		}
		alive()
		resp, err := http.Get(c.base + "/v1/query?timeout_ms=200&sql=" + strings.ReplaceAll(endless, " ", "+"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Fatalf("HTTP query with timeout_ms: %s", resp.Status)
		}
		alive()
	})
	t.Run("concurrency", func(t *testing.T) {
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: endless}))
		}()
		for start := time.Now(); len(n.querySlots) == 0; time.Sleep(time.Millisecond) {
			if time.Since(start) > 5*time.Second {
				t.Fatal("the long query did not start")
			}
		}
		_, err := c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT 1"}))
		if connectCode(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "--max-concurrent-queries") {
			t.Errorf("a second query while one runs: %v", err)
		}
		wg.Wait()
		alive()
	})
	t.Run("unary result size", func(t *testing.T) {
		q := "SELECT repeat('x', 100) FROM range(1000)"
		_, err := c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: q}))
		if connectCode(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "QueryStream") {
			t.Fatalf("got %v", err)
		}
		stream, err := c.query.QueryStream(ctx, connect.NewRequest(&v1.QueryRequest{Sql: q}))
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for stream.Receive() {
			rows += len(stream.Msg().Rows)
		}
		if err := stream.Err(); err != nil || rows != 1000 {
			t.Fatalf("stream: %d rows, %v", rows, err)
		}
	})
	t.Run("memory and spill limits", func(t *testing.T) {
		mem, spill := queryLimits(DefaultConfig(), t.TempDir())
		if total := physicalMemory(); total > 0 {
			var mib int64
			fmt.Sscanf(mem, "%dMiB", &mib)
			if mib<<20 > total/2 || mib < 256 {
				t.Errorf("default memory limit %s for %d bytes of RAM", mem, total)
			}
		}
		if !strings.HasSuffix(spill, "MiB") {
			t.Errorf("default spill limit %q", spill)
		}
		cfg := DefaultConfig()
		cfg.QueryMemoryLimit, cfg.QuerySpillLimit = "3GB", "7GB"
		if m, s := queryLimits(cfg, t.TempDir()); m != "3GB" || s != "7GB" {
			t.Errorf("configured limits not kept: %s %s", m, s)
		}
	})
}

// TestPartitionsPerWrite: a write spread over thousands of days is refused
// before it creates a partition (and later a file) per day.
func TestPartitionsPerWrite(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	rows := func(days int) string {
		var b bytes.Buffer
		for i := 0; i < days; i++ {
			fmt.Fprintf(&b, `{"ts":"%s","v":%d}`+"\n", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.RFC3339), i)
		}
		return b.String()
	}
	post := func(body string) (int, string) {
		resp, err := http.Post(c.base+"/v1/tables/spread/rows", "application/x-ndjson", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, days := range []int{3000, 101} {
		status, body := post(rows(days))
		if status != http.StatusTooManyRequests || !strings.Contains(body, fmt.Sprintf("%d partitions", days)) || !strings.Contains(body, "--max-partitions-per-write") {
			t.Fatalf("%d days: %d %s", days, status, body)
		}
	}
	if n.fsm.Exists("spread") {
		t.Fatal("a refused write created the table")
	}
	if status, body := post(rows(100)); status != 200 {
		t.Fatalf("100 days: %d %s", status, body)
	}
}

// TestReadinessReflectsBrokenLog: after a failed Raft log write the node
// cannot make progress; /readyz must say so instead of "ready".
func TestReadinessReflectsBrokenLog(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	fp, err := failpoint.Parse("wal-mid-batch=error@8")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Failpoints = fp
	cfg.ApplyTimeout = 2 * time.Second
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	for i := 0; i < 20; i++ {
		if status, _ := c.postJSON("/miniodb.v1.WriteService/Write", fmt.Sprintf(`{"table":"t","rows":[{"x":%d}]}`, i)); status != 200 {
			break
		}
	}
	resp, err := http.Get(c.base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "raft log") {
		t.Fatalf("readyz after a failed log write: %d %s", resp.StatusCode, b)
	}
}

// TestQueryErrorsHideServerPaths: a damaged file makes a query fail with
// DuckDB's message, which names the cached file; the server's directories
// must not reach the client, whichever step fails.
func TestQueryErrorsHideServerPaths(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"x":1}]}`)
	c.flush("t")
	view, _ := n.fsm.Table("t")
	ctx := context.Background()
	if err := n.store.Put(ctx, view.Files[0].Key, strings.NewReader("not parquet"), 11); err != nil {
		t.Fatal(err)
	}
	_, err := c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT sum(x) FROM t"}))
	if err == nil || strings.Contains(err.Error(), n.cfg.DataDir) || strings.Contains(err.Error(), "/cache/") {
		t.Fatalf("query over a damaged file: %v", err)
	}
	// The server's log has the whole error, once (it had it twice).
	if got := strings.Count(logs.String(), "internal error"); got != 1 || !strings.Contains(logs.String(), "Parquet") {
		t.Fatalf("the internal error was logged %d times:\n%s", got, logs.String())
	}
	if got := metricValue(t, c, `miniodb_rpc_requests_total{code="internal",procedure="/miniodb.v1.QueryService/Query"}`); got != "1" {
		t.Fatalf("rpc metric: %q", got)
	}
	// The engine's own error names no path either.
	dir := t.TempDir()
	e, err := query.Open(ctx, query.Config{Dir: dir, Store: n.store, Catalog: n.fsm, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, _, err := e.Query(ctx, "SELECT sum(x) FROM t"); err == nil || strings.Contains(err.Error(), dir) {
		t.Fatalf("engine query over a damaged file: %v", err)
	}
}

// TestConfigErrorsInOrder: Validate reports every problem, in the same
// order every time (it iterated a map before).
func TestConfigErrorsInOrder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FlushRows, cfg.MaxRequestBytes, cfg.CacheBytes, cfg.QueryTimeout = 0, -1, 0, 0
	first := cfg.Validate()
	if first == nil {
		t.Fatal("invalid configuration accepted")
	}
	for i := 0; i < 20; i++ {
		if err := cfg.Validate(); err.Error() != first.Error() {
			t.Fatalf("errors in another order:\n%v\nvs\n%v", err, first)
		}
	}
	for _, want := range []string{"max request bytes", "flush rows", "query timeout", "cache bytes"} {
		if !strings.Contains(first.Error(), want) {
			t.Errorf("%q missing from %v", want, first)
		}
	}
}

// TestStaleFlushFilesRemoved: Parquet files a flush was writing when the
// process died are removed at the next start.
func TestStaleFlushFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "tmp", "flush-123.parquet")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := mustStartNode(t, testConfig(t, dir))
	defer n.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale flush file still there: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for the node's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// metricValue returns the value of one series from /metrics.
func metricValue(t *testing.T, c *client, series string) string {
	t.Helper()
	resp, err := http.Get(c.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestSmallAnswersUncompressed: compressing a small answer costs more CPU
// than it saves (gzip was 13% of the CPU of single-row writes); large
// answers are still compressed for clients that accept it.
func TestSmallAnswersUncompressed(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	post := func(path, body string) *http.Response {
		req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Encoding", "gzip")
		tr := &http.Transport{DisableCompression: true} // see the raw encoding
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := post("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"x":1}]}`); r.StatusCode != 200 || r.Header.Get("Content-Encoding") != "" {
		t.Fatalf("write answer: %s, Content-Encoding %q", r.Status, r.Header.Get("Content-Encoding"))
	}
	if r := post("/miniodb.v1.QueryService/Query", `{"sql":"SELECT repeat('x', 100) FROM range(200)"}`); r.StatusCode != 200 || r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("large query answer: %s, Content-Encoding %q", r.Status, r.Header.Get("Content-Encoding"))
	}
}
