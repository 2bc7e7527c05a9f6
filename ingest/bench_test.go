package ingest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

const benchRows = 5000

// benchRow is the sample row of the ingest throughput target.
func benchRow(i int) string {
	return fmt.Sprintf(`{"id":"dev-%d","ts":"2026-01-01T00:00:%02dZ","value":%d.5,"region":"eu","host":"h-%d","status":200}`, i%100, i%60, i%1000, i%50)
}

func benchArray() []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i := range benchRows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(benchRow(i))
	}
	b.WriteByte(']')
	return b.Bytes()
}

func benchNDJSON() []byte {
	var b bytes.Buffer
	for i := range benchRows {
		b.WriteString(benchRow(i))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

var benchTable = Table{Name: "metrics", Columns: []*miniodbv1.Column{
	{Name: "ts", Type: miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP},
	{Name: "id", Type: miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR},
	{Name: "host", Type: miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR},
	{Name: "region", Type: miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR},
	{Name: "status", Type: miniodbv1.ColumnType_COLUMN_TYPE_BIGINT},
	{Name: "value", Type: miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE},
}}

// BenchmarkParse parses 5,000-row requests of the sample row and reports
// rows/s (wall) and rows/cpu-s (process CPU time, GC included: the better
// figure on a shared machine). Run with -cpu 1 for the one-core number.
func BenchmarkParse(b *testing.B) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	structs := make([]*structpb.Struct, benchRows)
	for i := range structs {
		st := &structpb.Struct{}
		if err := st.UnmarshalJSON([]byte(benchRow(i))); err != nil {
			b.Fatal(err)
		}
		structs[i] = st
	}
	for _, tc := range []struct {
		name string
		in   Input
		size int
	}{
		{"array", JSONArray(benchArray()), len(benchArray())},
		{"ndjson", NDJSON(benchNDJSON()), len(benchNDJSON())},
		{"structs", Structs(structs), 0},
	} {
		for _, tbl := range []struct {
			name string
			t    Table
		}{{"existing", benchTable}, {"new", Table{Name: "metrics"}}} {
			b.Run(tc.name+"/"+tbl.name, func(b *testing.B) {
				b.ReportAllocs()
				if tc.size > 0 {
					b.SetBytes(int64(tc.size))
				}
				cpu0 := cpuTime()
				for b.Loop() {
					res, err := Parse(tbl.t, tc.in, now, Options{})
					if err != nil {
						b.Fatal(err)
					}
					if res.Rows != benchRows {
						b.Fatalf("rows = %d", res.Rows)
					}
				}
				b.ReportMetric(float64(b.N)*benchRows/b.Elapsed().Seconds(), "rows/s")
				if cpu := cpuTime() - cpu0; cpu > 0 {
					// CPU time includes the GC's background work.
					b.ReportMetric(float64(b.N)*benchRows/cpu.Seconds(), "rows/cpu-s")
				}
			})
		}
	}
}
