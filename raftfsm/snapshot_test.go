package raftfsm

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestLargeCatalogSnapshot snapshots a table of 200,000 live files and
// 100,000 pending deletes: every record stays small (files come in chunks,
// not one record per table), and restore rebuilds the same state in
// bounded time.
func TestLargeCatalogSnapshot(t *testing.T) {
	const files, pending = 200_000, 100_000
	f := New(nil)
	tb := f.newTable(1, &v1.TableSpec{Name: "events"})
	for i := range files {
		tb.files = append(tb.files, &v1.DataFile{Key: fmt.Sprintf("data/events/1/p%d/%020d.parquet", i%100, i), Table: "events",
			Partition: fmt.Sprint("p", i%100), RowCount: 1000, SizeBytes: 16 << 10, LiveIndex: uint64(i + 2),
			Stats: []*v1.ColumnStats{{Name: "ts", Min: &v1.Scalar{Value: &v1.Scalar_Int{Int: int64(i)}}, Max: &v1.Scalar{Value: &v1.Scalar_Int{Int: int64(i + 1)}}}}})
	}
	f.tables["events"] = tb
	for i := range pending {
		f.pending = append(f.pending, &v1.PendingDelete{Key: fmt.Sprintf("data/events/1/old/%020d.parquet", i), UnixMicros: int64(i)})
	}
	f.applied = files + 2
	start := time.Now()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	persisted := time.Since(start)
	largest := largestRecord(t, sink.Bytes())
	if largest > 4<<20 {
		t.Errorf("largest snapshot record is %d bytes; want at most 4 MiB", largest)
	}
	start = time.Now()
	restored := New(nil)
	if err := restored.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files, %d pending: %.1f MB snapshot, largest record %d KB, persist %v, restore %v",
		files, pending, float64(len(sink.Bytes()))/1e6, largest>>10, persisted, time.Since(start))
	v, _ := restored.Table("events")
	if len(v.Files) != files || len(restored.PendingDeletes()) != pending || !proto.Equal(v.Files[files-1], tb.files[files-1]) {
		t.Fatalf("restored %d files, %d pending", len(v.Files), len(restored.PendingDeletes()))
	}
}

// largestRecord returns the size of the largest length-delimited record
// of a snapshot stream.
func largestRecord(t *testing.T, b []byte) int {
	r := bufio.NewReader(bytes.NewReader(b[len(snapshotMagic):]))
	largest := 0
	for {
		n, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return largest
		}
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, int(n))
		if _, err := r.Discard(int(n)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRestoreVersion1 restores a snapshot in the first format, which held
// a table's files and the pending deletes inline.
func TestRestoreVersion1(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(snapshotMagic)
	put := func(m proto.Message) {
		if _, err := protodelim.MarshalTo(&b, m); err != nil {
			t.Fatal(err)
		}
	}
	put(&v1.SnapshotHeader{Version: 1, AppliedIndex: 9, TableCount: 1,
		PendingDeletes: []*v1.PendingDelete{{Key: "data/x/1/_/old.parquet", UnixMicros: 5}}})
	put(&v1.SnapshotTable{Spec: &v1.TableSpec{Name: "x"}, CreatedIndex: 1, FlushedUpto: map[string]uint64{"": 3},
		Files: []*v1.DataFile{{Key: "data/x/1/_/a.parquet", Table: "x", RowCount: 2, LiveIndex: 4}}})
	put(&v1.SnapshotTrailer{TableCount: 1})
	f := New(nil)
	if err := f.Restore(io.NopCloser(&b)); err != nil {
		t.Fatal(err)
	}
	v, ok := f.Table("x")
	if !ok || len(v.Files) != 1 || v.Files[0].Key != "data/x/1/_/a.parquet" || len(f.PendingDeletes()) != 1 || f.AppliedIndex() != 9 {
		t.Fatalf("restored %v, pending %v", v, f.PendingDeletes())
	}
}
