package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestCSVRowJSON(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		rec    []string
		want   string
	}{
		{name: "types", header: []string{"s", "i", "f", "b", "B"}, rec: []string{"ann", "42", "1.5", "true", "FALSE"},
			want: `{"s":"ann","i":42,"f":1.5,"b":true,"B":false}`},
		{name: "empty cells are left out", header: []string{"a", "b", "c"}, rec: []string{"", "x", ""}, want: `{"b":"x"}`},
		{name: "all empty", header: []string{"a", "b"}, rec: []string{"", ""}, want: `{}`},
		{name: "negative and exponent", header: []string{"a", "b", "c"}, rec: []string{"-7", "-0.25", "6.02e23"}, want: `{"a":-7,"b":-0.25,"c":6.02e23}`},
		{name: "integer beyond 2^53 keeps its text", header: []string{"n"}, rec: []string{"9007199254740993"}, want: `{"n":9007199254740993}`},
		{name: "loose decimals become JSON numbers", header: []string{"a", "b", "c", "d"}, rec: []string{".5", "5.", "+1.5", "-.25e1"},
			want: `{"a":0.5,"b":5.0,"c":1.5,"d":-2.5}`},
		{name: "leading zeros stay text", header: []string{"zip", "code"}, rec: []string{"007", "00.5"}, want: `{"zip":"007","code":"00.5"}`},
		{name: "not numbers", header: []string{"a", "b", "c", "d", "e", "f"}, rec: []string{"1,234", "+5", "NaN", "Inf", "0x10", " 1"},
			want: `{"a":"1,234","b":"+5","c":"NaN","d":"Inf","e":"0x10","f":" 1"}`},
		{name: "not booleans", header: []string{"a", "b", "c"}, rec: []string{"yes", "t", "tRUE"}, want: `{"a":"yes","b":"t","c":"tRUE"}`},
		{name: "quoting", header: []string{"q"}, rec: []string{"say \"hi\"\\ \n\ttab\x01"}, want: `{"q":"say \"hi\"\\ \n\ttab\u0001"}`},
		{name: "unicode and html stay as is", header: []string{"名前", "h"}, rec: []string{"日本 ✓", "<a&b>"}, want: `{"名前":"日本 ✓","h":"<a&b>"}`},
		{name: "invalid utf-8", header: []string{"x"}, rec: []string{"a\xffb"}, want: `{"x":"a\ufffdb"}`},
		{name: "odd header names", header: []string{`a"b`, "c d"}, rec: []string{"1", "2"}, want: `{"a\"b":1,"c d":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys [][]byte
			for _, h := range tt.header {
				keys = append(keys, append(appendJSONString(nil, h), ':'))
			}
			got := string(csvRowJSON(nil, keys, tt.rec))
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if err := checkObject([]byte(got)); err != nil {
				t.Errorf("not a valid JSON object: %v", err)
			}
		})
	}
}

// readAll drains a row source into rows and positions.
func readAll(t *testing.T, src rowSource) (rows []string, pos []int, err error) {
	t.Helper()
	for {
		row, p, err := src.next()
		if err == io.EOF {
			return rows, pos, nil
		}
		if err != nil {
			return rows, pos, err
		}
		rows = append(rows, string(row))
		pos = append(pos, p)
	}
}

func TestRowSources(t *testing.T) {
	tests := []struct {
		name    string
		format  string
		input   string
		rows    []string
		pos     []int
		wantErr string // substring of the error after the rows
	}{
		{name: "ndjson", format: inputNDJSON,
			input: "{\"a\":1}\n\n  {\"b\": [1, 2]}  \r\n{\"c\":\"x\"}",
			rows:  []string{`{"a":1}`, `{"b": [1, 2]}`, `{"c":"x"}`}, pos: []int{1, 3, 4}},
		{name: "ndjson with BOM", format: inputNDJSON, input: "\xef\xbb\xbf{\"a\":1}\n", rows: []string{`{"a":1}`}, pos: []int{1}},
		{name: "ndjson malformed line", format: inputNDJSON,
			input: "{\"a\":1}\n{\"a\":2}\n{\"a\":3,}\n{\"a\":4}\n",
			rows:  []string{`{"a":1}`, `{"a":2}`}, pos: []int{1, 2}, wantErr: "in.ndjson:3: invalid JSON at byte 8"},
		{name: "ndjson not an object", format: inputNDJSON, input: "{\"a\":1}\n\n42\n",
			rows: []string{`{"a":1}`}, pos: []int{1}, wantErr: `in.ndjson:3: not a JSON object (starts with "42")`},
		{name: "ndjson two objects on a line", format: inputNDJSON, input: "{\"a\":1} {\"b\":2}\n",
			wantErr: "in.ndjson:1: invalid JSON"},
		{name: "json array", format: inputJSON,
			input: " [ {\"a\": 1,\n \"b\": \"x y\"},\n{\"a\":2} ]\n",
			rows:  []string{`{"a":1,"b":"x y"}`, `{"a":2}`}, pos: []int{1, 2}},
		{name: "empty json array", format: inputJSON, input: "[]", rows: nil},
		{name: "ndjson read as json", format: inputJSON, input: "{\"a\":1}\n{\"a\":2}\n", rows: []string{`{"a":1}`, `{"a":2}`}, pos: []int{1, 2}},
		{name: "array read as ndjson", format: inputNDJSON, input: "[{\"a\":1}]", rows: []string{`{"a":1}`}, pos: []int{1}},
		{name: "json array element not an object", format: inputJSON, input: `[{"a":1}, "x"]`,
			rows: []string{`{"a":1}`}, pos: []int{1}, wantErr: `in.ndjson: element 2: not a JSON object (starts with "\"x\"")`},
		{name: "json array broken element", format: inputJSON, input: `[{"a":1}, {"a":]`,
			rows: []string{`{"a":1}`}, pos: []int{1}, wantErr: "element 2: invalid JSON"},
		{name: "json array trailing data", format: inputJSON, input: `[{"a":1}] {"b":2}`,
			rows: []string{`{"a":1}`}, pos: []int{1}, wantErr: "data after the closing ]"},
		{name: "json array unterminated", format: inputJSON, input: `[{"a":1}`,
			rows: []string{`{"a":1}`}, pos: []int{1}, wantErr: "after element 1"},
		{name: "csv", format: inputCSV,
			input: "\xef\xbb\xbfname,n,note\nann,1,\"multi\nline, with comma\"\nbob,,\"say \"\"hi\"\"\"\n",
			rows:  []string{`{"name":"ann","n":1,"note":"multi\nline, with comma"}`, `{"name":"bob","note":"say \"hi\""}`}, pos: []int{2, 4}},
		{name: "csv CRLF and blank lines", format: inputCSV, input: "a,b\r\n1,x\r\n\r\n2,y\r\n",
			rows: []string{`{"a":1,"b":"x"}`, `{"a":2,"b":"y"}`}, pos: []int{2, 4}},
		{name: "tsv", format: inputTSV, input: "a\tb\n1\thello, world\n", rows: []string{`{"a":1,"b":"hello, world"}`}, pos: []int{2}},
		{name: "csv wrong field count", format: inputCSV, input: "a,b\n1,2\n3\n",
			rows: []string{`{"a":1,"b":2}`}, pos: []int{2}, wantErr: "in.ndjson:3: wrong number of fields"},
		{name: "csv bad quote", format: inputCSV, input: "a\n\"x\n", wantErr: "in.ndjson:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := newRowSource(strings.NewReader(tt.input), "in.ndjson", tt.format)
			if err != nil {
				t.Fatal(err)
			}
			rows, pos, err := readAll(t, src)
			if strings.Join(rows, "\n") != strings.Join(tt.rows, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(tt.rows, "\n"))
			}
			if len(tt.pos) > 0 && !equalInts(pos, tt.pos) {
				t.Errorf("positions %v, want %v", pos, tt.pos)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	tests := []struct{ input, want string }{
		{"", "empty input: want a header row"},
		{"a,,b\n1,2,3\n", "in.csv:1: header: column 2 has no name"},
		{"a,b,a\n", `in.csv:1: header: columns 1 and 3 are both named "a"`},
	}
	for _, tt := range tests {
		_, err := newRowSource(strings.NewReader(tt.input), "in.csv", inputCSV)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.input, err, tt.want)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	tests := map[string]string{
		"rows.ndjson":    inputNDJSON,
		"rows.jsonl":     inputNDJSON,
		"ROWS.JSONL":     inputNDJSON,
		"rows.json":      inputJSON,
		"rows.csv":       inputCSV,
		"rows.CSV":       inputCSV,
		"rows.tsv":       inputTSV,
		"rows.csv.gz":    inputCSV,
		"rows.ndjson.gz": inputNDJSON,
		"rows":           inputNDJSON,
		"rows.txt":       inputNDJSON,
		"-":              inputNDJSON,
		"dir.csv/rows":   inputNDJSON,
	}
	for name, want := range tests {
		if got := detectFormat(name); got != want {
			t.Errorf("detectFormat(%q) = %q, want %q", name, got, want)
		}
	}
}

// sliceSource yields fixed rows; a row of "!" is a bad one.
type sliceSource struct {
	rows []string
	i    int
}

func (s *sliceSource) next() ([]byte, int, error) {
	if s.i >= len(s.rows) {
		return nil, s.i, io.EOF
	}
	s.i++
	if s.rows[s.i-1] == "!" {
		return nil, s.i, &inputError{name: "in", unit: "line", pos: s.i, msg: "bad row"}
	}
	return []byte(s.rows[s.i-1]), s.i, nil
}

func TestReadBatches(t *testing.T) {
	row := func(n int) string { return `{"x":"` + strings.Repeat("a", n-8) + `"}` } // n bytes
	type want struct {
		seq, rows, first, last, bytes int
	}
	tests := []struct {
		name     string
		rows     []string
		maxRows  int
		maxBytes int
		want     []want
		wantErr  string
	}{
		{name: "row limit", rows: []string{row(10), row(10), row(10), row(10), row(10)}, maxRows: 2, maxBytes: 1 << 20,
			want: []want{{1, 2, 1, 2, 22}, {2, 2, 3, 4, 22}, {3, 1, 5, 5, 11}}},
		{name: "byte limit counts newlines", rows: []string{row(10), row(10), row(10), row(10)}, maxRows: 100, maxBytes: 22,
			want: []want{{1, 2, 1, 2, 22}, {2, 2, 3, 4, 22}}},
		{name: "byte limit not exceeded", rows: []string{row(10), row(10), row(10)}, maxRows: 100, maxBytes: 21,
			want: []want{{1, 1, 1, 1, 11}, {2, 1, 2, 2, 11}, {3, 1, 3, 3, 11}}},
		{name: "a big row travels alone", rows: []string{row(10), row(50), row(10)}, maxRows: 100, maxBytes: 30,
			want: []want{{1, 1, 1, 1, 11}, {2, 1, 2, 2, 51}, {3, 1, 3, 3, 11}}},
		{name: "exact fit", rows: []string{row(10), row(10), row(10)}, maxRows: 3, maxBytes: 33,
			want: []want{{1, 3, 1, 3, 33}}},
		{name: "empty input", rows: nil, maxRows: 10, maxBytes: 100, want: nil},
		{name: "bad row stops; its batch is not sent", rows: []string{row(10), row(10), row(10), "!", row(10)}, maxRows: 2, maxBytes: 1 << 20,
			want: []want{{1, 2, 1, 2, 22}}, wantErr: "in:4: bad row"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []want
			err := readBatches(context.Background(), &sliceSource{rows: tt.rows}, tt.maxRows, tt.maxBytes, func(b batch) error {
				if strings.Count(string(b.data), "\n") != b.rows || !strings.HasSuffix(string(b.data), "\n") {
					t.Errorf("batch %d is not %d NDJSON lines: %q", b.seq, b.rows, b.data)
				}
				got = append(got, want{b.seq, b.rows, b.first, b.last, len(b.data)})
				return nil
			})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("batches %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("batch %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestReadBatchesStopsOnEmitError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := readBatches(context.Background(), &sliceSource{rows: []string{"{}", "{}", "{}"}}, 1, 100, func(batch) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err %v after %d batches", err, n)
	}
}

func TestReadBatchesMalformedLineNumber(t *testing.T) {
	// The line number of a bad line counts blank lines, and the batches
	// before it are complete.
	input := strings.Repeat("{\"a\":1}\n\n", 5) + "{\"a\":\n" + "{\"a\":1}\n"
	src, err := newRowSource(strings.NewReader(input), "rows.ndjson", inputNDJSON)
	if err != nil {
		t.Fatal(err)
	}
	var sent int
	err = readBatches(context.Background(), src, 2, 1<<20, func(b batch) error { sent += b.rows; return nil })
	var ie *inputError
	if !errors.As(err, &ie) || ie.pos != 11 || !strings.HasPrefix(err.Error(), "rows.ndjson:11: ") {
		t.Fatalf("error %v, want one at rows.ndjson:11", err)
	}
	if sent != 4 {
		t.Errorf("sent %d rows before the bad line, want 4 (two full batches)", sent)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
