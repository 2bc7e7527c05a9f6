package parquetio

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenRows cover every type with NULLs, zero values and unsorted ts.
var goldenRows = [][]cell{
	{int64(1_767_312_000_000_000), "b", int64(42), 1.5, true, `{"k":"v"}`},
	{int64(1_767_225_600_000_000), "", int64(0), 0.0, false, ""},
	{int64(1_767_225_600_000_001), nil, nil, nil, nil, nil},
	{nil, "no ts", int64(-1), math.Inf(-1), true, "[]"},
	{int64(1_767_398_399_999_999), "ünïcødé", int64(math.MaxInt64), -2.25, false, "null"},
}

// TestGoldenFormatV1 keeps format version 1 readable: testdata/format_v1.parquet
// was written by WriteFile and must read back to the same rows, statistics
// and schema forever. It also fails when the writer's bytes change, so that
// format changes are deliberate: if one is intended (or comes from a
// parquet-go upgrade) and the format version stays, run
//
//	go test ./parquetio -run TestGoldenFormatV1 -update
//
// and review the diff of the statistics, not only the bytes.
func TestGoldenFormatV1(t *testing.T) {
	path := filepath.Join("testdata", "format_v1.parquet")
	data, meta := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, goldenRows...)}, WriteOptions{RowGroupRows: 2})
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	gotMeta, schema, err := ReadStats(bytes.NewReader(golden), int64(len(golden)))
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, gotMeta, meta)
	if !schemaEqual(schema, allTypesSchema) {
		t.Fatalf("schema = %v", schema)
	}
	batches := mustReadBatches(t, golden)
	if len(batches) != 3 {
		t.Errorf("%d row groups, want 3", len(batches))
	}
	if got := rowsOf(t, allTypesSchema, batches); !reflect.DeepEqual(got, sortedByTS(goldenRows)) {
		t.Fatalf("rows = %v", got)
	}
	if !bytes.Equal(data, golden) {
		t.Errorf("WriteFile's output differs from %s; see the test's comment", path)
	}
}
