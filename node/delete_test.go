package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/ingest"
	"github.com/miniodb/miniodb/internal/failpoint"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestDeletesAndUpserts deletes by id, by time range and by both, rows
// flushed and rows still hot, upserts rows, and compacts; after each step
// every differential query must give DuckDB's answer over the same rows
// (with the same DELETE and INSERT applied), with pruning on and off.
func TestDeletesAndUpserts(t *testing.T) {
	f := newDiffFixture(t)
	n := f.node
	c := newClient(t, n)
	ctx := context.Background()
	rawExec := func(q string) {
		t.Helper()
		if _, err := f.raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("raw DuckDB: %s: %v", q, err)
		}
	}
	checkAll := func(step string) {
		t.Helper()
		for _, q := range differentialQueries {
			f.check(t, q)
		}
		if t.Failed() {
			t.Fatalf("answers differ after %s", step)
		}
	}
	del := func(req *v1.DeleteRequest, raw string) *v1.DeleteResponse {
		t.Helper()
		req.Table = "events"
		resp, err := c.write.Delete(ctx, connect.NewRequest(req))
		if err != nil {
			t.Fatalf("delete %v: %v", req, err)
		}
		rawExec(raw)
		return resp.Msg
	}
	// id-5 and id-1500 are in files, id-2390 is hot.
	r := del(&v1.DeleteRequest{Ids: []string{"id-5", "id-1500", "id-2390"}}, `DELETE FROM events WHERE id IN ('id-5', 'id-1500', 'id-2390')`)
	if r.HotRowsDeleted != 1 {
		t.Errorf("hot rows deleted: %d, want 1", r.HotRowsDeleted)
	}
	del(&v1.DeleteRequest{Start: "2026-01-02T00:00:00Z", End: "2026-01-02T06:00:00Z"},
		`DELETE FROM events WHERE ts >= TIMESTAMP '2026-01-02 00:00:00' AND ts < TIMESTAMP '2026-01-02 06:00:00'`)
	var ids []string
	for i := 10; i < 400; i += 7 {
		ids = append(ids, fmt.Sprint("id-", i))
	}
	del(&v1.DeleteRequest{Ids: ids, Start: "2026-01-01T00:00:00Z", End: "2026-01-01T12:00:00Z"},
		fmt.Sprintf(`DELETE FROM events WHERE id IN ('%s') AND ts >= TIMESTAMP '2026-01-01 00:00:00' AND ts < TIMESTAMP '2026-01-01 12:00:00'`, strings.Join(ids, "','")))
	v, _ := n.fsm.Table("events")
	if len(v.Tombstones) == 0 {
		t.Fatal("no tombstones recorded for the flushed rows")
	}
	checkAll("deletes")

	// Upserts: rows with ids in files, in the hot rows, and a new one.
	upsert := `{"id":"id-7","ts":"2026-01-03T01:00:00Z","value":1.5,"region":"eu","host":"h-1","status":201,"note":"new","score":0.5}
{"id":"id-1600","ts":"2026-01-01T01:00:00Z","value":2.5,"region":"us","host":"h-2","status":202,"score":1}
{"id":"id-2391","ts":"2026-01-02T01:00:00Z","value":3.5,"region":"ap","host":"h-3","status":203,"score":2.5}
{"id":"id-9999","ts":"2026-01-02T23:00:00Z","value":4.5,"region":"eu","host":"h-4","status":204,"score":3}
`
	if _, err := n.Write(ctx, WriteInput{Table: "events", Input: ingest.NDJSON([]byte(upsert)), UpsertKey: "id"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "upsert.ndjson")
	if err := os.WriteFile(file, []byte(upsert), 0o644); err != nil {
		t.Fatal(err)
	}
	rawExec(`DELETE FROM events WHERE id IN ('id-7', 'id-1600', 'id-2391', 'id-9999')`)
	rawExec(fmt.Sprintf(`INSERT INTO events BY NAME SELECT * FROM read_json('%s', format = 'newline_delimited',
		columns = {id: 'VARCHAR', ts: 'TIMESTAMP', value: 'DOUBLE', region: 'VARCHAR', host: 'VARCHAR', status: 'BIGINT', note: 'VARCHAR', score: 'DOUBLE'})`, file))
	checkAll("upserts")

	// Flushing and compacting rewrites the files without the deleted rows
	// and forgets the tombstones.
	c.flush("events")
	checkAll("the flush")
	res := c.compact("events", true)
	v, _ = n.fsm.Table("events")
	if res.Merges == 0 || len(v.Tombstones) != 0 {
		t.Fatalf("after compaction: %+v, %d tombstones left", res, len(v.Tombstones))
	}
	checkAll("compaction")

	// Refusals.
	for _, tc := range []struct {
		req  *v1.DeleteRequest
		want string
	}{
		{&v1.DeleteRequest{Table: "events"}, "needs ids, a time range"},
		{&v1.DeleteRequest{Table: "events", Start: "2026-01-02T00:00:00Z", End: "2026-01-01T00:00:00Z"}, "is empty"},
		{&v1.DeleteRequest{Table: "events", Start: "yesterday"}, "start"},
		{&v1.DeleteRequest{Table: "nope", Ids: []string{"a"}}, "not found"},
	} {
		if _, err := c.write.Delete(ctx, connect.NewRequest(tc.req)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("delete %v: %v, want an error with %q", tc.req, err, tc.want)
		}
	}
	for _, tc := range []struct {
		rows, key, want string
	}{
		{`{"id":"a"}` + "\n" + `{"id":"a"}`, "id", "appears twice"},
		{`{"x":1}`, "id", "no id"},
		{`{"id":"a"}`, "name", "only \"id\""},
	} {
		_, err := n.Write(ctx, WriteInput{Table: "events", Input: ingest.NDJSON([]byte(tc.rows)), UpsertKey: tc.key})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("upsert %q by %q: %v, want an error with %q", tc.rows, tc.key, err, tc.want)
		}
	}
}

// TestDeleteDuringMerge deletes rows while a merge of their files is
// running: the merge's commit must be refused (its file still holds the
// rows), the rows stay deleted, and the next merge leaves them out.
func TestDeleteDuringMerge(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	fp, err := failpoint.Parse("compaction-after-upload=pause(1500ms)@1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Failpoints = fp
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	ctx := context.Background()
	writeFiles(t, n, c, 3, 10)
	done := make(chan CompactResult, 1)
	go func() {
		res, err := n.Compact(ctx, "events", false)
		if err != nil {
			t.Errorf("compact: %v", err)
		}
		done <- res
	}()
	eventually(t, 10*time.Second, "the merge is running", func() error {
		if n.compacting.total() == 0 {
			return fmt.Errorf("no merge running")
		}
		return nil
	})
	if _, err := c.write.Delete(ctx, connect.NewRequest(&v1.DeleteRequest{Table: "events", Ids: []string{"r0-1", "r2-5"}})); err != nil {
		t.Fatal(err)
	}
	if res := <-done; res.Merges != 0 {
		t.Fatalf("the merge that read the deleted rows committed: %+v", res)
	}
	const want = "[28,0]\n"
	count := func() string {
		return c.sql("SELECT count(*), count(*) FILTER (WHERE id IN ('r0-1', 'r2-5')) FROM events")
	}
	if got := count(); got != want {
		t.Fatalf("after the refused merge: %s", got)
	}
	if res, err := n.Compact(ctx, "events", true); err != nil || res.Merges == 0 {
		t.Fatalf("compact again: %+v %v", res, err)
	}
	if got := count(); got != want {
		t.Fatalf("after compaction: %s", got)
	}
}
