package parquetio

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// DefaultRowGroupRows is the default maximum number of rows per row group.
// DuckDB reads row groups in parallel and skips them by their statistics;
// with rows sorted by ts, row groups of this size let a time filter skip
// most of a large file while keeping per-group overhead small.
const DefaultRowGroupRows = 256 * 1024

// WriteOptions tune WriteFile. The zero value is the default.
type WriteOptions struct {
	// RowGroupRows is the maximum number of rows per row group; 0 means
	// DefaultRowGroupRows.
	RowGroupRows int
	// BloomFilterColumns names columns (typically "id") that get a
	// split-block bloom filter, which DuckDB uses for equality filters.
	BloomFilterColumns []string
	// Parallelism is how many goroutines encode and compress columns at
	// once; 0 or 1 means the calling goroutine alone. The output is the
	// same for every value.
	Parallelism int
}

// Validate reports every problem of o in one error.
func (o WriteOptions) Validate() error {
	var errs []error
	if o.RowGroupRows < 0 {
		errs = append(errs, fmt.Errorf("row group rows %d is negative", o.RowGroupRows))
	}
	if o.Parallelism < 0 {
		errs = append(errs, fmt.Errorf("parallelism %d is negative", o.Parallelism))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("parquetio: write options: %w", errors.Join(errs...))
}

// FileMeta is what a data file says about its rows.
type FileMeta struct {
	RowCount int64
	// Stats has one entry per schema column, in schema order. Min and Max
	// are nil when the column is NULL in every row; otherwise they are
	// Scalars of the column's type: int for BIGINT and TIMESTAMP
	// (microseconds), double for DOUBLE, string for VARCHAR and JSON, bool
	// for BOOLEAN. Strings compare as bytes; doubles order NaN above every
	// number (as DuckDB does), so a column holding NaN has Max NaN.
	Stats []*miniodbv1.ColumnStats
}

// WriteFile writes batches as one Parquet file to w and returns its row
// count and column statistics.
//
// Every batch is conformed to schema: a schema column missing from a batch
// is NULL in its rows, a BIGINT batch column is converted into a DOUBLE
// schema column, and any other type difference, a batch column not in
// schema, or a malformed vector is an error (nothing useful is written to w
// then; discard it). All rows are sorted by "ts" ascending, stably, with
// NULL ts last. schema must contain "ts" as TIMESTAMP.
//
// WriteFile writes column by column and does not allocate per value; it
// holds the conformed rows and the compressed row group in memory.
func WriteFile(w io.Writer, schema []*miniodbv1.Column, batches []*miniodbv1.RowBatch, opts WriteOptions) (FileMeta, error) {
	fw, err := NewWriter(w, schema, opts)
	if err != nil {
		return FileMeta{}, err
	}
	if err := fw.Write(batches...); err != nil {
		return FileMeta{}, err
	}
	return fw.Close()
}

// Writer writes one file in pieces: each Write sorts its own rows by ts
// and writes them as one or more row groups, so a caller that hands over
// rows in ts order (compaction's merge of sorted files) writes a sorted
// file of any size while holding one piece in memory. WriteFile is one
// Write of everything. Each piece's rows are checked to follow the last
// piece's in ts order; a piece that does not is an error.
type Writer struct {
	w            io.Writer
	schema       []*miniodbv1.Column
	opts         WriteOptions
	rowGroupRows int
	tsIdx        int

	pw         *parquet.GenericWriter[any] // created by the first piece: its encodings depend on the data
	colWriters []*parquet.ColumnWriter
	bufs       [][]parquet.Value
	meta       FileMeta
	lastTS     int64
	lastNull   bool // a NULL ts was written: only NULL ts may follow
	closed     bool
}

// NewWriter returns a Writer of one file of schema to w (see WriteFile for
// the rules of schema and batches).
func NewWriter(w io.Writer, schema []*miniodbv1.Column, opts WriteOptions) (*Writer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := validateSchema(schema); err != nil {
		return nil, err
	}
	for _, name := range opts.BloomFilterColumns {
		if !slices.ContainsFunc(schema, func(c *miniodbv1.Column) bool { return c.Name == name }) {
			return nil, fmt.Errorf("parquetio: bloom filter column %q is not in the schema", name)
		}
	}
	rowGroupRows := opts.RowGroupRows
	if rowGroupRows == 0 {
		rowGroupRows = DefaultRowGroupRows
	}
	fw := &Writer{w: w, schema: schema, opts: opts, rowGroupRows: rowGroupRows, lastTS: math.MinInt64}
	fw.meta.Stats = make([]*miniodbv1.ColumnStats, len(schema))
	for i, c := range schema {
		fw.meta.Stats[i] = &miniodbv1.ColumnStats{Name: c.Name}
		if c.Name == TimeColumn {
			fw.tsIdx = i
		}
	}
	return fw, nil
}

// start creates the Parquet writer, choosing encodings from cols.
func (fw *Writer) start(cols []column) error {
	writerOpts := []parquet.WriterOption{
		parquetSchema(fw.schema, chooseEncodings(cols)),
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedDefault}),
		parquet.DataPageStatistics(true),
		parquet.MaxRowsPerRowGroup(int64(fw.rowGroupRows)),
	}
	md := footerMetadata(fw.schema, nil)
	for _, k := range []string{MetaFormat, MetaSchema} {
		writerOpts = append(writerOpts, parquet.KeyValueMetadata(k, md[k]))
	}
	if len(fw.opts.BloomFilterColumns) > 0 {
		var filters []parquet.BloomFilterColumn
		for _, name := range fw.opts.BloomFilterColumns {
			filters = append(filters, parquet.SplitBlockFilter(bloomBitsPerValue, name))
		}
		writerOpts = append(writerOpts, parquet.BloomFilters(filters...))
	}
	fw.pw = parquet.NewGenericWriter[any](fw.w, writerOpts...)
	fw.colWriters = fw.pw.ColumnWriters()
	if len(fw.colWriters) != len(fw.schema) {
		return fmt.Errorf("parquetio: internal error: %d column writers for %d columns", len(fw.colWriters), len(fw.schema))
	}
	workers := min(max(fw.opts.Parallelism, 1), len(cols))
	fw.bufs = make([][]parquet.Value, workers)
	for k := range fw.bufs {
		fw.bufs[k] = make([]parquet.Value, valueChunk)
	}
	return nil
}

