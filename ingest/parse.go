package ingest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// Table is what Parse needs to know about the table written to.
type Table struct {
	// Name is the table's name (checked with ValidName).
	Name string
	// Columns is the table's current schema; empty for a table that the
	// write creates. A non-empty schema must hold ts TIMESTAMP. Parse never
	// mutates it.
	Columns []*miniodbv1.Column
	// Explicit: the schema is fixed (no new columns, no widening).
	Explicit bool
	// Partitioning splits rows by ts; UNSPECIFIED means DAY.
	Partitioning miniodbv1.Partitioning
}

// Options are Parse's limits. Passing a limit is an error (ErrInvalid),
// never a truncation. A zero field takes its default; a negative one is an
// error.
type Options struct {
	// MaxRows is the most rows one request may hold. Default 100,000.
	MaxRows int
	// MaxFieldBytes is the largest VARCHAR value (decoded UTF-8 bytes) or
	// JSON value (compact text). Default 1 MiB.
	MaxFieldBytes int
	// MaxColumns caps the table's width: a new field is refused once the
	// table's columns plus the request's new fields (null-only ones
	// included) number MaxColumns. A table already wider takes writes to
	// its existing columns. Default 1,000.
	MaxColumns int
	// MaxDepth is the deepest nesting of objects and arrays inside a JSON
	// value (a field holding an object is depth 1). Default 64.
	MaxDepth int
}

// DefaultOptions returns the default limits.
func DefaultOptions() Options {
	return Options{MaxRows: 100_000, MaxFieldBytes: 1 << 20, MaxColumns: 1000, MaxDepth: 64}
}

// withDefaults fills zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	d := DefaultOptions()
	if o.MaxRows < 0 || o.MaxFieldBytes < 0 || o.MaxColumns < 0 || o.MaxDepth < 0 {
		return o, fmt.Errorf("ingest: negative limit in options %+v", o)
	}
	if o.MaxRows == 0 {
		o.MaxRows = d.MaxRows
	}
	if o.MaxFieldBytes == 0 {
		o.MaxFieldBytes = d.MaxFieldBytes
	}
	if o.MaxColumns == 0 {
		o.MaxColumns = d.MaxColumns
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = d.MaxDepth
	}
	return o, nil
}

type inputKind uint8

const (
	inputNone inputKind = iota
	inputJSONArray
	inputNDJSON
	inputStructs
	inputRecords
)

// Input is the rows of one write request in one of the accepted forms; make
// one with JSONArray, NDJSON, Structs or Records. The same rows give the same
// Result in every form (see the package doc for the two differences of
// Structs: number typing and JSON text).
type Input struct {
	kind    inputKind
	data    []byte
	structs []*structpb.Struct
	records []*miniodbv1.Record
}

// JSONArray is a JSON array of objects, e.g. the raw `rows` of a Connect
// JSON WriteRequest. Parse does not retain data.
func JSONArray(data []byte) Input { return Input{kind: inputJSONArray, data: data} }

// NDJSON is one JSON object per line; blank lines are skipped and "\r\n"
// line ends are fine. Parse does not retain data.
func NDJSON(data []byte) Input { return Input{kind: inputNDJSON, data: data} }

// Structs are rows already decoded from protobuf. Their numbers are float64:
// an integral value within ±2^53 is taken as BIGINT, any other as DOUBLE.
func Structs(rows []*structpb.Struct) Input { return Input{kind: inputStructs, structs: rows} }

// Records are upstream MinIODB's record form. A record becomes the row
// {"id": id, "ts": timestamp, payload fields...}; an empty id gives no id
// (NULL), an empty timestamp gives the server's time, and a payload field
// named id or ts (in any case) is an error.
func Records(records []*miniodbv1.Record) Input { return Input{kind: inputRecords, records: records} }

