package parquetio

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"

	"github.com/parquet-go/parquet-go"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// ErrCorrupt is wrapped by errors for files that are not valid Parquet, are
// damaged, or use features this package does not read (nested columns,
// unsupported types, a newer format version).
var ErrCorrupt = errors.New("parquetio: corrupt or unsupported parquet file")

// maxFooterSize bounds the footer a reader will allocate for; MinIODB's
// footers are a few KiB.
const maxFooterSize = 64 << 20

// footerReadAhead is how much of a file's end openFile reads at once.
const footerReadAhead = 64 << 10

// tailCachedReaderAt serves reads inside the already-read tail of a file
// from memory.
type tailCachedReaderAt struct {
	r    io.ReaderAt
	tail []byte
	off  int64
}

func (t *tailCachedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= t.off && off+int64(len(p)) <= t.off+int64(len(t.tail)) {
		return copy(p, t.tail[off-t.off:]), nil
	}
	return t.r.ReadAt(p, off)
}

// fileColumn is one column of a file being read: its miniodb column and how
// to scale its values.
type fileColumn struct {
	col *miniodbv1.Column
	// tsScale turns stored TIMESTAMP values into microseconds: >0
	// multiplies, <0 divides.
	tsScale int64
}

// openFile opens a Parquet file after checking its frame, converting any
// panic of the decoder into ErrCorrupt.
func openFile(r io.ReaderAt, size int64, readIndexes bool) (f *parquet.File, cols []fileColumn, err error) {
	if size < 12 {
		return nil, nil, fmt.Errorf("%w: %d bytes is too small", ErrCorrupt, size)
	}
	var head [4]byte
	if n, err := r.ReadAt(head[:], 0); n != len(head) {
		return nil, nil, fmt.Errorf("parquetio: read header: %w", err)
	}
	// Read the end of the file once: for MinIODB's files it holds the
	// whole footer, so a remote reader makes two requests in all.
	tailLen := min(size, footerReadAhead)
	tailBuf := make([]byte, tailLen)
	if n, err := r.ReadAt(tailBuf, size-tailLen); n != len(tailBuf) {
		return nil, nil, fmt.Errorf("parquetio: read footer: %w", err)
	}
	tail := tailBuf[tailLen-8:]
	if string(head[:]) != "PAR1" || string(tail[4:]) != "PAR1" {
		return nil, nil, fmt.Errorf("%w: no PAR1 magic", ErrCorrupt)
	}
	footer := int64(binary.LittleEndian.Uint32(tail[:4]))
	if footer > size-12 || footer > maxFooterSize {
		return nil, nil, fmt.Errorf("%w: footer of %d bytes in a %d-byte file", ErrCorrupt, footer, size)
	}
	r = &tailCachedReaderAt{r: r, tail: tailBuf, off: size - tailLen}
	defer func() {
		if p := recover(); p != nil {
			f, cols, err = nil, nil, fmt.Errorf("%w: decoder panicked: %v", ErrCorrupt, p)
		}
	}()
	f, err = parquet.OpenFile(r, size,
		parquet.SkipMagicBytes(true),
		parquet.SkipPageIndex(!readIndexes),
		parquet.SkipBloomFilters(true),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	cols, err = fileSchema(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return f, cols, nil
}

// fileSchema returns the file's columns: from the miniodb.schema metadata
// when present (checked against the Parquet schema), else from the Parquet
// schema alone.
func fileSchema(f *parquet.File) ([]fileColumn, error) {
	if v, ok := f.Lookup(MetaFormat); ok {
		version, err := strconv.Atoi(v)
		if err != nil || version < 1 {
			return nil, fmt.Errorf("%s=%q is not a version number", MetaFormat, v)
		}
		if version > FormatVersion {
			return nil, fmt.Errorf("%s=%d is newer than this reader (%d)", MetaFormat, version, FormatVersion)
		}
	}
	root := f.Root()
	if root == nil {
		return nil, errors.New("no schema")
	}
	leaves := root.Columns()
	cols := make([]fileColumn, len(leaves))
	for i, leaf := range leaves {
		t, scale, err := columnTypeOfLeaf(leaf)
		if err != nil {
			return nil, err
		}
		cols[i] = fileColumn{col: &miniodbv1.Column{Name: leaf.Name(), Type: t}, tsScale: scale}
	}
	if v, ok := f.Lookup(MetaSchema); ok {
		meta, err := decodeSchemaJSON(v)
		if err != nil {
			return nil, err
		}
		if len(meta) != len(cols) {
			return nil, fmt.Errorf("%s has %d columns, the Parquet schema %d", MetaSchema, len(meta), len(cols))
		}
		for i, m := range meta {
			c := cols[i].col
			if m.Name != c.Name || !sameStorage(m.Type, c.Type) {
				return nil, fmt.Errorf("%s column %d is %q %s, the Parquet schema has %q %s",
					MetaSchema, i, m.Name, TypeName(m.Type), c.Name, TypeName(c.Type))
			}
			// The metadata knows JSON from VARCHAR.
			c.Type = m.Type
		}
	}
	return cols, nil
}

// sameStorage reports whether two column types are stored alike.
func sameStorage(a, b miniodbv1.ColumnType) bool {
	str := func(t miniodbv1.ColumnType) bool {
		return t == miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR || t == miniodbv1.ColumnType_COLUMN_TYPE_JSON
	}
	return a == b || str(a) && str(b)
}

func schemaOf(cols []fileColumn) []*miniodbv1.Column {
	out := make([]*miniodbv1.Column, len(cols))
	for i, c := range cols {
		out[i] = c.col
	}
	return out
}

// ReadStats reads a file's footer only and returns its row count, per-column
// statistics (merged over row groups, in the file's column order, as
// WriteFile returns them) and its schema. It returns an error wrapping
// ErrCorrupt for anything that is not a readable MinIODB-compatible Parquet
// file, including a column with values but without min/max statistics; it
// does not panic on any input.
func ReadStats(r io.ReaderAt, size int64) (FileMeta, []*miniodbv1.Column, error) {
	f, cols, err := openFile(r, size, false)
	if err != nil {
		return FileMeta{}, nil, err
	}
	md := f.Metadata()
	meta := FileMeta{RowCount: md.NumRows, Stats: make([]*miniodbv1.ColumnStats, len(cols))}
	if md.NumRows < 0 {
		return FileMeta{}, nil, fmt.Errorf("%w: negative row count", ErrCorrupt)
	}
	var rows int64
	for _, rg := range md.RowGroups {
		rows += rg.NumRows
		if len(rg.Columns) != len(cols) {
			return FileMeta{}, nil, fmt.Errorf("%w: row group has %d columns, schema %d", ErrCorrupt, len(rg.Columns), len(cols))
		}
	}
	if rows != md.NumRows {
		return FileMeta{}, nil, fmt.Errorf("%w: row groups hold %d rows, footer says %d", ErrCorrupt, rows, md.NumRows)
	}
	var nanColumns []string
	if v, ok := f.Lookup(MetaNaN); ok {
		if err := json.Unmarshal([]byte(v), &nanColumns); err != nil {
			return FileMeta{}, nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, MetaNaN, err)
		}
	}
	for j, c := range cols {
		st := &miniodbv1.ColumnStats{Name: c.col.Name}
		for g := range md.RowGroups {
			cm := &md.RowGroups[g].Columns[j].MetaData
			s := &cm.Statistics
			if s.NullCount < 0 || s.NullCount > cm.NumValues || cm.NumValues != md.RowGroups[g].NumRows {
				return FileMeta{}, nil, fmt.Errorf("%w: column %q row group %d: %d values, %d NULLs, %d rows",
					ErrCorrupt, c.col.Name, g, cm.NumValues, s.NullCount, md.RowGroups[g].NumRows)
			}
			st.NullCount += s.NullCount
			if s.NullCount == cm.NumValues {
				continue // only NULLs
			}
			if s.MinValue == nil || s.MaxValue == nil {
				return FileMeta{}, nil, fmt.Errorf("%w: column %q row group %d has values but no min/max statistics", ErrCorrupt, c.col.Name, g)
			}
			lo, err := decodeStat(c, s.MinValue)
			if err != nil {
				return FileMeta{}, nil, fmt.Errorf("%w: column %q row group %d min: %w", ErrCorrupt, c.col.Name, g, err)
			}
			hi, err := decodeStat(c, s.MaxValue)
			if err != nil {
				return FileMeta{}, nil, fmt.Errorf("%w: column %q row group %d max: %w", ErrCorrupt, c.col.Name, g, err)
			}
			if st.Min == nil || scalarLess(lo, st.Min) {
				st.Min = lo
			}
			if st.Max == nil || scalarLess(st.Max, hi) {
				st.Max = hi
			}
		}
		if c.col.Type == miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE && slices.Contains(nanColumns, c.col.Name) {
			st.Max = doubleScalar(math.NaN())
			if st.Min == nil {
				st.Min = doubleScalar(math.NaN())
			}
		}
		meta.Stats[j] = st
	}
	return meta, schemaOf(cols), nil
}

// decodeStat decodes a PLAIN-encoded statistics value (byte arrays without
// a length prefix).
func decodeStat(c fileColumn, b []byte) (*miniodbv1.Scalar, error) {
	switch c.col.Type {
	case miniodbv1.ColumnType_COLUMN_TYPE_BIGINT, miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		if len(b) != 8 {
			return nil, fmt.Errorf("%d bytes for an INT64", len(b))
		}
		return intScalar(scaleMicros(int64(binary.LittleEndian.Uint64(b)), c.tsScale)), nil
	case miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE:
		if len(b) != 8 {
			return nil, fmt.Errorf("%d bytes for a DOUBLE", len(b))
		}
		return doubleScalar(math.Float64frombits(binary.LittleEndian.Uint64(b))), nil
	case miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN:
		if len(b) != 1 || b[0] > 1 {
			return nil, fmt.Errorf("%x is not a BOOLEAN", b)
		}
		return boolScalar(b[0] == 1), nil
	default:
		return stringScalar(string(b)), nil
	}
}

func scaleMicros(v, scale int64) int64 {
	switch {
	case scale > 1:
		return v * scale
	case scale < 0:
		return floorDiv(v, -scale)
	}
	return v
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// scalarLess orders two scalars of the same kind (see FileMeta).
func scalarLess(a, b *miniodbv1.Scalar) bool {
	switch av := a.Value.(type) {
	case *miniodbv1.Scalar_Int:
		return av.Int < b.GetInt()
	case *miniodbv1.Scalar_Double:
		return doubleLess(av.Double, b.GetDouble())
	case *miniodbv1.Scalar_String_:
		return av.String_ < b.GetString_()
	case *miniodbv1.Scalar_Bool:
		return !av.Bool && b.GetBool()
	}
	return false
}

// ReadBatches reads a whole file back, one RowBatch per row group, with the
// file's schema as every batch's columns. NULLs are set in the bitmaps and
// hold zero values in the lists. It holds the whole file in memory (tests
// use it; Reader streams).
func ReadBatches(r io.ReaderAt, size int64) ([]*miniodbv1.RowBatch, error) {
	rd, err := OpenReader(r, size)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var batches []*miniodbv1.RowBatch
	for {
		b, err := rd.Next(math.MaxInt32) // Next never crosses a row group
		if err == io.EOF {
			return batches, nil
		}
		if err != nil {
			return nil, err
		}
		batches = append(batches, b)
	}
}
