package parquetio

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

var allTypesSchema = []*miniodbv1.Column{
	col("ts", tTimestamp),
	col("id", tVarchar),
	col("n", tBigint),
	col("x", tDouble),
	col("ok", tBoolean),
	col("doc", tJSON),
}

func TestRoundTripAllTypes(t *testing.T) {
	tests := []struct {
		name string
		rows [][]cell
	}{
		{"zero values stay values", [][]cell{
			{int64(0), "", int64(0), 0.0, false, ""},
		}},
		{"nulls stay null", [][]cell{
			{int64(1), nil, nil, nil, nil, nil},
		}},
		{"mixed", [][]cell{
			{int64(-5), "a", int64(math.MinInt64), -0.5, true, `{"a":1}`},
			{int64(0), "", int64(0), 0.0, false, ""},
			{int64(7), nil, int64(math.MaxInt64), math.Inf(1), nil, `[1,2]`},
			{int64(1700000000000000), "ünïcødé", nil, math.SmallestNonzeroFloat64, false, nil},
			{nil, "null ts sorts last", int64(3), nil, true, "{}"},
			{int64(7), "tie keeps input order", int64(4), math.Inf(-1), true, "null"},
		}},
		{"no rows", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := mkBatch(t, allTypesSchema, tc.rows...)
			data, meta := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{in}, WriteOptions{})
			if meta.RowCount != int64(len(tc.rows)) {
				t.Fatalf("RowCount = %d, want %d", meta.RowCount, len(tc.rows))
			}
			got := rowsOf(t, allTypesSchema, mustReadBatches(t, data))
			want := sortedByTS(tc.rows)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %v\nwant %v", got, want)
			}
			_, schema, err := ReadStats(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if !schemaEqual(schema, allTypesSchema) {
				t.Fatalf("schema = %v, want %v", schema, allTypesSchema)
			}
		})
	}
}

