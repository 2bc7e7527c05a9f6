package ingest

import (
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestParseData runs testdata/parse: NDJSON rows → the typed batches per
// partition and the table's schema after the request, or the error.
// Directive:
//
//	parse [schema=name:TYPE,…] [explicit] [partitioning=none|hour|day|month]
//
// The server time is testNow. go test ./ingest -run TestParseData -rewrite
// regenerates the outputs.
func TestParseData(t *testing.T) {
	datadriven.RunTest(t, "testdata/parse", func(t *testing.T, td *datadriven.TestData) string {
		if td.Cmd != "parse" {
			t.Fatalf("%s: unknown directive %q", td.Pos, td.Cmd)
		}
		tbl := Table{Name: "t", Explicit: td.HasArg("explicit")}
		if td.HasArg("schema") {
			var spec string
			td.ScanArgs(t, "schema", &spec)
			var pairs []string
			for _, c := range strings.Split(spec, ",") {
				pairs = append(pairs, strings.Replace(c, ":", " ", 1))
			}
			tbl.Columns = cols(pairs...)
		}
		if td.HasArg("partitioning") {
			var p string
			td.ScanArgs(t, "partitioning", &p)
			v, ok := miniodbv1.Partitioning_value["PARTITIONING_"+strings.ToUpper(p)]
			if !ok {
				t.Fatalf("%s: partitioning %q", td.Pos, p)
			}
			tbl.Partitioning = miniodbv1.Partitioning(v)
		}
		res, err := Parse(tbl, NDJSON([]byte(td.Input)), testNow, Options{})
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		checkResult(t, tbl, res)
		return render(res)
	})
}
