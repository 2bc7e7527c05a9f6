package parquetio

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

func TestReadStatsCorrupt(t *testing.T) {
	good, _ := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, randomRows(rand.New(rand.NewPCG(3, 4)), 100)...)}, WriteOptions{})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"too small", []byte("PAR1PAR1")},
		{"no magic", bytes.Repeat([]byte{1}, 100)},
		{"truncated", good[:len(good)/2]},
		{"huge footer length", append(append([]byte("PAR1"), make([]byte, 20)...), 0xff, 0xff, 0xff, 0x7f, 'P', 'A', 'R', '1')},
		{"garbage footer", append(append([]byte("PAR1"), bytes.Repeat([]byte{0xAB}, 40)...), 40, 0, 0, 0, 'P', 'A', 'R', '1')},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadStats(bytes.NewReader(tc.data), int64(len(tc.data)))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if _, err := ReadBatches(bytes.NewReader(tc.data), int64(len(tc.data))); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadBatches err = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestReadBatchesDamagedPages flips bytes in the data pages: ReadBatches must
// fail or return rows, never panic.
func TestReadBatchesDamagedPages(t *testing.T) {
	good, _ := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, randomRows(rand.New(rand.NewPCG(5, 6)), 300)...)}, WriteOptions{})
	r := rand.New(rand.NewPCG(9, 9))
	for range 200 {
		data := bytes.Clone(good)
		// Damage the middle, leaving header and footer intact.
		i := 4 + r.IntN(len(data)/2)
		data[i] ^= byte(1 + r.IntN(255))
		_, _ = ReadBatches(bytes.NewReader(data), int64(len(data)))
	}
}

// errReaderAt fails every read.
type errReaderAt struct{}

func (errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestReadStatsIOError(t *testing.T) {
	_, _, err := ReadStats(errReaderAt{}, 1000)
	if err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want an I/O error that is not ErrCorrupt", err)
	}
}

func FuzzReadStats(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	var buf bytes.Buffer
	if _, err := WriteFile(&buf, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(f, allTypesSchema, randomRows(r, 20)...)}, WriteOptions{}); err != nil {
		f.Fatal(err)
	}
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		meta, schema, err := ReadStats(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if len(meta.Stats) != len(schema) || meta.RowCount < 0 {
			t.Fatalf("inconsistent result: %d stats, %d columns, %d rows", len(meta.Stats), len(schema), meta.RowCount)
		}
	})
}

