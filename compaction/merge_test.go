package compaction

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duckdb/duckdb-go/v2"
	"google.golang.org/protobuf/proto"

	"github.com/miniodb/miniodb/parquetio"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

var (
	tBigint    = v1.ColumnType_COLUMN_TYPE_BIGINT
	tDouble    = v1.ColumnType_COLUMN_TYPE_DOUBLE
	tVarchar   = v1.ColumnType_COLUMN_TYPE_VARCHAR
	tBoolean   = v1.ColumnType_COLUMN_TYPE_BOOLEAN
	tTimestamp = v1.ColumnType_COLUMN_TYPE_TIMESTAMP
	tJSON      = v1.ColumnType_COLUMN_TYPE_JSON
)

func col(name string, t v1.ColumnType) *v1.Column { return &v1.Column{Name: name, Type: t} }

// randomBatch makes n rows of schema with NULLs, duplicate timestamps,
// NaN, empty and long strings.
func randomBatch(r *rand.Rand, schema []*v1.Column, n int) *v1.RowBatch {
	b := &v1.RowBatch{RowCount: int64(n), Columns: schema}
	for _, c := range schema {
		v := &v1.ColumnVector{Nulls: make([]byte, (n+7)/8)}
		for i := range n {
			null := c.Name != "ts" && r.IntN(8) == 0
			if null {
				v.Nulls[i/8] |= 1 << (i % 8)
			}
			switch c.Type {
			case tTimestamp:
				v.Ints = append(v.Ints, 1_700_000_000_000_000+int64(r.IntN(1000))*1_000_000)
			case tBigint:
				v.Ints = append(v.Ints, int64(r.IntN(1<<20))-1<<19)
			case tDouble:
				d := r.NormFloat64()
				if r.IntN(50) == 0 {
					d = math.NaN()
				}
				v.Doubles = append(v.Doubles, d)
			case tVarchar:
				s := fmt.Sprintf("id-%d", r.IntN(100))
				switch r.IntN(20) {
				case 0:
					s = ""
				case 1:
					s = strings.Repeat("long ", 100) + s
				}
				v.Strings = append(v.Strings, s)
			case tJSON:
				v.Strings = append(v.Strings, fmt.Sprintf(`{"k":%d}`, r.IntN(10)))
			case tBoolean:
				v.Bools = append(v.Bools, r.IntN(2) == 0)
			}
		}
		b.Vectors = append(b.Vectors, v)
	}
	return b
}

// writeInput writes one flushed file and returns it as a merge input.
func writeInput(t testing.TB, dir string, i int, schema []*v1.Column, b *v1.RowBatch) Input {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("in-%d.parquet", i))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta, err := parquetio.WriteFile(f, schema, []*v1.RowBatch{b}, parquetio.WriteOptions{BloomFilterColumns: bloomOf(schema)})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return Input{Path: path, File: &v1.DataFile{
		Key: fmt.Sprintf("data/t/1/p/%d.parquet", i), Table: "t", Partition: "p",
		RowCount: meta.RowCount, SizeBytes: fi.Size(), Stats: meta.Stats, Columns: schema,
	}}
}

func bloomOf(schema []*v1.Column) []string {
	for _, c := range schema {
		if c.Name == "id" {
			return []string{"id"}
		}
	}
	return nil
}

// rowsOf reads files back with parquetio and renders every row in the
// union schema cols (a missing column is NULL, BIGINT read as DOUBLE where
// cols say so), sorted: the multiset of rows, independent of DuckDB.
func rowsOf(t testing.TB, cols []*v1.Column, paths ...string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		batches, err := parquetio.ReadBatches(strings.NewReader(string(data)), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range batches {
			for i := range int(b.RowCount) {
				out = append(out, renderRow(cols, b, i))
			}
		}
	}
	slices.Sort(out)
	return out
}

