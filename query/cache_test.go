package query

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/miniodb/miniodb/objstore"
)

// TestCacheDrop: a dropped object leaves the cache at once when nobody
// reads it and after its last pin otherwise (the comment promised this;
// nothing did it), and Retain drops what the catalog no longer names.
func TestCacheDrop(t *testing.T) {
	ctx := context.Background()
	store, err := objstore.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"data/a", "data/b", "data/c"} {
		if err := store.Put(ctx, k, strings.NewReader("12345"), 5); err != nil {
			t.Fatal(err)
		}
	}
	c, err := newCache(t.TempDir(), 1<<20, store)
	if err != nil {
		t.Fatal(err)
	}
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	pa, relA, err := c.Acquire(ctx, "data/a", 5)
	if err != nil {
		t.Fatal(err)
	}
	c.Drop("data/a")
	if !exists(pa) || c.Size() != 5 {
		t.Fatal("a pinned object was removed under its reader")
	}
	relA()
	if exists(pa) || c.Size() != 0 {
		t.Fatalf("a dropped object stayed after its last pin: size %d", c.Size())
	}

	pb, relB, err := c.Acquire(ctx, "data/b", 5)
	if err != nil {
		t.Fatal(err)
	}
	relB()
	pc, relC, err := c.Acquire(ctx, "data/c", 5)
	if err != nil {
		t.Fatal(err)
	}
	relC()
	c.Retain(func(k string) bool { return k == "data/c" })
	if exists(pb) || !exists(pc) || c.Size() != 5 {
		t.Fatalf("Retain: b %v c %v size %d", exists(pb), exists(pc), c.Size())
	}
	// A dropped key is fetched again on the next Acquire, to a new path.
	c.Drop("data/c")
	pc2, relC2, err := c.Acquire(ctx, "data/c", 5)
	if err != nil {
		t.Fatal(err)
	}
	defer relC2()
	if pc2 == pc || !exists(pc2) {
		t.Fatalf("re-download: %s vs %s", pc2, pc)
	}
}
