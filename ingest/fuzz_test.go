package ingest

import (
	"testing"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzParse: Parse never panics; when it succeeds, the Result has every
// invariant (vectors as long as RowCount, one list per type, null bitmaps
// sized right, partitions ascending with each ts inside its partition,
// Columns the merge of table and batch), and parsing the same input again
// against the schema it produced gives the same batches.
//
// mode picks the form (bit 0: array or NDJSON), the table (bits 1-2: new,
// existing, explicit) and the partitioning (bits 3-4).
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`[{"id":"dev-1","ts":"2026-01-01T00:00:00Z","value":1.5,"region":"eu","host":"h-12","status":200}]`,
		`[{"a":1},{"a":1.5},{"a":null},{"b":{"x":[1,2,{"y":"z"}]}}]`,
		`[{"ts":"2026-01-01 00:00:00.5","s":"\u00e9\ud83d\ude00","j":[]},{"ts":"2025-12-31T23:59:59+01:00"}]`,
		"{\"a\":1}\n\n{\"a\":\"x\"}\r\n",
		`[{"a":12345678901234567890}]`,
		`[{"a":1,"a":2}]`,
		`[{"j":{"k":1,"k":2}}]`,
		`[{"b":true,"c":-0,"d":1e-400,"e":"2026-01-01T00:00:00Z"}]`,
		`[[1],"x",null]`,
		`[]`,
		``,
	} {
		for mode := range 8 {
			f.Add([]byte(seed), byte(mode))
		}
	}
	existing := cols("ts TIMESTAMP", "id VARCHAR", "a BIGINT", "b BOOLEAN", "c DOUBLE", "e TIMESTAMP", "j JSON", "s VARCHAR")
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		in := JSONArray(data)
		if mode&1 != 0 {
			in = NDJSON(data)
		}
		tbl := Table{Name: "t", Partitioning: miniodbv1.Partitioning(1 + (mode>>3)%4)}
		switch (mode >> 1) & 3 {
		case 1:
			tbl.Columns = existing
		case 2:
			tbl.Columns, tbl.Explicit = existing, true
		}
		opts := Options{MaxDepth: 16, MaxRows: 1000}
		res, err := Parse(tbl, in, testNow, opts)
		if err != nil {
			if res != nil {
				t.Fatal("a Result with an error")
			}
			return
		}
		if msg := resultProblem(tbl, res); msg != "" {
			t.Fatalf("bad result: %s\n%s", msg, render(res))
		}
		again := tbl
		again.Columns = res.Columns
		res2, err := Parse(again, in, testNow, opts)
		if err != nil {
			t.Fatalf("parse against its own schema: %v", err)
		}
		if !proto.Equal(&miniodbv1.InsertCommand{Batches: res.Batches}, &miniodbv1.InsertCommand{Batches: res2.Batches}) {
			t.Fatalf("parse against its own schema differs:\n%s\n%s", render(res), render(res2))
		}
	})
}
