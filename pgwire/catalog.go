package pgwire

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// TableSchema is a MinIODB table as catalog queries describe it.
type TableSchema struct {
	Name    string
	Columns []Column
}

// The catalog queries clients send on connect and for schema browsing
// (pg_catalog, information_schema, version(), current_database()) do not
// go to the query path, which refuses them: they run in a small DuckDB of
// their own holding empty copies of the tables the session may read, so
// DuckDB's PostgreSQL catalog emulation answers them from MinIODB's
// schemas. Such a query may not read a MinIODB table (its copy is empty:
// the answer would be wrong, so it is refused).
var catalogQuery = regexp.MustCompile(`(?i)\bpg_catalog\s*\.|\binformation_schema\s*\.|\bpg_(class|namespace|attribute|type|database|tables|views|settings|am|index|description|proc|roles|user)\b|\b(version|current_database|current_schema|pg_backend_pid)\s*\(`)

func isCatalogQuery(sql string) bool { return catalogQuery.MatchString(sql) }

// catalogRewrites turn PostgreSQL-only spellings into DuckDB's.
var catalogRewrites = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\bOPERATOR\s*\(\s*pg_catalog\s*\.\s*([~!<>=]+)\s*\)`), "$1"},
	{regexp.MustCompile(`(?i)\s+COLLATE\s+pg_catalog\s*\.\s*"?default"?`), ""},
	{regexp.MustCompile(`(?i)\bpg_catalog\s*\.\s*`), ""},
	{regexp.MustCompile(`(?i)\bversion\s*\(\s*\)`), "'PostgreSQL " + serverVersion + "'"},
	{regexp.MustCompile(`(?i)\bcurrent_database\s*\(\s*\)`), "'miniodb'"},
}

// catalogMacros are the catalog functions psql and tools call that DuckDB
// lacks.
var catalogMacros = []string{
	`CREATE MACRO pg_get_userbyid(id) AS 'miniodb'`,
	`CREATE MACRO pg_encoding_to_char(e) AS 'UTF8'`,
	`CREATE MACRO obj_description(o, c) AS NULL::VARCHAR`,
	`CREATE MACRO col_description(o, c) AS NULL::VARCHAR`,
	`CREATE MACRO shobj_description(o, c) AS NULL::VARCHAR`,
	`CREATE MACRO pg_backend_pid() AS 0`,
}

type catalog struct {
	mu    sync.Mutex
	db    *sql.DB
	built string // the schemas the copies were made from
}

func (c *catalog) open() (*sql.DB, error) {
	if c.db != nil {
		return c.db, nil
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("pgwire: catalog: %w", err)
	}
	db.SetMaxOpenConns(1) // one connection: the copies and macros are its own
	for _, q := range append([]string{"SET threads = 1", "SET memory_limit = '64MB'"}, catalogMacros...) {
		if _, err := db.Exec(q); err != nil {
			db.Close()
			return nil, fmt.Errorf("pgwire: catalog: %s: %w", q, err)
		}
	}
	c.db = db
	return db, nil
}

func (c *catalog) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db != nil {
		c.db.Close()
		c.db = nil
	}
}

// query answers a catalog query over empty copies of tables.
func (c *catalog) query(ctx context.Context, text string, tables []TableSchema, onColumns func([]Column) error, onRow func([]*structpb.Value) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	db, err := c.open()
	if err != nil {
		return err
	}
	if err := c.sync(ctx, db, tables); err != nil {
		return err
	}
	for _, r := range catalogRewrites {
		text = r.re.ReplaceAllString(text, r.with)
	}
	names := map[string]bool{}
	for _, t := range tables {
		names[strings.ToLower(t.Name)] = true
	}
	if err := refuseTableData(ctx, db, text, names); err != nil {
		return err
	}
	rows, err := db.QueryContext(ctx, text)
	if err != nil {
		return protoErr(stateSyntax, "%s", err.Error())
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	cols := make([]Column, len(types))
	for i, t := range types {
		cols[i] = Column{Name: t.Name(), Type: t.DatabaseTypeName()}
	}
	if err := onColumns(cols); err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		row := make([]*structpb.Value, len(vals))
		for i, v := range vals {
			row[i] = catalogValue(v)
		}
		if err := onRow(row); err != nil {
			return err
		}
	}
	return rows.Err()
}

// sync makes the copies match the tables, when they changed.
func (c *catalog) sync(ctx context.Context, db *sql.DB, tables []TableSchema) error {
	b, _ := json.Marshal(tables)
	if string(b) == c.built {
		return nil
	}
	var old []string
	rows, err := db.QueryContext(ctx, "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'")
	if err != nil {
		return err
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		old = append(old, n)
	}
	rows.Close()
	for _, n := range old {
		if _, err := db.ExecContext(ctx, "DROP TABLE "+quoteIdent(n)); err != nil {
			return err
		}
	}
	for _, t := range tables {
		var cols []string
		for _, col := range t.Columns {
			cols = append(cols, quoteIdent(col.Name)+" "+col.Type)
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", quoteIdent(t.Name), strings.Join(cols, ", "))); err != nil {
			return fmt.Errorf("pgwire: catalog copy of %s: %w", t.Name, err)
		}
	}
	c.built = string(b)
	return nil
}

// refuseTableData fails a catalog query that names a MinIODB table in a
// FROM clause: its copy here is empty.
func refuseTableData(ctx context.Context, db *sql.DB, text string, tables map[string]bool) error {
	var tree string
	if err := db.QueryRowContext(ctx, "SELECT json_serialize_sql("+quoteString(text)+")::VARCHAR").Scan(&tree); err != nil {
		return err
	}
	var root any
	if err := json.Unmarshal([]byte(tree), &root); err != nil {
		return err
	}
	if m, ok := root.(map[string]any); ok {
		if isErr, _ := m["error"].(bool); isErr {
			msg, _ := m["error_message"].(string)
			return protoErr(stateSyntax, "%s", msg)
		}
	}
	var found string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["type"] == "BASE_TABLE" {
				name, _ := x["table_name"].(string)
				schema, _ := x["schema_name"].(string)
				if (schema == "" || schema == "main") && tables[strings.ToLower(name)] && found == "" {
					found = name
				}
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(root)
	if found != "" {
		return protoErr(stateFeature, "a catalog query (pg_catalog, information_schema, version()) cannot read table %s; query it on its own", found)
	}
	return nil
}

func catalogValue(v any) *structpb.Value {
	switch x := v.(type) {
	case nil:
		return structpb.NewNullValue()
	case bool:
		return structpb.NewBoolValue(x)
	case string:
		return structpb.NewStringValue(x)
	case []byte:
		return structpb.NewStringValue(string(x))
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, uint:
		return structpb.NewStringValue(fmt.Sprint(x))
	case float32:
		return structpb.NewNumberValue(float64(x))
	case float64:
		return structpb.NewNumberValue(x)
	case time.Time:
		return structpb.NewStringValue(x.UTC().Format(time.RFC3339Nano))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return structpb.NewStringValue(fmt.Sprint(v))
	}
	var out any
	json.Unmarshal(b, &out)
	if sv, err := structpb.NewValue(out); err == nil {
		return sv
	}
	return structpb.NewStringValue(string(b))
}

func quoteIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