// Write adds the rows of batches to the file, sorted by ts.
func (fw *Writer) Write(batches ...*miniodbv1.RowBatch) error {
	if fw.closed {
		return errors.New("parquetio: write after close")
	}
	cols, n, err := conform(fw.schema, batches)
	if err != nil {
		return err
	}
	if fw.meta.RowCount+int64(n) > math.MaxInt32 {
		return fmt.Errorf("parquetio: more than %d rows in one file", math.MaxInt32)
	}
	if fw.pw == nil {
		if err := fw.start(cols); err != nil {
			return err
		}
	}
	if n == 0 {
		return nil
	}
	ts := &cols[fw.tsIdx]
	perm := sortPermutation(ts.ints, ts.defs)
	first, last := 0, n-1
	if perm != nil {
		first, last = int(perm[0]), int(perm[n-1])
	}
	if fw.meta.RowCount > 0 && (fw.lastNull && !ts.isNull(first) || !ts.isNull(first) && ts.ints[first] < fw.lastTS) {
		return fmt.Errorf("parquetio: rows of a piece precede the rows written before it (ts %d after %d)", ts.ints[first], fw.lastTS)
	}
	if ts.isNull(last) {
		fw.lastNull = true
	} else {
		fw.lastTS = ts.ints[last]
	}
	for i, c := range fw.schema {
		fw.meta.Stats[i] = mergeStats(fw.meta.Stats[i], cols[i].stats(c.Name))
	}
	fw.meta.RowCount += int64(n)
	errs := make([]error, len(cols))
	workers := len(fw.bufs)
	for lo := 0; lo < n; lo += fw.rowGroupRows {
		hi := min(n, lo+fw.rowGroupRows)
		if workers == 1 {
			for j := range cols {
				errs[j] = cols[j].write(fw.colWriters[j], j, perm, lo, hi, fw.bufs[0])
			}
		} else {
			// Column writers are independent; each worker takes the next
			// column until none is left.
			var next atomic.Int32
			var wg sync.WaitGroup
			for k := range workers {
				wg.Go(func() {
					for j := int(next.Add(1)) - 1; j < len(cols); j = int(next.Add(1)) - 1 {
						errs[j] = cols[j].write(fw.colWriters[j], j, perm, lo, hi, fw.bufs[k])
					}
				})
			}
			wg.Wait()
		}
		for j, err := range errs {
			if err != nil {
				return fmt.Errorf("parquetio: write column %q: %w", fw.schema[j].Name, err)
			}
		}
		if err := fw.pw.Flush(); err != nil {
			return fmt.Errorf("parquetio: write row group: %w", err)
		}
	}
	return nil
}

