package ingest

import (
	"testing"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"google.golang.org/protobuf/proto"
)

func TestDropBefore(t *testing.T) {
	cols := []*miniodbv1.Column{{Name: "ts", Type: miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP}, {Name: "s", Type: miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR}}
	b := &miniodbv1.RowBatch{RowCount: 4, Columns: cols, Vectors: []*miniodbv1.ColumnVector{
		{Ints: []int64{9, 10, 11, 0}, Nulls: []byte{0b1000}}, // row 3: NULL ts
		{Strings: []string{"a", "", "c", "d"}, Nulls: []byte{0b0010}},
	}}
	orig := proto.Clone(b)
	got, dropped := DropBefore(b, 10)
	want := &miniodbv1.RowBatch{RowCount: 3, Columns: cols, Vectors: []*miniodbv1.ColumnVector{
		{Ints: []int64{10, 11, 0}, Nulls: []byte{0b100}},
		{Strings: []string{"", "c", "d"}, Nulls: []byte{0b001}},
	}}
	if dropped != 1 || !proto.Equal(got, want) {
		t.Errorf("DropBefore(10) = %v, %d; want %v, 1", got, dropped, want)
	}
	if !proto.Equal(b, orig) {
		t.Error("DropBefore modified its input")
	}
	if same, n := DropBefore(b, 9); same != b || n != 0 {
		t.Errorf("nothing to drop: %v, %d", same, n)
	}
	if none, n := DropBefore(b, 100); none.RowCount != 1 || n != 3 {
		t.Errorf("all but the NULL ts dropped: %v, %d", none, n)
	}
}
