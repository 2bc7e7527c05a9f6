package parquetio

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Reader streams a file's rows in order, in batches of a chosen size,
// holding one page per column and the batch being built: memory does not
// grow with the file (ReadBatches, by contrast, holds all of it).
type Reader struct {
	f       *parquet.File
	cols    []fileColumn
	schema  []*miniodbv1.Column
	groups  []parquet.RowGroup
	next    int   // next row group to open
	left    int64 // rows left in the open row group
	streams []*valueStream
	err     error
}

// OpenReader opens a file for streaming. r must stay readable until the
// Reader is closed.
func OpenReader(r io.ReaderAt, size int64) (*Reader, error) {
	f, cols, err := openFile(r, size, false)
	if err != nil {
		return nil, err
	}
	return &Reader{f: f, cols: cols, schema: schemaOf(cols), groups: f.RowGroups()}, nil
}

// Schema returns the file's columns.
func (r *Reader) Schema() []*miniodbv1.Column { return r.schema }

// NumRows returns the file's row count as its footer states it.
func (r *Reader) NumRows() int64 { return r.f.NumRows() }

// Next returns the next at most max rows as a batch in the file's schema
// (never crossing a row group), or io.EOF after the last row. Any other
// error is final.
func (r *Reader) Next(max int) (b *miniodbv1.RowBatch, err error) {
	if r.err != nil {
		return nil, r.err
	}
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("%w: decoder panicked: %v", ErrCorrupt, p)
		}
		if err != nil {
			r.err = err
			r.closeStreams()
		}
	}()
	for r.left == 0 {
		r.closeStreams()
		if r.next == len(r.groups) {
			return nil, io.EOF
		}
		g := r.groups[r.next]
		r.next++
		r.left = g.NumRows()
		if r.left < 0 || r.left > math.MaxInt32 {
			return nil, fmt.Errorf("%w: row group %d has %d rows", ErrCorrupt, r.next-1, r.left)
		}
		chunks := g.ColumnChunks()
		if len(chunks) != len(r.cols) {
			return nil, fmt.Errorf("%w: row group %d has %d columns, schema %d", ErrCorrupt, r.next-1, len(chunks), len(r.cols))
		}
		for _, c := range chunks {
			r.streams = append(r.streams, &valueStream{pages: c.Pages(), buf: make([]parquet.Value, streamValues)})
		}
	}
	n := int(min(int64(max), r.left))
	b = &miniodbv1.RowBatch{RowCount: int64(n), Columns: r.schema, Vectors: make([]*miniodbv1.ColumnVector, len(r.cols))}
	for j, s := range r.streams {
		v, err := s.read(r.cols[j], n)
		if err != nil {
			return nil, fmt.Errorf("parquetio: column %q row group %d: %w", r.cols[j].col.Name, r.next-1, err)
		}
		b.Vectors[j] = v
	}
	r.left -= int64(n)
	if r.left == 0 {
		// Every column must end with the row group.
		for j, s := range r.streams {
			if err := s.end(); err != nil {
				return nil, fmt.Errorf("parquetio: column %q row group %d: %w", r.cols[j].col.Name, r.next-1, err)
			}
		}
	}
	return b, nil
}

// Close releases the open pages.
func (r *Reader) Close() error {
	r.closeStreams()
	if r.err == nil {
		r.err = errors.New("parquetio: reader is closed")
	}
	return nil
}

func (r *Reader) closeStreams() {
	for _, s := range r.streams {
		s.close()
	}
	r.streams = r.streams[:0]
}

// streamValues is how many values a valueStream decodes at a time (24
// bytes each).
const streamValues = 256

// valueStream reads one column chunk's values page by page.
type valueStream struct {
	buf    []parquet.Value // its own: leftover values stay valid while others read
	pages  parquet.Pages
	page   parquet.Page
	values parquet.ValueReader
	vals   []parquet.Value // decoded, not yet consumed
	done   bool            // the current page has no more values
}