// Close writes the footer and returns the file's row count and statistics.
func (fw *Writer) Close() (FileMeta, error) {
	if fw.closed {
		return FileMeta{}, errors.New("parquetio: close after close")
	}
	fw.closed = true
	if fw.pw == nil {
		cols, _, err := conform(fw.schema, nil)
		if err != nil {
			return FileMeta{}, err
		}
		if err := fw.start(cols); err != nil {
			return FileMeta{}, err
		}
	}
	if v, ok := footerMetadata(fw.schema, fw.meta.Stats)[MetaNaN]; ok {
		fw.pw.SetKeyValueMetadata(MetaNaN, v)
	}
	if err := fw.pw.Close(); err != nil {
		return FileMeta{}, fmt.Errorf("parquetio: close parquet writer: %w", err)
	}
	return fw.meta, nil
}

// mergeStats returns the statistics over the rows of a and b (same column).
func mergeStats(a, b *miniodbv1.ColumnStats) *miniodbv1.ColumnStats {
	out := &miniodbv1.ColumnStats{Name: a.Name, NullCount: a.NullCount + b.NullCount, Min: a.Min, Max: a.Max}
	if b.Min != nil && (out.Min == nil || scalarLess(b.Min, out.Min)) {
		out.Min = b.Min
	}
	if b.Max != nil && (out.Max == nil || scalarLess(out.Max, b.Max)) {
		out.Max = b.Max
	}
	return out
}

// chooseEncodings picks each column's encoding: DELTA_BINARY_PACKED for
// TIMESTAMP (sorted, so the deltas are small), RLE_DICTIONARY for columns
// with few distinct values in a sample, PLAIN otherwise. Smaller encoded
// pages also leave less work for zstd.
func chooseEncodings(cols []column) []encoding.Encoding {
	encs := make([]encoding.Encoding, len(cols))
	for j := range cols {
		c := &cols[j]
		switch c.typ {
		case miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP:
			encs[j] = &parquet.DeltaBinaryPacked
		case miniodbv1.ColumnType_COLUMN_TYPE_BIGINT:
			if lowCardinality(c, c.ints) {
				encs[j] = &parquet.RLEDictionary
			}
		case miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE:
			if lowCardinality(c, c.doubles) {
				encs[j] = &parquet.RLEDictionary
			}
		case miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR, miniodbv1.ColumnType_COLUMN_TYPE_JSON:
			if lowCardinality(c, c.strs) {
				encs[j] = &parquet.RLEDictionary
			}
		}
	}
	return encs
}

// lowCardinality samples up to 1024 evenly spaced non-NULL values and
// reports whether at most a quarter of them are distinct.
func lowCardinality[T comparable](c *column, data []T) bool {
	const samples = 1024
	n := len(data)
	if n == 0 {
		return false
	}
	step := max(1, n/samples)
	seen := make(map[T]struct{}, samples/4+1)
	taken := 0
	for i := 0; i < n && taken < samples; i += step {
		if c.isNull(i) {
			continue
		}
		taken++
		seen[data[i]] = struct{}{}
		if len(seen) > samples/4 {
			return false
		}
	}
	return taken > 0 && len(seen)*4 <= taken
}

