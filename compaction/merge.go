package compaction

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/miniodb/miniodb/ingest"
	"github.com/miniodb/miniodb/parquetio"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// Input is one file of a merge: its catalog entry and a local copy.
type Input struct {
	File *v1.DataFile
	Path string
	// Tombstones are the deletes that apply to the file: the rows they
	// match are left out of the merged file.
	Tombstones []*v1.Tombstone
}

// Output describes a merged file.
type Output struct {
	RowCount int64
	// DeletedRows are the inputs' rows the tombstones matched.
	DeletedRows int64
	// Columns are the union of the inputs' schemas (BIGINT widened to
	// DOUBLE where any input has DOUBLE), in the order the columns first
	// appear in the inputs.
	Columns []*v1.Column
	Stats   []*v1.ColumnStats
}

// MergeOptions bound a merge's memory. Zero values take the defaults.
type MergeOptions struct {
	// BufferRows bounds the rows a merge holds in memory: its inputs'
	// blocks share this many rows (each at least 256, at most 8192), and
	// the output's row groups have at most this many. Memory is about
	// twice BufferRows times the width of a row in memory, whatever the
	// number or size of the inputs. 0 means DefaultBufferRows.
	BufferRows int
	// BlockRows, if set, is how many rows are read from each input at a
	// time instead (tests use it).
	BlockRows int
	// RowGroupRows is the output's row group size (default
	// parquetio.DefaultRowGroupRows): one row group is built in memory.
	RowGroupRows int
	// Parallelism is how many goroutines encode the output's columns.
	Parallelism int
}

// DefaultBufferRows is MergeOptions.BufferRows' default.
const DefaultBufferRows = 1 << 18

// Merge writes the rows of inputs to w as one MinIODB Parquet file, sorted
// by ts (rows of equal ts in input order), in the union of the inputs'
// schemas: a column an input lacks is NULL in its rows, and BIGINT is
// widened to DOUBLE where another input has DOUBLE. The file has exact
// column statistics and a bloom filter on id when the schema has one, as
// flushed files do.
//
// Every input must be sorted by ts, as every file MinIODB writes is. Merge
// is a streaming k-way merge: it holds one block of BlockRows rows and one
// page per column of each input, plus one output row group, whatever the
// inputs' sizes. A file's row count must match its catalog entry, and the
// output must hold exactly the inputs' rows; anything else is an error
// and w holds nothing useful.
func Merge(ctx context.Context, inputs []Input, w io.Writer, opts MergeOptions) (Output, error) {
	if len(inputs) == 0 {
		return Output{}, errors.New("compaction: merge without inputs")
	}
	if opts.BufferRows <= 0 {
		opts.BufferRows = DefaultBufferRows
	}
	if opts.BlockRows <= 0 {
		opts.BlockRows = min(max(opts.BufferRows/len(inputs), 256), 8192)
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = min(parquetio.DefaultRowGroupRows, opts.BufferRows)
	}
	var cols []*v1.Column
	var want int64
	cursors := make([]*cursor, 0, len(inputs))
	defer func() {
		for _, c := range cursors {
			c.close()
		}
	}()
	for i, in := range inputs {
		c, err := openCursor(i, in)
		if err != nil {
			return Output{}, err
		}
		cursors = append(cursors, c)
		merged, err := ingest.MergeColumns(cols, c.rd.Schema(), false)
		if err != nil {
			return Output{}, fmt.Errorf("compaction: input %s: %w", in.File.GetKey(), err)
		}
		cols = merged
		want += c.rd.NumRows()
	}
	var bloom []string
	for _, c := range cols {
		if c.Name == "id" && c.Type == v1.ColumnType_COLUMN_TYPE_VARCHAR {
			bloom = []string{"id"}
		}
	}
	fw, err := parquetio.NewWriter(w, cols, parquetio.WriteOptions{
		RowGroupRows: opts.RowGroupRows, BloomFilterColumns: bloom, Parallelism: opts.Parallelism,
	})
	if err != nil {
		return Output{}, fmt.Errorf("compaction: %w", err)
	}
	h := &cursorHeap{}
	for _, c := range cursors {
		if err := c.bind(cols); err != nil {
			return Output{}, err
		}
		ok, err := c.load(opts.BlockRows)
		if err != nil {
			return Output{}, err
		}
		if ok {
			h.items = append(h.items, c)
		}
	}
	heap.Init(h)
	out := newBuilder(cols, opts.RowGroupRows)
	for h.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return Output{}, err
		}
		top := h.items[0]
		// Copy the run of top's rows that sort before every other input's
		// next row: for inputs whose ts ranges do not overlap (files of
		// successive flushes), whole blocks at a time.
		end := top.len()
		if h.Len() > 1 {
			next := h.items[1]
			if h.Len() > 2 && h.less(h.items[2], next) {
				next = h.items[2]
			}
			end = top.runEnd(next)
		}
		end = min(end, top.pos+out.room())
		out.copyRows(top, top.pos, end)
		top.pos = end
		if out.full() {
			if err := fw.Write(out.batch()); err != nil {
				return Output{}, fmt.Errorf("compaction: write merged rows: %w", err)
			}
			out.reset()
		}
		if top.pos == top.len() {
			ok, err := top.load(opts.BlockRows)
			if err != nil {
				return Output{}, err
			}
			if !ok {
				heap.Pop(h)
				continue
			}
		}
		heap.Fix(h, 0)
	}
	if out.rows > 0 {
		if err := fw.Write(out.batch()); err != nil {
			return Output{}, fmt.Errorf("compaction: write merged rows: %w", err)
		}
	}
	meta, err := fw.Close()
	if err != nil {
		return Output{}, fmt.Errorf("compaction: %w", err)
	}
	var deleted int64
	for _, c := range cursors {
		deleted += c.deleted
	}
	if meta.RowCount+deleted != want {
		return Output{}, fmt.Errorf("compaction: merge wrote %d rows and left out %d deleted, the inputs hold %d", meta.RowCount, deleted, want)
	}
	return Output{RowCount: meta.RowCount, DeletedRows: deleted, Columns: cols, Stats: meta.Stats}, nil
}

