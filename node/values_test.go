package node

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestResultTypes pins the JSON form of every DuckDB result type on each
// result path: Connect (the CLI's path too), HTTP NDJSON and HTTP CSV.
// Before, a MAP came back as a Go debug string ("OrderedMap{…}"), a UUID
// as base64, DECIMALs lost digits and nested DATEs became timestamps.
func TestResultTypes(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	tests := []struct {
		expr string
		want string // JSON
		csv  string // the CSV cell, when it is not the JSON text
	}{
		{"NULL::INTEGER", `null`, "-"},
		{"true", `true`, ""},
		{"42::TINYINT", `42`, ""},
		{"9007199254740993::BIGINT", `"9007199254740993"`, "9007199254740993"},
		{"12345678901234567890123::HUGEINT", `"12345678901234567890123"`, "12345678901234567890123"},
		{"340282366920938463463374607431768211455::UHUGEINT", `"340282366920938463463374607431768211455"`, "340282366920938463463374607431768211455"},
		{"1.5::FLOAT", `1.5`, ""},
		{"'NaN'::DOUBLE", `"NaN"`, "NaN"},
		{"'-inf'::DOUBLE", `"-Inf"`, "-Inf"},
		{"123.45::DECIMAL(10,2)", `123.45`, ""},
		{"12345678901234567.5::DECIMAL(20,1)", `"12345678901234567.5"`, "12345678901234567.5"},
		{"0.1234567890123456789012345678::DECIMAL(38,28)", `"0.1234567890123456789012345678"`, "0.1234567890123456789012345678"},
		{"'hé'", `"hé"`, "hé"},
		{"DATE '2026-01-02'", `"2026-01-02"`, "2026-01-02"},
		{"TIME '12:34:56.789'", `"12:34:56.789"`, "12:34:56.789"},
		{"TIMETZ '12:00:00+02'", `"12:00:00+02:00"`, "12:00:00+02:00"},
		{"TIMESTAMP '2026-01-02 03:04:05.123456'", `"2026-01-02T03:04:05.123456Z"`, "2026-01-02T03:04:05.123456Z"},
		{"TIMESTAMPTZ '2026-01-02 03:04:05+02'", `"2026-01-02T01:04:05Z"`, "2026-01-02T01:04:05Z"},
		{"INTERVAL '1 year 2 months 3 days 04:05:06.5'", `"1 year 2 months 3 days 04:05:06.5"`, "1 year 2 months 3 days 04:05:06.5"},
		{"INTERVAL '-1 day -2 hours'", `"-1 day -02:00:00"`, "-1 day -02:00:00"},
		{"INTERVAL 0 SECOND", `"00:00:00"`, "00:00:00"},
		{"'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID", `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`, "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
		{"'\\x00\\x01A'::BLOB", `"AAFB"`, "AAFB"},
		{"'101'::BIT", `"101"`, "101"},
		{"[1, NULL, 3]", `[1, null, 3]`, ""},
		{"[DATE '2026-01-01']", `["2026-01-01"]`, ""},
		{"[1, 2, 3]::INTEGER[3]", `[1, 2, 3]`, ""},
		{"{'x': 1, 'y': DATE '2026-01-02', 'a b': [TIME '01:02:03']}", `{"x": 1, "y": "2026-01-02", "a b": ["01:02:03"]}`, ""},
		{"MAP {1: 'a', 2: 'b'}", `[{"key": 1, "value": "a"}, {"key": 2, "value": "b"}]`, ""},
		{"MAP {DATE '2026-01-01': [1.5::DECIMAL(3,1)]}", `[{"key": "2026-01-01", "value": [1.5]}]`, ""},
		{"histogram(x) FROM (VALUES (2), (1), (2)) t(x)", `[{"key": 1, "value": 1}, {"key": 2, "value": 2}]`, ""},
		{"union_value(k := 5)", `5`, ""},
		{"'{\"a\": [1, {\"b\": null}]}'::JSON", `{"a": [1, {"b": null}]}`, ""},
	}
	for _, tt := range tests {
		q := "SELECT " + tt.expr
		if !strings.Contains(tt.expr, " FROM ") {
			q += " AS v"
		} else {
			q = "SELECT " + strings.Replace(tt.expr, " FROM ", " AS v FROM ", 1)
		}
		var want any
		if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
			t.Fatalf("%s: bad want: %v", tt.expr, err)
		}
		// Connect, as the CLI reads it.
		var row []any
		if err := json.Unmarshal([]byte(c.sql(q)), &row); err != nil || len(row) != 1 || !reflect.DeepEqual(row[0], want) {
			t.Errorf("%s over Connect: got %v (%v), want %s", tt.expr, row, err, tt.want)
		}
		// HTTP NDJSON.
		body := httpQuery(t, c, "ndjson", q)
		var obj map[string]any
		if err := json.Unmarshal([]byte(body), &obj); err != nil || !reflect.DeepEqual(obj["v"], want) {
			t.Errorf("%s over HTTP NDJSON: got %s (%v), want %s", tt.expr, body, err, tt.want)
		}
		// HTTP CSV: strings as they are, NULL as an empty cell, anything
		// else as its JSON text.
		recs, err := csv.NewReader(strings.NewReader(httpQuery(t, c, "csv", q))).ReadAll()
		if err != nil || len(recs) != 2 {
			t.Errorf("%s over CSV: %v %v", tt.expr, recs, err)
			continue
		}
		cell := recs[1][0]
		switch {
		case tt.csv == "-":
			if cell != "" {
				t.Errorf("%s over CSV: got %q, want an empty cell", tt.expr, cell)
			}
		case tt.csv != "":
			if cell != tt.csv {
				t.Errorf("%s over CSV: got %q, want %q", tt.expr, cell, tt.csv)
			}
		default:
			var got any
			if err := json.Unmarshal([]byte(cell), &got); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s over CSV: got %q, want %s", tt.expr, cell, tt.want)
			}
		}
	}
	// INTERVAL's text is DuckDB's own cast to VARCHAR.
	for _, iv := range []string{"INTERVAL '1 month 1 day 1 microsecond'", "INTERVAL '25 months'", "INTERVAL '-3 years -1 second'", "INTERVAL '1 day 100 hours'"} {
		got := c.sql("SELECT " + iv + ", CAST(" + iv + " AS VARCHAR)")
		var row []any
		if err := json.Unmarshal([]byte(got), &row); err != nil || len(row) != 2 || row[0] != row[1] {
			t.Errorf("%s: JSON form and DuckDB's text differ: %s", iv, got)
		}
	}
}

