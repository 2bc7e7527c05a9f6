package ingest

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// parseErr parses and returns the error text, failing when Parse succeeds
// or returns an error that is not an ErrInvalid.
func parseErr(t *testing.T, tbl Table, in Input, opts Options) string {
	t.Helper()
	if tbl.Name == "" {
		tbl.Name = "t"
	}
	res, err := Parse(tbl, in, testNow, opts)
	if err == nil {
		t.Fatalf("Parse succeeded, want an error:\n%s", render(res))
	}
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %q is not an ErrInvalid", err)
	}
	return err.Error()
}

// column returns the rendered cells of the named column over all batches,
// or nil when no batch has it.
func column(res *Result, name string) []string {
	var out []string
	for _, pb := range res.Batches {
		for ci, c := range pb.Rows.Columns {
			if c.Name != name {
				continue
			}
			for i := 0; i < int(pb.Rows.RowCount); i++ {
				out = append(out, cell(c.Type, pb.Rows.Vectors[ci], i))
			}
		}
	}
	return out
}

func TestTypeMapping(t *testing.T) {
	for _, tc := range []struct {
		value string
		typ   miniodbv1.ColumnType // 0: no column
		want  string
	}{
		{`"eu"`, VARCHAR, `"eu"`},
		{`""`, VARCHAR, `""`},
		{`"é😀"`, VARCHAR, `"é😀"`},
		{`"a\"b\\c\/d\u00e9\ud83d\ude00\n\t\b\f\r"`, VARCHAR, strconv.Quote("a\"b\\c/dé😀\n\t\b\f\r")},
		{`true`, BOOLEAN, "true"},
		{`false`, BOOLEAN, "false"},
		{`0`, BIGINT, "0"},
		{`-0`, BIGINT, "0"},
		{`200`, BIGINT, "200"},
		{`-42`, BIGINT, "-42"},
		{`9223372036854775807`, BIGINT, "9223372036854775807"},
		{`-9223372036854775808`, BIGINT, "-9223372036854775808"},
		{`1.5`, DOUBLE, "1.5"},
		{`1.0`, DOUBLE, "1"},
		{`0.0`, DOUBLE, "0"},
		{`1e2`, DOUBLE, "100"},
		{`-2.5E-3`, DOUBLE, "-0.0025"},
		{`1E+2`, DOUBLE, "100"},
		{`1e-400`, DOUBLE, "0"},
		{`1.7976931348623157e308`, DOUBLE, "1.7976931348623157e+308"},
		{`{ "b" : 1.0, "a": [1, 2, {"c": null}] }`, JSON, `{"b":1.0,"a":[1,2,{"c":null}]}`},
		{"[\n\t]", JSON, `[]`},
		{`{}`, JSON, `{}`},
		{`["x\"y", "\u00e9", true, false, null, -1.5e3]`, JSON, `["x\"y","\u00e9",true,false,null,-1.5e3]`},
		{`{"a":{"a":{"a":[]}}, "b": {"a": 1}}`, JSON, `{"a":{"a":{"a":[]}},"b":{"a":1}}`},
		{`null`, 0, ""},
	} {
		t.Run(tc.value, func(t *testing.T) {
			in := `[{"ts":"2026-01-01T00:00:00Z","x":` + tc.value + `}]`
			res := parseOK(t, Table{}, JSONArray([]byte(in)))
			wantSchema := "ts TIMESTAMP"
			if tc.typ != 0 {
				wantSchema += ", x " + TypeName(tc.typ)
			}
			if got := schemaString(res.Columns); got != wantSchema {
				t.Fatalf("schema = %s, want %s", got, wantSchema)
			}
			if tc.typ == 0 {
				if column(res, "x") != nil {
					t.Fatal("a null-only field made a column")
				}
				return
			}
			if got := column(res, "x"); len(got) != 1 || got[0] != tc.want {
				t.Fatalf("x = %v, want %s", got, tc.want)
			}
			if strings.Contains(in, "\n") {
				return
			}
			// NDJSON gives the same.
			nd := parseOK(t, Table{}, NDJSON([]byte(in[1:len(in)-1])))
			if !proto.Equal(&miniodbv1.InsertCommand{Batches: res.Batches}, &miniodbv1.InsertCommand{Batches: nd.Batches}) {
				t.Fatalf("NDJSON differs:\n%s\n%s", render(res), render(nd))
			}
		})
	}
}