// bloomBitsPerValue sizes bloom filters: 10 bits per value gives about a
// 1% false-positive rate.
const bloomBitsPerValue = 10

// valueChunk is how many parquet.Values are built before each hand-over to
// a column writer (24 bytes each).
const valueChunk = 4096

// column is one schema column's values over all rows of a file, before
// sorting. Exactly one value slice is used, by type. defs is nil when the
// column has no NULLs; otherwise defs[i] is 1 for a value and 0 for NULL
// (the Parquet definition level).
type column struct {
	typ     miniodbv1.ColumnType
	ints    []int64
	doubles []float64
	strs    []string
	bools   []bool
	defs    []byte
	nulls   int
}

func (c *column) isNull(i int) bool { return c.defs != nil && c.defs[i] == 0 }

func (c *column) len() int { return max(len(c.ints), len(c.doubles), len(c.strs), len(c.bools)) }

// setNull marks row i of n as NULL, allocating defs on first use.
func (c *column) setNull(i, n int) {
	if c.defs == nil {
		c.defs = make([]byte, n)
		for k := range c.defs {
			c.defs[k] = 1
		}
	}
	if c.defs[i] != 0 {
		c.defs[i] = 0
		c.nulls++
	}
}

// conform builds the file's columns from the batches (see WriteFile).
func conform(schema []*miniodbv1.Column, batches []*miniodbv1.RowBatch) ([]column, int, error) {
	index := make(map[string]int, len(schema))
	for i, c := range schema {
		index[c.Name] = i
	}
	n := 0
	for bi, b := range batches {
		if err := checkBatch(b, schema, index); err != nil {
			return nil, 0, fmt.Errorf("parquetio: batch %d: %w", bi, err)
		}
		n += int(b.RowCount)
		if n > math.MaxInt32 {
			return nil, 0, fmt.Errorf("parquetio: more than %d rows in one file", math.MaxInt32)
		}
	}
	cols := make([]column, len(schema))
	for j, c := range schema {
		cols[j].typ = c.Type
	}
	// One batch of exactly the schema's types: use its slices as they are.
	if len(batches) == 1 && int(batches[0].RowCount) == n {
		b := batches[0]
		zeroCopy := true
		for _, bc := range b.Columns {
			if schema[index[bc.Name]].Type != bc.Type {
				zeroCopy = false
			}
		}
		if zeroCopy {
			present := make([]bool, len(schema))
			for k, bc := range b.Columns {
				j := index[bc.Name]
				present[j] = true
				v := b.Vectors[k]
				c := &cols[j]
				c.ints, c.doubles, c.strs, c.bools = v.Ints, v.Doubles, v.Strings, v.Bools
				applyNulls(c, v.Nulls, 0, n, n)
			}
			for j := range cols {
				if !present[j] {
					allocValues(&cols[j], n)
					for i := 0; i < n; i++ {
						cols[j].setNull(i, n)
					}
				}
			}
			return cols, n, nil
		}
	}
	for j := range cols {
		allocValues(&cols[j], n)
	}
	present := make([]bool, len(schema))
	off := 0
	for _, b := range batches {
		rc := int(b.RowCount)
		clear(present)
		for k, bc := range b.Columns {
			j := index[bc.Name]
			present[j] = true
			v := b.Vectors[k]
			c := &cols[j]
			switch {
			case c.typ == miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE && bc.Type == miniodbv1.ColumnType_COLUMN_TYPE_BIGINT:
				dst := c.doubles[off : off+rc]
				for i, x := range v.Ints[:rc] {
					dst[i] = float64(x)
				}
			case c.typ == miniodbv1.ColumnType_COLUMN_TYPE_BIGINT || c.typ == miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP:
				copy(c.ints[off:], v.Ints[:rc])
			case c.typ == miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE:
				copy(c.doubles[off:], v.Doubles[:rc])
			case c.typ == miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR || c.typ == miniodbv1.ColumnType_COLUMN_TYPE_JSON:
				copy(c.strs[off:], v.Strings[:rc])
			case c.typ == miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN:
				copy(c.bools[off:], v.Bools[:rc])
			}
			applyNulls(c, v.Nulls, off, rc, n)
		}
		for j := range cols {
			if !present[j] {
				for i := off; i < off+rc; i++ {
					cols[j].setNull(i, n)
				}
			}
		}
		off += rc
	}
	return cols, n, nil
}