// MergeFile is Merge into a new file at path, removed again on error. It
// returns the output and the file's size.
func MergeFile(ctx context.Context, inputs []Input, path string, opts MergeOptions) (Output, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return Output{}, 0, fmt.Errorf("compaction: %w", err)
	}
	out, err := Merge(ctx, inputs, f, opts)
	if err == nil {
		var size int64
		if size, err = f.Seek(0, io.SeekCurrent); err == nil {
			if err = f.Close(); err == nil {
				return out, size, nil
			}
		}
	}
	f.Close()
	os.Remove(path)
	return Output{}, 0, err
}

// cursor is one input's position: a block of rows and the next row in it.
type cursor struct {
	idx   int // input order, which breaks ties of equal ts
	in    Input
	f     *os.File
	rd    *parquetio.Reader
	block *v1.RowBatch
	ts    []int64 // the block's ts, NULL as math.MaxInt64 (sorted last)
	pos   int
	// src[j] is the block column of output column j, or -1.
	src     []int
	types   []v1.ColumnType // the input's column types
	last    int64           // the previous block's last ts, to check the input is sorted
	deleted int64           // rows the tombstones matched
}

func openCursor(i int, in Input) (*cursor, error) {
	f, err := os.Open(in.Path)
	if err != nil {
		return nil, fmt.Errorf("compaction: open input %s: %w", in.File.GetKey(), err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("compaction: open input %s: %w", in.File.GetKey(), err)
	}
	rd, err := parquetio.OpenReader(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("compaction: open input %s: %w", in.File.GetKey(), err)
	}
	if rd.NumRows() != in.File.GetRowCount() {
		rd.Close()
		f.Close()
		return nil, fmt.Errorf("compaction: input %s holds %d rows, its catalog entry says %d", in.File.GetKey(), rd.NumRows(), in.File.GetRowCount())
	}
	return &cursor{idx: i, in: in, f: f, rd: rd, last: math.MinInt64}, nil
}

func (c *cursor) close() {
	c.rd.Close()
	c.f.Close()
}

// bind maps the output columns onto the input's.
func (c *cursor) bind(cols []*v1.Column) error {
	schema := c.rd.Schema()
	c.src = make([]int, len(cols))
	c.types = make([]v1.ColumnType, len(schema))
	tsCol := -1
	for k, sc := range schema {
		c.types[k] = sc.Type
		if sc.Name == parquetio.TimeColumn {
			tsCol = k
		}
	}
	if tsCol < 0 {
		return fmt.Errorf("compaction: input %s has no %s column", c.in.File.GetKey(), parquetio.TimeColumn)
	}
	for j, oc := range cols {
		c.src[j] = -1
		for k, sc := range schema {
			if sc.Name == oc.Name {
				c.src[j] = k
			}
		}
	}
	return nil
}

func (c *cursor) len() int { return int(c.block.GetRowCount()) }

// load reads the next block; false at the end of the input.
func (c *cursor) load(rows int) (bool, error) {
	var b *v1.RowBatch
	for b == nil || b.RowCount == 0 {
		var err error
		b, err = c.rd.Next(rows)
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("compaction: read input %s: %w", c.in.File.GetKey(), err)
		}
		if len(c.in.Tombstones) > 0 {
			var matchers []func(int) bool
			for _, t := range c.in.Tombstones {
				if m := raftfsm.RowMatcher(t, b); m != nil {
					matchers = append(matchers, m)
				}
			}
			var n int64
			b, n = ingest.FilterRows(b, func(i int) bool {
				for _, m := range matchers {
					if m(i) {
						return false
					}
				}
				return true
			})
			c.deleted += n
		}
	}
	c.block, c.pos = b, 0
	k := -1
	for i, col := range b.Columns {
		if col.Name == parquetio.TimeColumn {
			k = i
		}
	}
	v := b.Vectors[k]
	c.ts = make([]int64, len(v.Ints))
	for i, t := range v.Ints {
		if isNull(v.Nulls, i) {
			t = math.MaxInt64
		}
		if t < c.last {
			return false, fmt.Errorf("compaction: input %s is not sorted by ts", c.in.File.GetKey())
		}
		c.ts[i], c.last = t, t
	}
	return len(c.ts) > 0, nil
}