func TestNullsAndMissingFields(t *testing.T) {
	in := `[
		{"ts":"2026-01-01T00:00:00Z","a":null,"b":1},
		{"ts":"2026-01-01T00:00:01Z","a":"x"},
		{"ts":"2026-01-01T00:00:02Z","c":null,"b":null},
		{"ts":"2026-01-01T00:00:03Z"}
	]`
	res := parseOK(t, Table{}, JSONArray([]byte(in)))
	want := `schema: ts TIMESTAMP, a VARCHAR, b BIGINT
[2026-01-01] ts TIMESTAMP, a VARCHAR, b BIGINT
2026-01-01T00:00:00Z | NULL | 1
2026-01-01T00:00:01Z | "x" | NULL
2026-01-01T00:00:02Z | NULL | NULL
2026-01-01T00:00:03Z | NULL | NULL
`
	if got := render(res); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// A table column only null in the request is left out of the batch, and
	// the schema keeps it.
	tbl := Table{Columns: cols("ts TIMESTAMP", "a VARCHAR", "b BIGINT")}
	res = parseOK(t, tbl, JSONArray([]byte(`[{"ts":"2026-01-01T00:00:00Z","a":null,"b":2}]`)))
	want = `schema: ts TIMESTAMP, a VARCHAR, b BIGINT
[2026-01-01] ts TIMESTAMP, b BIGINT
2026-01-01T00:00:00Z | 2
`
	if got := render(res); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestColumnOrder(t *testing.T) {
	// New columns: ts, id, then by name; table columns keep table order.
	res := parseOK(t, Table{}, JSONArray([]byte(`[{"zeta":1,"id":"a","alpha":2,"ts":"2026-01-01T00:00:00Z"},{"mid":true}]`)))
	if got, want := schemaString(res.Columns), "ts TIMESTAMP, id VARCHAR, alpha BIGINT, mid BOOLEAN, zeta BIGINT"; got != want {
		t.Fatalf("new table: %s, want %s", got, want)
	}
	tbl := Table{Columns: cols("zeta BIGINT", "ts TIMESTAMP", "id VARCHAR")}
	res = parseOK(t, tbl, JSONArray([]byte(`[{"b":1,"id":"a","zeta":2,"a":"x"}]`)))
	if got, want := schemaString(res.Batches[0].Rows.Columns), "zeta BIGINT, ts TIMESTAMP, id VARCHAR, a VARCHAR, b BIGINT"; got != want {
		t.Fatalf("batch: %s, want %s", got, want)
	}
	if got, want := schemaString(res.Columns), "zeta BIGINT, ts TIMESTAMP, id VARCHAR, a VARCHAR, b BIGINT"; got != want {
		t.Fatalf("schema: %s, want %s", got, want)
	}
}

func TestTimestamps(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"2026-01-01T00:00:00Z"`, "2026-01-01T00:00:00Z"},
		{`"2026-01-01T01:30:00+01:30"`, "2026-01-01T00:00:00Z"},
		{`"2025-12-31T23:00:00-01:00"`, "2026-01-01T00:00:00Z"},
		{`"2026-01-01T00:00:00-00:00"`, "2026-01-01T00:00:00Z"},
		{`"2026-01-01T00:00:00.123456789Z"`, "2026-01-01T00:00:00.123456Z"},
		{`"2026-01-01T00:00:00.1Z"`, "2026-01-01T00:00:00.1Z"},
		{`"2026-01-01T00:00:00.000001Z"`, "2026-01-01T00:00:00.000001Z"},
		{`"2026-01-01t00:00:00z"`, "2026-01-01T00:00:00Z"},
		{`"2026-01-01 00:00:00"`, "2026-01-01T00:00:00Z"},
		{`"2026-01-01 00:00:00.5"`, "2026-01-01T00:00:00.5Z"},
		{`"2026-01-01 02:00:00+02:00"`, "2026-01-01T00:00:00Z"},
		{`"2024-02-29T12:00:00Z"`, "2024-02-29T12:00:00Z"},
		{`"1969-12-31T23:59:59.999999Z"`, "1969-12-31T23:59:59.999999Z"},
		{`"0001-01-01T00:00:00Z"`, "0001-01-01T00:00:00Z"},
		{`"9999-12-31T23:59:59.999999Z"`, "9999-12-31T23:59:59.999999Z"},
		{`"\u0032026-01-01T00:00:00Z"`, "2026-01-01T00:00:00Z"},
	} {
		res := parseOK(t, Table{}, JSONArray([]byte(`[{"ts":`+tc.in+`}]`)))
		if got := column(res, "ts"); got[0] != tc.want {
			t.Errorf("ts %s = %s, want %s", tc.in, got[0], tc.want)
		}
	}

	// No ts: the server's time, truncated to microseconds.
	res := parseOK(t, Table{}, JSONArray([]byte(`[{"a":1},{"ts":"2026-01-01T00:00:00Z"},{}]`)))
	if got, want := strings.Join(column(res, "ts"), ","), "2026-01-01T00:00:00Z,2026-03-04T05:06:07.123456Z,2026-03-04T05:06:07.123456Z"; got != want {
		t.Errorf("ts = %s, want %s", got, want)
	}

	for _, tc := range []struct{ in, want string }{
		{`5`, `row 3: field "ts": want an RFC 3339 timestamp string, got number`},
		{`1.5`, `row 3: field "ts": want an RFC 3339 timestamp string, got number`},
		{`true`, `row 3: field "ts": want an RFC 3339 timestamp string, got boolean`},
		{`{"a":1}`, `row 3: field "ts": want an RFC 3339 timestamp string, got object`},
		{`[]`, `row 3: field "ts": want an RFC 3339 timestamp string, got array`},
		{`null`, `row 3: field "ts": want an RFC 3339 timestamp string, got null`},
		{`"2026-13-01T00:00:00Z"`, `row 3: field "ts": want an RFC 3339 timestamp string, got string "2026-13-01T00:00:00Z"`},
		{`"2026-01-01T00:00:00"`, `row 3: field "ts": want an RFC 3339 timestamp string, got string "2026-01-01T00:00:00"`},
		{`""`, `row 3: field "ts": want an RFC 3339 timestamp string, got string ""`},
		{`"yesterday"`, `row 3: field "ts": want an RFC 3339 timestamp string, got string "yesterday"`},
	} {
		in := `[{"a":1},{"a":2},{"a":3,"ts":` + tc.in + `}]`
		if got := parseErr(t, Table{}, JSONArray([]byte(in)), Options{}); got != tc.want {
			t.Errorf("ts %s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{
		"2026-01-01T24:00:00Z", "2023-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-01T00:00:60Z",
		"2026-01-01T00:60:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T00:00:00.Z",
		"2026-01-01T00:00:00.1234567891Z", "2026-01-01T00:00:00+0100", "2026-01-01T00:00:00+01", "2026-01-01T00:00:00+24:00",
		"26-01-01T00:00:00Z", "2026-01-01X00:00:00Z", "2026-01-01T00:00:00ZZ", "2026-01-01T0a:00:00Z", " 2026-01-01T00:00:00Z",
		"2026-01-01", "2026-01-01T00:00Z", "+2026-01-01T00:00:00Z",
	} {
		if _, err := ParseTimestamp(bad); err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTimestamp(%q) = %v, want an ErrInvalid", bad, err)
		}
	}
}

func TestWidening(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tbl   Table
		in    string
		batch string // batch columns
		want  string // the schema after
		cells string // the cells of v
	}{
		{"int then float", Table{}, `[{"v":1},{"v":1.5},{"v":2}]`, "ts TIMESTAMP, v DOUBLE", "ts TIMESTAMP, v DOUBLE", "1,1.5,2"},
		{"float then int", Table{}, `[{"v":1.5},{"v":2}]`, "ts TIMESTAMP, v DOUBLE", "ts TIMESTAMP, v DOUBLE", "1.5,2"},
		{"null int float", Table{}, `[{"v":null},{"v":3},{},{"v":0.5}]`, "ts TIMESTAMP, v DOUBLE", "ts TIMESTAMP, v DOUBLE", "NULL,3,NULL,0.5"},
		{"nearest double", Table{}, `[{"v":9007199254740993},{"v":0.5}]`, "ts TIMESTAMP, v DOUBLE", "ts TIMESTAMP, v DOUBLE", "9.007199254740992e+15,0.5"},
		{"table bigint widens", Table{Columns: cols("ts TIMESTAMP", "v BIGINT")}, `[{"v":1},{"v":2.5}]`, "ts TIMESTAMP, v DOUBLE", "ts TIMESTAMP, v DOUBLE", "1,2.5"},
		{"table bigint stays", Table{Columns: cols("ts TIMESTAMP", "v BIGINT")}, `[{"v":1}]`, "ts TIMESTAMP, v BIGINT", "ts TIMESTAMP, v BIGINT", "1"},
		{"table double takes ints", Table{Columns: cols("ts TIMESTAMP", "v DOUBLE")}, `[{"v":1},{"v":-7}]`, "ts TIMESTAMP, v DOUBLE", "ts TIMESTAMP, v DOUBLE", "1,-7"},
		{"table double takes big ints", Table{Columns: cols("ts TIMESTAMP", "v DOUBLE")}, `[{"v":100000000000000000000}]`, "ts TIMESTAMP, v DOUBLE", "ts TIMESTAMP, v DOUBLE", "1e+20"},
		{"widened in request takes big ints", Table{}, `[{"v":0.5},{"v":100000000000000000000}]`, "ts TIMESTAMP, v DOUBLE", "ts TIMESTAMP, v DOUBLE", "0.5,1e+20"},
		{"explicit double takes ints", Table{Columns: cols("ts TIMESTAMP", "v DOUBLE"), Explicit: true}, `[{"v":1}]`, "ts TIMESTAMP, v DOUBLE", "ts TIMESTAMP, v DOUBLE", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := proto.Clone(&miniodbv1.TableSpec{Columns: tc.tbl.Columns})
			res := parseOK(t, tc.tbl, JSONArray([]byte(tc.in)))
			if got := schemaString(res.Batches[0].Rows.Columns); got != tc.batch {
				t.Errorf("batch columns %s, want %s", got, tc.batch)
			}
			if got := schemaString(res.Columns); got != tc.want {
				t.Errorf("schema %s, want %s", got, tc.want)
			}
			if got := strings.Join(column(res, "v"), ","); got != tc.cells {
				t.Errorf("v = %s, want %s", got, tc.cells)
			}
			if !proto.Equal(orig, &miniodbv1.TableSpec{Columns: tc.tbl.Columns}) {
				t.Error("Parse mutated the table's columns")
			}
		})
	}
}

func TestConflicts(t *testing.T) {
	long := strings.Repeat("x", 60)
	for _, tc := range []struct {
		name string
		tbl  Table
		in   string
		want string
	}{
		{"string after int", Table{}, `[{"value":1},{"value":"x"}]`, `row 2: field "value": column is BIGINT, got string "x"`},
		{"string in double table", Table{Columns: cols("ts TIMESTAMP", "value DOUBLE")}, `[{"value":1.5},{"value":"x"}]`, `row 2: field "value": column is DOUBLE, got string "x"`},
		{"string after widening", Table{}, `[{"value":1},{"value":1.5},{"value":"x"}]`, `row 3: field "value": column is DOUBLE, got string "x"`},
		{"number in varchar", Table{}, `[{"a":"x"},{"a":"y"},{"a":5}]`, `row 3: field "a": column is VARCHAR, got number 5`},
		{"number text kept", Table{}, `[{"a":"x"},{"a":1.50e1}]`, `row 2: field "a": column is VARCHAR, got number 1.50e1`},
		{"number in boolean", Table{}, `[{"a":true},{"a":1}]`, `row 2: field "a": column is BOOLEAN, got number 1`},
		{"boolean in bigint", Table{}, `[{"a":1},{"a":true}]`, `row 2: field "a": column is BIGINT, got boolean true`},
		{"boolean in double", Table{}, `[{"a":1.5},{"a":false}]`, `row 2: field "a": column is DOUBLE, got boolean false`},
		{"object in varchar", Table{}, `[{"a":"x"},{"a":{"b":1}}]`, `row 2: field "a": column is VARCHAR, got object`},
		{"array in bigint", Table{}, `[{"a":1},{"a":[1]}]`, `row 2: field "a": column is BIGINT, got array`},
		{"string in boolean table", Table{Columns: cols("ts TIMESTAMP", "ok BOOLEAN")}, `[{"ok":"yes"}]`, `row 1: field "ok": column is BOOLEAN, got string "yes"`},
		{"escaped string shown as sent", Table{}, `[{"a":1},{"a":"\u00e9\n"}]`, `row 2: field "a": column is BIGINT, got string "\u00e9\n"`},
		{"long string cut", Table{}, `[{"a":1},{"a":"` + long + `"}]`, `row 2: field "a": column is BIGINT, got string "` + long[:39] + `...`},
		{"id is varchar", Table{}, `[{"id":5}]`, `row 1: field "id": column is VARCHAR, got number 5`},
		{"big int", Table{}, `[{"n":12345678901234567890}]`, `row 1: field "n": integer 12345678901234567890 is out of BIGINT range (send it as a string, or with a fraction or exponent to store a DOUBLE)`},
		{"big negative int", Table{}, `[{"n":1},{"n":-9223372036854775809}]`, `row 2: field "n": integer -9223372036854775809 is out of BIGINT range (send it as a string, or with a fraction or exponent to store a DOUBLE)`},
		{"big int in varchar", Table{}, `[{"n":"x"},{"n":12345678901234567890}]`, `row 2: field "n": column is VARCHAR, got number 12345678901234567890`},
		{"double overflow", Table{}, `[{"x":1e400}]`, `row 1: field "x": number 1e400 is out of DOUBLE range`},
		{"timestamp column", Table{Columns: cols("ts TIMESTAMP", "seen TIMESTAMP")}, `[{"seen":5}]`, `row 1: field "seen": want an RFC 3339 timestamp string, got number`},
		{"bad timestamp column", Table{Columns: cols("ts TIMESTAMP", "seen TIMESTAMP")}, `[{"seen":null},{"seen":"now"}]`, `row 2: field "seen": want an RFC 3339 timestamp string, got string "now"`},
		{"explicit no widening", Table{Columns: cols("ts TIMESTAMP", "v BIGINT"), Explicit: true}, `[{"v":1},{"v":1.5}]`, `row 2: field "v": column is BIGINT, got number 1.5`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseErr(t, tc.tbl, JSONArray([]byte(tc.in)), Options{}); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}

	// The protobuf forms give the same messages.
	rows := []*structpb.Struct{mustStruct(t, `{"value":1}`), mustStruct(t, `{"value":"x"}`)}
	if got, want := parseErr(t, Table{}, Structs(rows), Options{}), `row 2: field "value": column is BIGINT, got string "x"`; got != want {
		t.Errorf("Structs:\n got %s\nwant %s", got, want)
	}
	rows = []*structpb.Struct{mustStruct(t, `{"a":"x"}`), mustStruct(t, `{"a":1.5}`)}
	if got, want := parseErr(t, Table{}, Structs(rows), Options{}), `row 2: field "a": column is VARCHAR, got number 1.5`; got != want {
		t.Errorf("Structs:\n got %s\nwant %s", got, want)
	}
}

func TestExplicitSchema(t *testing.T) {
	tbl := Table{
		Columns:  cols("ts TIMESTAMP", "id VARCHAR", "v DOUBLE", "seen TIMESTAMP", "attrs JSON", "ok BOOLEAN", "n BIGINT"),
		Explicit: true,
	}
	in := `[
		{"ts":"2026-01-01T00:00:00Z","id":"a","v":1,"seen":"2026-01-01 00:00:00","attrs":"x","ok":true,"n":7},
		{"ts":"2026-01-01T00:00:01Z","attrs":5},
		{"ts":"2026-01-01T00:00:02Z","attrs":{"k" : [1, 2.0]}},
		{"ts":"2026-01-01T00:00:03Z","attrs":true,"seen":null},
		{"ts":"2026-01-01T00:00:04Z","attrs":null}
	]`
	res := parseOK(t, tbl, JSONArray([]byte(in)))
	want := `schema: ts TIMESTAMP, id VARCHAR, v DOUBLE, seen TIMESTAMP, attrs JSON, ok BOOLEAN, n BIGINT
[2026-01-01] ts TIMESTAMP, id VARCHAR, v DOUBLE, seen TIMESTAMP, attrs JSON, ok BOOLEAN, n BIGINT
2026-01-01T00:00:00Z | "a" | 1 | 2026-01-01T00:00:00Z | "x" | true | 7
2026-01-01T00:00:01Z | NULL | NULL | NULL | 5 | NULL | NULL
2026-01-01T00:00:02Z | NULL | NULL | NULL | {"k":[1,2.0]} | NULL | NULL
2026-01-01T00:00:03Z | NULL | NULL | NULL | true | NULL | NULL
2026-01-01T00:00:04Z | NULL | NULL | NULL | NULL | NULL | NULL
`
	if got := render(res); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	// The same through Structs: JSON text of scalars is canonical.
	var rows []*structpb.Struct
	for _, r := range []string{
		`{"ts":"2026-01-01T00:00:00Z","id":"a","v":1,"seen":"2026-01-01 00:00:00","attrs":"x","ok":true,"n":7}`,
		`{"ts":"2026-01-01T00:00:01Z","attrs":5}`,
		`{"ts":"2026-01-01T00:00:02Z","attrs":{"k":[1,2.5]}}`,
		`{"ts":"2026-01-01T00:00:03Z","attrs":true,"seen":null}`,
		`{"ts":"2026-01-01T00:00:04Z","attrs":null}`,
	} {
		rows = append(rows, mustStruct(t, r))
	}
	sres := parseOK(t, tbl, Structs(rows))
	if got := strings.Join(column(sres, "attrs"), ","); got != `"x",5,{"k":[1,2.5]},true,NULL` {
		t.Errorf("Structs attrs = %s", got)
	}

	for _, tc := range []struct{ in, want string }{
		{`[{"v":1},{"foo":1}]`, `row 2: field "foo": no such column in the explicit schema of table "t"`},
		{`[{"foo":null}]`, `row 1: field "foo": no such column in the explicit schema of table "t"`},
		{`[{"V":1}]`, `row 1: field "V": conflicts with column "v" (column names are case-insensitive)`},
		{`[{"n":1.5}]`, `row 1: field "n": column is BIGINT, got number 1.5`},
		{`[{"id":1}]`, `row 1: field "id": column is VARCHAR, got number 1`},
	} {
		if got := parseErr(t, tbl, JSONArray([]byte(tc.in)), Options{}); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestNames(t *testing.T) {
	ok63 := "a" + strings.Repeat("b", 62)
	for _, name := range []string{"a", "_", "_x", "A1_b", "ts", ok63, "_minio", "x_miniodb", "über", "温度", "température_2", "a١", "é", "नमस्ते"} {
		if err := ValidName("column", name); err != nil {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"", `invalid column name "": empty`},
		{"1a", `invalid column name "1a": want letters, digits and _, not starting with a digit`},
		{"a-b", `invalid column name "a-b": want letters, digits and _, not starting with a digit`},
		{"a b", `invalid column name "a b": want letters, digits and _, not starting with a digit`},
		{"١a", `invalid column name "١a": want letters, digits and _, not starting with a digit`},
		{"a\u00a0b", `invalid column name "a\u00a0b": want letters, digits and _, not starting with a digit`},
		{"温度\xff", `invalid column name "温度\xff": want letters, digits and _, not starting with a digit`},
		{ok63 + "c", `invalid column name "` + ok63[:40] + `"...: longer than 63 characters`},
		{"_miniodb", `invalid column name "_miniodb": names starting with _miniodb are reserved`},
		{"_MinIODB_seq", `invalid column name "_MinIODB_seq": names starting with _miniodb are reserved`},
	} {
		err := ValidName("column", tc.name)
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidName(%q) = %v, want %s", tc.name, err, tc.want)
		}
	}

	for _, tc := range []struct {
		tbl       Table
		in, wantE string
	}{
		{Table{}, `[{"a-b":1}]`, `row 1: field "a-b": invalid column name "a-b": want letters, digits and _, not starting with a digit`},
		{Table{}, `[{"":1}]`, `row 1: invalid column name "": empty`},
		{Table{}, `[{"Value":1,"value":2}]`, `row 1: field "value": conflicts with column "Value" (column names are case-insensitive)`},
		{Table{}, `[{"Value":1},{"value":2}]`, `row 2: field "value": conflicts with column "Value" (column names are case-insensitive)`},
		{Table{}, `[{"TS":"2026-01-01T00:00:00Z"}]`, `row 1: field "TS": conflicts with column "ts" (column names are case-insensitive)`},
		{Table{Columns: cols("ts TIMESTAMP", "value DOUBLE")}, `[{"VALUE":1}]`, `row 1: field "VALUE": conflicts with column "value" (column names are case-insensitive)`},
		{Table{}, `[{"_miniodb_seq":1}]`, `row 1: field "_miniodb_seq": invalid column name "_miniodb_seq": names starting with _miniodb are reserved`},
		{Table{Name: "bad name"}, `[{"a":1}]`, `invalid table name "bad name": want letters, digits and _, not starting with a digit`},
		{Table{Name: "_miniodb_meta"}, `[{"a":1}]`, `invalid table name "_miniodb_meta": names starting with _miniodb are reserved`},
	} {
		if got := parseErr(t, tc.tbl, JSONArray([]byte(tc.in)), Options{}); got != tc.wantE {
			t.Errorf("%s:\n got %s\nwant %s", tc.in, got, tc.wantE)
		}
	}
}

func TestMalformed(t *testing.T) {
	keys70 := `{`
	for i := range 70 {
		keys70 += `"k` + strconv.Itoa(i) + `":1,`
	}
	keys70 += `"k3":2}`
	for _, tc := range []struct {
		name   string
		ndjson bool
		in     string
		want   string
	}{
		{"empty", false, ``, `empty input: no rows`},
		{"blank", false, " \n\t ", `empty input: no rows`},
		{"empty array", false, `[ ]`, `empty input: no rows`},
		{"empty ndjson", true, "", `empty input: no rows`},
		{"blank ndjson", true, "\n\n  \r\n\t\n", `empty input: no rows`},
		{"object not array", false, `{"a":1}`, `want a JSON array of objects, got object`},
		{"garbage", false, `hello`, `invalid JSON at byte 0: want '[', got 'h'`},
		{"array row", false, `[{"a":1},[1]]`, `row 2: want a JSON object, got array`},
		{"string row", false, `[{"a":1},"x"]`, `row 2: want a JSON object, got string`},
		{"null row", false, `[{"a":1}, null]`, `row 2: want a JSON object, got null`},
		{"number row", false, `[1]`, `row 1: want a JSON object, got number`},
		{"ndjson array row", true, "{\"a\":1}\n[1]\n", `row 2: want a JSON object, got array`},
		{"ndjson scalar row", true, "true\n", `row 1: want a JSON object, got boolean`},
		{"trailing comma in array", false, `[{"a":1},]`, `row 2: invalid JSON at byte 9: want an object, got ']'`},
		{"unterminated array", false, `[{"a":1}`, `row 1: invalid JSON at byte 8: want ',' or ']' after a row, got end of input`},
		{"data after array", false, `[{"a":1}] x`, `invalid JSON at byte 10: data after the array`},
		{"data after empty array", false, `[] []`, `invalid JSON at byte 3: data after the array`},
		{"missing comma", false, `[{"a":1} {"a":2}]`, `row 1: invalid JSON at byte 9: want ',' or ']' after a row, got '{'`},
		{"trailing comma in object", false, `[{"a":1,}]`, `row 1: invalid JSON at byte 8: want a field name, got '}'`},
		{"unquoted key", false, `[{a:1}]`, `row 1: invalid JSON at byte 2: want a field name, got 'a'`},
		{"missing colon", false, `[{"a" 1}]`, `row 1: invalid JSON at byte 6: want ':' after a field name, got '1'`},
		{"leading zero", false, `[{"a":01}]`, `row 1: invalid JSON at byte 7: want ',' or '}' after a field, got '1'`},
		{"bare dot", false, `[{"a":1.}]`, `row 1: invalid JSON at byte 8: invalid number, got '}'`},
		{"plus sign", false, `[{"a":+1}]`, `row 1: invalid JSON at byte 6: want a value, got '+'`},
		{"minus alone", false, `[{"a":-}]`, `row 1: invalid JSON at byte 7: invalid number, got '}'`},
		{"bad exponent", false, `[{"a":1e}]`, `row 1: invalid JSON at byte 8: invalid number, got '}'`},
		{"bad literal", false, `[{"a":tru}]`, `row 1: invalid JSON at byte 6: want a value, got 't'`},
		{"NaN", false, `[{"a":NaN}]`, `row 1: invalid JSON at byte 6: want a value, got 'N'`},
		{"single quotes", false, `[{'a':1}]`, `row 1: invalid JSON at byte 2: want a field name, got '''`},
		{"comment", false, `[{"a":1} // x` + "\n]", `row 1: invalid JSON at byte 9: want ',' or ']' after a row, got '/'`},
		{"bad escape", false, `[{"a":"x\qy"}]`, `row 1: invalid JSON at byte 8: invalid escape in string, got '\'`},
		{"short unicode escape", false, `[{"a":"\u12"}]`, `row 1: invalid JSON at byte 7: invalid \u escape, got '\'`},
		{"lone high surrogate", false, `[{"a":"\ud800"}]`, `row 1: invalid JSON at byte 7: lone UTF-16 surrogate in \u escape, got '\'`},
		{"lone low surrogate", false, `[{"a":"\udc00\ud800"}]`, `row 1: invalid JSON at byte 7: lone UTF-16 surrogate in \u escape, got '\'`},
		{"high then not low", false, `[{"a":"\ud800\u0041"}]`, `row 1: invalid JSON at byte 7: lone UTF-16 surrogate in \u escape, got '\'`},
		{"control character", false, "[{\"a\":\"x\x01\"}]", `row 1: invalid JSON at byte 8: control character in string, got byte 0x01`},
		{"raw newline in string", false, "[{\"a\":\"x\ny\"}]", `row 1: invalid JSON at byte 8: control character in string, got byte 0x0a`},
		{"invalid UTF-8", false, "[{\"a\":\"x\xff\"}]", `row 1: invalid JSON at byte 6: invalid UTF-8 in string, got '"'`},
		{"invalid UTF-8 in key", false, "[{\"\xc3\":1}]", `row 1: invalid JSON at byte 2: invalid UTF-8 in string, got '"'`},
		{"invalid UTF-8 in nested", false, "[{\"a\":[\"\xed\xa0\x80\"]}]", `row 1: field "a": invalid JSON at byte 7: invalid UTF-8 in string, got '"'`},
		{"unterminated string", false, `[{"a":"xy`, `row 1: invalid JSON at byte 9: unterminated string, got end of input`},
		{"unterminated nested", false, `[{"a":[1,2`, `row 1: field "a": invalid JSON at byte 10: want ',' or ']' in an array, got end of input`},
		{"bad nested", false, `[{"a":{"b":}}]`, `row 1: field "a": invalid JSON at byte 11: want a value, got '}'`},
		{"nested trailing comma", false, `[{"a":[1,]}]`, `row 1: field "a": invalid JSON at byte 9: want a value, got ']'`},
		{"duplicate field", false, `[{"a":1,"b":2,"a":3}]`, `row 1: field "a": field given twice in one object`},
		{"duplicate field escaped", false, `[{"a":1,"\u0061":3}]`, `row 1: field "a": field given twice in one object`},
		{"duplicate null field", false, `[{"a":null,"a":null}]`, `row 1: field "a": field given twice in one object`},
		{"duplicate ts", false, `[{"ts":"2026-01-01T00:00:00Z","ts":"2026-01-01T00:00:00Z"}]`, `row 1: field "ts": field given twice in one object`},
		{"duplicate nested key", false, `[{"a":{"k":1,"j":{"k":1},"k":2}}]`, `row 1: field "a": duplicate key "k" in a JSON object`},
		{"duplicate nested key escaped", false, `[{"a":[{"k":1,"\u006b":2}]}]`, `row 1: field "a": duplicate key "k" in a JSON object`},
		{"duplicate nested key many", false, `[{"a":` + keys70 + `}]`, `row 1: field "a": duplicate key "k3" in a JSON object`},
		{"two objects on a line", true, `{"a":1} {"a":2}`, `row 1: invalid JSON at byte 8: want the end of the line after the object, got '{'`},
		{"object over two lines", true, "{\"a\":\n1}", `row 1: invalid JSON at byte 5: want a value, got end of line`},
		{"ndjson array", true, `[{"a":1}]`, `row 1: want a JSON object, got array`},
		{"ndjson line numbers", true, "\n{\"a\":1}\n\n{\"a\":\"x\"}\n", `row 2 (line 4): field "a": column is BIGINT, got string "x"`},
		{"ndjson syntax offset", true, "{\"a\":1}\n\n{\"a\":1,}\n", `row 2 (line 3): invalid JSON at byte 16: want a field name, got '}'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := JSONArray([]byte(tc.in))
			if tc.ndjson {
				in = NDJSON([]byte(tc.in))
			}
			if got := parseErr(t, Table{}, in, Options{}); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}

	// Accepted edge cases.
	for _, in := range []Input{
		JSONArray([]byte("\xef\xbb\xbf [ {\"a\" : 1 } ] \n")),
		NDJSON([]byte("\xef\xbb\xbf{\"a\":1}")),
		NDJSON([]byte("\r\n  {\"a\":1}  \r\n\r\n")),
		JSONArray([]byte(`[{"a":1,"b":{"a":1},"c":[{"a":1},{"a":1}]}]`)), // the same key in sibling objects
	} {
		parseOK(t, Table{}, in)
	}

	// Structs and Records reject what protobuf can hold but JSON cannot.
	nanRow := &structpb.Struct{Fields: map[string]*structpb.Value{"a": structpb.NewNumberValue(nan())}}
	for _, tc := range []struct {
		in   Input
		want string
	}{
		{Structs(nil), `empty input: no rows`},
		{Records(nil), `empty input: no rows`},
		{Structs([]*structpb.Struct{nil}), `row 1: want a JSON object, got null`},
		{Records([]*miniodbv1.Record{nil}), `row 1: want a record, got null`},
		{Structs([]*structpb.Struct{nanRow}), `row 1: field "a": number NaN is not valid JSON`},
		{Structs([]*structpb.Struct{{Fields: map[string]*structpb.Value{"a": {}}}}), `row 1: field "a": value has no kind set`},
		{Structs([]*structpb.Struct{{Fields: map[string]*structpb.Value{"a": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewNumberValue(nan())}})}}}), `row 1: field "a": number NaN is not valid JSON`},
		{Structs([]*structpb.Struct{{Fields: map[string]*structpb.Value{"a": structpb.NewStringValue("\xff")}}}), `row 1: field "a": invalid UTF-8 in string`},
	} {
		if got := parseErr(t, Table{}, tc.in, Options{}); got != tc.want {
			t.Errorf("\n got %s\nwant %s", got, tc.want)
		}
	}
}

func TestLimits(t *testing.T) {
	three := `[{"a":1},{"a":2},{"a":3}]`
	for _, tc := range []struct {
		name string
		opts Options
		in   Input
		want string // "" = accepted
	}{
		{"rows at limit", Options{MaxRows: 3}, JSONArray([]byte(three)), ""},
		{"rows past limit", Options{MaxRows: 2}, JSONArray([]byte(three)), `row 3: too many rows: the limit is 2 per request`},
		{"ndjson rows past limit", Options{MaxRows: 1}, NDJSON([]byte("{}\n\n{}\n")), `row 2 (line 3): too many rows: the limit is 1 per request`},
		{"structs rows past limit", Options{MaxRows: 1}, Structs([]*structpb.Struct{{}, {}}), `row 2: too many rows: the limit is 1 per request`},
		{"string at limit", Options{MaxFieldBytes: 4}, JSONArray([]byte(`[{"a":"abcd"}]`)), ""},
		{"decoded string at limit", Options{MaxFieldBytes: 4}, JSONArray([]byte(`[{"a":"\u00e9\u00e9"}]`)), ""},
		{"string past limit", Options{MaxFieldBytes: 4}, JSONArray([]byte(`[{"a":"abcde"}]`)), `row 1: field "a": value of 5 bytes is larger than the limit of 4 bytes`},
		{"json past limit", Options{MaxFieldBytes: 6}, JSONArray([]byte(`[{"a":[1, 2, 3]}]`)), `row 1: field "a": value of 7 bytes is larger than the limit of 6 bytes`},
		{"json scalar past limit", Options{MaxFieldBytes: 2}, JSONArray([]byte(`[{"a":[]},{"a":"xy"}]`)), `row 2: field "a": value of 4 bytes is larger than the limit of 2 bytes`},
		{"structs string past limit", Options{MaxFieldBytes: 2}, Structs([]*structpb.Struct{{Fields: map[string]*structpb.Value{"a": structpb.NewStringValue("abc")}}}), `row 1: field "a": value of 3 bytes is larger than the limit of 2 bytes`},
		{"columns at limit", Options{MaxColumns: 3}, JSONArray([]byte(`[{"a":1,"b":2}]`)), ""},
		{"columns past limit", Options{MaxColumns: 3}, JSONArray([]byte(`[{"a":1,"b":2},{"c":null}]`)), `row 2: field "c": too many columns: the limit is 3 per table`},
		{"depth at limit", Options{MaxDepth: 2}, JSONArray([]byte(`[{"a":[[1]],"b":{"c":{}}}]`)), ""},
		{"depth past limit", Options{MaxDepth: 2}, JSONArray([]byte(`[{"a":[[[1]]]}]`)), `row 1: field "a": JSON value nested deeper than 2`},
		{"structs depth past limit", Options{MaxDepth: 1}, Structs([]*structpb.Struct{mustStruct(t, `{"a":{"b":[]}}`)}), `row 1: field "a": JSON value nested deeper than 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "" {
				if _, err := Parse(Table{Name: "t"}, tc.in, testNow, tc.opts); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got := parseErr(t, Table{}, tc.in, tc.opts); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
	// A deep value within the default limit does not blow the stack, and one
	// past it is an error.
	deep := `[{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}]`
	parseOK(t, Table{}, JSONArray([]byte(deep)))
	deep = `[{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}]`
	parseErr(t, Table{}, JSONArray([]byte(deep)), Options{})

	// A table already wider than MaxColumns takes writes to its columns, not
	// new ones.
	wide := Table{Columns: cols("ts TIMESTAMP", "a BIGINT", "b BIGINT", "c BIGINT")}
	parseOK(t, wide, JSONArray([]byte(`[{"a":1,"c":2}]`)))
	if _, err := Parse(Table{Name: "t", Columns: wide.Columns}, JSONArray([]byte(`[{"a":1}]`)), testNow, Options{MaxColumns: 2}); err != nil {
		t.Errorf("write to a wide table: %v", err)
	}
	if got, want := parseErr(t, wide, JSONArray([]byte(`[{"a":1,"d":1}]`)), Options{MaxColumns: 2}), `row 1: field "d": too many columns: the limit is 2 per table`; got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}

	// A bad option is a caller bug, not bad input.
	_, err := Parse(Table{Name: "t"}, JSONArray([]byte(three)), testNow, Options{MaxRows: -1})
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("negative MaxRows: %v", err)
	}
	_, err = Parse(Table{Name: "t"}, Input{}, testNow, Options{})
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("zero Input: %v", err)
	}
	_, err = Parse(Table{Name: "t", Columns: cols("a BIGINT")}, JSONArray([]byte(three)), testNow, Options{})
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("schema without ts: %v", err)
	}
	_, err = Parse(Table{Name: "t", Partitioning: 99}, JSONArray([]byte(three)), testNow, Options{})
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("bad partitioning: %v", err)
	}
}