// Result is a parsed request.
type Result struct {
	// Batches holds one batch per partition, in ascending partition order;
	// rows keep their input order inside a batch. Every batch has the same
	// columns: those with at least one non-null value in the request, table
	// columns first (in table order), then new columns (ts, id, then the
	// rest by name).
	Batches []*miniodbv1.PartitionBatch
	// Columns is the table's schema after this request: MergeColumns of the
	// table's columns and the batches' columns.
	Columns []*miniodbv1.Column
	// Rows is the number of rows in all batches.
	Rows int
	// Bytes is the approximate in-memory size of the batches (BatchBytes).
	Bytes int64
}

// Parse parses the rows of one write request into column batches typed
// against t's schema, split by partition. now (truncated to microseconds) is
// the ts of rows without one. It either accepts every row or returns an
// error (an ErrInvalid, usually a *RowError naming the row and field) and
// nothing else. It is pure and deterministic, and safe for concurrent use.
//
// Strings in the result share memory with one buffer per column; the result
// does not alias the input.
func Parse(t Table, in Input, now time.Time, opts Options) (*Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p, err := newParser(t, now, opts)
	if err != nil {
		return nil, err
	}
	switch in.kind {
	case inputJSONArray:
		err = p.parseArray(in.data)
	case inputNDJSON:
		err = p.parseNDJSON(in.data)
	case inputStructs:
		err = p.parseStructs(in.structs)
	case inputRecords:
		err = p.parseRecords(in.records)
	default:
		return nil, errors.New("ingest: Input made without JSONArray, NDJSON, Structs or Records")
	}
	if err != nil {
		return nil, err
	}
	if p.rows == 0 {
		return nil, &RowError{Msg: "empty input: no rows"}
	}
	return p.finish()
}

// parser holds the state of one Parse call.
type parser struct {
	t        Table
	part     miniodbv1.Partitioning
	opts     Options
	now      int64
	rows     int // rows started so far
	line     int // NDJSON line of the current row, 0 otherwise
	base     int // offset of the scanned slice in the input, for messages
	capHint  int // expected rows, for vector capacity; 0 until known
	cols     []*colBuilder
	index    map[string]*colBuilder // exact name
	lower    map[string]*colBuilder // lower-case name
	hints    []*colBuilder          // field position → column of the row before
	ts       *colBuilder
	kbuf     []byte   // decoded field names
	vbuf     []byte   // decoded string values
	nkeys    []byte   // decoded keys of nested objects, for duplicate checks
	nspans   []int    // start, end pairs of the keys in nkeys
	keys     []string // sorted keys of a Struct row
	jsonText []byte   // encoded Struct values
}

func newParser(t Table, now time.Time, opts Options) (*parser, error) {
	if err := ValidName("table", t.Name); err != nil {
		return nil, err
	}
	switch t.Partitioning {
	case miniodbv1.Partitioning_PARTITIONING_UNSPECIFIED, miniodbv1.Partitioning_PARTITIONING_NONE,
		miniodbv1.Partitioning_PARTITIONING_HOUR, miniodbv1.Partitioning_PARTITIONING_DAY,
		miniodbv1.Partitioning_PARTITIONING_MONTH:
	default:
		return nil, fmt.Errorf("ingest: table %q has unknown partitioning %v", t.Name, t.Partitioning)
	}
	p := &parser{
		t:     t,
		part:  normPartitioning(t.Partitioning),
		opts:  opts,
		now:   now.UnixMicro(),
		index: make(map[string]*colBuilder, len(t.Columns)+8),
		lower: make(map[string]*colBuilder, len(t.Columns)+8),
	}
	for _, c := range t.Columns {
		name, typ := c.GetName(), c.GetType()
		if !validType(typ) {
			return nil, fmt.Errorf("ingest: table %q: column %q has invalid type %v", t.Name, name, typ)
		}
		l := strings.ToLower(name)
		if p.lower[l] != nil {
			return nil, fmt.Errorf("ingest: table %q: column %q twice", t.Name, name)
		}
		b := &colBuilder{name: name, typ: typ, inTable: true, lastRow: -1}
		p.cols = append(p.cols, b)
		p.index[name] = b
		p.lower[l] = b
	}
	if len(t.Columns) > 0 {
		p.ts = p.index[TimeColumn]
		if p.ts == nil || p.ts.typ != typeTimestamp {
			return nil, fmt.Errorf("ingest: table %q: schema has no ts TIMESTAMP column", t.Name)
		}
	} else {
		p.ts = p.add(TimeColumn, typeTimestamp)
	}
	p.ts.nonNull = true
	return p, nil
}

