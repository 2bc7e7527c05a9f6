package parquetio

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/miniodb/miniodb/internal/miniotest"
	"github.com/miniodb/miniodb/objstore"
	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestParquetThroughS3 writes a Parquet file, stores it in a real MinIO,
// reads its footer with range reads, downloads it and reads every row back.
func TestParquetThroughS3(t *testing.T) {
	srv := miniotest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := objstore.NewS3Store(ctx, objstore.S3Config{Endpoint: srv.Endpoint, Bucket: "data",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	rows := randomRows(rand.New(rand.NewPCG(4, 4)), 2000)
	data, meta := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, rows...)}, WriteOptions{RowGroupRows: 500})
	key := objstore.ObjectKey(objstore.KeyInfo{Table: "events", TableCreatedIndex: 7, Partition: "2026-01-02", FromIndex: 1000, UptoIndex: 1234, Term: 2, Seq: 1})
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	// Whole object.
	rc, err := s.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get: %d bytes, %v", len(got), err)
	}
	readMeta, schema, err := ReadStats(bytes.NewReader(got), int64(len(got)))
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, readMeta, meta)
	if !schemaEqual(schema, allTypesSchema) {
		t.Fatalf("schema %v", schema)
	}
	// Footer only, with range reads.
	info, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	readMeta, _, err = ReadStats(objstore.NewReaderAt(ctx, s, key, info.Size), info.Size)
	if err != nil {
		t.Fatal(err)
	}
	checkMeta(t, readMeta, meta)
	// Download into a cache directory and read every row back.
	local := filepath.Join(t.TempDir(), "f.parquet")
	if err := objstore.Download(ctx, s, key, local); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	batches, err := ReadBatches(f, info.Size)
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 4 {
		t.Errorf("%d row groups, want 4", len(batches))
	}
	if !slices.EqualFunc(rowsOf(t, allTypesSchema, batches), sortedByTS(rows), func(a, b []cell) bool { return slices.Equal(a, b) }) {
		t.Fatal("rows differ after the S3 round trip")
	}
	// Listing by the key layout's prefixes.
	infos, err := s.List(ctx, objstore.PartitionPrefix("events", 7, "2026-01-02"))
	if err != nil || len(infos) != 1 || infos[0].Key != key || infos[0].Size != int64(len(data)) {
		t.Fatalf("List = %+v, %v", infos, err)
	}
}

func checkMeta(t *testing.T, got, want FileMeta) {
	t.Helper()
	if got.RowCount != want.RowCount || len(got.Stats) != len(want.Stats) {
		t.Fatalf("meta = %v, want %v", got, want)
	}
	for i := range want.Stats {
		if !statsEqual(got.Stats[i], want.Stats[i]) {
			t.Errorf("stats[%d] = %v, want %v", i, got.Stats[i], want.Stats[i])
		}
	}
}

// countingStore counts the range reads made through a directory store.
type countingStore struct {
	*objstore.DirStore
	reads *int
}

func (c countingStore) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	*c.reads++
	return c.DirStore.GetRange(ctx, key, offset, length)
}

func TestReadStatsThroughStore(t *testing.T) {
	ctx := context.Background()
	s, err := objstore.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, meta := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, []cell{int64(1), "a", int64(2), 3.0, true, "{}"})}, WriteOptions{})
	key := objstore.ObjectKey(objstore.KeyInfo{Table: "t", TableCreatedIndex: 1, Partition: "2026-01-01", FromIndex: 2, UptoIndex: 10, Term: 1, Seq: 1})
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	var reads int
	counting := countingStore{DirStore: s, reads: &reads}
	info, err := counting.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := ReadStats(objstore.NewReaderAt(ctx, counting, key, info.Size), info.Size)
	if err != nil {
		t.Fatal(err)
	}
	if got.RowCount != meta.RowCount || len(got.Stats) != len(meta.Stats) {
		t.Fatalf("ReadStats = %+v", got)
	}
	if reads == 0 || reads > 2 {
		t.Fatalf("ReadStats made %d range reads", reads)
	}
}