func TestStructNumbers(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		typ  miniodbv1.ColumnType
		cell string
	}{
		{1, BIGINT, "1"},
		{-3, BIGINT, "-3"},
		{0, BIGINT, "0"},
		{negZero(), BIGINT, "0"},
		{1 << 53, BIGINT, "9007199254740992"},
		{-(1 << 53), BIGINT, "-9007199254740992"},
		{1<<53 + 2, DOUBLE, "9.007199254740994e+15"},
		{1e300, DOUBLE, "1e+300"},
		{1.5, DOUBLE, "1.5"},
	} {
		row := &structpb.Struct{Fields: map[string]*structpb.Value{"x": structpb.NewNumberValue(tc.f)}}
		res := parseOK(t, Table{}, Structs([]*structpb.Struct{row}))
		if got, want := schemaString(res.Columns), "ts TIMESTAMP, x "+TypeName(tc.typ); got != want {
			t.Errorf("%v: schema %s, want %s", tc.f, got, want)
		}
		if got := column(res, "x"); got[0] != tc.cell {
			t.Errorf("%v: x = %s, want %s", tc.f, got[0], tc.cell)
		}
	}
	// Nested values are canonical JSON.
	row := mustStruct(t, `{"j":{"b":[1,2.5,"x<y",true,null,{}],"a":1e21,"c":"\u2028\n\u0001"}}`)
	res := parseOK(t, Table{}, Structs([]*structpb.Struct{row}))
	if got, want := column(res, "j")[0], `{"a":1e+21,"b":[1,2.5,"x<y",true,null,{}],"c":"\u2028\n\u0001"}`; got != want {
		t.Errorf("j = %s, want %s", got, want)
	}
}