// read returns the next n values as a vector of c's type.
func (s *valueStream) read(c fileColumn, n int) (*miniodbv1.ColumnVector, error) {
	v := &miniodbv1.ColumnVector{}
	// n comes from the footer, which may lie: do not trust it for a large
	// allocation.
	capacity := min(n, 1<<20)
	switch c.col.Type {
	case miniodbv1.ColumnType_COLUMN_TYPE_BIGINT, miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		v.Ints = make([]int64, 0, capacity)
	case miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE:
		v.Doubles = make([]float64, 0, capacity)
	case miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR, miniodbv1.ColumnType_COLUMN_TYPE_JSON:
		v.Strings = make([]string, 0, capacity)
	case miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN:
		v.Bools = make([]bool, 0, capacity)
	}
	var nulls []byte
	for row := 0; row < n; {
		if len(s.vals) == 0 {
			if err := s.fill(); err != nil {
				return nil, err
			}
		}
		k := min(len(s.vals), n-row)
		for _, x := range s.vals[:k] {
			if x.IsNull() {
				for len(nulls) <= row/8 {
					nulls = append(nulls, 0)
				}
				nulls[row/8] |= 1 << (row % 8)
			}
			appendValue(v, c, x)
			row++
		}
		s.vals = s.vals[k:]
	}
	if nulls != nil {
		nulls = append(nulls, make([]byte, (n+7)/8-len(nulls))...)
	}
	v.Nulls = nulls
	return v, nil
}

// fill decodes the next values, moving to the next page when needed.
func (s *valueStream) fill() error {
	for {
		if s.values != nil && !s.done {
			n, err := s.values.ReadValues(s.buf)
			s.vals = s.buf[:n]
			switch {
			case err == io.EOF:
				s.done = true
			case err != nil:
				return fmt.Errorf("%w: %w", ErrCorrupt, err)
			case n == 0:
				return fmt.Errorf("%w: page reader made no progress", ErrCorrupt)
			}
			if n > 0 {
				return nil
			}
		}
		s.releasePage()
		p, err := s.pages.ReadPage()
		if err == io.EOF {
			return fmt.Errorf("%w: fewer values than the row group's rows", ErrCorrupt)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		s.page, s.values, s.done = p, p.Values(), false
	}
}

// end checks that no values are left after the row group's last row.
func (s *valueStream) end() error {
	if len(s.vals) > 0 {
		return fmt.Errorf("%w: more values than the row group's rows", ErrCorrupt)
	}
	var probe [1]parquet.Value
	for {
		if s.values != nil && !s.done {
			n, err := s.values.ReadValues(probe[:])
			if n > 0 {
				return fmt.Errorf("%w: more values than the row group's rows", ErrCorrupt)
			}
			if err != nil && err != io.EOF {
				return fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			s.done = true
		}
		s.releasePage()
		p, err := s.pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		s.page, s.values, s.done = p, p.Values(), false
	}
}

func (s *valueStream) releasePage() {
	if s.page != nil {
		parquet.Release(s.page)
		s.page, s.values = nil, nil
	}
}

func (s *valueStream) close() {
	s.vals = nil
	s.releasePage()
	s.pages.Close()
}

// appendValue appends one value (the zero value for NULL) to v as c's type.
func appendValue(v *miniodbv1.ColumnVector, c fileColumn, x parquet.Value) {
	switch c.col.Type {
	case miniodbv1.ColumnType_COLUMN_TYPE_BIGINT, miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		var i int64
		if !x.IsNull() {
			i = scaleMicros(x.Int64(), c.tsScale)
		}
		v.Ints = append(v.Ints, i)
	case miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE:
		var d float64
		if !x.IsNull() {
			d = x.Double()
		}
		v.Doubles = append(v.Doubles, d)
	case miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR, miniodbv1.ColumnType_COLUMN_TYPE_JSON:
		var s string
		if !x.IsNull() {
			s = string(x.ByteArray())
		}
		v.Strings = append(v.Strings, s)
	case miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN:
		v.Bools = append(v.Bools, !x.IsNull() && x.Boolean())
	}
}
