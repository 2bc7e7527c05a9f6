package query

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors the engine returns; callers map them to API codes with errors.Is.
var (
	// ErrInvalidQuery: the SQL does not parse, is not a read-only SELECT,
	// or uses something MinIODB does not allow (file-reading functions).
	ErrInvalidQuery = errors.New("query: invalid query")
	// ErrTableNotFound: the SQL names a table that does not exist.
	ErrTableNotFound = errors.New("query: table not found")
)

// allowedTableFunctions are the table functions user SQL may call: they
// read no files and reveal nothing about the server.
var allowedTableFunctions = map[string]bool{
	"range": true, "generate_series": true, "unnest": true,
}

// deniedFunctions are scalar functions and macros user SQL may not call:
// they reveal the server's configuration (settings hold paths), the
// internal views' SQL (which names cached files), or run SQL of their own.
// Names starting with deniedFunctionPrefixes are refused too.
var deniedFunctions = map[string]bool{
	"current_setting": true, "current_schema": true, "current_schemas": true,
	"current_database": true, "current_catalog": true, "current_query": true,
	"in_search_path": true, "getvariable": true, "which_secret": true,
	"pg_get_viewdef": true, "pg_get_constraintdef": true, "pg_get_expr": true,
	"json_execute_serialized_sql": true, "pg_sleep": true,
}

var deniedFunctionPrefixes = []string{"duckdb_", "pragma_"}

// Analysis is what MinIODB needs to know about a statement.
type Analysis struct {
	// Tables are the names of the MinIODB tables the statement reads (not
	// CTEs), in order of first appearance.
	Tables []string
	// Refs are the statement's references to MinIODB tables, in the order
	// DuckDB's parse tree lists them.
	Refs []TableRef
	// Root is the parsed statement (DuckDB's json_serialize_sql tree).
	Root map[string]any
}

// TableRef is one reference to a MinIODB table in a statement.
type TableRef struct {
	Table string
	// Start and End delimit the table name's token in the SQL text (bytes);
	// Start is -1 when the token could not be located exactly, and then
	// the reference cannot be rewritten (it reads the unpruned table).
	Start, End int
	// Alias is the reference's alias ("" if none); with no alias, DuckDB
	// binds the reference under the table's name.
	Alias string
	// Predicates are conjuncts "column op constant" of the WHERE clause of
	// the SELECT whose only FROM item is this reference, with every column
	// provably a column of this reference. Files that cannot match them
	// may be skipped for this reference alone.
	Predicates []Predicate
	// where is that WHERE clause itself (nil when predicates could not be
	// attributed to this reference): a distributed plan pushes it into the
	// fragments that read the reference's files.
	where map[string]any
}