// add registers a new (not in the table) column.
func (p *parser) add(name string, typ miniodbv1.ColumnType) *colBuilder {
	b := &colBuilder{name: name, typ: typ, lastRow: -1}
	p.cols = append(p.cols, b)
	p.index[name] = b
	p.lower[strings.ToLower(name)] = b
	return b
}

// beginRow starts row r (0-based).
func (p *parser) beginRow(r int) error {
	if r >= p.opts.MaxRows {
		return &RowError{Row: r + 1, Line: p.lineFor(r), Msg: fmt.Sprintf("too many rows: the limit is %d per request", p.opts.MaxRows)}
	}
	p.rows = r + 1
	return nil
}

// endRow completes row r: a row without ts gets now.
func (p *parser) endRow(r int) {
	if p.ts.lastRow != r {
		p.ts.pad(r)
		p.ts.ints = append(p.ts.ints, p.now)
		p.ts.n++
	}
}

// reserve sets the expected row count once the first row is parsed, so
// vectors grow once.
func (p *parser) reserve(rows int) {
	rows = min(rows, p.opts.MaxRows)
	if rows <= 1 {
		return
	}
	p.capHint = rows
	for _, b := range p.cols {
		b.reserve(rows)
	}
}

// field finds (or makes) the column of field key at position k of row r, and
// rejects a field given twice in the row. key may be reused after it returns.
func (p *parser) field(key []byte, k, r int) (*colBuilder, error) {
	var b *colBuilder
	if k < len(p.hints) && p.hints[k].name == string(key) {
		b = p.hints[k]
	} else {
		b = p.index[string(key)]
		if b == nil {
			var err error
			if b, err = p.newField(key, r); err != nil {
				return nil, err
			}
		}
		if k < len(p.hints) {
			p.hints[k] = b
		} else if k == len(p.hints) {
			p.hints = append(p.hints, b)
		}
	}
	if b.lastRow == r {
		return nil, p.rowErr(r, b.name, "field given twice in one object")
	}
	b.lastRow = r
	return b, nil
}

// newField adds a column for a field not in the schema yet.
func (p *parser) newField(key []byte, r int) (*colBuilder, error) {
	if err := validName("column", key); err != nil {
		return nil, p.rowErr(r, string(key), err.Error())
	}
	name := string(key)
	if o := p.lower[strings.ToLower(name)]; o != nil {
		return nil, p.rowErr(r, name, fmt.Sprintf("conflicts with column %q (column names are case-insensitive)", o.name))
	}
	if p.t.Explicit {
		return nil, p.rowErr(r, name, fmt.Sprintf("no such column in the explicit schema of table %q", p.t.Name))
	}
	if len(p.cols) >= p.opts.MaxColumns {
		return nil, p.rowErr(r, name, fmt.Sprintf("too many columns: the limit is %d per table", p.opts.MaxColumns))
	}
	typ := typeUnknown
	if name == IDColumn {
		typ = typeVarchar
	}
	b := p.add(name, typ)
	if p.capHint > 0 {
		b.reserve(p.capHint)
	}
	return b, nil
}

func (p *parser) lineFor(r int) int {
	if p.line != 0 && p.line != r+1 {
		return p.line
	}
	return 0
}