func TestRecords(t *testing.T) {
	recs := []*miniodbv1.Record{
		{Id: "a", Timestamp: "2026-01-01T00:00:00Z", Payload: mustStruct(t, `{"v":1,"s":"x"}`)},
		{Payload: mustStruct(t, `{"v":2.5,"o":{"k":[1]}}`)},
		{Id: "c", Timestamp: "2026-01-02 00:00:00"},
	}
	rows := []*structpb.Struct{
		mustStruct(t, `{"id":"a","ts":"2026-01-01T00:00:00Z","v":1,"s":"x"}`),
		mustStruct(t, `{"v":2.5,"o":{"k":[1]}}`),
		mustStruct(t, `{"id":"c","ts":"2026-01-02 00:00:00"}`),
	}
	rres := parseOK(t, Table{}, Records(recs))
	sres := parseOK(t, Table{}, Structs(rows))
	if !proto.Equal(&miniodbv1.InsertCommand{Batches: rres.Batches}, &miniodbv1.InsertCommand{Batches: sres.Batches}) {
		t.Fatalf("records differ from rows:\n%s\n%s", render(rres), render(sres))
	}
	want := `schema: ts TIMESTAMP, id VARCHAR, o JSON, s VARCHAR, v DOUBLE
[2026-01-01] ts TIMESTAMP, id VARCHAR, o JSON, s VARCHAR, v DOUBLE
2026-01-01T00:00:00Z | "a" | NULL | "x" | 1
[2026-01-02] ts TIMESTAMP, id VARCHAR, o JSON, s VARCHAR, v DOUBLE
2026-01-02T00:00:00Z | "c" | NULL | NULL | NULL
[2026-03-04] ts TIMESTAMP, id VARCHAR, o JSON, s VARCHAR, v DOUBLE
2026-03-04T05:06:07.123456Z | NULL | {"k":[1]} | NULL | 2.5
`
	if got := render(rres); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}

	for _, tc := range []struct {
		rec  *miniodbv1.Record
		want string
	}{
		{&miniodbv1.Record{Id: "a", Payload: mustStruct(t, `{"id":1}`)}, `row 1: field "id": a record's payload may not hold id or ts: they come from the record`},
		{&miniodbv1.Record{Payload: mustStruct(t, `{"TS":"2026-01-01T00:00:00Z"}`)}, `row 1: field "TS": a record's payload may not hold id or ts: they come from the record`},
		{&miniodbv1.Record{Timestamp: "yesterday"}, `row 1: field "ts": want an RFC 3339 timestamp string, got string "yesterday"`},
		{&miniodbv1.Record{Id: "\xff"}, `row 1: field "id": invalid UTF-8 in string`},
	} {
		if got := parseErr(t, Table{}, Records([]*miniodbv1.Record{tc.rec}), Options{}); got != tc.want {
			t.Errorf("\n got %s\nwant %s", got, tc.want)
		}
	}
}

