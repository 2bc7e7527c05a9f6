package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

// Input formats of "miniodb write".
const (
	inputNDJSON = "ndjson"
	inputJSON   = "json" // a JSON array of objects, or NDJSON (told apart by the first byte)
	inputCSV    = "csv"
	inputTSV    = "tsv"
)

// detectFormat picks the input format from a file name's extension (after
// any .gz): .csv → csv, .tsv → tsv, .json → json, anything else (.ndjson,
// .jsonl, stdin) → ndjson. JSON and NDJSON are then told apart by the
// input's first byte, so a mislabelled file still reads.
func detectFormat(name string) string {
	name = strings.TrimSuffix(strings.ToLower(name), ".gz")
	switch filepath.Ext(name) {
	case ".csv":
		return inputCSV
	case ".tsv", ".tab":
		return inputTSV
	case ".json":
		return inputJSON
	}
	return inputNDJSON
}

// rowSource yields rows, each one JSON object on one line (no newline).
type rowSource interface {
	// next returns the next row and its position (line number, or element
	// number in a JSON array). The slice is valid until the next call. At
	// the end it returns io.EOF; bad input is an *inputError.
	next() (row []byte, pos int, err error)
}

// inputError locates a problem in the input: "rows.ndjson:17: …".
type inputError struct {
	name string
	unit string // "line" or "element"
	pos  int
	msg  string
}

func (e *inputError) Error() string {
	if e.unit == "line" {
		return fmt.Sprintf("%s:%d: %s", e.name, e.pos, e.msg)
	}
	return fmt.Sprintf("%s: %s %d: %s", e.name, e.unit, e.pos, e.msg)
}

// maxLineBytes bounds one NDJSON line.
const maxLineBytes = 256 << 20

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// newRowSource reads r in the given format; name labels errors.
func newRowSource(r io.Reader, name, format string) (rowSource, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, utf8BOM) {
		br.Discard(3)
	}
	switch format {
	case inputCSV, inputTSV:
		comma := ','
		if format == inputTSV {
			comma = '\t'
		}
		return newCSVSource(br, name, comma)
	case inputNDJSON, inputJSON:
		if first, err := firstNonSpace(br); err == nil && first == '[' {
			return newJSONArraySource(br, name)
		}
		return newNDJSONSource(br, name), nil
	}
	return nil, usageErrorf("unknown --format %q: want ndjson, json, csv or tsv", format)
}

// firstNonSpace peeks at the first byte that is not JSON white space.
func firstNonSpace(br *bufio.Reader) (byte, error) {
	for n := 1; ; n++ {
		b, err := br.Peek(n)
		if len(b) < n {
			return 0, err
		}
		switch c := b[n-1]; c {
		case ' ', '\t', '\r', '\n':
		default:
			return c, nil
		}
		if n == br.Size() {
			return 0, errors.New("only white space")
		}
	}
}

// ndjsonSource reads one JSON object per line; blank lines are skipped.
type ndjsonSource struct {
	name string
	sc   *bufio.Scanner
	line int
}

func newNDJSONSource(r io.Reader, name string) *ndjsonSource {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	return &ndjsonSource{name: name, sc: sc}
}

func (s *ndjsonSource) next() ([]byte, int, error) {
	for s.sc.Scan() {
		s.line++
		line := bytes.TrimSpace(s.sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := checkObject(line); err != nil {
			return nil, s.line, &inputError{name: s.name, unit: "line", pos: s.line, msg: err.Error()}
		}
		return line, s.line, nil
	}
	if err := s.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, s.line + 1, &inputError{name: s.name, unit: "line", pos: s.line + 1,
				msg: fmt.Sprintf("line longer than %s", humanBytes(maxLineBytes))}
		}
		return nil, s.line, err
	}
	return nil, s.line, io.EOF
}

// checkObject reports why line is not exactly one JSON object.
func checkObject(line []byte) error {
	if line[0] != '{' {
		return fmt.Errorf("not a JSON object (starts with %s)", quoteStart(line))
	}
	if json.Valid(line) {
		return nil
	}
	var raw json.RawMessage
	err := json.Unmarshal(line, &raw)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	if err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	return errors.New("invalid JSON")
}

