package query

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

func mustAnalyse(t *testing.T, db *sql.DB, q string) (*Analysis, error) {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	root, err := parseTree(context.Background(), conn, q)
	if err != nil {
		return nil, err
	}
	return analyse(root, func(name string) bool { return name == "events" || name == "other" })
}

func TestAnalyse(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		sql    string
		tables []string
		preds  []Predicate
		err    error
	}{
		{sql: "SELECT 1"},
		{sql: "SELECT * FROM events", tables: []string{"events"}},
		{sql: "SELECT * FROM EVENTS e WHERE e.value > 3 AND 'x' = region", tables: []string{"events"},
			preds: []Predicate{{"value", OpGt, int64(3)}, {"region", OpEq, "x"}}},
		{sql: "SELECT * FROM events WHERE ts BETWEEN '2026-01-01' AND TIMESTAMP '2026-01-02'", tables: []string{"events"},
			preds: []Predicate{{"ts", OpGe, "2026-01-01"}, {"ts", OpLe, "2026-01-02"}}},
		{sql: "SELECT * FROM events WHERE 5 <= status", tables: []string{"events"}, preds: []Predicate{{"status", OpGe, int64(5)}}},
		{sql: "SELECT * FROM events WHERE v < 2.5", tables: []string{"events"}, preds: []Predicate{{"v", OpLt, 2.5}}},
		{sql: "SELECT * FROM events WHERE a = 1 OR b = 2", tables: []string{"events"}},
		{sql: "SELECT * FROM events WHERE lower(region) = 'x'", tables: []string{"events"}},
		{sql: "SELECT * FROM events WHERE other.x = 1", tables: []string{"events"}},
		{sql: "SELECT * FROM events JOIN other USING (id) WHERE a = 1", tables: []string{"events", "other"}},
		{sql: "WITH x AS (SELECT * FROM events) SELECT * FROM x", tables: []string{"events"}},
		{sql: "SELECT * FROM missing", err: ErrTableNotFound},
		{sql: "SELECT * FROM '/etc/passwd'", err: ErrTableNotFound},
		{sql: "SELECT * FROM read_csv('/etc/passwd')", err: ErrInvalidQuery},
		{sql: "SELECT * FROM events WHERE id IN (SELECT * FROM read_text('x'))", err: ErrInvalidQuery},
		{sql: "SELECT * FROM main.events", err: ErrInvalidQuery},
		{sql: "SELECT * FROM range(3)"},
		{sql: "DELETE FROM events", err: ErrInvalidQuery},
		{sql: "SELECT 1; SELECT 2", err: ErrInvalidQuery},
		{sql: "SELEC", err: ErrInvalidQuery},
	}
	for _, tt := range tests {
		t.Run(tt.sql, func(t *testing.T) {
			a, err := mustAnalyse(t, db, tt.sql)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("got %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tables := a.Tables
			if len(tables) > 1 && tables[0] > tables[1] {
				tables[0], tables[1] = tables[1], tables[0]
			}
			if !reflect.DeepEqual(tables, tt.tables) {
				t.Errorf("tables %v, want %v", a.Tables, tt.tables)
			}
			if !reflect.DeepEqual(a.Predicates, tt.preds) {
				t.Errorf("predicates %#v, want %#v", a.Predicates, tt.preds)
			}
		})
	}
}

func TestFileMayMatch(t *testing.T) {
	ts := func(s string) int64 { us, _ := parseTimestamp(s); return us }
	file := &v1.DataFile{RowCount: 10, Stats: []*v1.ColumnStats{
		{Name: "ts", Min: &v1.Scalar{Value: &v1.Scalar_Int{Int: ts("2026-01-01 00:00:00")}}, Max: &v1.Scalar{Value: &v1.Scalar_Int{Int: ts("2026-01-01 23:00:00")}}},
		{Name: "value", Min: &v1.Scalar{Value: &v1.Scalar_Double{Double: 1.5}}, Max: &v1.Scalar{Value: &v1.Scalar_Double{Double: 9}}},
		{Name: "status", Min: &v1.Scalar{Value: &v1.Scalar_Int{Int: 200}}, Max: &v1.Scalar{Value: &v1.Scalar_Int{Int: 404}}},
		{Name: "region", Min: &v1.Scalar{Value: &v1.Scalar_String_{String_: "ap"}}, Max: &v1.Scalar{Value: &v1.Scalar_String_{String_: "eu"}}},
		{Name: "note", NullCount: 10},
	}}
	schema := map[string]v1.ColumnType{
		"ts": v1.ColumnType_COLUMN_TYPE_TIMESTAMP, "value": v1.ColumnType_COLUMN_TYPE_DOUBLE,
		"status": v1.ColumnType_COLUMN_TYPE_BIGINT, "region": v1.ColumnType_COLUMN_TYPE_VARCHAR,
		"note": v1.ColumnType_COLUMN_TYPE_VARCHAR, "later": v1.ColumnType_COLUMN_TYPE_BIGINT,
	}
	tests := []struct {
		p    Predicate
		want bool
	}{
		{Predicate{"ts", OpGe, "2026-01-02"}, false},
		{Predicate{"ts", OpGe, "2026-01-01 23:00:00"}, true},
		{Predicate{"ts", OpGt, "2026-01-01 23:00:00"}, false},
		{Predicate{"ts", OpLt, "2026-01-01"}, false},
		{Predicate{"ts", OpLe, "2026-01-01"}, true},
		{Predicate{"ts", OpEq, "2026-01-01T12:00:00Z"}, true},
		{Predicate{"ts", OpGe, "2026-01-02T00:00:00+02:00"}, true}, // offsets: not reasoned about
		{Predicate{"ts", OpGe, "garbage"}, true},
		{Predicate{"value", OpGt, int64(9)}, false},
		{Predicate{"value", OpGe, 9.0}, true},
		{Predicate{"value", OpLt, 1.5}, false},
		{Predicate{"status", OpEq, int64(500)}, false},
		{Predicate{"status", OpEq, int64(300)}, true},
		{Predicate{"status", OpGt, 403.5}, true},
		{Predicate{"status", OpGt, 404.5}, false},
		{Predicate{"region", OpEq, "us"}, false},
		{Predicate{"region", OpEq, "eu"}, true},
		{Predicate{"region", OpLt, "ap"}, false},
		{Predicate{"note", OpEq, "x"}, false},       // only NULLs
		{Predicate{"later", OpEq, int64(1)}, false}, // column newer than the file
		{Predicate{"unknown", OpEq, int64(1)}, true},
		{Predicate{"region", OpEq, int64(1)}, true}, // type mismatch: DuckDB decides
	}
	for _, tt := range tests {
		if got := fileMayMatch(file, schema, []Predicate{tt.p}); got != tt.want {
			t.Errorf("%+v: got %v, want %v", tt.p, got, tt.want)
		}
	}
}
