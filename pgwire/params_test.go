package pgwire

import (
	"strings"
	"testing"

	"github.com/miniodb/miniodb/internal/leaktest"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

func TestBindParams(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sql    string
		oids   []uint32
		values []string // "NULL" for a NULL
		want   string
		err    string
	}{
		{"none", "SELECT 1", nil, nil, "SELECT 1", ""},
		{"string", "SELECT * FROM t WHERE id = $1", nil, []string{"it's"}, "SELECT * FROM t WHERE id = 'it''s'", ""},
		{"numeric oid", "SELECT $1 + 1", []uint32{20}, []string{"41"}, "SELECT 41 + 1", ""},
		{"not a number", "SELECT $1", []uint32{20}, []string{"1; DROP"}, "", "not a number"},
		{"bool", "SELECT $1", []uint32{16}, []string{"t"}, "SELECT true", ""},
		{"null", "SELECT $1", nil, []string{"NULL"}, "SELECT NULL", ""},
		{"reused and out of order", "SELECT $2, $1, $2", nil, []string{"a", "b"}, "SELECT 'b', 'a', 'b'", ""},
		{"inside literals and comments", `SELECT '$1', "$1", $1 -- $1` + "\n" + `/* $1 */`, nil, []string{"x"}, `SELECT '$1', "$1", 'x' -- $1` + "\n" + `/* $1 */`, ""},
		{"dollar quoted", "SELECT $q$ $1 $q$, $1", nil, []string{"x"}, "SELECT $q$ $1 $q$, 'x'", ""},
		{"too few", "SELECT $2", nil, []string{"a"}, "", "uses $2 but 1 parameters"},
		{"zero", "SELECT $0", nil, []string{"a"}, "", "$0 does not exist"},
		{"quote injection", "SELECT $1", nil, []string{"' OR 1=1 --"}, "SELECT ''' OR 1=1 --'", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var values [][]byte
			for _, v := range tc.values {
				if v == "NULL" {
					values = append(values, nil)
				} else {
					values = append(values, []byte(v))
				}
			}
			got, err := bindParams(tc.sql, tc.oids, values, nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := bindParams("SELECT $1", nil, [][]byte{{1}}, []int16{1}); err == nil || !strings.Contains(err.Error(), "binary") {
		t.Errorf("a binary parameter: %v", err)
	}
}

func TestTypeOf(t *testing.T) {
	for duck, oid := range map[string]uint32{
		"BOOLEAN": 16, "SMALLINT": 21, "INTEGER": 23, "BIGINT": 20, "HUGEINT": 1700, "DECIMAL(18,3)": 1700,
		"FLOAT": 700, "DOUBLE": 701, "VARCHAR": 25, "DATE": 1082, "TIME": 1083, "TIMESTAMP": 1114,
		"TIMESTAMP WITH TIME ZONE": 1184, "UUID": 2950, "BLOB": 17, "JSON": 114, "INTEGER[]": 114,
		"STRUCT(a INTEGER)": 114, "MAP(VARCHAR, INTEGER)": 114, "INTERVAL": 25,
	} {
		if got := typeOf(duck).oid; got != oid {
			t.Errorf("%s: OID %d, want %d", duck, got, oid)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT 1":                        "SELECT 1",
		"SET a = 1; SELECT 2;":            "SET a = 1|SELECT 2",
		"SELECT ';' AS s; SELECT \"a;b\"": "SELECT ';' AS s|SELECT \"a;b\"",
		"SELECT 1 -- ;\n; SELECT $x$;$x$": "SELECT 1 -- ;|SELECT $x$;$x$",
		" ; ;":                            "",
	} {
		if got := strings.Join(splitStatements(sql), "|"); got != want {
			t.Errorf("%q: %q, want %q", sql, got, want)
		}
	}
}