// sortedByTS is the reference sort: stable by column 0, NULL last.
func sortedByTS(rows [][]cell) [][]cell {
	out := slices.Clone(rows)
	slices.SortStableFunc(out, func(a, b []cell) int {
		switch {
		case a[0] == nil && b[0] == nil:
			return 0
		case a[0] == nil:
			return 1
		case b[0] == nil:
			return -1
		}
		x, y := a[0].(int64), b[0].(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return out
}

func schemaEqual(a, b []*miniodbv1.Column) bool {
	return slices.EqualFunc(a, b, func(x, y *miniodbv1.Column) bool { return proto.Equal(x, y) })
}

func TestConformBatches(t *testing.T) {
	schema := []*miniodbv1.Column{col("ts", tTimestamp), col("v", tDouble), col("s", tVarchar)}
	tests := []struct {
		name    string
		batches []*miniodbv1.RowBatch
		want    [][]cell
		wantErr string
	}{
		{
			name: "missing columns are NULL",
			batches: []*miniodbv1.RowBatch{
				mkBatch(t, []*miniodbv1.Column{col("ts", tTimestamp)}, []cell{int64(1)}),
				mkBatch(t, []*miniodbv1.Column{col("s", tVarchar), col("ts", tTimestamp)}, []cell{"x", int64(2)}),
			},
			want: [][]cell{{int64(1), nil, nil}, {int64(2), nil, "x"}},
		},
		{
			name: "one batch with a missing column",
			batches: []*miniodbv1.RowBatch{
				mkBatch(t, []*miniodbv1.Column{col("ts", tTimestamp), col("v", tDouble)}, []cell{int64(1), 0.0}, []cell{int64(2), nil}),
			},
			want: [][]cell{{int64(1), 0.0, nil}, {int64(2), nil, nil}},
		},
		{
			name: "BIGINT widens to DOUBLE",
			batches: []*miniodbv1.RowBatch{
				mkBatch(t, []*miniodbv1.Column{col("ts", tTimestamp), col("v", tBigint)}, []cell{int64(1), int64(3)}, []cell{int64(2), nil}, []cell{int64(3), int64(0)}),
				mkBatch(t, []*miniodbv1.Column{col("ts", tTimestamp), col("v", tDouble)}, []cell{int64(4), 2.5}),
			},
			want: [][]cell{{int64(1), 3.0, nil}, {int64(2), nil, nil}, {int64(3), 0.0, nil}, {int64(4), 2.5, nil}},
		},
		{
			name: "BIGINT widens to DOUBLE in a single batch",
			batches: []*miniodbv1.RowBatch{
				mkBatch(t, []*miniodbv1.Column{col("ts", tTimestamp), col("v", tBigint)}, []cell{int64(1), int64(-3)}),
			},
			want: [][]cell{{int64(1), -3.0, nil}},
		},
		{
			name:    "type conflict",
			batches: []*miniodbv1.RowBatch{mkBatch(t, []*miniodbv1.Column{col("ts", tTimestamp), col("s", tBigint)}, []cell{int64(1), int64(3)})},
			wantErr: `batch 0: column "s" is BIGINT in the batch but VARCHAR in the table schema`,
		},
		{
			name:    "DOUBLE does not narrow to BIGINT",
			batches: []*miniodbv1.RowBatch{mkBatch(t, []*miniodbv1.Column{col("ts", tTimestamp), col("ts2", tDouble)}, []cell{int64(1), 1.0})},
			wantErr: `column "ts2" is not in the table schema`,
		},
		{
			name: "duplicate batch column",
			batches: []*miniodbv1.RowBatch{
				mkBatch(t, []*miniodbv1.Column{col("ts", tTimestamp), col("ts", tTimestamp)}, []cell{int64(1), int64(1)}),
			},
			wantErr: `column "ts" appears twice`,
		},
		{
			name: "vector shorter than row count",
			batches: []*miniodbv1.RowBatch{{
				RowCount: 2,
				Columns:  []*miniodbv1.Column{col("ts", tTimestamp)},
				Vectors:  []*miniodbv1.ColumnVector{{Ints: []int64{1}}},
			}},
			wantErr: `column "ts" has 1 ints for 2 rows`,
		},
		{
			name: "wrong list for the type",
			batches: []*miniodbv1.RowBatch{{
				RowCount: 1,
				Columns:  []*miniodbv1.Column{col("ts", tTimestamp), col("v", tDouble)},
				Vectors:  []*miniodbv1.ColumnVector{{Ints: []int64{1}}, {Ints: []int64{1}}},
			}},
			wantErr: `column "v" has 0 doubles for 1 rows`,
		},
		{
			name: "bitmap too long",
			batches: []*miniodbv1.RowBatch{{
				RowCount: 1,
				Columns:  []*miniodbv1.Column{col("ts", tTimestamp)},
				Vectors:  []*miniodbv1.ColumnVector{{Ints: []int64{1}, Nulls: []byte{0, 0}}},
			}},
			wantErr: `2-byte NULL bitmap for 1 rows`,
		},
		{
			name: "short bitmap: missing bytes mean not NULL",
			batches: []*miniodbv1.RowBatch{{
				RowCount: 10,
				Columns:  []*miniodbv1.Column{col("ts", tTimestamp)},
				Vectors:  []*miniodbv1.ColumnVector{{Ints: []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, Nulls: []byte{0x01}}},
			}},
			want: [][]cell{
				{int64(1), nil, nil}, {int64(2), nil, nil}, {int64(3), nil, nil}, {int64(4), nil, nil}, {int64(5), nil, nil},
				{int64(6), nil, nil}, {int64(7), nil, nil}, {int64(8), nil, nil}, {int64(9), nil, nil}, {nil, nil, nil},
			},
		},
		{
			name:    "column count mismatch",
			batches: []*miniodbv1.RowBatch{{RowCount: 0, Columns: []*miniodbv1.Column{col("ts", tTimestamp)}}},
			wantErr: `1 columns but 0 vectors`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := WriteFile(&buf, schema, tc.batches, WriteOptions{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := rowsOf(t, schema, mustReadBatches(t, buf.Bytes()))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestWriteFileBadSchema(t *testing.T) {
	tests := []struct {
		name    string
		schema  []*miniodbv1.Column
		opts    WriteOptions
		wantErr string
	}{
		{"empty", nil, WriteOptions{}, "empty schema"},
		{"no ts", []*miniodbv1.Column{col("a", tBigint)}, WriteOptions{}, `no "ts" column`},
		{"ts not timestamp", []*miniodbv1.Column{col("ts", tBigint)}, WriteOptions{}, `"ts" is BIGINT, want TIMESTAMP`},
		{"duplicate", []*miniodbv1.Column{col("ts", tTimestamp), col("ts", tTimestamp)}, WriteOptions{}, `column "ts" twice`},
		{"unspecified type", []*miniodbv1.Column{col("ts", tTimestamp), col("a", 0)}, WriteOptions{}, `unsupported type`},
		{"bad bloom column", []*miniodbv1.Column{col("ts", tTimestamp)}, WriteOptions{BloomFilterColumns: []string{"id"}}, `bloom filter column "id"`},
		{"negative row groups", []*miniodbv1.Column{col("ts", tTimestamp)}, WriteOptions{RowGroupRows: -1}, `row group rows -1 is negative`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := WriteFile(&bytes.Buffer{}, tc.schema, nil, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "parquetio: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// randomRows makes rows over allTypesSchema with NULLs, zero values,
// duplicate timestamps and unsorted input.
func randomRows(r *rand.Rand, n int) [][]cell {
	rows := make([][]cell, n)
	pick := func(p float64, v cell) cell {
		if r.Float64() < p {
			return nil
		}
		return v
	}
	for i := range rows {
		rows[i] = []cell{
			pick(0.02, int64(r.IntN(1000))-100),
			pick(0.1, fmt.Sprintf("id-%d", r.IntN(50))),
			pick(0.2, int64(r.IntN(7))-3),
			pick(0.2, r.NormFloat64()),
			pick(0.3, r.IntN(2) == 0),
			pick(0.5, fmt.Sprintf(`{"k":%d}`, r.IntN(10))),
		}
	}
	return rows
}

func TestSortAndStatsAcrossBatches(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name        string
		batchSizes  []int
		rowGroupMax int
	}{
		{"one batch", []int{500}, 0},
		{"many batches, small row groups", []int{100, 1, 0, 250, 77}, 64},
		{"row group of one row", []int{20, 5}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var batches []*miniodbv1.RowBatch
			var all [][]cell
			for _, n := range tc.batchSizes {
				rows := randomRows(r, n)
				all = append(all, rows...)
				batches = append(batches, mkBatch(t, allTypesSchema, rows...))
			}
			data, meta := mustWrite(t, allTypesSchema, batches, WriteOptions{RowGroupRows: tc.rowGroupMax})
			got := rowsOf(t, allTypesSchema, mustReadBatches(t, data))
			if want := sortedByTS(all); !reflect.DeepEqual(got, want) {
				t.Fatalf("rows differ from the stable sort by ts")
			}
			want := bruteForceStats(allTypesSchema, all)
			for j := range allTypesSchema {
				if !proto.Equal(meta.Stats[j], want[j]) {
					t.Errorf("WriteFile stats[%d] = %v, want %v", j, meta.Stats[j], want[j])
				}
			}
			readMeta, _, err := ReadStats(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if readMeta.RowCount != int64(len(all)) {
				t.Errorf("ReadStats RowCount = %d, want %d", readMeta.RowCount, len(all))
			}
			for j := range allTypesSchema {
				if !proto.Equal(readMeta.Stats[j], want[j]) {
					t.Errorf("ReadStats stats[%d] = %v, want %v", j, readMeta.Stats[j], want[j])
				}
			}
		})
	}
}

// bruteForceStats computes statistics the obvious way.
func bruteForceStats(schema []*miniodbv1.Column, rows [][]cell) []*miniodbv1.ColumnStats {
	out := make([]*miniodbv1.ColumnStats, len(schema))
	for j, c := range schema {
		st := &miniodbv1.ColumnStats{Name: c.Name}
		var vals []cell
		for _, r := range rows {
			if r[j] == nil {
				st.NullCount++
			} else {
				vals = append(vals, r[j])
			}
		}
		if len(vals) > 0 {
			less := func(a, b cell) bool {
				switch a := a.(type) {
				case int64:
					return a < b.(int64)
				case float64:
					return doubleLess(a, b.(float64))
				case string:
					return a < b.(string)
				case bool:
					return !a && b.(bool)
				}
				panic("type")
			}
			lo, hi := vals[0], vals[0]
			for _, v := range vals {
				if less(v, lo) {
					lo = v
				}
				if less(hi, v) {
					hi = v
				}
			}
			st.Min, st.Max = toScalar(lo), toScalar(hi)
		}
		out[j] = st
	}
	return out
}

func toScalar(v cell) *miniodbv1.Scalar {
	switch v := v.(type) {
	case int64:
		return intScalar(v)
	case float64:
		return doubleScalar(v)
	case string:
		return stringScalar(v)
	case bool:
		return boolScalar(v)
	}
	panic("type")
}

func TestStatsEdgeCases(t *testing.T) {
	schema := []*miniodbv1.Column{col("ts", tTimestamp), col("x", tDouble), col("s", tVarchar), col("b", tBoolean)}
	tests := []struct {
		name string
		rows [][]cell
	}{
		{"all NULL", [][]cell{{int64(1), nil, nil, nil}, {int64(2), nil, nil, nil}}},
		{"empty string is the min", [][]cell{{int64(1), 1.0, "", false}, {int64(2), 2.0, "b", false}}},
		{"empty string only", [][]cell{{int64(1), 0.0, "", true}}},
		{"negative zero and zero", [][]cell{{int64(1), math.Copysign(0, -1), "a", true}, {int64(2), 0.0, "a", true}}},
		{"long strings are not truncated", [][]cell{{int64(1), 1.0, strings.Repeat("a", 100), true}, {int64(2), 1.0, strings.Repeat("z", 100) + "!", false}}},
		{"NaN is the max", [][]cell{{int64(1), math.NaN(), "a", true}, {int64(2), -1.0, "b", true}, {int64(3), 5.0, "b", true}}},
		{"NaN only", [][]cell{{int64(1), math.NaN(), "a", true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, meta := mustWrite(t, schema, []*miniodbv1.RowBatch{mkBatch(t, schema, tc.rows...)}, WriteOptions{})
			want := bruteForceStats(schema, tc.rows)
			readMeta, _, err := ReadStats(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			for j := range schema {
				if !statsEqual(meta.Stats[j], want[j]) {
					t.Errorf("WriteFile stats[%d] = %v, want %v", j, meta.Stats[j], want[j])
				}
				if !statsEqual(readMeta.Stats[j], want[j]) {
					t.Errorf("ReadStats stats[%d] = %v, want %v", j, readMeta.Stats[j], want[j])
				}
			}
		})
	}
}

// statsEqual is proto.Equal, except that NaN equals NaN and -0 is not 0.
func statsEqual(a, b *miniodbv1.ColumnStats) bool {
	sameScalar := func(x, y *miniodbv1.Scalar) bool {
		if x == nil || y == nil {
			return x == nil && y == nil
		}
		if xd, ok := x.Value.(*miniodbv1.Scalar_Double); ok {
			yd, ok := y.Value.(*miniodbv1.Scalar_Double)
			return ok && math.Float64bits(xd.Double) == math.Float64bits(yd.Double) ||
				ok && math.IsNaN(xd.Double) && math.IsNaN(yd.Double)
		}
		return proto.Equal(x, y)
	}
	return a.Name == b.Name && a.NullCount == b.NullCount && sameScalar(a.Min, b.Min) && sameScalar(a.Max, b.Max)
}

func TestKeyValueMetadata(t *testing.T) {
	data, _ := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, []cell{int64(1), "a", int64(1), 1.0, true, "{}"})}, WriteOptions{})
	f, _, err := openFile(bytes.NewReader(data), int64(len(data)), false)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Lookup(MetaFormat); v != "1" {
		t.Errorf("%s = %q, want 1", MetaFormat, v)
	}
	wantSchema := `[{"name":"ts","type":"TIMESTAMP"},{"name":"id","type":"VARCHAR"},{"name":"n","type":"BIGINT"},{"name":"x","type":"DOUBLE"},{"name":"ok","type":"BOOLEAN"},{"name":"doc","type":"JSON"}]`
	if v, _ := f.Lookup(MetaSchema); v != wantSchema {
		t.Errorf("%s = %s, want %s", MetaSchema, v, wantSchema)
	}
	// Column order in the file is schema order, and types are as documented.
	var got []string
	for _, c := range f.Root().Columns() {
		got = append(got, c.Name()+" "+c.Type().String())
	}
	want := []string{"ts TIMESTAMP(isAdjustedToUTC=false,unit=MICROS)", "id STRING", "n INT(64,true)", "x DOUBLE", "ok BOOLEAN", "doc STRING"}
	if !slices.Equal(got, want) {
		t.Errorf("parquet columns = %q, want %q", got, want)
	}
	for _, c := range f.Root().Columns() {
		if !c.Optional() {
			t.Errorf("column %s is not optional", c.Name())
		}
	}
	if codec := f.Metadata().RowGroups[0].Columns[0].MetaData.Codec.String(); codec != "ZSTD" {
		t.Errorf("codec = %s, want ZSTD", codec)
	}
}

func TestReadStatsNewerVersion(t *testing.T) {
	data, _ := mustWrite(t, allTypesSchema, nil, WriteOptions{})
	// Patch the version in place: same length, so the footer stays valid.
	i := bytes.Index(data, []byte(MetaFormat))
	j := bytes.Index(data[i:], []byte("1"))
	data = slices.Clone(data)
	data[i+j] = '9'
	_, _, err := ReadStats(bytes.NewReader(data), int64(len(data)))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "newer than this reader") {
		t.Fatalf("err = %v, want a newer-version ErrCorrupt", err)
	}
}

func TestBloomFilter(t *testing.T) {
	schema := []*miniodbv1.Column{col("ts", tTimestamp), col("id", tVarchar)}
	data, _ := mustWrite(t, schema, []*miniodbv1.RowBatch{mkBatch(t, schema, []cell{int64(1), "a"}, []cell{int64(2), "b"})}, WriteOptions{BloomFilterColumns: []string{"id"}})
	md := mustOpen(t, data).Metadata()
	if md.RowGroups[0].Columns[1].MetaData.BloomFilterOffset == 0 {
		t.Fatal("no bloom filter on id")
	}
	if md.RowGroups[0].Columns[0].MetaData.BloomFilterOffset != 0 {
		t.Fatal("unexpected bloom filter on ts")
	}
}

func TestWriteFileDeterministicAndPure(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	batches := []*miniodbv1.RowBatch{
		mkBatch(t, allTypesSchema, randomRows(r, 3000)...),
		mkBatch(t, allTypesSchema, randomRows(r, 10)...),
	}
	before := make([]*miniodbv1.RowBatch, len(batches))
	for i, b := range batches {
		before[i] = proto.Clone(b).(*miniodbv1.RowBatch)
	}
	for _, input := range [][]*miniodbv1.RowBatch{batches[:1], batches} {
		var first []byte
		for _, par := range []int{0, 1, 2, 8} {
			data, _ := mustWrite(t, allTypesSchema, input, WriteOptions{Parallelism: par, RowGroupRows: 700, BloomFilterColumns: []string{"id"}})
			if first == nil {
				first = data
			} else if !bytes.Equal(data, first) {
				t.Fatalf("Parallelism %d gives a different file", par)
			}
		}
	}
	for i := range batches {
		if !proto.Equal(batches[i], before[i]) {
			t.Fatalf("WriteFile modified batch %d", i)
		}
	}
}
