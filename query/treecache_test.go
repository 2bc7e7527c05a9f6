package query

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/miniodb/miniodb/objstore"
	"github.com/miniodb/miniodb/raftfsm"
)

// TestTreeCache: a cached tree equals a fresh parse, syntax errors are not
// kept, and the cache forgets the oldest texts beyond its bound.
func TestTreeCache(t *testing.T) {
	ctx := context.Background()
	store, err := objstore.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, Config{Dir: t.TempDir(), Store: store, Catalog: raftfsm.New(nil), Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	conn, err := e.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var c treeCache
	const q = "SELECT count(*) FROM events WHERE ts > '2026-01-01'"
	first, err := c.parse(ctx, conn, q)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := parseTree(ctx, conn, q)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.parse(ctx, conn, q)
	if !reflect.DeepEqual(first, fresh) || reflect.ValueOf(again).Pointer() != reflect.ValueOf(first).Pointer() {
		t.Error("the second parse did not come from the cache, or differs from DuckDB's")
	}
	if _, err := c.parse(ctx, conn, "SELEC 1"); err == nil {
		t.Fatal("syntax error parsed")
	}
	if _, ok := c.c.vals["SELEC 1"]; ok {
		t.Error("a failed parse was cached")
	}
	for i := range treeCacheEntries + 10 {
		if _, err := c.parse(ctx, conn, fmt.Sprintf("SELECT %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.c.vals) != treeCacheEntries || len(c.c.order) != treeCacheEntries {
		t.Errorf("%d trees, %d in order; want %d", len(c.c.vals), len(c.c.order), treeCacheEntries)
	}
	if _, ok := c.c.vals[q]; ok {
		t.Error("the oldest text was not forgotten")
	}
}