func renderRow(cols []*v1.Column, b *v1.RowBatch, i int) string {
	var sb strings.Builder
	for _, c := range cols {
		j := slices.IndexFunc(b.Columns, func(x *v1.Column) bool { return x.Name == c.Name })
		if j < 0 {
			sb.WriteString("NULL|")
			continue
		}
		v := b.Vectors[j]
		if len(v.Nulls) > 0 && v.Nulls[i/8]&(1<<(i%8)) != 0 {
			sb.WriteString("NULL|")
			continue
		}
		switch bt := b.Columns[j].Type; {
		case bt == tBigint && c.Type == tDouble:
			fmt.Fprintf(&sb, "%v|", float64(v.Ints[i]))
		case bt == tBigint || bt == tTimestamp:
			fmt.Fprintf(&sb, "%d|", v.Ints[i])
		case bt == tDouble:
			fmt.Fprintf(&sb, "%v|", v.Doubles[i])
		case bt == tBoolean:
			fmt.Fprintf(&sb, "%t|", v.Bools[i])
		default:
			fmt.Fprintf(&sb, "%q|", v.Strings[i])
		}
	}
	return sb.String()
}

func mergeFile(t testing.TB, inputs []Input, out string, opts MergeOptions) (Output, int64, error) {
	t.Helper()
	return MergeFile(context.Background(), inputs, out, opts)
}

// TestMerge merges files of evolving schemas and checks the output
// against its inputs without DuckDB: the same rows, sorted by ts, in the
// union schema, with exact statistics and MinIODB's footer.
func TestMerge(t *testing.T) {
	narrow := []*v1.Column{col("ts", tTimestamp), col("id", tVarchar), col("n", tBigint)}
	wider := []*v1.Column{col("ts", tTimestamp), col("id", tVarchar), col("n", tDouble), col("ok", tBoolean)}
	widest := []*v1.Column{col("ts", tTimestamp), col("id", tVarchar), col("n", tDouble), col("ok", tBoolean), col("doc", tJSON)}
	for _, tc := range []struct {
		name    string
		schemas [][]*v1.Column
		rows    int
		want    []*v1.Column
	}{
		{"one schema", [][]*v1.Column{narrow, narrow, narrow}, 200, narrow},
		{"BIGINT widened, columns added", [][]*v1.Column{narrow, wider, narrow, widest}, 300, widest},
		{"one input", [][]*v1.Column{wider}, 50, wider},
		{"empty strings and NULLs only", [][]*v1.Column{narrow, narrow}, 1, narrow},
		{"many inputs", slices.Repeat([][]*v1.Column{narrow, wider}, 100), 20, wider},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(len(tc.name))))
			dir := t.TempDir()
			var inputs []Input
			var paths []string
			for i, s := range tc.schemas {
				in := writeInput(t, dir, i, s, randomBatch(r, s, 1+r.IntN(tc.rows)))
				inputs = append(inputs, in)
				paths = append(paths, in.Path)
			}
			out := filepath.Join(dir, "out.parquet")
			got, size, err := mergeFile(t, inputs, out, MergeOptions{BlockRows: 7, RowGroupRows: 100})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got.Columns, tc.want, func(a, b *v1.Column) bool { return proto.Equal(a, b) }) {
				t.Fatalf("columns %v, want %v", got.Columns, tc.want)
			}
			want := rowsOf(t, tc.want, paths...)
			if rows := rowsOf(t, tc.want, out); !slices.Equal(rows, want) {
				t.Fatalf("merged rows differ from the inputs' (%d vs %d rows)", len(rows), len(want))
			}
			if got.RowCount != int64(len(want)) {
				t.Errorf("RowCount %d, want %d", got.RowCount, len(want))
			}
			fi, _ := os.Stat(out)
			if size != fi.Size() {
				t.Errorf("size %d, file has %d", size, fi.Size())
			}
			data, _ := os.ReadFile(out)
			meta, schema, err := parquetio.ReadStats(strings.NewReader(string(data)), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(schema, tc.want, func(a, b *v1.Column) bool { return proto.Equal(a, b) }) {
				t.Errorf("footer schema %v, want %v", schema, tc.want)
			}
			for j := range tc.want {
				if !statsEqual(meta.Stats[j], got.Stats[j]) {
					t.Errorf("column %s: footer stats %v, merge reported %v", tc.want[j].Name, meta.Stats[j], got.Stats[j])
				}
			}
			batches, err := parquetio.ReadBatches(strings.NewReader(string(data)), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			var last int64 = math.MinInt64
			for _, b := range batches {
				for _, ts := range b.Vectors[0].Ints {
					if ts < last {
						t.Fatalf("merged rows are not sorted by ts: %d after %d", ts, last)
					}
					last = ts
				}
			}
		})
	}
}

