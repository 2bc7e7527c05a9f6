package parquetio

import (
	"bytes"
	"testing"

	"github.com/parquet-go/parquet-go"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const (
	tBigint    = miniodbv1.ColumnType_COLUMN_TYPE_BIGINT
	tDouble    = miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE
	tVarchar   = miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR
	tBoolean   = miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN
	tTimestamp = miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP
	tJSON      = miniodbv1.ColumnType_COLUMN_TYPE_JSON
)

func col(name string, t miniodbv1.ColumnType) *miniodbv1.Column {
	return &miniodbv1.Column{Name: name, Type: t}
}

// cell is one test value: nil is NULL; otherwise int64, float64, string or
// bool matching the column type.
type cell = any

// mkBatch builds a RowBatch from rows of cells, one per column.
func mkBatch(t testing.TB, cols []*miniodbv1.Column, rows ...[]cell) *miniodbv1.RowBatch {
	t.Helper()
	b := &miniodbv1.RowBatch{RowCount: int64(len(rows)), Columns: cols}
	for j, c := range cols {
		v := &miniodbv1.ColumnVector{}
		var nulls []byte
		for i, r := range rows {
			x := r[j]
			if x == nil {
				if nulls == nil {
					nulls = make([]byte, (len(rows)+7)/8)
				}
				nulls[i/8] |= 1 << (i % 8)
			}
			switch c.Type {
			case tBigint, tTimestamp:
				n, _ := x.(int64)
				v.Ints = append(v.Ints, n)
			case tDouble:
				d, _ := x.(float64)
				v.Doubles = append(v.Doubles, d)
			case tVarchar, tJSON:
				s, _ := x.(string)
				v.Strings = append(v.Strings, s)
			case tBoolean:
				bo, _ := x.(bool)
				v.Bools = append(v.Bools, bo)
			default:
				t.Fatalf("mkBatch: type %v", c.Type)
			}
		}
		v.Nulls = nulls
		b.Vectors = append(b.Vectors, v)
	}
	return b
}

// rowsOf flattens batches into rows of cells in the order of cols (a cell of
// a column missing from a batch is NULL).
func rowsOf(t testing.TB, cols []*miniodbv1.Column, batches []*miniodbv1.RowBatch) [][]cell {
	t.Helper()
	var out [][]cell
	for _, b := range batches {
		idx := map[string]int{}
		for k, c := range b.Columns {
			idx[c.Name] = k
		}
		for i := 0; i < int(b.RowCount); i++ {
			row := make([]cell, len(cols))
			for j, c := range cols {
				k, ok := idx[c.Name]
				if !ok {
					continue
				}
				v := b.Vectors[k]
				if len(v.Nulls) > i/8 && v.Nulls[i/8]&(1<<(i%8)) != 0 {
					continue
				}
				switch b.Columns[k].Type {
				case tBigint, tTimestamp:
					if c.Type == tDouble {
						row[j] = float64(v.Ints[i])
					} else {
						row[j] = v.Ints[i]
					}
				case tDouble:
					row[j] = v.Doubles[i]
				case tVarchar, tJSON:
					row[j] = v.Strings[i]
				case tBoolean:
					row[j] = v.Bools[i]
				}
			}
			out = append(out, row)
		}
	}
	return out
}

// mustWrite writes a file and returns its bytes and meta.
func mustWrite(t testing.TB, schema []*miniodbv1.Column, batches []*miniodbv1.RowBatch, opts WriteOptions) ([]byte, FileMeta) {
	t.Helper()
	var buf bytes.Buffer
	meta, err := WriteFile(&buf, schema, batches, opts)
	if err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	return buf.Bytes(), meta
}

func mustReadBatches(t testing.TB, data []byte) []*miniodbv1.RowBatch {
	t.Helper()
	bs, err := ReadBatches(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("ReadBatches: %v", err)
	}
	return bs
}

func mustOpen(t testing.TB, data []byte) *parquet.File {
	t.Helper()
	f, _, err := openFile(bytes.NewReader(data), int64(len(data)), false)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
