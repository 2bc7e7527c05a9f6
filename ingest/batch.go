package ingest

import (
	"slices"
	"unsafe"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// colBuilder accumulates one column of a request, row by row. Rows 0..n-1
// are filled; a row a field is missing from is padded as NULL when a later
// row (or finish) reaches past it. While typ is unknown (a new field seen
// only as null so far) nothing is stored: the first value materialises n
// NULLs.
type colBuilder struct {
	name    string
	typ     miniodbv1.ColumnType
	inTable bool
	nonNull bool // a non-null value was stored
	lastRow int  // the last row that named the field, for duplicates
	n       int  // rows filled

	ints    []int64   // BIGINT, TIMESTAMP
	doubles []float64 // DOUBLE
	bools   []bool    // BOOLEAN
	sbuf    []byte    // VARCHAR, JSON: the bytes of all values, back to back
	send    []int     // VARCHAR, JSON: the end of each value in sbuf
	nulls   []byte    // bit i: row i is NULL; nil: none so far
}

func (b *colBuilder) setNull(i int) {
	for len(b.nulls) <= i>>3 {
		b.nulls = append(b.nulls, 0)
	}
	b.nulls[i>>3] |= 1 << (i & 7)
}

// appendNull fills row n with NULL.
func (b *colBuilder) appendNull() {
	switch b.typ {
	case typeUnknown:
	case typeBigint, typeTimestamp:
		b.ints = append(b.ints, 0)
	case typeDouble:
		b.doubles = append(b.doubles, 0)
	case typeBoolean:
		b.bools = append(b.bools, false)
	default:
		b.send = append(b.send, len(b.sbuf))
	}
	if b.typ != typeUnknown {
		b.setNull(b.n)
	}
	b.n++
}

// pad fills the rows before r that did not name the field with NULL.
func (b *colBuilder) pad(r int) {
	for b.n < r {
		b.appendNull()
	}
}

func (b *colBuilder) appendString(s []byte) {
	b.sbuf = append(b.sbuf, s...)
	b.send = append(b.send, len(b.sbuf))
	b.n++
}

// setType gives a pending column its type; the n rows so far are NULL.
func (b *colBuilder) setType(t miniodbv1.ColumnType, capHint int) {
	n := b.n
	b.typ = t
	c := max(n, capHint)
	switch t {
	case typeBigint, typeTimestamp:
		b.ints = make([]int64, n, c)
	case typeDouble:
		b.doubles = make([]float64, n, c)
	case typeBoolean:
		b.bools = make([]bool, n, c)
	default:
		b.send = make([]int, n, c)
	}
	for i := 0; i < n; i++ {
		b.setNull(i)
	}
}

// widen turns a BIGINT column into DOUBLE. The conversion rounds to nearest,
// which is what parsing each integer literal as a double gives.
func (b *colBuilder) widen() {
	d := make([]float64, len(b.ints), cap(b.ints))
	for i, v := range b.ints {
		d[i] = float64(v)
	}
	b.doubles, b.ints, b.typ = d, nil, typeDouble
}

// reserve grows the vectors for rows rows, the string buffer by the
// average value size so far.
func (b *colBuilder) reserve(rows int) {
	switch b.typ {
	case typeBigint, typeTimestamp:
		b.ints = slices.Grow(b.ints, rows-len(b.ints))
	case typeDouble:
		b.doubles = slices.Grow(b.doubles, rows-len(b.doubles))
	case typeBoolean:
		b.bools = slices.Grow(b.bools, rows-len(b.bools))
	case typeVarchar, typeJSON:
		if len(b.send) > 0 {
			avg := len(b.sbuf)/len(b.send) + 1
			b.sbuf = slices.Grow(b.sbuf, min(avg*rows, 64<<20)-len(b.sbuf))
		}
		b.send = slices.Grow(b.send, rows-len(b.send))
	}
}

// vector pads the column to n rows and returns it. The builder must not be
// used afterwards: the strings point into its buffer.
func (b *colBuilder) vector(n int) *miniodbv1.ColumnVector {
	b.pad(n)
	v := &miniodbv1.ColumnVector{}
	switch b.typ {
	case typeBigint, typeTimestamp:
		v.Ints = b.ints
	case typeDouble:
		v.Doubles = b.doubles
	case typeBoolean:
		v.Bools = b.bools
	default:
		// One allocation for all of the column's strings; sbuf is never
		// written again, so viewing it as a string is safe.
		all := unsafe.String(unsafe.SliceData(b.sbuf), len(b.sbuf))
		strs := make([]string, n)
		start := 0
		for i, end := range b.send {
			strs[i] = all[start:end]
			start = end
		}
		v.Strings = strs
	}
	if b.nulls != nil {
		want := (n + 7) >> 3
		for len(b.nulls) < want {
			b.nulls = append(b.nulls, 0)
		}
		v.Nulls = b.nulls
	}
	return v
}

// BatchBytes is the approximate in-memory size of a batch, for back-pressure
// accounting: 8 bytes per BIGINT, TIMESTAMP or DOUBLE value, the length plus
// 16 per VARCHAR or JSON value, 1 per BOOLEAN, plus the null bitmaps.
func BatchBytes(b *miniodbv1.RowBatch) int64 {
	var n int64
	for _, v := range b.GetVectors() {
		n += 8*int64(len(v.GetInts())) + 8*int64(len(v.GetDoubles())) + int64(len(v.GetBools())) + int64(len(v.GetNulls()))
		for _, s := range v.GetStrings() {
			n += int64(len(s)) + 16
		}
	}
	return n
}

// split makes one batch per partition of the rows' ts (vecs[tsIdx]).
func split(p miniodbv1.Partitioning, cols []*miniodbv1.Column, vecs []*miniodbv1.ColumnVector, tsIdx, n int) []*miniodbv1.PartitionBatch {
	ts := vecs[tsIdx].Ints
	k0 := partKey(p, ts[0])
	same := true
	for _, t := range ts[1:] {
		if partKey(p, t) != k0 {
			same = false
			break
		}
	}
	if same {
		return []*miniodbv1.PartitionBatch{{
			Partition: partName(p, k0),
			Rows:      &miniodbv1.RowBatch{RowCount: int64(n), Columns: cols, Vectors: vecs},
		}}
	}

	keys := make([]int64, n)
	for i, t := range ts {
		keys[i] = partKey(p, t)
	}
	distinct := slices.Clone(keys)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	group := make([]int32, n)
	counts := make([]int, len(distinct))
	for i, k := range keys {
		g, _ := slices.BinarySearch(distinct, k)
		group[i] = int32(g)
		counts[g]++
	}

	out := make([]*miniodbv1.PartitionBatch, len(distinct))
	for g, k := range distinct {
		out[g] = &miniodbv1.PartitionBatch{
			Partition: partName(p, k),
			Rows: &miniodbv1.RowBatch{
				RowCount: int64(counts[g]),
				Columns:  cloneColumns(cols),
				Vectors:  make([]*miniodbv1.ColumnVector, len(vecs)),
			},
		}
	}
	pos := make([]int, len(distinct)) // next row in each group
	for ci, v := range vecs {
		var ints [][]int64
		var doubles [][]float64
		var bools [][]bool
		var strs [][]string
		switch {
		case v.Ints != nil:
			ints = gather(v.Ints, group, counts)
		case v.Doubles != nil:
			doubles = gather(v.Doubles, group, counts)
		case v.Bools != nil:
			bools = gather(v.Bools, group, counts)
		default:
			strs = gather(v.Strings, group, counts)
		}
		for g := range distinct {
			pv := &miniodbv1.ColumnVector{}
			switch {
			case ints != nil:
				pv.Ints = ints[g]
			case doubles != nil:
				pv.Doubles = doubles[g]
			case bools != nil:
				pv.Bools = bools[g]
			default:
				pv.Strings = strs[g]
			}
			out[g].Rows.Vectors[ci] = pv
		}
		if len(v.Nulls) == 0 {
			continue
		}
		clear(pos)
		for i, g := range group {
			if v.Nulls[i>>3]&(1<<(i&7)) != 0 {
				pv := out[g].Rows.Vectors[ci]
				if pv.Nulls == nil {
					pv.Nulls = make([]byte, (counts[g]+7)>>3)
				}
				pv.Nulls[pos[g]>>3] |= 1 << (pos[g] & 7)
			}
			pos[g]++
		}
	}
	return out
}

// gather splits src by group: rows keep their order inside a group.
func gather[T any](src []T, group []int32, counts []int) [][]T {
	out := make([][]T, len(counts))
	for g, c := range counts {
		out[g] = make([]T, 0, c)
	}
	for i, g := range group {
		out[g] = append(out[g], src[i])
	}
	return out
}

func cloneColumns(cols []*miniodbv1.Column) []*miniodbv1.Column {
	out := make([]*miniodbv1.Column, len(cols))
	for i, c := range cols {
		out[i] = &miniodbv1.Column{Name: c.Name, Type: c.Type}
	}
	return out
}

// DropBefore returns b without its rows whose ts is below cutoff
// (microseconds), and how many it dropped. A row with ts at the cutoff is
// kept; a NULL ts is never dropped. b is returned itself when nothing is
// dropped; it is never modified.
func DropBefore(b *miniodbv1.RowBatch, cutoff int64) (*miniodbv1.RowBatch, int64) {
	tsIdx := -1
	for i, c := range b.GetColumns() {
		if c.Name == "ts" {
			tsIdx = i
		}
	}
	if tsIdx < 0 {
		return b, 0
	}
	tv := b.Vectors[tsIdx]
	return FilterRows(b, func(i int) bool { return tv.Ints[i] >= cutoff || IsNull(tv, i) })
}

// IsNull reports whether row i of v is NULL.
func IsNull(v *miniodbv1.ColumnVector, i int) bool {
	return len(v.Nulls) > 0 && v.Nulls[i/8]&(1<<(i%8)) != 0
}

// FilterRows returns b with only the rows keep accepts, and how many it
// left out. b is returned itself when every row is kept; it is never
// modified.
func FilterRows(b *miniodbv1.RowBatch, keep func(i int) bool) (*miniodbv1.RowBatch, int64) {
	var rows []int
	for i := range int(b.RowCount) {
		if keep(i) {
			rows = append(rows, i)
		}
	}
	if len(rows) == int(b.RowCount) {
		return b, 0
	}
	out := &miniodbv1.RowBatch{RowCount: int64(len(rows)), Columns: b.Columns, Vectors: make([]*miniodbv1.ColumnVector, len(b.Vectors))}
	for j, v := range b.Vectors {
		nv := &miniodbv1.ColumnVector{}
		var nulls []byte
		for k, i := range rows {
			switch {
			case v.Ints != nil:
				nv.Ints = append(nv.Ints, v.Ints[i])
			case v.Doubles != nil:
				nv.Doubles = append(nv.Doubles, v.Doubles[i])
			case v.Strings != nil:
				nv.Strings = append(nv.Strings, v.Strings[i])
			case v.Bools != nil:
				nv.Bools = append(nv.Bools, v.Bools[i])
			}
			if IsNull(v, i) {
				if nulls == nil {
					nulls = make([]byte, (len(rows)+7)/8)
				}
				nulls[k/8] |= 1 << (k % 8)
			}
		}
		nv.Nulls = nulls
		out.Vectors[j] = nv
	}
	return out, b.RowCount - int64(len(rows))
}