func quoteStart(b []byte) string {
	const n = 20
	if len(b) > n {
		return strconv.Quote(string(b[:n])) + "…"
	}
	return strconv.Quote(string(b))
}

// jsonArraySource reads the objects of one JSON array, one at a time.
type jsonArraySource struct {
	name string
	dec  *json.Decoder
	n    int
	buf  bytes.Buffer
	done bool
}

func newJSONArraySource(r io.Reader, name string) (*jsonArraySource, error) {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("%s: want a JSON array, found %v", name, tok)
	}
	return &jsonArraySource{name: name, dec: dec}, nil
}

func (s *jsonArraySource) next() ([]byte, int, error) {
	if s.done {
		return nil, s.n, io.EOF
	}
	if !s.dec.More() {
		if _, err := s.dec.Token(); err != nil { // the closing ]
			return nil, s.n, s.errorf("after element %d: %v", s.n, err)
		}
		if _, err := s.dec.Token(); err != io.EOF {
			return nil, s.n, s.errorf("data after the closing ] of the array")
		}
		s.done = true
		return nil, s.n, io.EOF
	}
	s.n++
	var raw json.RawMessage
	if err := s.dec.Decode(&raw); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, s.n, &inputError{name: s.name, unit: "element", pos: s.n,
			msg: fmt.Sprintf("invalid JSON near byte %d: %v", s.dec.InputOffset(), err)}
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil, s.n, &inputError{name: s.name, unit: "element", pos: s.n,
			msg: fmt.Sprintf("not a JSON object (starts with %s)", quoteStart(raw))}
	}
	s.buf.Reset()
	if err := json.Compact(&s.buf, raw); err != nil {
		return nil, s.n, &inputError{name: s.name, unit: "element", pos: s.n, msg: err.Error()}
	}
	return s.buf.Bytes(), s.n, nil
}

func (s *jsonArraySource) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s", s.name, fmt.Sprintf(format, args...))
}

// csvSource reads CSV with a header row and turns each record into a JSON
// object (see csvRowJSON).
type csvSource struct {
	name   string
	r      *csv.Reader
	header []string
	keys   [][]byte // header names as JSON strings with the colon
	buf    []byte
}

func newCSVSource(r io.Reader, name string, comma rune) (*csvSource, error) {
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty input: want a header row of field names", name)
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	header = append([]string(nil), header...)
	if err := checkHeader(header); err != nil {
		return nil, &inputError{name: name, unit: "line", pos: 1, msg: err.Error()}
	}
	s := &csvSource{name: name, r: cr, header: header}
	for _, h := range header {
		s.keys = append(s.keys, append(appendJSONString(nil, h), ':'))
	}
	return s, nil
}

// checkHeader checks that every column has a name and no name repeats.
func checkHeader(header []string) error {
	seen := make(map[string]int, len(header))
	for i, h := range header {
		if strings.TrimSpace(h) == "" {
			return fmt.Errorf("header: column %d has no name", i+1)
		}
		if j, dup := seen[h]; dup {
			return fmt.Errorf("header: columns %d and %d are both named %q", j+1, i+1, h)
		}
		seen[h] = i
	}
	return nil
}

func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &inputError{name: name, unit: "line", pos: pe.Line, msg: pe.Err.Error()}
	}
	return fmt.Errorf("%s: %w", name, err)
}

func (s *csvSource) next() ([]byte, int, error) {
	rec, err := s.r.Read()
	if err == io.EOF {
		line, _ := s.r.FieldPos(0)
		return nil, line, io.EOF
	}
	if err != nil {
		return nil, 0, csvError(s.name, err)
	}
	line, _ := s.r.FieldPos(0)
	s.buf = csvRowJSON(s.buf[:0], s.keys, rec)
	return s.buf, line, nil
}

