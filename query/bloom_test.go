package query

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/miniodb/miniodb/objstore"
	"github.com/miniodb/miniodb/parquetio"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestBloomPrune writes files with and without an id bloom filter and
// requires point lookups to keep exactly the files that may hold the ids
// (no false negatives; files without a filter always kept).
func TestBloomPrune(t *testing.T) {
	ctx := context.Background()
	store, err := objstore.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, Config{Dir: t.TempDir(), Store: store, Catalog: specCatalog{}, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	schema := []*v1.Column{{Name: "id", Type: v1.ColumnType_COLUMN_TYPE_VARCHAR}, {Name: "ts", Type: v1.ColumnType_COLUMN_TYPE_TIMESTAMP}}
	write := func(key string, ids []string, bloom bool, rowGroup int) *v1.DataFile {
		t.Helper()
		ns := make([]int64, len(ids))
		var buf bytes.Buffer
		opts := parquetio.WriteOptions{RowGroupRows: rowGroup}
		if bloom {
			opts.BloomFilterColumns = []string{"id"}
		}
		meta, err := parquetio.WriteFile(&buf, schema, []*v1.RowBatch{{RowCount: int64(len(ids)), Columns: schema,
			Vectors: []*v1.ColumnVector{{Strings: ids}, {Ints: ns}}}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
			t.Fatal(err)
		}
		return &v1.DataFile{Key: key, RowCount: meta.RowCount, SizeBytes: int64(buf.Len()), Stats: meta.Stats}
	}
	ids := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s-%05d", prefix, i))
		}
		return out
	}
	files := []*v1.DataFile{
		write("data/a.parquet", ids("a", 5000), true, 1000), // five row groups
		write("data/b.parquet", ids("b", 5000), true, 0),
		write("data/c.parquet", ids("c", 100), false, 0), // no filter: always kept
	}
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{[]string{"a-00017"}, "data/a.parquet data/c.parquet"},
		{[]string{"a-04999", "b-00000"}, "data/a.parquet data/b.parquet data/c.parquet"},
		{[]string{"b-02500"}, "data/b.parquet data/c.parquet"},
		{[]string{}, "data/c.parquet"},
		{nil, "data/a.parquet data/b.parquet data/c.parquet"}, // no id predicate
	} {
		// Twice: the second time from the filter cache.
		for range 2 {
			var got []string
			for _, f := range e.bloomPrune(ctx, files, tc.ids) {
				got = append(got, f.Key)
			}
			if fmt.Sprint(got) != "["+tc.want+"]" {
				t.Errorf("ids %q: kept %v, want [%s]", tc.ids, got, tc.want)
			}
		}
	}
	// Every id written is found (no false negatives).
	for _, id := range append(ids("a", 5000), ids("b", 5000)...) {
		if kept := e.bloomPrune(ctx, files[:2], []string{id}); len(kept) == 0 {
			t.Fatalf("%s: no file kept", id)
		}
	}
	// Ids that were never written are ruled out, but for the filter's
	// false positives (71 of 1000 here, over six row groups' filters).
	positives := 0
	for i := range 1000 {
		if len(e.bloomPrune(ctx, files[:2], []string{fmt.Sprintf("x-%05d", i)})) > 0 {
			positives++
		}
	}
	if positives > 100 {
		t.Errorf("%d of 1000 absent ids kept a file", positives)
	}
	// idLookups: the intersection of the id predicates.
	types := map[string]v1.ColumnType{"id": v1.ColumnType_COLUMN_TYPE_VARCHAR}
	str := func(s string) Literal { return Literal{Kind: LitString, Text: s} }
	// nil: no restriction on id (every file may match); empty: no id
	// can match.
	for _, tc := range []struct {
		preds []Predicate
		want  string
		none  bool // want nil
	}{
		{[]Predicate{{Column: "id", Op: OpEq, Value: str("x")}}, "[x]", false},
		{[]Predicate{{Column: "id", Op: OpIn, Values: []Literal{str("x"), str("y")}}, {Column: "id", Op: OpEq, Value: str("y")}}, "[y]", false},
		{[]Predicate{{Column: "id", Op: OpEq, Value: str("x")}, {Column: "id", Op: OpEq, Value: str("y")}}, "[]", false},
		{[]Predicate{{Column: "id", Op: OpGe, Value: str("x")}}, "[]", true},
		{[]Predicate{{Column: "id", Op: OpEq, Value: Literal{Kind: LitInt, Int: 3}}}, "[]", true},
	} {
		got := idLookups(tc.preds, types)
		if fmt.Sprint(got) != tc.want || (got == nil) != tc.none {
			t.Errorf("idLookups(%v) = %#v, want %s (nil: %v)", tc.preds, got, tc.want, tc.none)
		}
	}
}
