package compaction

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestMergeBench compares this package's merge with DuckDB's
// COPY (SELECT … ORDER BY ts) TO … over the same small files, each run in
// a child process so that its peak memory (VmHWM) is its own. It runs
// only under make bench (MINIODB_MERGE_BENCH=1); the figures go in
// docs/benchmarks.md.
func TestMergeBench(t *testing.T) {
	if os.Getenv("MINIODB_MERGE_BENCH") == "" {
		t.Skip("set MINIODB_MERGE_BENCH=1 (make bench) to measure merges")
	}
	for _, shape := range []struct {
		files, rows int
		layout      string
	}{
		{1000, 2000, "successive"}, {1000, 2000, "overlapping"}, {32, 62500, "successive"}, {32, 62500, "overlapping"},
	} {
		files, rows, layout := shape.files, shape.rows, shape.layout
		dir := t.TempDir()
		inputs := benchInputs(t, dir, files, rows, layout == "overlapping")
		var slim []benchInput
		for _, in := range inputs {
			slim = append(slim, benchInput{in.File.Key, in.Path, in.File.RowCount})
		}
		list, _ := json.Marshal(slim)
		listFile := filepath.Join(dir, "inputs.json")
		if err := os.WriteFile(listFile, list, 0o644); err != nil {
			t.Fatal(err)
		}
		var inBytes int64
		for _, in := range inputs {
			inBytes += in.File.SizeBytes
		}
		fmt.Printf("\n%s: %d files of %d rows (%d rows, %.1f MB in)\n", layout, files, rows, files*rows, float64(inBytes)/1e6)
		fmt.Printf("%-28s %9s %11s %9s %10s %11s\n", "merge", "seconds", "rows/s", "MB/s in", "out MB", "peak RSS MB")
		for _, variant := range []string{"parquet-go", "parquet-go-buffer-32k", "duckdb-1-thread", "duckdb-2-threads"} {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMergeBenchChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), "MINIODB_MERGE_CHILD="+variant, "MINIODB_MERGE_INPUTS="+listFile,
				"MINIODB_MERGE_OUT="+filepath.Join(dir, variant+".parquet"))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", variant, err, out)
			}
			var r struct {
				Seconds float64
				Bytes   int64
				PeakKB  int64
			}
			line := out[strings.Index(string(out), "RESULT ")+len("RESULT "):]
			line = line[:strings.IndexByte(string(line), '\n')]
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("%s: %v in %q", variant, err, out)
			}
			fmt.Printf("%-28s %9.2f %11.0f %9.1f %10.1f %11.0f\n", variant, r.Seconds, float64(files*rows)/r.Seconds,
				float64(inBytes)/1e6/r.Seconds, float64(r.Bytes)/1e6, float64(r.PeakKB)/1024)
		}
	}
}

// benchInput is an input as the parent hands it to a child.
type benchInput struct {
	Key, Path string
	Rows      int64
}

// TestMergeBenchChild is one measured merge (see TestMergeBench).
func TestMergeBenchChild(t *testing.T) {
	variant := os.Getenv("MINIODB_MERGE_CHILD")
	if variant == "" {
		t.Skip("child of TestMergeBench")
	}
	data, err := os.ReadFile(os.Getenv("MINIODB_MERGE_INPUTS"))
	if err != nil {
		t.Fatal(err)
	}
	var slim []benchInput
	if err := json.Unmarshal(data, &slim); err != nil {
		t.Fatal(err)
	}
	var inputs []Input
	for _, in := range slim {
		inputs = append(inputs, Input{Path: in.Path, File: &v1.DataFile{Key: in.Key, RowCount: in.Rows}})
	}
	out := os.Getenv("MINIODB_MERGE_OUT")
	start := time.Now()
	switch variant {
	case "parquet-go", "parquet-go-buffer-32k":
		opts := MergeOptions{}
		if variant == "parquet-go-buffer-32k" {
			opts.BufferRows = 32 << 10
		}
		if _, _, err := MergeFile(context.Background(), inputs, out, opts); err != nil {
			t.Fatal(err)
		}
	default:
		threads := 1
		if variant == "duckdb-2-threads" {
			threads = 2
		}
		connector, err := duckdb.NewConnector("", nil)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(connector)
		defer db.Close()
		var paths []string
		for _, in := range inputs {
			paths = append(paths, "'"+in.Path+"'")
		}
		for _, q := range []string{
			fmt.Sprintf("SET threads = %d", threads),
			"SET memory_limit = '256MB'",
			fmt.Sprintf("SET temp_directory = '%s'", filepath.Dir(out)+"/spill"),
			fmt.Sprintf("COPY (SELECT * FROM read_parquet([%s]) ORDER BY ts) TO '%s' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 262144)",
				strings.Join(paths, ", "), out),
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
	}
	elapsed := time.Since(start)
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	status, _ := os.ReadFile("/proc/self/status")
	var peak int64
	for _, l := range strings.Split(string(status), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			peak, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	r, _ := json.Marshal(map[string]any{"Seconds": elapsed.Seconds(), "Bytes": fi.Size(), "PeakKB": peak})
	fmt.Printf("RESULT %s\n", r)
}

// benchInputs writes files as successive flushes do (each file's ts after
// the previous one's) or with overlapping ts ranges.
func benchInputs(t testing.TB, dir string, files, rows int, overlap bool) []Input {
	schema := []*v1.Column{col("ts", tTimestamp), col("id", tVarchar), col("region", tVarchar), col("value", tDouble), col("status", tBigint)}
	r := rand.New(rand.NewPCG(1, 2))
	var inputs []Input
	base := int64(1_767_225_600_000_000) // 2026-01-01
	for i := range files {
		b := &v1.RowBatch{RowCount: int64(rows), Columns: schema, Vectors: make([]*v1.ColumnVector, len(schema))}
		for j := range schema {
			b.Vectors[j] = &v1.ColumnVector{}
		}
		for k := range rows {
			ts := base + int64(i*rows+k)*1000
			if overlap {
				ts = base + r.Int64N(int64(files*rows)*1000)
			}
			b.Vectors[0].Ints = append(b.Vectors[0].Ints, ts)
			b.Vectors[1].Strings = append(b.Vectors[1].Strings, fmt.Sprintf("dev-%d", r.IntN(100_000)))
			b.Vectors[2].Strings = append(b.Vectors[2].Strings, []string{"eu", "us", "ap"}[r.IntN(3)])
			b.Vectors[3].Doubles = append(b.Vectors[3].Doubles, r.Float64()*100)
			b.Vectors[4].Ints = append(b.Vectors[4].Ints, []int64{200, 200, 404, 500}[r.IntN(4)])
		}
		inputs = append(inputs, writeInput(t, dir, i, schema, b))
	}
	return inputs
}