// rowErr makes the error of row r (0-based).
func (p *parser) rowErr(r int, field, msg string) error {
	return &RowError{Row: r + 1, Line: p.lineFor(r), Field: field, Msg: msg}
}

// kind is the JSON kind of a value, with numbers split by how they parse.
type kind uint8

const (
	kNull kind = iota
	kString
	kInt    // integral and fits int64
	kBigInt // integral literal out of int64 range (JSON text only)
	kFloat  // any other number
	kBool
	kObject
	kArray
)

func (k kind) String() string {
	switch k {
	case kNull:
		return "null"
	case kString:
		return "string"
	case kInt, kBigInt, kFloat:
		return "number"
	case kBool:
		return "boolean"
	case kObject:
		return "object"
	case kArray:
		return "array"
	}
	return "?"
}

// scalar is one non-null value on its way into a column.
type scalar struct {
	k kind
	// s is the decoded content of a string, or the text of a JSON number.
	s []byte
	// text is the value's JSON text (a quoted string with its escapes as
	// sent, a number's text, true/false); nil when the form does not have
	// it (Structs): then it is made when a JSON column needs it.
	text []byte
	i    int64
	f    float64
	b    bool
}

// accept settles the type of column b for a value of kind k: a pending
// column takes the value's type; a BIGINT column widens to DOUBLE for a
// float unless the schema is explicit. It returns the type to store the
// value as, or false when the value does not fit.
func (p *parser) accept(b *colBuilder, k kind) (miniodbv1.ColumnType, bool) {
	switch b.typ {
	case typeUnknown:
		var t miniodbv1.ColumnType
		switch k {
		case kString:
			t = typeVarchar
		case kInt:
			t = typeBigint
		case kFloat:
			t = typeDouble
		case kBool:
			t = typeBoolean
		case kObject, kArray:
			t = typeJSON
		default:
			return 0, false
		}
		b.setType(t, p.capHint)
		return t, true
	case typeBigint:
		if k == kInt {
			return typeBigint, true
		}
		if k == kFloat && !p.t.Explicit {
			b.widen()
			return typeDouble, true
		}
	case typeDouble:
		if k == kInt || k == kFloat || k == kBigInt {
			return typeDouble, true
		}
	case typeVarchar, typeTimestamp:
		if k == kString {
			return b.typ, true
		}
	case typeBoolean:
		if k == kBool {
			return typeBoolean, true
		}
	case typeJSON:
		if k != kNull {
			return typeJSON, true
		}
	}
	return 0, false
}

// put stores a non-null scalar (not an object or array of the JSON form,
// which is compacted straight into the column) in b for row r.
func (p *parser) put(b *colBuilder, r int, v *scalar) error {
	t, ok := p.accept(b, v.k)
	if !ok {
		return p.mismatch(b, r, v)
	}
	b.pad(r)
	switch t {
	case typeVarchar:
		if len(v.s) > p.opts.MaxFieldBytes {
			return p.tooBig(b, r, len(v.s))
		}
		b.appendString(v.s)
	case typeTimestamp:
		ts, ok := parseTimestamp(v.s)
		if !ok {
			return p.rowErr(r, b.name, "want an RFC 3339 timestamp string, got "+displayString(v.s))
		}
		b.ints = append(b.ints, ts)
		b.n++
	case typeBigint:
		b.ints = append(b.ints, v.i)
		b.n++
	case typeDouble:
		f := v.f
		switch {
		case v.k == kInt:
			f = float64(v.i) // correctly rounded, as parsing the literal as a double
		case v.s != nil: // JSON number text, parsed only when stored as a double
			var err error
			if f, err = parseFloat(v.s); err != nil {
				return p.rowErr(r, b.name, err.Error())
			}
		}
		b.doubles = append(b.doubles, f)
		b.n++
	case typeBoolean:
		b.bools = append(b.bools, v.b)
		b.n++
	case typeJSON:
		text := v.text
		if text == nil {
			var err error
			if text, err = p.encodeScalar(v); err != nil {
				return p.rowErr(r, b.name, err.Error())
			}
		}
		if len(text) > p.opts.MaxFieldBytes {
			return p.tooBig(b, r, len(text))
		}
		b.appendString(text)
	}
	b.nonNull = true
	return nil
}

