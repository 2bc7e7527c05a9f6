package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// fixture is a result with the cases formatters must get right: NULLs,
// wide (CJK) and combining text, integral and fractional DOUBLEs, a BIGINT
// beyond 2^53 (sent as a string), booleans, nested JSON, control
// characters and a repeated column name.
func fixture(t *testing.T) ([]*miniodbv1.ResultColumn, []*structpb.ListValue) {
	t.Helper()
	cols := []*miniodbv1.ResultColumn{
		{Name: "id", Type: "BIGINT"},
		{Name: "name", Type: "VARCHAR"},
		{Name: "score", Type: "DOUBLE"},
		{Name: "ok", Type: "BOOLEAN"},
		{Name: "id", Type: "VARCHAR"},
	}
	row := func(vals ...any) *structpb.ListValue {
		l, err := structpb.NewList(vals)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	rows := []*structpb.ListValue{
		row(1, "ann", 2.0, true, "a"),
		row(-42, "日本語", 0.125, false, nil),
		row("9007199254740993", nil, nil, nil, "tab\there"),
		row(nil, "e\u0301té", 1e21, true, map[string]any{"k": []any{1, "x"}}),
	}
	return cols, rows
}

func render(t *testing.T, format string, cols []*miniodbv1.ResultColumn, rows []*structpb.ListValue) string {
	t.Helper()
	var b bytes.Buffer
	w, err := newResultWriter(format, &b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.columns(cols); err != nil {
		t.Fatal(err)
	}
	// Rows arrive in chunks, as from QueryStream.
	for len(rows) > 0 {
		n := min(len(rows), 3)
		if err := w.rows(rows[:n]); err != nil {
			t.Fatal(err)
		}
		rows = rows[n:]
	}
	if err := w.finish(1234 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestResultFormats(t *testing.T) {
	cols, rows := fixture(t)
	tests := []struct {
		format string
		want   string
	}{
		{formatTable, `
┌──────────────────┬─────────┬────────┬─────────┬───────────────┐
│        id        │  name   │ score  │   ok    │      id       │
│      bigint      │ varchar │ double │ boolean │    varchar    │
├──────────────────┼─────────┼────────┼─────────┼───────────────┤
│                1 │ ann     │    2.0 │ true    │ a             │
│              -42 │ 日本語  │  0.125 │ false   │ NULL          │
│ 9007199254740993 │ NULL    │   NULL │ NULL    │ tab\there     │
│             NULL │ été     │  1e+21 │ true    │ {"k":[1,"x"]} │
└──────────────────┴─────────┴────────┴─────────┴───────────────┘
4 rows (1.23s)
`},
		{formatCSV, `
id,name,score,ok,id
1,ann,2,true,a
-42,日本語,0.125,false,
9007199254740993,,,,tab` + "\t" + `here
,été,1e+21,true,"{""k"":[1,""x""]}"
`},
		{formatNDJSON, `
{"id":1,"name":"ann","score":2,"ok":true,"id_1":"a"}
{"id":-42,"name":"日本語","score":0.125,"ok":false,"id_1":null}
{"id":9007199254740993,"name":null,"score":null,"ok":null,"id_1":"tab\there"}
{"id":null,"name":"été","score":1e+21,"ok":true,"id_1":{"k":[1,"x"]}}
`},
		{formatJSON, `
[
{"id":1,"name":"ann","score":2,"ok":true,"id_1":"a"},
{"id":-42,"name":"日本語","score":0.125,"ok":false,"id_1":null},
{"id":9007199254740993,"name":null,"score":null,"ok":null,"id_1":"tab\there"},
{"id":null,"name":"été","score":1e+21,"ok":true,"id_1":{"k":[1,"x"]}}
]
`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			got := render(t, tt.format, cols, rows)
			// The fixture's "été" starts with e and a combining accent.
			want := strings.ReplaceAll(strings.TrimPrefix(tt.want, "\n"), "\u00e9t\u00e9", "e\u0301t\u00e9")
			if got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestResultFormatsEmpty(t *testing.T) {
	cols := []*miniodbv1.ResultColumn{{Name: "n", Type: "BIGINT"}}
	tests := map[string]string{
		formatTable:  "┌────────┐\n│   n    │\n│ bigint │\n├────────┤\n└────────┘\n0 rows (1.23s)\n",
		formatCSV:    "n\n",
		formatJSON:   "[]\n",
		formatNDJSON: "",
	}
	for format, want := range tests {
		if got := render(t, format, cols, nil); got != want {
			t.Errorf("%s: got %q, want %q", format, got, want)
		}
	}
	// One row: "1 row".
	one, _ := structpb.NewList([]any{7})
	if got := render(t, formatTable, cols, []*structpb.ListValue{one}); !strings.HasSuffix(got, "\n1 row (1.23s)\n") {
		t.Errorf("footer of one row:\n%s", got)
	}
}

func TestResultRowWidthMismatch(t *testing.T) {
	cols := []*miniodbv1.ResultColumn{{Name: "a", Type: "BIGINT"}, {Name: "b", Type: "BIGINT"}}
	short, _ := structpb.NewList([]any{1})
	for _, format := range []string{formatTable, formatCSV, formatJSON, formatNDJSON} {
		w, _ := newResultWriter(format, new(bytes.Buffer), 0)
		w.columns(cols)
		if err := w.rows([]*structpb.ListValue{short}); err == nil || !strings.Contains(err.Error(), "1 values for 2 columns") {
			t.Errorf("%s: err %v", format, err)
		}
	}
}

func TestTableMaxWidth(t *testing.T) {
	cols := []*miniodbv1.ResultColumn{{Name: "s", Type: "VARCHAR"}}
	long, _ := structpb.NewList([]any{"abcdefghijklmnop"})
	var b bytes.Buffer
	w, _ := newResultWriter(formatTable, &b, 6)
	w.columns(cols)
	w.rows([]*structpb.ListValue{long})
	w.finish(0)
	if !strings.Contains(b.String(), "│ abcde…  │") {
		t.Errorf("cell not cut to 6 columns:\n%s", b.String())
	}
}

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		f     float64
		float bool
		want  string
	}{
		{0, false, "0"},
		{0, true, "0.0"},
		{2, true, "2.0"},
		{2, false, "2"},
		{-1.5, true, "-1.5"},
		{123456789012, false, "123456789012"},
		{1e20, false, "100000000000000000000"},
		{1e21, true, "1e+21"},
		{1e-7, false, "1e-7"},
		{0.000001, false, "0.000001"},
		{math.NaN(), true, "NaN"},
		{math.Inf(1), false, "Infinity"},
		{math.Inf(-1), false, "-Infinity"},
	}
	for _, tt := range tests {
		if got := formatNumber(tt.f, tt.float); got != tt.want {
			t.Errorf("formatNumber(%v, %v) = %q, want %q", tt.f, tt.float, got, tt.want)
		}
	}
}

func TestJSONNumberValues(t *testing.T) {
	// NaN has no JSON form: it becomes a string. A numeric string in a
	// non-numeric column stays a string.
	cols := []*miniodbv1.ResultColumn{{Name: "d", Type: "DOUBLE"}, {Name: "s", Type: "VARCHAR"}, {Name: "dec", Type: "DECIMAL(18,3)"}}
	r, _ := structpb.NewList([]any{math.NaN(), "12", "12.500"})
	got := render(t, formatNDJSON, cols, []*structpb.ListValue{r})
	if want := `{"d":"NaN","s":"12","dec":12.500}` + "\n"; got != want {
		t.Errorf("got %s want %s", got, want)
	}
}

func TestIsJSONNumber(t *testing.T) {
	yes := []string{"0", "-0", "1", "-12", "1.5", "0.25", "1e5", "1E+5", "-2.5e-3", "9007199254740993"}
	no := []string{"", "-", "01", "+1", ".5", "5.", "1e", "1e+", "1.e5", "0x10", "NaN", "1,000", " 1", "1 "}
	for _, s := range yes {
		if !isJSONNumber(s) {
			t.Errorf("isJSONNumber(%q) = false", s)
		}
	}
	for _, s := range no {
		if isJSONNumber(s) {
			t.Errorf("isJSONNumber(%q) = true", s)
		}
	}
}

func TestDisplayWidth(t *testing.T) {
	tests := []struct {
		s    string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"日本語", 6},
		{"한국어", 6},
		{"ｆｕｌｌ", 8},
		{"e\u0301", 1},  // combining acute accent
		{"a\u200bb", 2}, // zero-width space
		{"🙂", 2},
		{"αβγ", 3},
		{"NULL", 4},
	}
	for _, tt := range tests {
		if got := displayWidth(tt.s); got != tt.want {
			t.Errorf("displayWidth(%q) = %d, want %d", tt.s, got, tt.want)
		}
	}
}

func TestTextHelpers(t *testing.T) {
	if got := truncateWidth("日本語テキスト", 7); got != "日本語…" {
		t.Errorf("truncateWidth = %q", got)
	}
	if got := truncateWidth("short", 7); got != "short" {
		t.Errorf("truncateWidth = %q", got)
	}
	if got := printable("a\nb\tc\x1b[0m\xff"); got != `a\nb\tc\x1b[0m\xff` {
		t.Errorf("printable = %q", got)
	}
	if got := pad("日本", 6, alignRight); got != "  日本" {
		t.Errorf("pad right = %q", got)
	}
	if got := pad("ab", 5, alignCenter); got != " ab  " {
		t.Errorf("pad center = %q", got)
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567", 100000: "100,000"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 10 << 20: "10 MiB", 5 << 30: "5.0 GiB", 1 << 40: "1.0 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{in: "4194304", want: 4 << 20},
		{in: "4MiB", want: 4 << 20},
		{in: "4mib", want: 4 << 20},
		{in: "4m", want: 4 << 20},
		{in: "512KiB", want: 512 << 10},
		{in: "1MB", want: 1e6},
		{in: "1.5 GiB", want: 3 << 29},
		{in: "10B", want: 10},
		{in: "", err: true},
		{in: "MiB", err: true},
		{in: "4 parsecs", err: true},
		{in: "-1", err: true},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v", tt.in, got, err)
		}
	}
	for n, want := range map[sizeFlag]string{4 << 20: "4MiB", 512 << 10: "512KiB", 1e6: "1000000", 3 << 30: "3GiB"} {
		if got := n.String(); got != want {
			t.Errorf("sizeFlag(%d).String() = %q, want %q", n, got, want)
		}
	}
}