func allocValues(c *column, n int) {
	switch c.typ {
	case miniodbv1.ColumnType_COLUMN_TYPE_BIGINT, miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		c.ints = make([]int64, n)
	case miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE:
		c.doubles = make([]float64, n)
	case miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR, miniodbv1.ColumnType_COLUMN_TYPE_JSON:
		c.strs = make([]string, n)
	case miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN:
		c.bools = make([]bool, n)
	}
}

// applyNulls marks the rows [off, off+rc) of c NULL whose bit is set in the
// batch bitmap nulls.
func applyNulls(c *column, nulls []byte, off, rc, n int) {
	for bi, bits := range nulls {
		for bits != 0 {
			bit := 0
			for bits&(1<<bit) == 0 {
				bit++
			}
			bits &^= 1 << bit
			i := bi*8 + bit
			if i < rc {
				c.setNull(off+i, n)
			}
		}
	}
}

// checkBatch validates one batch against the schema.
func checkBatch(b *miniodbv1.RowBatch, schema []*miniodbv1.Column, index map[string]int) error {
	if b == nil {
		return errors.New("nil batch")
	}
	if b.RowCount < 0 {
		return fmt.Errorf("negative row count %d", b.RowCount)
	}
	if len(b.Columns) != len(b.Vectors) {
		return fmt.Errorf("%d columns but %d vectors", len(b.Columns), len(b.Vectors))
	}
	rc := int(b.RowCount)
	seen := make(map[string]bool, len(b.Columns))
	for k, bc := range b.Columns {
		if bc == nil {
			return fmt.Errorf("column %d is nil", k)
		}
		j, ok := index[bc.Name]
		if !ok {
			return fmt.Errorf("column %q is not in the table schema", bc.Name)
		}
		if seen[bc.Name] {
			return fmt.Errorf("column %q appears twice", bc.Name)
		}
		seen[bc.Name] = true
		want := schema[j].Type
		if bc.Type != want && !(bc.Type == miniodbv1.ColumnType_COLUMN_TYPE_BIGINT && want == miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE) {
			return fmt.Errorf("column %q is %s in the batch but %s in the table schema", bc.Name, TypeName(bc.Type), TypeName(want))
		}
		v := b.Vectors[k]
		if v == nil {
			return fmt.Errorf("column %q has a nil vector", bc.Name)
		}
		var got int
		var list string
		switch bc.Type {
		case miniodbv1.ColumnType_COLUMN_TYPE_BIGINT, miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP:
			got, list = len(v.Ints), "ints"
		case miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE:
			got, list = len(v.Doubles), "doubles"
		case miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR, miniodbv1.ColumnType_COLUMN_TYPE_JSON:
			got, list = len(v.Strings), "strings"
		case miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN:
			got, list = len(v.Bools), "bools"
		default:
			return fmt.Errorf("column %q has unsupported type %s", bc.Name, bc.Type)
		}
		if got != rc {
			return fmt.Errorf("column %q has %d %s for %d rows", bc.Name, got, list, rc)
		}
		if len(v.Nulls) > (rc+7)/8 {
			return fmt.Errorf("column %q has a %d-byte NULL bitmap for %d rows", bc.Name, len(v.Nulls), rc)
		}
	}
	return nil
}