// parseTree parses sql with DuckDB's own parser and returns the one SELECT
// statement's tree. Numbers keep their exact text (json.Number), so large
// integer and DECIMAL literals are not rounded through float64.
func parseTree(ctx context.Context, conn *sql.Conn, query string) (map[string]any, error) {
	var text string
	// The statement goes in as a literal, not a parameter: one round trip
	// instead of prepare + execute.
	if err := conn.QueryRowContext(ctx, "SELECT json_serialize_sql("+quoteString(query)+")::VARCHAR").Scan(&text); err != nil {
		return nil, fmt.Errorf("query: parse: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.UseNumber()
	var tree map[string]any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("query: parse: decode tree: %w", err)
	}
	if isErr, _ := tree["error"].(bool); isErr {
		msg, _ := tree["error_message"].(string)
		if strings.Contains(msg, "Only SELECT statements") {
			return nil, fmt.Errorf("%w: only read-only SELECT statements are accepted", ErrInvalidQuery)
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalidQuery, msg)
	}
	stmts, _ := tree["statements"].([]any)
	if len(stmts) != 1 {
		return nil, fmt.Errorf("%w: want exactly one statement, got %d", ErrInvalidQuery, len(stmts))
	}
	root, _ := stmts[0].(map[string]any)
	if root == nil {
		return nil, fmt.Errorf("%w: empty statement", ErrInvalidQuery)
	}
	return root, nil
}

// scope is the chain of names a table reference can bind to at one point
// of the tree: visible CTE names, innermost first. defining holds the
// names of CTEs whose bodies enclose the point but are not visible there
// (DuckDB binds such a name to the table, not to the CTE being defined);
// a reference under one of those names is not pruned, to stay clear of
// any doubt about which relation it is.
type scope struct {
	ctes     map[string]bool
	defining map[string]bool
	parent   *scope
}

func (s *scope) cte(name string) bool {
	for ; s != nil; s = s.parent {
		if s.ctes[name] {
			return true
		}
	}
	return false
}

func (s *scope) shadowed(name string) bool {
	for ; s != nil; s = s.parent {
		if s.ctes[name] || s.defining[name] {
			return true
		}
	}
	return false
}

func (s *scope) with(names, defining map[string]bool) *scope {
	return &scope{ctes: names, defining: defining, parent: s}
}

type analyser struct {
	sql    string
	exists func(string) bool
	a      *Analysis
	seen   map[string]bool
	err    error
}

// analyse checks a parsed statement against MinIODB's rules and finds its
// table references and their prunable predicates. sqlText is the statement
// the tree was parsed from; exists reports whether a table exists.
//
// Names are resolved by scope, the way DuckDB binds them: a CTE is visible
// in the query node that declares it (its select list, FROM, WHERE,
// subqueries) and in the bodies of the CTEs declared after it in the same
// WITH, not in its own body (there the name is the table) unless it is the
// recursive part of a recursive CTE. A name that is neither a visible CTE
// nor a MinIODB table is refused, so DuckDB's own catalog (pg_settings,
// duckdb_views, the hot-row schema) is never reachable from user SQL.
func analyse(sqlText string, root map[string]any, exists func(string) bool) (*Analysis, error) {
	an := &analyser{sql: sqlText, exists: exists, a: &Analysis{Root: root}, seen: map[string]bool{}}
	an.visit(root, nil)
	if an.err != nil {
		return nil, an.err
	}
	// In text order, so a statement's views get the same names each time
	// (a connection reuses views whose definitions did not change).
	slices.SortStableFunc(an.a.Refs, func(x, y TableRef) int { return x.Start - y.Start })
	an.a.Tables = an.a.Tables[:0]
	seen := map[string]bool{}
	for _, r := range an.a.Refs {
		if !seen[r.Table] {
			seen[r.Table] = true
			an.a.Tables = append(an.a.Tables, r.Table)
		}
	}
	return an.a, nil
}

func (an *analyser) fail(err error) {
	if an.err == nil {
		an.err = err
	}
}

// visit walks any value of the tree under scope sc.
func (an *analyser) visit(v any, sc *scope) {
	if an.err != nil {
		return
	}
	switch x := v.(type) {
	case []any:
		for _, c := range x {
			an.visit(c, sc)
		}
	case map[string]any:
		an.visitObject(x, sc)
	}
}

// fields returns an object's keys in order, so the walk (and the first
// error it reports) is the same every time.
func fields(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

func (an *analyser) visitObject(m map[string]any, sc *scope) {
	if cm, ok := m["cte_map"].(map[string]any); ok {
		an.queryNode(m, cm, sc)
		return
	}
	switch m["type"] {
	case "BASE_TABLE":
		an.baseTable(m, sc, nil)
		return
	case "SHOW_REF":
		if name, _ := m["table_name"].(string); name != "" || m["query"] == nil {
			an.fail(fmt.Errorf("%w: SHOW of DuckDB's catalog is not available; list MinIODB tables with ListTables (miniodb tables) and describe one with DESCRIBE <table>", ErrInvalidQuery))
			return
		}
	case "TABLE_FUNCTION":
		fn, _ := m["function"].(map[string]any)
		name, _ := fn["function_name"].(string)
		if !allowedTableFunctions[strings.ToLower(name)] {
			an.fail(fmt.Errorf("%w: table function %s() is not allowed: MinIODB queries read only MinIODB tables", ErrInvalidQuery, name))
			return
		}
	}
	if m["class"] == "FUNCTION" {
		name, _ := m["function_name"].(string)
		schema, _ := m["schema"].(string)
		catalog, _ := m["catalog"].(string)
		lower := strings.ToLower(name)
		switch {
		case catalog != "" || (schema != "" && !strings.EqualFold(schema, "main")):
			// DuckDB itself writes some sugar as main.f (a list literal
			// is main.list_value); other schemas are refused.
			an.fail(fmt.Errorf("%w: qualified function name %s: call functions without a schema", ErrInvalidQuery, strings.Trim(catalog+"."+schema+"."+name, ".")))
			return
		case deniedFunctions[lower] || hasAnyPrefix(lower, deniedFunctionPrefixes):
			an.fail(fmt.Errorf("%w: function %s() is not available in MinIODB queries: it exposes the server's internals", ErrInvalidQuery, name))
			return
		}
	}
	for _, k := range fields(m) {
		an.visit(m[k], sc)
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// queryNode visits a query node (SELECT, set operation, recursive CTE)
// that declares the CTEs in cm.
func (an *analyser) queryNode(m, cm map[string]any, sc *scope) {
	entries, _ := cm["map"].([]any)
	inner := sc
	if len(entries) > 0 {
		declared := map[string]bool{}
		all := map[string]bool{}
		for _, e := range entries {
			if em, ok := e.(map[string]any); ok {
				if k, ok := em["key"].(string); ok {
					all[strings.ToLower(k)] = true
				}
			}
		}
		for _, e := range entries {
			em, _ := e.(map[string]any)
			if em == nil {
				continue
			}
			k, _ := em["key"].(string)
			if strings.HasPrefix(strings.ToLower(k), "__miniodb") {
				an.fail(fmt.Errorf("%w: CTE name %q: names starting with __miniodb are reserved", ErrInvalidQuery, k))
				return
			}
			visible := map[string]bool{}
			for n := range declared {
				visible[n] = true
			}
			// The body sees the CTEs declared before it; the names of the
			// others (its own included) are not visible there.
			notYet := map[string]bool{}
			for n := range all {
				if !visible[n] {
					notYet[n] = true
				}
			}
			an.visit(em["value"], sc.with(visible, notYet))
			declared[strings.ToLower(k)] = true
		}
		inner = sc.with(declared, nil)
	}
	switch m["type"] {
	case "RECURSIVE_CTE_NODE":
		// The CTE's own name binds to itself in the recursive part only.
		name, _ := m["cte_name"].(string)
		an.visit(m["left"], inner.with(nil, map[string]bool{strings.ToLower(name): true}))
		an.visit(m["right"], inner.with(map[string]bool{strings.ToLower(name): true}, nil))
		for _, k := range fields(m) {
			if k != "left" && k != "right" && k != "cte_map" {
				an.visit(m[k], inner)
			}
		}
		return
	case "SELECT_NODE":
		if from, ok := m["from_table"].(map[string]any); ok && from["type"] == "BASE_TABLE" {
			where, _ := m["where_clause"].(map[string]any)
			an.baseTable(from, inner, where)
			for _, k := range fields(m) {
				if k != "from_table" && k != "cte_map" {
					an.visit(m[k], inner)
				}
			}
			return
		}
	}
	for _, k := range fields(m) {
		if k != "cte_map" {
			an.visit(m[k], inner)
		}
	}
}

// baseTable resolves a BASE_TABLE reference. where is the WHERE clause of
// the SELECT whose only FROM item it is, or nil.
func (an *analyser) baseTable(m map[string]any, sc *scope, where map[string]any) {
	name, _ := m["table_name"].(string)
	schema, _ := m["schema_name"].(string)
	catalog, _ := m["catalog_name"].(string)
	if schema != "" || catalog != "" {
		an.fail(fmt.Errorf("%w: qualified table name %q: MinIODB tables have no schema or catalog prefix",
			ErrInvalidQuery, strings.Trim(catalog+"."+schema+"."+name, ".")))
		return
	}
	if m["at_clause"] != nil {
		// AT (VERSION => …) is for DuckDB's versioned tables; its
		// expression is not walked here, so nothing in it may run.
		an.fail(fmt.Errorf("%w: AT clauses are not supported: MinIODB tables have no versions", ErrInvalidQuery))
		return
	}
	lower := strings.ToLower(name)
	if sc.cte(lower) {
		return
	}
	if !an.exists(lower) {
		an.fail(fmt.Errorf("%w: %q", ErrTableNotFound, name))
		return
	}
	if !an.seen[lower] {
		an.seen[lower] = true
		an.a.Tables = append(an.a.Tables, lower)
	}
	ref := TableRef{Table: lower, Start: -1, End: -1}
	ref.Alias, _ = m["alias"].(string)
	if loc, ok := location(m["query_location"]); ok {
		if end, ok := identToken(an.sql, loc, name); ok {
			ref.Start, ref.End = loc, end
		}
	}
	aliases, _ := m["column_name_alias"].([]any)
	// Pruning needs to know that every column the predicates name is this
	// reference's: no column aliases, no sample (pruning would change which
	// rows it draws), no CTE of the same name anywhere in scope.
	if where != nil && len(aliases) == 0 && m["sample"] == nil && !sc.shadowed(lower) {
		binding := ref.Alias
		if binding == "" {
			binding = lower
		}
		ref.Predicates = conjuncts(where, binding)
		ref.where = where
	}
	an.a.Refs = append(an.a.Refs, ref)
}

// location reads a query_location; DuckDB marks "none" with the largest
// uint64.
func location(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	if err != nil || i < 0 {
		return 0, false
	}
	return int(i), true
}

// identToken returns the end of the identifier token that starts at byte
// loc of sql, if that token names want (quoted or not, any case).
func identToken(sql string, loc int, want string) (int, bool) {
	if loc >= len(sql) {
		return 0, false
	}
	if sql[loc] == '"' {
		var b strings.Builder
		for i := loc + 1; i < len(sql); i++ {
			if sql[i] != '"' {
				b.WriteByte(sql[i])
				continue
			}
			if i+1 < len(sql) && sql[i+1] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			return i + 1, strings.EqualFold(b.String(), want)
		}
		return 0, false
	}
	end := loc
	for end < len(sql) {
		r, size := utf8.DecodeRuneInString(sql[end:])
		if r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		end += size
	}
	return end, end > loc && strings.EqualFold(sql[loc:end], want)
}