func TestResultDoesNotAliasInput(t *testing.T) {
	in := []byte(`[{"id":"dev-1","s":"abc","j":{"k":"v"}},{"id":"dev-2","s":"\u00e9"}]`)
	res := parseOK(t, Table{}, JSONArray(in))
	before := render(res)
	for i := range in {
		in[i] = 'x'
	}
	if after := render(res); after != before {
		t.Fatalf("result changed with its input:\n%s\n%s", before, after)
	}
}

func TestBatchBytes(t *testing.T) {
	b := &miniodbv1.RowBatch{
		RowCount: 2,
		Vectors: []*miniodbv1.ColumnVector{
			{Ints: []int64{1, 2}},
			{Doubles: []float64{1, 2}},
			{Strings: []string{"abc", ""}, Nulls: []byte{2}},
			{Bools: []bool{true, false}},
		},
	}
	if got, want := BatchBytes(b), int64(16+16+(3+16)+(0+16)+1+2); got != want {
		t.Errorf("BatchBytes = %d, want %d", got, want)
	}
	res := parseOK(t, Table{}, JSONArray([]byte(`[{"ts":"2026-01-01T00:00:00Z","id":"abc","n":1,"ok":true},{"ts":"2026-01-01T00:00:00Z"}]`)))
	// ts 2*8, id (3+16)+(0+16)+1 null byte, n 2*8+1, ok 2*1+1
	if got, want := res.Bytes, int64(16+35+1+17+3); got != want {
		t.Errorf("Result.Bytes = %d, want %d", got, want)
	}
}

func mustStruct(t testing.TB, js string) *structpb.Struct {
	t.Helper()
	s := &structpb.Struct{}
	if err := s.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatal(err)
	}
	return s
}

func nan() float64     { return math.NaN() }
func negZero() float64 { return math.Copysign(0, -1) }