// sortPermutation returns the row order that sorts ts ascending (stable,
// NULLs last), or nil if the rows are already in that order.
func sortPermutation(ts []int64, defs []byte) []int32 {
	n := len(ts)
	sorted := true
	seenNull := false
	first := true
	var prev int64
	for i := 0; i < n; i++ {
		if defs != nil && defs[i] == 0 {
			seenNull = true
			continue
		}
		if seenNull || (!first && ts[i] < prev) {
			sorted = false
			break
		}
		prev, first = ts[i], false
	}
	if sorted {
		return nil
	}
	perm := make([]int32, 0, n)
	var nullRows []int32
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for i := 0; i < n; i++ {
		if defs != nil && defs[i] == 0 {
			nullRows = append(nullRows, int32(i))
			continue
		}
		perm = append(perm, int32(i))
		lo, hi = min(lo, ts[i]), max(hi, ts[i])
	}
	radixSortByKey(perm, ts, lo, uint64(hi)-uint64(lo))
	return append(perm, nullRows...)
}

// radixSortByKey sorts rows (indexes into ts) by ts ascending, stably, with
// an LSD radix sort on ts-lo over the bits that span holds: a flush's
// timestamps usually span minutes to a day, so two to four passes.
func radixSortByKey(rows []int32, ts []int64, lo int64, span uint64) {
	const bits = 11
	const buckets = 1 << bits
	if len(rows) < 256 {
		slices.SortStableFunc(rows, func(a, b int32) int {
			return cmp.Compare(ts[a], ts[b])
		})
		return
	}
	type entry struct {
		key uint64
		row int32
	}
	src := make([]entry, len(rows))
	for k, r := range rows {
		src[k] = entry{uint64(ts[r]) - uint64(lo), r}
	}
	dst := make([]entry, len(rows))
	var count [buckets]int
	for shift := 0; shift < 64 && span>>shift != 0; shift += bits {
		clear(count[:])
		for _, e := range src {
			count[(e.key>>shift)&(buckets-1)]++
		}
		sum := 0
		for b, c := range count {
			count[b] = sum
			sum += c
		}
		for _, e := range src {
			d := (e.key >> shift) & (buckets - 1)
			dst[count[d]] = e
			count[d]++
		}
		src, dst = dst, src
	}
	for k, e := range src {
		rows[k] = e.row
	}
}

// write hands rows [lo, hi) of the sorted order to the column writer.
func (c *column) write(cw *parquet.ColumnWriter, colIdx int, perm []int32, lo, hi int, buf []parquet.Value) error {
	for start := lo; start < hi; start += len(buf) {
		end := min(hi, start+len(buf))
		vals := buf[:end-start]
		switch c.typ {
		case miniodbv1.ColumnType_COLUMN_TYPE_BIGINT, miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP:
			fillInts(vals, c.ints, c.defs, perm, start, colIdx)
		case miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE:
			fillDoubles(vals, c.doubles, c.defs, perm, start, colIdx)
		case miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR, miniodbv1.ColumnType_COLUMN_TYPE_JSON:
			fillStrings(vals, c.strs, c.defs, perm, start, colIdx)
		case miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN:
			fillBools(vals, c.bools, c.defs, perm, start, colIdx)
		}
		if _, err := cw.WriteRowValues(vals); err != nil {
			return err
		}
	}
	return nil
}

// The fill functions set vals[k] to row start+k of the sorted order (row
// perm[start+k], or start+k when perm is nil), with explicit definition
// levels so that zero values stay values and NULLs stay NULL. They are
// written out per type because this is the writer's hot loop: a generic
// version with a constructor argument costs an indirect call per value.

func fillInts(vals []parquet.Value, data []int64, defs []byte, perm []int32, start, colIdx int) {
	null := parquet.Value{}.Level(0, 0, colIdx)
	for k := range vals {
		i := start + k
		if perm != nil {
			i = int(perm[i])
		}
		if defs != nil && defs[i] == 0 {
			vals[k] = null
		} else {
			vals[k] = parquet.Int64Value(data[i]).Level(0, 1, colIdx)
		}
	}
}

func fillDoubles(vals []parquet.Value, data []float64, defs []byte, perm []int32, start, colIdx int) {
	null := parquet.Value{}.Level(0, 0, colIdx)
	for k := range vals {
		i := start + k
		if perm != nil {
			i = int(perm[i])
		}
		if defs != nil && defs[i] == 0 {
			vals[k] = null
		} else {
			vals[k] = parquet.DoubleValue(data[i]).Level(0, 1, colIdx)
		}
	}
}