// runEnd returns the end of the run of rows from pos that sort before
// next's current row.
func (c *cursor) runEnd(next *cursor) int {
	bound := next.ts[next.pos]
	rest := c.ts[c.pos:]
	var n int
	if c.idx < next.idx {
		n = sort.Search(len(rest), func(i int) bool { return rest[i] > bound })
	} else {
		n = sort.Search(len(rest), func(i int) bool { return rest[i] >= bound })
	}
	return c.pos + max(n, 1)
}

func isNull(nulls []byte, i int) bool { return len(nulls) > 0 && nulls[i/8]&(1<<(i%8)) != 0 }

type cursorHeap struct{ items []*cursor }

func (h *cursorHeap) less(a, b *cursor) bool {
	ta, tb := a.ts[a.pos], b.ts[b.pos]
	return ta < tb || ta == tb && a.idx < b.idx
}
func (h *cursorHeap) Len() int           { return len(h.items) }
func (h *cursorHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *cursorHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *cursorHeap) Push(x any)         { h.items = append(h.items, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// builder collects one output row group.
type builder struct {
	cols  []*v1.Column
	cap   int
	rows  int
	vecs  []*v1.ColumnVector
	nulls [][]byte
}

func newBuilder(cols []*v1.Column, capacity int) *builder {
	b := &builder{cols: cols, cap: capacity}
	b.reset()
	return b
}

// reset empties the builder, keeping its memory: the Writer has copied
// the previous row group's values by the time Write returns.
func (b *builder) reset() {
	b.rows = 0
	if b.vecs == nil {
		b.vecs = make([]*v1.ColumnVector, len(b.cols))
		b.nulls = make([][]byte, len(b.cols))
		for j, c := range b.cols {
			v := &v1.ColumnVector{}
			switch c.Type {
			case v1.ColumnType_COLUMN_TYPE_BIGINT, v1.ColumnType_COLUMN_TYPE_TIMESTAMP:
				v.Ints = make([]int64, 0, b.cap)
			case v1.ColumnType_COLUMN_TYPE_DOUBLE:
				v.Doubles = make([]float64, 0, b.cap)
			case v1.ColumnType_COLUMN_TYPE_BOOLEAN:
				v.Bools = make([]bool, 0, b.cap)
			default:
				v.Strings = make([]string, 0, b.cap)
			}
			b.vecs[j] = v
		}
		return
	}
	for j, v := range b.vecs {
		v.Ints, v.Doubles, v.Bools, v.Nulls = v.Ints[:0], v.Doubles[:0], v.Bools[:0], nil
		clear(v.Strings) // drop references to the strings
		v.Strings = v.Strings[:0]
		clear(b.nulls[j])
	}
}

func (b *builder) room() int  { return b.cap - b.rows }
func (b *builder) full() bool { return b.rows >= b.cap }

func (b *builder) setNull(j, row int) {
	if b.nulls[j] == nil {
		b.nulls[j] = make([]byte, (b.cap+7)/8)
	}
	b.nulls[j][row/8] |= 1 << (row % 8)
}

// copyRows appends rows [lo, hi) of c's block, column by column.
func (b *builder) copyRows(c *cursor, lo, hi int) {
	n := hi - lo
	for j, oc := range b.cols {
		dst := b.vecs[j]
		k := c.src[j]
		if k < 0 {
			appendZeros(dst, oc.Type, n)
			for r := range n {
				b.setNull(j, b.rows+r)
			}
			continue
		}
		src := c.block.Vectors[k]
		switch st := c.types[k]; {
		case oc.Type == v1.ColumnType_COLUMN_TYPE_DOUBLE && st == v1.ColumnType_COLUMN_TYPE_BIGINT:
			for _, x := range src.Ints[lo:hi] {
				dst.Doubles = append(dst.Doubles, float64(x))
			}
		case st == v1.ColumnType_COLUMN_TYPE_BIGINT || st == v1.ColumnType_COLUMN_TYPE_TIMESTAMP:
			dst.Ints = append(dst.Ints, src.Ints[lo:hi]...)
		case st == v1.ColumnType_COLUMN_TYPE_DOUBLE:
			dst.Doubles = append(dst.Doubles, src.Doubles[lo:hi]...)
		case st == v1.ColumnType_COLUMN_TYPE_BOOLEAN:
			dst.Bools = append(dst.Bools, src.Bools[lo:hi]...)
		default:
			dst.Strings = append(dst.Strings, src.Strings[lo:hi]...)
		}
		if len(src.Nulls) > 0 {
			for r := lo; r < hi; r++ {
				if isNull(src.Nulls, r) {
					b.setNull(j, b.rows+r-lo)
				}
			}
		}
	}
	b.rows += n
}

func appendZeros(v *v1.ColumnVector, t v1.ColumnType, n int) {
	switch t {
	case v1.ColumnType_COLUMN_TYPE_BIGINT, v1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		v.Ints = append(v.Ints, make([]int64, n)...)
	case v1.ColumnType_COLUMN_TYPE_DOUBLE:
		v.Doubles = append(v.Doubles, make([]float64, n)...)
	case v1.ColumnType_COLUMN_TYPE_BOOLEAN:
		v.Bools = append(v.Bools, make([]bool, n)...)
	default:
		v.Strings = append(v.Strings, make([]string, n)...)
	}
}

// batch returns the collected rows; valid until reset.
func (b *builder) batch() *v1.RowBatch {
	out := &v1.RowBatch{RowCount: int64(b.rows), Columns: b.cols, Vectors: b.vecs}
	for j, nulls := range b.nulls {
		if nulls != nil {
			out.Vectors[j].Nulls = nulls[:(b.rows+7)/8]
		}
	}
	return out
}
