package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// resultWriter prints a query result as it arrives: the columns once, then
// chunks of rows, then finish with the elapsed time.
type resultWriter interface {
	columns(cols []*miniodbv1.ResultColumn) error
	rows(rows []*structpb.ListValue) error
	finish(elapsed time.Duration) error
}

// Output formats of "miniodb sql".
const (
	formatTable  = "table"
	formatJSON   = "json"
	formatNDJSON = "ndjson"
	formatCSV    = "csv"
)

func newResultWriter(format string, w io.Writer, maxWidth int) (resultWriter, error) {
	switch format {
	case formatTable:
		return &tableWriter{w: w, maxWidth: maxWidth}, nil
	case formatCSV:
		return &csvWriter{w: csv.NewWriter(w)}, nil
	case formatJSON:
		return &jsonWriter{w: bufio.NewWriter(w), array: true}, nil
	case formatNDJSON:
		return &jsonWriter{w: bufio.NewWriter(w)}, nil
	}
	return nil, usageErrorf("unknown --format %q: want table, csv, json or ndjson", format)
}

// colKind says how a column's values are printed.
type colKind struct {
	numeric bool // right-aligned; numeric text in strings is a JSON number
	float   bool // integral values print as "2.0", not "2"
}

// kindOf classifies a DuckDB type name such as "BIGINT" or "DECIMAL(18,3)".
func kindOf(typ string) colKind {
	base := strings.ToUpper(strings.TrimSpace(typ))
	if i := strings.IndexByte(base, '('); i >= 0 {
		base = strings.TrimSpace(base[:i])
	}
	switch base {
	case "FLOAT", "FLOAT4", "FLOAT8", "REAL", "DOUBLE":
		return colKind{numeric: true, float: true}
	case "TINYINT", "SMALLINT", "INTEGER", "INT", "BIGINT", "HUGEINT",
		"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
		"INT1", "INT2", "INT4", "INT8", "LONG", "SHORT", "DECIMAL", "NUMERIC":
		return colKind{numeric: true}
	}
	return colKind{}
}

// formatNumber writes a float the way encoding/json does (no exponent
// between 1e-6 and 1e21). With float set (the table format, for DOUBLE
// columns) an integral value gets ".0", so DOUBLE 2 reads "2.0" as in
// DuckDB's shell; csv, json and ndjson write the shortest text ("2"). NaN
// and infinities, which JSON lacks, are "NaN", "Infinity" and "-Infinity".
func formatNumber(f float64, float bool) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	abs := math.Abs(f)
	var s string
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		s = strconv.FormatFloat(f, 'e', -1, 64)
		// "1e-07" → "1e-7", as encoding/json writes it.
		if n := len(s); n >= 4 && s[n-4] == 'e' && s[n-3] == '-' && s[n-2] == '0' {
			s = s[:n-2] + s[n-1:]
		}
	} else {
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if float && !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// cellText renders one value as text for table and CSV output; null
// reports SQL NULL.
func cellText(v *structpb.Value, k colKind) (text string, null bool) {
	switch x := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		return "", true
	case *structpb.Value_NumberValue:
		return formatNumber(x.NumberValue, k.float), false
	case *structpb.Value_StringValue:
		return x.StringValue, false
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(x.BoolValue), false
	default: // struct or list: JSON text
		return string(appendJSONValue(nil, v, colKind{})), false
	}
}

// appendJSONValue appends v as JSON. In numeric columns, a string that is
// a JSON number (a BIGINT beyond ±2^53, a DECIMAL) is written as that exact
// number; NaN and infinities become strings.
func appendJSONValue(dst []byte, v *structpb.Value, k colKind) []byte {
	switch x := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		return append(dst, "null"...)
	case *structpb.Value_NumberValue:
		s := formatNumber(x.NumberValue, k.float)
		if math.IsNaN(x.NumberValue) || math.IsInf(x.NumberValue, 0) {
			return appendJSONString(dst, s)
		}
		return append(dst, s...)
	case *structpb.Value_StringValue:
		if k.numeric && isJSONNumber(x.StringValue) {
			return append(dst, x.StringValue...)
		}
		return appendJSONString(dst, x.StringValue)
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(dst, x.BoolValue)
	case *structpb.Value_ListValue:
		dst = append(dst, '[')
		for i, e := range x.ListValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONValue(dst, e, colKind{})
		}
		return append(dst, ']')
	case *structpb.Value_StructValue:
		fields := x.StructValue.GetFields()
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, '{')
		for i, key := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, key)
			dst = append(dst, ':')
			dst = appendJSONValue(dst, fields[key], colKind{})
		}
		return append(dst, '}')
	}
	return append(dst, "null"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Unlike encoding/json it does
// not escape <, > and &; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// isJSONNumber reports whether s is a number in JSON's grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func checkRow(row *structpb.ListValue, ncols int) error {
	if n := len(row.GetValues()); n != ncols {
		return fmt.Errorf("server sent a row of %d values for %d columns", n, ncols)
	}
	return nil
}

// tableWriter prints a box table for people. Column widths depend on
// every row, so it keeps the whole result until finish: the cells' text in
// one byte arena with an end offset per cell (about the size of the text,
// plus 8 bytes a cell). It never drops rows; for huge results use csv or
// ndjson, which stream.
type tableWriter struct {
	w        io.Writer
	maxWidth int // cut cells to this many columns with "…"; 0: never
	cols     []*miniodbv1.ResultColumn
	kinds    []colKind
	widths   []int // display width of each column so far
	arena    []byte
	ends     []int // ends[r*len(cols)+c]: end of cell (r, c) in arena
	nrows    int64
}