// null stores NULL in b for row r. ts may not be NULL.
func (p *parser) null(b *colBuilder, r int) error {
	if b == p.ts {
		return p.rowErr(r, b.name, "want an RFC 3339 timestamp string, got null")
	}
	b.pad(r)
	b.appendNull()
	return nil
}

// mismatch makes the error of a value that does not fit its column.
func (p *parser) mismatch(b *colBuilder, r int, v *scalar) error {
	switch {
	case b.typ == typeTimestamp:
		return p.rowErr(r, b.name, "want an RFC 3339 timestamp string, got "+v.k.String())
	case v.k == kBigInt && (b.typ == typeUnknown || b.typ == typeBigint):
		return p.rowErr(r, b.name, fmt.Sprintf("integer %s is out of BIGINT range (send it as a string, or with a fraction or exponent to store a DOUBLE)", truncate(string(v.s))))
	}
	return p.rowErr(r, b.name, "column is "+TypeName(b.typ)+", got "+p.describe(v))
}

func (p *parser) tooBig(b *colBuilder, r, n int) error {
	return p.rowErr(r, b.name, fmt.Sprintf("value of %d bytes is larger than the limit of %d bytes", n, p.opts.MaxFieldBytes))
}

// describe names a value for a message: `string "x"`, `number 1.5`,
// `boolean true`, `object`.
func (p *parser) describe(v *scalar) string {
	switch v.k {
	case kString:
		if v.text != nil {
			return "string " + truncate(string(v.text))
		}
		return "string " + quoteTrunc(string(v.s))
	case kInt, kBigInt, kFloat:
		if v.text != nil {
			return "number " + truncate(string(v.text))
		}
		t, _ := p.encodeScalar(v)
		return "number " + string(t)
	case kBool:
		if v.b {
			return "boolean true"
		}
		return "boolean false"
	}
	return v.k.String()
}

// displayString shows decoded string content in a message, quoted.
func displayString(s []byte) string {
	return "string " + quoteTrunc(string(s))
}

// truncate cuts a JSON text for a message.
func truncate(s string) string {
	if len(s) <= 40 {
		return s
	}
	cut := 40
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

// finish assembles the Result.
func (p *parser) finish() (*Result, error) {
	n := p.rows
	var order []*colBuilder
	var fresh []*colBuilder
	for _, b := range p.cols {
		if !b.nonNull {
			continue
		}
		if b.inTable {
			order = append(order, b)
		} else {
			fresh = append(fresh, b)
		}
	}
	rank := func(b *colBuilder) int {
		switch b.name {
		case TimeColumn:
			return 0
		case IDColumn:
			return 1
		}
		return 2
	}
	slices.SortFunc(fresh, func(a, b *colBuilder) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a.name, b.name)
	})
	order = append(order, fresh...)

	cols := make([]*miniodbv1.Column, len(order))
	vecs := make([]*miniodbv1.ColumnVector, len(order))
	tsIdx := -1
	for i, b := range order {
		cols[i] = &miniodbv1.Column{Name: b.name, Type: b.typ}
		vecs[i] = b.vector(n)
		if b == p.ts {
			tsIdx = i
		}
	}
	merged, err := MergeColumns(p.t.Columns, cols, p.t.Explicit)
	if err != nil {
		return nil, err
	}
	batches := split(p.part, cols, vecs, tsIdx, n)
	res := &Result{Batches: batches, Columns: merged, Rows: n}
	for _, pb := range batches {
		res.Bytes += BatchBytes(pb.Rows)
	}
	return res, nil
}