func httpQuery(t *testing.T, c *client, format, q string) string {
	t.Helper()
	resp, err := http.Get(c.base + "/v1/query?format=" + format + "&sql=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b))
}

// TestUnicodeNames: tables and columns named with Unicode letters work
// end to end, hot and flushed (the review found über refused).
func TestUnicodeNames(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	if status, body := c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"über","rows":[{"温度":21.5,"ort":"Zürich"},{"温度":19,"ort":"Köln"}]}`); status != 200 {
		t.Fatalf("write: %d %s", status, body)
	}
	for _, when := range []string{"hot", "flushed"} {
		if got := c.sql(`SELECT ort, "温度" FROM über WHERE "温度" > 20`); got != `["Zürich",21.5]`+"\n" {
			t.Fatalf("%s: %q", when, got)
		}
		c.flush("über")
	}
}

// TestHTTPRowsStable: the HTTP answers are the same bytes every time
// (protojson varies its spacing on purpose) and do not escape HTML.
func TestHTTPRowsStable(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)
	q := `SELECT {'b': 1, 'a': '<x&y>'} AS s, MAP {1: 'one'} AS m`
	if got, want := httpQuery(t, c, "ndjson", q), `{"m":[{"key":1,"value":"one"}],"s":{"a":"<x&y>","b":1}}`; got != want {
		t.Fatalf("ndjson: got %s, want %s", got, want)
	}
	if got, want := httpQuery(t, c, "csv", q), "s,m\n\"{\"\"a\"\":\"\"<x&y>\"\",\"\"b\"\":1}\",\"[{\"\"key\"\":1,\"\"value\"\":\"\"one\"\"}]\""; got != want {
		t.Fatalf("csv: got %s, want %s", got, want)
	}
}
