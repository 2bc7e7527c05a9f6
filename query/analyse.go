package query

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// Analysis is what MinIODB needs to know about a statement.
type Analysis struct {
	// Tables are the names of base tables the statement reads (not CTEs),
	// in order of first appearance.
	Tables []string
	// Predicates are conjuncts of the top-level WHERE clause of the form
	// column op constant that apply to Tables[0] when it is the only table
	// of the outermost FROM; nil otherwise. Pruning uses them.
	Predicates []Predicate
	// Root is the parsed statement (DuckDB's json_serialize_sql tree).
	Root map[string]any
}

// parseTree parses sql with DuckDB's own parser and returns the one SELECT
// statement's tree.
func parseTree(ctx context.Context, conn *sql.Conn, query string) (map[string]any, error) {
	var text string
	// The statement goes in as a literal, not a parameter: one round trip
	// instead of prepare + execute.
	if err := conn.QueryRowContext(ctx, "SELECT json_serialize_sql("+quoteString(query)+")::VARCHAR").Scan(&text); err != nil {
		return nil, fmt.Errorf("query: parse: %w", err)
	}
	var tree map[string]any
	if err := json.Unmarshal([]byte(text), &tree); err != nil {
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

// analyse checks a parsed statement against MinIODB's rules and extracts
// its tables and prunable predicates. exists reports whether a table exists.
func analyse(root map[string]any, exists func(string) bool) (*Analysis, error) {
	a := &Analysis{Root: root}
	ctes := map[string]bool{}
	walk(root, func(m map[string]any) {
		if cm, ok := m["cte_map"].(map[string]any); ok {
			entries, _ := cm["map"].([]any)
			for _, e := range entries {
				if em, ok := e.(map[string]any); ok {
					if k, ok := em["key"].(string); ok {
						ctes[strings.ToLower(k)] = true
					}
				}
			}
		}
	})
	var firstErr error
	seen := map[string]bool{}
	walk(root, func(m map[string]any) {
		if firstErr != nil {
			return
		}
		switch m["type"] {
		case "BASE_TABLE":
			name, _ := m["table_name"].(string)
			schema, _ := m["schema_name"].(string)
			catalog, _ := m["catalog_name"].(string)
			if schema != "" || catalog != "" {
				firstErr = fmt.Errorf("%w: qualified table name %q: MinIODB tables have no schema or catalog prefix",
					ErrInvalidQuery, strings.Trim(catalog+"."+schema+"."+name, "."))
				return
			}
			lower := strings.ToLower(name)
			switch {
			case exists(lower):
				if !seen[lower] {
					seen[lower] = true
					a.Tables = append(a.Tables, lower)
				}
			case ctes[lower]:
			default:
				firstErr = fmt.Errorf("%w: %q", ErrTableNotFound, name)
			}
		case "TABLE_FUNCTION":
			fn, _ := m["function"].(map[string]any)
			name, _ := fn["function_name"].(string)
			if !allowedTableFunctions[strings.ToLower(name)] {
				firstErr = fmt.Errorf("%w: table function %s() is not allowed: MinIODB queries read only MinIODB tables", ErrInvalidQuery, name)
			}
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	a.Predicates = topLevelPredicates(root)
	return a, nil
}

// walk calls fn for every JSON object in the tree, depth first.
func walk(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(x)
		for _, c := range x {
			walk(c, fn)
		}
	case []any:
		for _, c := range x {
			walk(c, fn)
		}
	}
}
