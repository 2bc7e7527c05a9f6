package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/miniodb/miniodb/objstore"
)

func dirStore(t *testing.T) *objstore.DirStore {
	t.Helper()
	s, err := objstore.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func put(t *testing.T, s objstore.ObjectStore, key, body string) objstore.ObjectInfo {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	return objstore.ObjectInfo{Key: key, Size: int64(len(body))}
}

func source(store objstore.ObjectStore, index uint64, files ...objstore.ObjectInfo) Source {
	return Source{Store: store, Files: files, RaftIndex: index, NodeID: "n1", WriteCatalog: func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "catalog at %d", index)
		return err
	}}
}

// TestWriteReusesAndPrunes: a second backup copies only new files; Prune
// removes old backups and, after the grace, the files no kept backup
// names.
func TestWriteReusesAndPrunes(t *testing.T) {
	ctx := context.Background()
	src, dest := dirStore(t), dirStore(t)
	a, b, c := put(t, src, "data/a", "aaaa"), put(t, src, "data/b", "bb"), put(t, src, "data/c", "c")
	clock := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	m1, err := Write(ctx, dest, source(src, 10, a, b), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if m1.BytesCopied != 6 || m1.BytesReused != 0 {
		t.Fatalf("first: %+v", m1)
	}
	clock = clock.Add(time.Second)
	m2, err := Write(ctx, dest, source(src, 20, b, c), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if m2.BytesCopied != 1 || m2.BytesReused != 2 {
		t.Fatalf("second: copied %d reused %d, want 1 and 2", m2.BytesCopied, m2.BytesReused)
	}
	if got, err := Find(ctx, dest, ""); err != nil || got.ID != m2.ID {
		t.Fatalf("newest: %v %v", got, err)
	}
	if _, err := Find(ctx, dest, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("find nope: %v", err)
	}
	// Within the grace, a/ stays though only the pruned backup named it.
	removed, err := Prune(ctx, dest, 1, time.Now())
	if err != nil || len(removed) != 1 || removed[0] != m1.ID {
		t.Fatalf("prune: %v %v", removed, err)
	}
	if _, err := dest.Stat(ctx, "files/data/a"); err != nil {
		t.Fatalf("a file within the grace was deleted: %v", err)
	}
	if _, err := Prune(ctx, dest, 1, time.Now().Add(PruneGrace+time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := dest.Stat(ctx, "files/data/a"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a file no backup names, after the grace: %v", err)
	}
	if err := Verify(ctx, dest, m2, Options{}); err != nil {
		t.Fatalf("the kept backup: %v", err)
	}
	var restored strings.Builder
	target := dirStore(t)
	if err := Restore(ctx, dest, m2, target, &restored, Options{}); err != nil || restored.String() != "catalog at 20" {
		t.Fatalf("restore: %v %q", err, restored.String())
	}
	if _, err := target.Stat(ctx, "data/c"); err != nil {
		t.Fatalf("restored file: %v", err)
	}
	// A file changed in the destination fails both.
	put(t, dest, "files/data/c", "X")
	if err := Verify(ctx, dest, m2, Options{}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("verify after tampering: %v", err)
	}
	if err := Restore(ctx, dest, m2, dirStore(t), io.Discard, Options{}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("restore after tampering: %v", err)
	}
}