func (t *tableWriter) columns(cols []*miniodbv1.ResultColumn) error {
	t.cols = cols
	t.kinds = make([]colKind, len(cols))
	t.widths = make([]int, len(cols))
	for i, c := range cols {
		t.kinds[i] = kindOf(c.GetType())
		t.widths[i] = max(displayWidth(printable(c.GetName())), displayWidth(printable(c.GetType())), 1)
	}
	return nil
}

func (t *tableWriter) rows(rows []*structpb.ListValue) error {
	for _, row := range rows {
		if err := checkRow(row, len(t.cols)); err != nil {
			return err
		}
		for i, v := range row.GetValues() {
			text, null := cellText(v, t.kinds[i])
			if null {
				text = "NULL"
			} else {
				text = truncateWidth(printable(text), t.maxWidth)
			}
			t.widths[i] = max(t.widths[i], displayWidth(text))
			t.arena = append(t.arena, text...)
			t.ends = append(t.ends, len(t.arena))
		}
		t.nrows++
	}
	return nil
}

func (t *tableWriter) finish(elapsed time.Duration) error {
	bw := bufio.NewWriter(t.w)
	if n := len(t.cols); n > 0 {
		rule := func(left, mid, right string) {
			bw.WriteString(left)
			for i, w := range t.widths {
				if i > 0 {
					bw.WriteString(mid)
				}
				bw.WriteString(strings.Repeat("─", w+2))
			}
			bw.WriteString(right + "\n")
		}
		cell := func(i int, text string, a align) {
			bw.WriteString("│ ")
			bw.WriteString(pad(text, t.widths[i], a))
			bw.WriteString(" ")
			if i == n-1 {
				bw.WriteString("│\n")
			}
		}
		rule("┌", "┬", "┐")
		for i, c := range t.cols {
			cell(i, printable(c.GetName()), alignCenter)
		}
		for i, c := range t.cols {
			cell(i, strings.ToLower(printable(c.GetType())), alignCenter)
		}
		rule("├", "┼", "┤")
		start := 0
		for k, end := range t.ends {
			i := k % n
			a := alignLeft
			if t.kinds[i].numeric {
				a = alignRight
			}
			cell(i, string(t.arena[start:end]), a)
			start = end
		}
		rule("└", "┴", "┘")
	}
	fmt.Fprintf(bw, "%s (%.2fs)\n", plural(t.nrows, "row", "rows"), elapsed.Seconds())
	return bw.Flush()
}

// csvWriter streams RFC 4180 CSV: a header of column names, then rows;
// NULL is an empty field.
type csvWriter struct {
	w     *csv.Writer
	kinds []colKind
	rec   []string
}

func (c *csvWriter) columns(cols []*miniodbv1.ResultColumn) error {
	c.kinds = make([]colKind, len(cols))
	header := make([]string, len(cols))
	for i, col := range cols {
		c.kinds[i] = kindOf(col.GetType())
		c.kinds[i].float = false // shortest number text, as in JSON
		header[i] = col.GetName()
	}
	c.rec = make([]string, len(cols))
	if err := c.w.Write(header); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}

func (c *csvWriter) rows(rows []*structpb.ListValue) error {
	for _, row := range rows {
		if err := checkRow(row, len(c.kinds)); err != nil {
			return err
		}
		for i, v := range row.GetValues() {
			c.rec[i], _ = cellText(v, c.kinds[i])
		}
		if err := c.w.Write(c.rec); err != nil {
			return err
		}
	}
	c.w.Flush()
	return c.w.Error()
}

func (c *csvWriter) finish(time.Duration) error {
	c.w.Flush()
	return c.w.Error()
}

// jsonWriter streams rows as JSON objects keyed by column name, in column
// order: one per line (ndjson) or as one JSON array with a row per line.
// A repeated column name gets a suffix ("x", "x_1") so no key is lost.
type jsonWriter struct {
	w     *bufio.Writer
	array bool
	keys  [][]byte // each column's key, JSON-quoted, with the colon
	kinds []colKind
	n     int64
	buf   []byte
}

func (j *jsonWriter) columns(cols []*miniodbv1.ResultColumn) error {
	seen := make(map[string]bool, len(cols))
	j.keys = make([][]byte, len(cols))
	j.kinds = make([]colKind, len(cols))
	for i, c := range cols {
		name := c.GetName()
		for n := 1; seen[name]; n++ {
			name = fmt.Sprintf("%s_%d", c.GetName(), n)
		}
		seen[name] = true
		j.keys[i] = append(appendJSONString(nil, name), ':')
		j.kinds[i] = kindOf(c.GetType())
		j.kinds[i].float = false // shortest number text: 2.0 is 2
	}
	return nil
}

func (j *jsonWriter) rows(rows []*structpb.ListValue) error {
	for _, row := range rows {
		if err := checkRow(row, len(j.keys)); err != nil {
			return err
		}
		b := j.buf[:0]
		if j.array {
			if j.n == 0 {
				b = append(b, "[\n"...)
			} else {
				b = append(b, ",\n"...)
			}
		}
		b = append(b, '{')
		for i, v := range row.GetValues() {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, j.keys[i]...)
			b = appendJSONValue(b, v, j.kinds[i])
		}
		b = append(b, '}')
		if !j.array {
			b = append(b, '\n')
		}
		j.buf = b
		j.n++
		if _, err := j.w.Write(b); err != nil {
			return err
		}
	}
	return j.w.Flush()
}

func (j *jsonWriter) finish(time.Duration) error {
	if j.array {
		if j.n == 0 {
			j.w.WriteString("[]\n")
		} else {
			j.w.WriteString("\n]\n")
		}
	}
	return j.w.Flush()
}