func statsEqual(a, b *v1.ColumnStats) bool {
	if proto.Equal(a, b) {
		return true
	}
	return a.NullCount == b.NullCount && proto.Equal(a.Min, b.Min) &&
		math.IsNaN(a.GetMax().GetDouble()) && math.IsNaN(b.GetMax().GetDouble())
}

// TestMergeBloomFilter checks that the merged file keeps a bloom filter on
// id, which DuckDB uses to skip row groups for id = 'x'.
func TestMergeBloomFilter(t *testing.T) {
	schema := []*v1.Column{col("ts", tTimestamp), col("id", tVarchar)}
	r := rand.New(rand.NewPCG(1, 1))
	dir := t.TempDir()
	inputs := []Input{writeInput(t, dir, 0, schema, randomBatch(r, schema, 100)), writeInput(t, dir, 1, schema, randomBatch(r, schema, 100))}
	out := filepath.Join(dir, "out.parquet")
	if _, _, err := mergeFile(t, inputs, out, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	var offset sql.NullInt64
	if err := db.QueryRow(`SELECT max(bloom_filter_offset) FROM parquet_metadata(?) WHERE path_in_schema = 'id'`, out).Scan(&offset); err != nil {
		t.Fatal(err)
	}
	if !offset.Valid {
		t.Error("merged file has no bloom filter on id")
	}
}

// TestMergeBufferRows merges many inputs with a small buffer: the output's
// row groups respect it and the rows are the inputs'.
func TestMergeBufferRows(t *testing.T) {
	schema := []*v1.Column{col("ts", tTimestamp), col("id", tVarchar), col("n", tBigint)}
	r := rand.New(rand.NewPCG(2, 3))
	dir := t.TempDir()
	var inputs []Input
	var paths []string
	for i := range 50 {
		in := writeInput(t, dir, i, schema, randomBatch(r, schema, 100+r.IntN(200)))
		inputs = append(inputs, in)
		paths = append(paths, in.Path)
	}
	out := filepath.Join(dir, "out.parquet")
	if _, _, err := mergeFile(t, inputs, out, MergeOptions{BufferRows: 1000}); err != nil {
		t.Fatal(err)
	}
	if got, want := rowsOf(t, schema, out), rowsOf(t, schema, paths...); !slices.Equal(got, want) {
		t.Fatalf("rows differ (%d vs %d)", len(got), len(want))
	}
	data, _ := os.ReadFile(out)
	batches, err := parquetio.ReadBatches(strings.NewReader(string(data)), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range batches {
		if b.RowCount > 1000 {
			t.Fatalf("a row group of %d rows with a buffer of 1000", b.RowCount)
		}
	}
	if len(batches) < 7 {
		t.Errorf("%d row groups for about 10,000 rows", len(batches))
	}
}

func TestMergeRefusesBadInput(t *testing.T) {
	schema := []*v1.Column{col("ts", tTimestamp), col("n", tBigint)}
	other := []*v1.Column{col("ts", tTimestamp), col("n", tVarchar)}
	r := rand.New(rand.NewPCG(1, 1))
	dir := t.TempDir()
	a := writeInput(t, dir, 0, schema, randomBatch(r, schema, 10))
	b := writeInput(t, dir, 1, other, randomBatch(r, other, 10))
	if _, _, err := mergeFile(t, []Input{a, b}, filepath.Join(dir, "x.parquet"), MergeOptions{}); err == nil {
		t.Error("BIGINT and VARCHAR inputs merged")
	}
	// A catalog entry that claims more rows than its file holds.
	a.File = proto.CloneOf(a.File)
	a.File.RowCount++
	out := filepath.Join(dir, "y.parquet")
	if _, _, err := mergeFile(t, []Input{a}, out, MergeOptions{}); err == nil || !strings.Contains(err.Error(), "rows") {
		t.Errorf("row count mismatch: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("failed merge left its output: %v", err)
	}
	missing := a
	missing.Path = filepath.Join(dir, "missing.parquet")
	if _, _, err := mergeFile(t, []Input{missing}, out, MergeOptions{}); err == nil {
		t.Error("merged a missing file")
	}
}