// writeForeign writes a Parquet file the way another tool might: no
// miniodb metadata, other timestamp units, a JSON logical type.
func writeForeign(t *testing.T, fields orderedGroup, rows []parquet.Row, opts ...parquet.WriterOption) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[any](&buf, append([]parquet.WriterOption{parquet.NewSchema("foreign", fields)}, opts...)...)
	if _, err := w.WriteRows(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReadForeignFile(t *testing.T) {
	fields := orderedGroup{
		&orderedField{Node: parquet.Optional(parquet.Timestamp(parquet.Millisecond)), name: "ts"},
		&orderedField{Node: parquet.Optional(parquet.Timestamp(parquet.Nanosecond)), name: "ts_ns"},
		&orderedField{Node: parquet.Optional(parquet.String()), name: "name"},
		&orderedField{Node: parquet.Optional(parquet.JSON()), name: "doc"},
		&orderedField{Node: parquet.Int(64), name: "n"}, // required
	}
	row := func(ms, ns int64, name, doc string, n int64) parquet.Row {
		return parquet.Row{
			parquet.Int64Value(ms).Level(0, 1, 0),
			parquet.Int64Value(ns).Level(0, 1, 1),
			parquet.ByteArrayValue([]byte(name)).Level(0, 1, 2),
			parquet.ByteArrayValue([]byte(doc)).Level(0, 1, 3),
			parquet.Int64Value(n).Level(0, 0, 4),
		}
	}
	data := writeForeign(t, fields, []parquet.Row{
		row(1500, -1500, "b", `{"a":1}`, 7),
		row(-2, 2_999, "", "[]", 0),
	})
	meta, schema, err := ReadStats(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	wantSchema := []*miniodbv1.Column{col("ts", tTimestamp), col("ts_ns", tTimestamp), col("name", tVarchar), col("doc", tJSON), col("n", tBigint)}
	if !schemaEqual(schema, wantSchema) {
		t.Fatalf("schema = %v, want %v", schema, wantSchema)
	}
	want := []*miniodbv1.ColumnStats{
		{Name: "ts", Min: intScalar(-2000), Max: intScalar(1_500_000)},
		{Name: "ts_ns", Min: intScalar(-2), Max: intScalar(2)}, // floor division
		{Name: "name", Min: stringScalar(""), Max: stringScalar("b")},
		{Name: "doc", Min: stringScalar(`[]`), Max: stringScalar(`{"a":1}`)},
		{Name: "n", Min: intScalar(0), Max: intScalar(7)},
	}
	checkMeta(t, meta, FileMeta{RowCount: 2, Stats: want})
	got := rowsOf(t, wantSchema, mustReadBatches(t, data))
	wantRows := [][]cell{
		{int64(1_500_000), int64(-2), "b", `{"a":1}`, int64(7)},
		{int64(-2000), int64(2), "", "[]", int64(0)},
	}
	if !reflect.DeepEqual(got, wantRows) {
		t.Fatalf("rows = %v, want %v", got, wantRows)
	}
}

func TestReadUnsupportedTypes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		node    parquet.Node
		wantErr string
	}{
		{"int32", parquet.Optional(parquet.Int(32)), "INT32"},
		{"unsigned", parquet.Optional(parquet.Uint(64)), "not supported"},
		{"float", parquet.Optional(parquet.Leaf(parquet.FloatType)), "FLOAT"},
		{"binary", parquet.Optional(parquet.Leaf(parquet.ByteArrayType)), "not supported"},
		{"list", parquet.List(parquet.String()), "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := parquet.NewGenericWriter[any](&buf, parquet.NewSchema("x", orderedGroup{&orderedField{Node: tc.node, name: "c"}}))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadStats(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrCorrupt mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestReadBadMetadata(t *testing.T) {
	fields := orderedGroup{
		&orderedField{Node: parquet.Optional(parquet.TimestampAdjusted(parquet.Microsecond, false)), name: "ts"},
		&orderedField{Node: parquet.Optional(parquet.String()), name: "s"},
	}
	for _, tc := range []struct {
		name    string
		key     string
		value   string
		wantErr string
	}{
		{"schema names differ", MetaSchema, `[{"name":"ts","type":"TIMESTAMP"},{"name":"t","type":"VARCHAR"}]`, `column 1 is "t" VARCHAR`},
		{"schema types differ", MetaSchema, `[{"name":"ts","type":"BIGINT"},{"name":"s","type":"VARCHAR"}]`, `column 0 is "ts" BIGINT`},
		{"schema too short", MetaSchema, `[{"name":"ts","type":"TIMESTAMP"}]`, "has 1 columns, the Parquet schema 2"},
		{"schema not JSON", MetaSchema, `{`, MetaSchema},
		{"unknown type", MetaSchema, `[{"name":"ts","type":"TIMESTAMP"},{"name":"s","type":"TEXT"}]`, `unknown type "TEXT"`},
		{"version not a number", MetaFormat, "one", "not a version number"},
		{"nan list not JSON", MetaNaN, "[", MetaNaN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := writeForeign(t, fields, nil, parquet.KeyValueMetadata(tc.key, tc.value))
			_, _, err := ReadStats(bytes.NewReader(data), int64(len(data)))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrCorrupt containing %q", err, tc.wantErr)
			}
		})
	}
	// JSON in the metadata over a STRING column is a JSON column.
	data := writeForeign(t, fields, nil, parquet.KeyValueMetadata(MetaSchema, `[{"name":"ts","type":"TIMESTAMP"},{"name":"s","type":"JSON"}]`))
	_, schema, err := ReadStats(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if want := []*miniodbv1.Column{col("ts", tTimestamp), col("s", tJSON)}; !schemaEqual(schema, want) {
		t.Fatalf("schema = %v, want %v", schema, want)
	}
}
