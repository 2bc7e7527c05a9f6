package parquetio

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestReaderStreamsAllRows reads files back in batches of many sizes,
// across row groups and pages, and compares with ReadBatches.
func TestReaderStreamsAllRows(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	rows := randomRows(r, 3000)
	data, _ := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, rows...)}, WriteOptions{RowGroupRows: 700})
	want := rowsOf(t, allTypesSchema, mustReadBatches(t, data))
	for _, size := range []int{1, 7, 699, 700, 701, 5000} {
		rd, err := OpenReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if rd.NumRows() != 3000 || !schemaEqual(rd.Schema(), allTypesSchema) {
			t.Fatalf("NumRows %d, schema %v", rd.NumRows(), rd.Schema())
		}
		var batches []*miniodbv1.RowBatch
		for {
			b, err := rd.Next(size)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
			if b.RowCount > int64(size) || b.RowCount == 0 {
				t.Fatalf("size %d: batch of %d rows", size, b.RowCount)
			}
			batches = append(batches, b)
		}
		rd.Close()
		if got := rowsOf(t, allTypesSchema, batches); !reflect.DeepEqual(got, want) {
			t.Errorf("size %d: rows differ", size)
		}
	}
}

// TestWriterPieces writes a file in sorted pieces, which must give the
// rows of WriteFile over the same rows, and refuses a piece out of order.
func TestWriterPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	rows := sortedByTS(randomRows(r, 1000))
	var buf bytes.Buffer
	w, err := NewWriter(&buf, allTypesSchema, WriteOptions{RowGroupRows: 128, BloomFilterColumns: []string{"id"}})
	if err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < len(rows); lo += 300 {
		if err := w.Write(mkBatch(t, allTypesSchema, rows[lo:min(lo+300, len(rows))]...)); err != nil {
			t.Fatal(err)
		}
	}
	meta, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, whole := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, rows...)}, WriteOptions{})
	if meta.RowCount != whole.RowCount {
		t.Errorf("pieces: %d rows, whole: %d", meta.RowCount, whole.RowCount)
	}
	for j := range allTypesSchema {
		if !statsEqual(meta.Stats[j], whole.Stats[j]) {
			t.Errorf("stats[%d] pieces %v, whole %v", j, meta.Stats[j], whole.Stats[j])
		}
	}
	if got := rowsOf(t, allTypesSchema, mustReadBatches(t, buf.Bytes())); !reflect.DeepEqual(got, rows) {
		t.Error("rows of the pieces differ")
	}

	// The ts of the first row of allTypesSchema's rows is column 0.
	w, _ = NewWriter(io.Discard, allTypesSchema, WriteOptions{})
	late := []cell{int64(100), "a", int64(1), 1.0, true, nil}
	early := []cell{int64(50), "a", int64(1), 1.0, true, nil}
	if err := w.Write(mkBatch(t, allTypesSchema, late)); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(mkBatch(t, allTypesSchema, early)); err == nil {
		t.Error("a piece with earlier rows was accepted")
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(mkBatch(t, allTypesSchema, late)); err == nil {
		t.Error("write after close accepted")
	}
}

func TestReaderCorrupt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 3))
	data, _ := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, randomRows(r, 500)...)}, WriteOptions{})
	// Flip bytes in the data pages (not the footer): reading must fail
	// with an error, never panic or return garbage silently.
	failed := 0
	for off := 4; off < len(data)/2; off += 97 {
		bad := bytes.Clone(data)
		bad[off] ^= 0xff
		rd, err := OpenReader(bytes.NewReader(bad), int64(len(bad)))
		if err != nil {
			failed++
			continue
		}
		for {
			_, err := rd.Next(64)
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("offset %d: error %v does not wrap ErrCorrupt", off, err)
				}
				failed++
				break
			}
		}
		rd.Close()
	}
	if failed == 0 {
		t.Error("no corruption was detected")
	}
}
