package query

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/bloom"
	"golang.org/x/sync/errgroup"

	"github.com/miniodb/miniodb/objstore"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Point lookups by id ("id = 'x'", "id IN ('x', 'y')") rarely prune by
// min/max (ids are spread over every file), so the engine asks each
// remaining file's Parquet bloom filter on id, which flush and compaction
// write. A filter is read with ranged reads of the object (the footer,
// then each row group's filter: a few KiB instead of the file) and kept
// in memory, bounded in bytes. A bloom filter has no false negatives, so a
// file it rules out holds no row with those ids; a file without a filter,
// or one whose filter cannot be read, is kept.

// bloomCacheBytes bounds the filters kept in memory.
const bloomCacheBytes = 64 << 20

// bloomCache holds the id bloom filters of recent files: the bits of one
// split-block filter per row group (nil for a row group without one), nil
// for a file that has none.
type bloomCache struct {
	mu    sync.Mutex
	bytes int64
	files map[string][][]byte
	order []string
}

func (c *bloomCache) get(key string) ([][]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[key]
	return f, ok
}

func (c *bloomCache) put(key string, filters [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string][][]byte{}
	}
	if _, ok := c.files[key]; ok {
		return
	}
	var size int64
	for _, f := range filters {
		size += int64(len(f))
	}
	for c.bytes+size > bloomCacheBytes && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		for _, f := range c.files[old] {
			c.bytes -= int64(len(f))
		}
		delete(c.files, old)
	}
	c.files[key] = filters
	c.order = append(c.order, key)
	c.bytes += size
}

// idLookups returns the ids a reference's predicates require (the
// intersection of its id equalities and IN lists), or nil when they do
// not restrict id to a list.
func idLookups(preds []Predicate, schema map[string]v1.ColumnType) []string {
	if schema["id"] != v1.ColumnType_COLUMN_TYPE_VARCHAR {
		return nil
	}
	var ids []string
	found := false
	for _, p := range preds {
		if p.Column != "id" {
			continue
		}
		var vals []Literal
		switch p.Op {
		case OpEq:
			vals = []Literal{p.Value}
		case OpIn:
			vals = p.Values
		default:
			continue
		}
		var these []string
		for _, v := range vals {
			if v.Kind != LitString {
				these = nil
				break
			}
			these = append(these, v.Text)
		}
		if these == nil {
			continue
		}
		if !found {
			ids, found = these, true
			continue
		}
		var both []string
		for _, id := range ids {
			for _, t := range these {
				if id == t {
					both = append(both, id)
					break
				}
			}
		}
		ids = both
	}
	if found && ids == nil {
		ids = []string{} // contradictory: no id can match
	}
	return ids
}

// bloomPrune keeps the files whose id bloom filters may hold one of ids.
func (e *Engine) bloomPrune(ctx context.Context, files []*v1.DataFile, ids []string) []*v1.DataFile {
	rg, ok := e.cfg.Store.(objstore.RangeGetter)
	if !ok || ids == nil || len(files) == 0 {
		return files
	}
	keep := make([]bool, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchParallelism)
	for i, f := range files {
		g.Go(func() error {
			filters, err := e.idFilters(gctx, rg, f)
			if err != nil {
				e.logger.Debug("bloom filter unreadable; the file is read", "object_key", f.Key, "error", err)
				keep[i] = true
				return nil
			}
			keep[i] = mayHold(filters, ids)
			return nil
		})
	}
	g.Wait()
	var out []*v1.DataFile
	for i, f := range files {
		if keep[i] {
			out = append(out, f)
		}
	}
	return out
}

// mayHold reports whether some row group's filter may hold one of ids; a
// row group without a filter may hold anything.
func mayHold(filters [][]byte, ids []string) bool {
	if filters == nil {
		return true
	}
	for _, f := range filters {
		if f == nil {
			return true
		}
		for _, id := range ids {
			// The filter hashes a BYTE_ARRAY value's bytes with XXH64,
			// as parquet-go and DuckDB write it.
			if ok, err := bloom.CheckSplitBlock(bytes.NewReader(f), int64(len(f)), bloom.XXH64{}.Sum64([]byte(id))); ok || err != nil {
				return true
			}
		}
	}
	return false
}

// idFilters returns the id bloom filter of every row group of f (nil
// entries where a row group has none; a nil slice when the file has no id
// column or no filters at all).
func (e *Engine) idFilters(ctx context.Context, rg objstore.RangeGetter, f *v1.DataFile) ([][]byte, error) {
	if filters, ok := e.blooms.get(f.Key); ok {
		return filters, nil
	}
	r := &rangeReader{ctx: ctx, rg: rg, key: f.Key}
	pf, err := parquet.OpenFile(r, f.SizeBytes, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.SkipMagicBytes(true), parquet.OptimisticRead(true), parquet.ReadBufferSize(64<<10))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", f.Key, err)
	}
	leaf, ok := pf.Schema().Lookup("id")
	if !ok {
		e.blooms.put(f.Key, nil)
		return nil, nil
	}
	var filters [][]byte
	any := false
	for _, g := range pf.RowGroups() {
		cc, ok := g.ColumnChunks()[leaf.ColumnIndex].(*parquet.FileColumnChunk)
		if !ok {
			return nil, fmt.Errorf("%s: unexpected column chunk", f.Key)
		}
		bf, err := cc.BloomFilterFrom(r)
		switch {
		case err == parquet.ErrMissingBloomFilter:
			filters = append(filters, nil)
		case err != nil:
			return nil, fmt.Errorf("%s: bloom filter: %w", f.Key, err)
		default:
			// Read the bits now, so Check never goes to the store.
			bits := make([]byte, bf.Size())
			if _, err := bf.ReadAt(bits, 0); err != nil && err != io.EOF {
				return nil, fmt.Errorf("%s: bloom filter bits: %w", f.Key, err)
			}
			filters = append(filters, bits)
			any = true
		}
	}
	if !any {
		filters = nil
	}
	// The file's smallest and largest ids are in it: filters that do not
	// know them are not filters this reader understands (compressed, or
	// another hash), and are not used.
	for _, s := range f.Stats {
		if s.Name != "id" || filters == nil {
			continue
		}
		for _, b := range []*v1.Scalar{s.Min, s.Max} {
			if v, ok := b.GetValue().(*v1.Scalar_String_); ok && !mayHold(filters, []string{v.String_}) {
				filters = nil
			}
		}
	}
	e.blooms.put(f.Key, filters)
	return filters, nil
}

// rangeReader reads an object with ranged gets.
type rangeReader struct {
	ctx context.Context
	rg  objstore.RangeGetter
	key string
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	rc, err := r.rg.GetRange(r.ctx, r.key, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}