// fillStrings makes BYTE_ARRAY values that point into the strings without
// copying; column writers copy the bytes into their buffers.
func fillStrings(vals []parquet.Value, data []string, defs []byte, perm []int32, start, colIdx int) {
	null := parquet.Value{}.Level(0, 0, colIdx)
	for k := range vals {
		i := start + k
		if perm != nil {
			i = int(perm[i])
		}
		if defs != nil && defs[i] == 0 {
			vals[k] = null
		} else {
			s := data[i]
			vals[k] = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s))).Level(0, 1, colIdx)
		}
	}
}

func fillBools(vals []parquet.Value, data []bool, defs []byte, perm []int32, start, colIdx int) {
	null := parquet.Value{}.Level(0, 0, colIdx)
	for k := range vals {
		i := start + k
		if perm != nil {
			i = int(perm[i])
		}
		if defs != nil && defs[i] == 0 {
			vals[k] = null
		} else {
			vals[k] = parquet.BooleanValue(data[i]).Level(0, 1, colIdx)
		}
	}
}

// stats computes the column's statistics over all rows.
func (c *column) stats(name string) *miniodbv1.ColumnStats {
	st := &miniodbv1.ColumnStats{Name: name, NullCount: int64(c.nulls)}
	n := c.len()
	first := -1
	for i := 0; i < n; i++ {
		if !c.isNull(i) {
			first = i
			break
		}
	}
	if first < 0 {
		return st
	}
	switch c.typ {
	case miniodbv1.ColumnType_COLUMN_TYPE_BIGINT, miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		lo, hi := c.ints[first], c.ints[first]
		for i := first + 1; i < n; i++ {
			if x := c.ints[i]; !c.isNull(i) {
				lo, hi = min(lo, x), max(hi, x)
			}
		}
		st.Min, st.Max = intScalar(lo), intScalar(hi)
	case miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE:
		lo, hi := c.doubles[first], c.doubles[first]
		for i := first + 1; i < n; i++ {
			if x := c.doubles[i]; !c.isNull(i) {
				if doubleLess(x, lo) {
					lo = x
				}
				if doubleLess(hi, x) {
					hi = x
				}
			}
		}
		st.Min, st.Max = doubleScalar(lo), doubleScalar(hi)
	case miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR, miniodbv1.ColumnType_COLUMN_TYPE_JSON:
		lo, hi := c.strs[first], c.strs[first]
		for i := first + 1; i < n; i++ {
			if x := c.strs[i]; !c.isNull(i) {
				lo, hi = min(lo, x), max(hi, x)
			}
		}
		st.Min, st.Max = stringScalar(lo), stringScalar(hi)
	case miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN:
		lo, hi := c.bools[first], c.bools[first]
		for i := first + 1; i < n; i++ {
			if x := c.bools[i]; !c.isNull(i) {
				lo, hi = lo && x, hi || x
			}
		}
		st.Min, st.Max = boolScalar(lo), boolScalar(hi)
	}
	return st
}

// doubleLess orders doubles as DuckDB does: NaN above everything.
func doubleLess(a, b float64) bool {
	if math.IsNaN(a) {
		return false
	}
	return math.IsNaN(b) || a < b
}

func intScalar(x int64) *miniodbv1.Scalar {
	return &miniodbv1.Scalar{Value: &miniodbv1.Scalar_Int{Int: x}}
}

func doubleScalar(x float64) *miniodbv1.Scalar {
	return &miniodbv1.Scalar{Value: &miniodbv1.Scalar_Double{Double: x}}
}

func stringScalar(x string) *miniodbv1.Scalar {
	return &miniodbv1.Scalar{Value: &miniodbv1.Scalar_String_{String_: x}}
}

func boolScalar(x bool) *miniodbv1.Scalar {
	return &miniodbv1.Scalar{Value: &miniodbv1.Scalar_Bool{Bool: x}}
}
