package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/cockroachdb/datadriven"

	"github.com/miniodb/miniodb/ingest"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestSQLLogic runs the files under testdata/sql against a real node, in
// the style of DuckDB's sqllogictest, as data-driven tests: each directive
// is followed by its input, ----, and the output it must give.
// `go test ./node -run TestSQLLogic -rewrite` writes the actual outputs
// into the files; review the diff. Directives:
//
//	write table=T          NDJSON rows follow; "ok: N rows" or "error: …"
//	flush                  flush every table; "flushed N rows into M files"
//	restart                close the node and start it again on the same directory
//	query [rowsort]        SQL follows; the rows as JSON arrays (sorted with
//	                       rowsort), or "error: …"
//
// Lines starting with # are comments.
func TestSQLLogic(t *testing.T) {
	datadriven.Walk(t, "testdata/sql", func(t *testing.T, path string) {
		dir := t.TempDir()
		n := mustStartNode(t, testConfig(t, dir))
		defer func() { n.Close() }()
		c := newClient(t, n)
		ctx := context.Background()
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			switch td.Cmd {
			case "write":
				var table string
				td.ScanArgs(t, "table", &table)
				res, err := n.Write(ctx, WriteInput{Table: table, Input: ingest.NDJSON([]byte(td.Input))})
				if err != nil {
					return "error: " + err.Error() + "\n"
				}
				return fmt.Sprintf("ok: %d rows\n", res.Rows)
			case "flush":
				r := c.flush("")
				return fmt.Sprintf("flushed %d rows into %d files\n", r.RowsFlushed, r.FilesWritten)
			case "restart":
				if err := n.Close(); err != nil {
					t.Fatalf("%s: close: %v", td.Pos, err)
				}
				n = mustStartNode(t, testConfig(t, dir))
				c = newClient(t, n)
				return "ok\n"
			case "query":
				resp, err := c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: td.Input}))
				if err != nil {
					return "error: " + err.Error() + "\n"
				}
				got := strings.Split(strings.TrimSuffix(rowsJSON(resp.Msg.Rows), "\n"), "\n")
				if td.HasArg("rowsort") {
					slices.Sort(got)
				}
				return strings.Join(got, "\n") + "\n"
			}
			t.Fatalf("%s: unknown directive %q", td.Pos, td.Cmd)
			return ""
		})
	})
}
