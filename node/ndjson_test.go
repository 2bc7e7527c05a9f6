package node

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// postChunked sends body with Transfer-Encoding: chunked (no length).
func postChunked(t *testing.T, url, body string) (int, string) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		// Many small chunks, as a log shipper would send them.
		for len(body) > 0 {
			k := min(len(body), 1000)
			if _, err := io.WriteString(pw, body[:k]); err != nil {
				return
			}
			body = body[k:]
		}
		pw.Close()
	}()
	resp, err := http.Post(url, "application/x-ndjson", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNDJSONBodyOfAnyLength: a body many times --max-request-bytes long is
// written in pieces; a retry with the same request id writes nothing
// again; an error in a later piece says what was written before it.
func TestNDJSONBodyOfAnyLength(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.MaxRequestBytes = 64 << 10
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	var b strings.Builder
	const rows = 20000
	for i := range rows {
		fmt.Fprintf(&b, `{"id":"r%d","ts":"2026-01-01T00:00:00Z","v":%d}`+"\n", i, i)
	}
	body := b.String()
	if len(body) < 10*int(cfg.MaxRequestBytes) {
		t.Fatalf("body of %d bytes is not much longer than the limit", len(body))
	}
	url := c.base + "/v1/tables/events/rows?request_id=load-1"
	status, resp := postChunked(t, url, body)
	var res struct {
		RowsWritten string `json:"rowsWritten"`
		Duplicate   bool   `json:"duplicate"`
	}
	json.Unmarshal([]byte(resp), &res)
	if status != 200 || res.RowsWritten != fmt.Sprint(rows) || res.Duplicate {
		t.Fatalf("chunked write: %d %s", status, resp)
	}
	if got := c.sql("SELECT count(*), count(DISTINCT id), sum(v) FROM events"); got != fmt.Sprintf("[%d,%d,%d]\n", rows, rows, rows*(rows-1)/2) {
		t.Fatalf("after the chunked write: %s", got)
	}
	// The same body and request id again: every piece is a duplicate.
	status, resp = postChunked(t, url, body)
	json.Unmarshal([]byte(resp), &res)
	if status != 200 || !res.Duplicate {
		t.Fatalf("retry: %d %s", status, resp)
	}
	if got := c.sql("SELECT count(*) FROM events"); got != fmt.Sprintf("[%d]\n", rows) {
		t.Fatalf("after the retry: %s", got)
	}
	// A bad row far into the body: the pieces before it are written.
	bad := body + `{"id":"x","v":"not a number"}` + "\n"
	status, resp = postChunked(t, c.base+"/v1/tables/events/rows?request_id=load-2", bad)
	if status != 400 || !strings.Contains(resp, "rows written in") || !strings.Contains(resp, "a retry with the same request_id skips them") {
		t.Fatalf("a bad row at the end: %d %s", status, resp)
	}
	// A line longer than the limit cannot be cut into pieces.
	long := `{"id":"` + strings.Repeat("y", int(cfg.MaxRequestBytes)) + `"}` + "\n"
	if status, resp := postChunked(t, c.base+"/v1/tables/events/rows", long); status != 400 || !strings.Contains(resp, "longer than") {
		t.Fatalf("an overlong line: %d %s", status, resp)
	}
}