// csvRowJSON appends one CSV record as a JSON object. keys are the
// header's names, already JSON-quoted with a trailing colon. Cells:
// empty → the field is left out (NULL); true/false (also True, TRUE, …) →
// a boolean; a number in JSON's grammar → that number, text unchanged (the
// server makes integers BIGINT and others DOUBLE); a number JSON lacks the
// form for (".5", "5.", "+1.5") → the same value in JSON form, kept
// non-integral; anything else, including "007" and "1,234" → a string.
func csvRowJSON(dst []byte, keys [][]byte, rec []string) []byte {
	dst = append(dst, '{')
	first := true
	for i, cell := range rec {
		if cell == "" {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, keys[i]...)
		dst = appendCSVValue(dst, cell)
	}
	return append(dst, '}')
}

func appendCSVValue(dst []byte, cell string) []byte {
	switch cell {
	case "true", "True", "TRUE":
		return append(dst, "true"...)
	case "false", "False", "FALSE":
		return append(dst, "false"...)
	}
	if isJSONNumber(cell) {
		return append(dst, cell...)
	}
	if f, ok := looseDecimal(cell); ok {
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eE") {
			s += ".0"
		}
		return append(dst, s...)
	}
	return appendJSONString(dst, cell)
}

// looseDecimal accepts decimals that JSON's grammar lacks but people write:
// an optional sign, then digits with a point at either end (".5", "5.",
// "-.5", "+1.5"), with an optional exponent. Integers with leading zeros
// and other text are not numbers here.
func looseDecimal(s string) (float64, bool) {
	t := s
	if t != "" && (t[0] == '+' || t[0] == '-') {
		t = t[1:]
	}
	mant := t
	if i := strings.IndexAny(t, "eE"); i >= 0 {
		mant = t[:i]
		exp := strings.TrimLeft(t[i+1:], "+-")
		if exp == "" || strings.Trim(exp, "0123456789") != "" || len(t[i+1:])-len(exp) > 1 {
			return 0, false
		}
	}
	dot := strings.IndexByte(mant, '.')
	if dot < 0 || strings.Count(mant, ".") != 1 || len(mant) < 2 {
		return 0, false
	}
	if strings.Trim(mant[:dot], "0123456789") != "" || strings.Trim(mant[dot+1:], "0123456789") != "" {
		return 0, false
	}
	intPart := mant[:dot]
	if len(intPart) > 1 && intPart[0] == '0' {
		return 0, false // "007.5": an identifier, not a number
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// batch is a run of rows sent in one WriteRequest.
type batch struct {
	seq         int    // 1, 2, … in input order; names the request id
	data        []byte // NDJSON: rows, each ending in '\n'
	rows        int
	first, last int // positions (line or element numbers) of the first and last row
}

// readBatches cuts the rows of src into batches of at most maxRows rows and
// maxBytes bytes (a single larger row travels alone) and hands each to emit
// in order. It stops at the first bad row, returning its *inputError; the
// rows before it in the unfinished batch are not emitted.
func readBatches(ctx context.Context, src rowSource, maxRows, maxBytes int, emit func(batch) error) error {
	maxRows, maxBytes = max(maxRows, 1), max(maxBytes, 1)
	seq := 0
	var cur batch
	send := func() error {
		if cur.rows == 0 {
			return nil
		}
		b := cur
		cur = batch{}
		return emit(b)
	}
	for {
		row, pos, err := src.next()
		if err == io.EOF {
			return send()
		}
		if err != nil {
			return err
		}
		if cur.rows > 0 && len(cur.data)+len(row)+1 > maxBytes {
			if err := send(); err != nil {
				return err
			}
		}
		if cur.rows == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			seq++
			cur = batch{seq: seq, first: pos, data: make([]byte, 0, min(maxBytes, 1<<20, max(64<<10, 2*len(row))))}
		}
		cur.data = append(append(cur.data, row...), '\n')
		cur.rows++
		cur.last = pos
		if cur.rows >= maxRows || len(cur.data) >= maxBytes {
			if err := send(); err != nil {
				return err
			}
		}
	}
}
