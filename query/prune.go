package query

import (
	"math"
	"strings"
	"time"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Op is a comparison operator of a prunable predicate.
type Op int

// Comparison operators, as "column Op constant".
const (
	OpEq Op = iota
	OpLt
	OpLe
	OpGt
	OpGe
)

// Predicate is one conjunct "Column Op Value" of a WHERE clause. Value is
// the constant as DuckDB parsed it: a string, an int64 or a float64.
type Predicate struct {
	Column string
	Op     Op
	Value  any
}

var compareOps = map[string]Op{
	"COMPARE_EQUAL":                OpEq,
	"COMPARE_LESSTHAN":             OpLt,
	"COMPARE_LESSTHANOREQUALTO":    OpLe,
	"COMPARE_GREATERTHAN":          OpGt,
	"COMPARE_GREATERTHANOREQUALTO": OpGe,
}

// flip turns "constant op column" into "column op' constant".
var flipOps = map[Op]Op{OpEq: OpEq, OpLt: OpGt, OpLe: OpGe, OpGt: OpLt, OpGe: OpLe}

// topLevelPredicates extracts prunable conjuncts from the outermost
// SELECT's WHERE clause when its FROM is a single base table. Anything it
// does not understand (OR, functions, subqueries, joins) is left out, which
// is always safe: a missing predicate only prunes less.
func topLevelPredicates(root map[string]any) []Predicate {
	node, _ := root["node"].(map[string]any)
	if node == nil || node["type"] != "SELECT_NODE" {
		return nil
	}
	from, _ := node["from_table"].(map[string]any)
	if from == nil || from["type"] != "BASE_TABLE" {
		return nil
	}
	alias, _ := from["alias"].(string)
	table, _ := from["table_name"].(string)
	var preds []Predicate
	var visit func(e map[string]any)
	visit = func(e map[string]any) {
		switch e["type"] {
		case "CONJUNCTION_AND":
			children, _ := e["children"].([]any)
			for _, c := range children {
				if cm, ok := c.(map[string]any); ok {
					visit(cm)
				}
			}
		case "COMPARE_BETWEEN":
			input, _ := e["input"].(map[string]any)
			lower, _ := e["lower"].(map[string]any)
			upper, _ := e["upper"].(map[string]any)
			col, okc := columnRef(input, table, alias)
			lo, okl := constant(lower)
			hi, oku := constant(upper)
			if okc && okl {
				preds = append(preds, Predicate{Column: col, Op: OpGe, Value: lo})
			}
			if okc && oku {
				preds = append(preds, Predicate{Column: col, Op: OpLe, Value: hi})
			}
		default:
			op, ok := compareOps[asString(e["type"])]
			if !ok {
				return
			}
			left, _ := e["left"].(map[string]any)
			right, _ := e["right"].(map[string]any)
			if col, ok := columnRef(left, table, alias); ok {
				if v, ok := constant(right); ok {
					preds = append(preds, Predicate{Column: col, Op: op, Value: v})
				}
			} else if col, ok := columnRef(right, table, alias); ok {
				if v, ok := constant(left); ok {
					preds = append(preds, Predicate{Column: col, Op: flipOps[op], Value: v})
				}
			}
		}
	}
	if where, ok := node["where_clause"].(map[string]any); ok {
		visit(where)
	}
	return preds
}

func asString(v any) string { s, _ := v.(string); return s }

// columnRef returns the column of a reference like col, table.col or
// alias.col.
func columnRef(e map[string]any, table, alias string) (string, bool) {
	if e == nil || e["type"] != "COLUMN_REF" {
		return "", false
	}
	names, _ := e["column_names"].([]any)
	switch len(names) {
	case 1:
		s, ok := names[0].(string)
		return strings.ToLower(s), ok
	case 2:
		q, _ := names[0].(string)
		s, ok := names[1].(string)
		if strings.EqualFold(q, table) || (alias != "" && strings.EqualFold(q, alias)) {
			return strings.ToLower(s), ok
		}
	}
	return "", false
}

// constant returns the value of a constant, or of a cast of a constant to
// TIMESTAMP/DATE/VARCHAR (TIMESTAMP '2026-01-01' parses as such a cast).
func constant(e map[string]any) (any, bool) {
	if e == nil {
		return nil, false
	}
	switch e["type"] {
	case "VALUE_CONSTANT":
		val, _ := e["value"].(map[string]any)
		if val == nil || val["is_null"] == true {
			return nil, false
		}
		typ, _ := val["type"].(map[string]any)
		switch asString(typ["id"]) {
		case "VARCHAR":
			s, ok := val["value"].(string)
			return s, ok
		case "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT":
			f, ok := val["value"].(float64)
			if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
				return nil, false
			}
			return int64(f), true
		case "DOUBLE", "FLOAT":
			f, ok := val["value"].(float64)
			return f, ok
		case "DECIMAL":
			// Serialized as a scaled integer with the scale in type_info;
			// read it back from the text form when possible.
			info, _ := typ["type_info"].(map[string]any)
			scale, _ := info["scale"].(float64)
			raw, ok := val["value"].(float64)
			if !ok {
				return nil, false
			}
			return raw / math.Pow(10, scale), true
		}
	case "OPERATOR_CAST":
		child, _ := e["child"].(map[string]any)
		ct, _ := e["cast_type"].(map[string]any)
		v, ok := constant(child)
		s, isStr := v.(string)
		if !ok || !isStr {
			return nil, false
		}
		switch asString(ct["id"]) {
		case "TIMESTAMP", "DATE", "VARCHAR", "TIMESTAMP WITH TIME ZONE":
			return s, true
		}
	}
	return nil, false
}

// bound is a typed statistics value, comparable within one column type.
type bound struct {
	i int64
	f float64
	s string
	k int // 0 int/timestamp, 1 float, 2 string
}

func (b bound) cmp(o bound) int {
	switch b.k {
	case 0:
		return cmpOrdered(b.i, o.i)
	case 1:
		return cmpOrdered(b.f, o.f)
	default:
		return strings.Compare(b.s, o.s)
	}
}

func cmpOrdered[T int64 | float64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// predicateBound converts a predicate's constant to the column's type the
// way DuckDB would compare them. ok is false when the comparison cannot be
// reasoned about, which means "may match".
func predicateBound(t v1.ColumnType, v any) (bound, bool) {
	switch t {
	case v1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		s, ok := v.(string)
		if !ok {
			return bound{}, false
		}
		us, ok := parseTimestamp(s)
		return bound{i: us}, ok
	case v1.ColumnType_COLUMN_TYPE_BIGINT:
		switch x := v.(type) {
		case int64:
			return bound{i: x}, true
		case float64:
			// Compare as doubles: int64 stats convert exactly enough for
			// pruning only when within 2^53.
			return bound{f: x, k: 1}, math.Abs(x) < 1<<53
		}
	case v1.ColumnType_COLUMN_TYPE_DOUBLE:
		switch x := v.(type) {
		case int64:
			return bound{f: float64(x), k: 1}, true
		case float64:
			return bound{f: x, k: 1}, !math.IsNaN(x)
		}
	case v1.ColumnType_COLUMN_TYPE_VARCHAR:
		s, ok := v.(string)
		return bound{s: s, k: 2}, ok
	}
	return bound{}, false
}

// statBound converts a file statistic to a bound of the same kind as want.
func statBound(t v1.ColumnType, s *v1.Scalar, want bound) (bound, bool) {
	if s == nil {
		return bound{}, false
	}
	switch x := s.Value.(type) {
	case *v1.Scalar_Int:
		if want.k == 1 {
			return bound{f: float64(x.Int), k: 1}, math.Abs(float64(x.Int)) < 1<<53
		}
		return bound{i: x.Int}, want.k == 0
	case *v1.Scalar_Double:
		if math.IsNaN(x.Double) {
			return bound{}, false
		}
		return bound{f: x.Double, k: 1}, want.k == 1
	case *v1.Scalar_String_:
		return bound{s: x.String_, k: 2}, want.k == 2
	}
	return bound{}, false
}

// fileMayMatch reports whether a file whose statistics are stats may hold a
// row that satisfies every predicate. It errs on "true".
func fileMayMatch(file *v1.DataFile, schema map[string]v1.ColumnType, preds []Predicate) bool {
	for _, p := range preds {
		t, ok := schema[p.Column]
		if !ok {
			continue
		}
		var st *v1.ColumnStats
		for _, s := range file.Stats {
			if strings.EqualFold(s.Name, p.Column) {
				st = s
				break
			}
		}
		if st == nil {
			// The column did not exist when the file was written: all its
			// values are NULL there and no comparison is true.
			return false
		}
		if st.Min == nil || st.Max == nil {
			if st.NullCount == file.RowCount {
				return false // only NULLs: no comparison is true
			}
			continue
		}
		want, ok := predicateBound(t, p.Value)
		if !ok {
			continue
		}
		lo, ok1 := statBound(t, st.Min, want)
		hi, ok2 := statBound(t, st.Max, want)
		if !ok1 || !ok2 {
			continue
		}
		var can bool
		switch p.Op {
		case OpEq:
			can = lo.cmp(want) <= 0 && hi.cmp(want) >= 0
		case OpLt:
			can = lo.cmp(want) < 0
		case OpLe:
			can = lo.cmp(want) <= 0
		case OpGt:
			can = hi.cmp(want) > 0
		case OpGe:
			can = hi.cmp(want) >= 0
		}
		if !can {
			return false
		}
	}
	return true
}

// parseTimestamp parses the literal forms DuckDB accepts for TIMESTAMP that
// matter here; anything else returns false (no pruning).
func parseTimestamp(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	layouts := []string{
		"2006-01-02 15:04:05.999999",
		"2006-01-02T15:04:05.999999",
		"2006-01-02 15:04:05",
		"2006-01-02T15:04:05",
		"2006-01-02 15:04",
		"2006-01-02",
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t.UnixMicro(), true
		}
	}
	// A trailing Z is UTC either way; other offsets are left to DuckDB.
	if strings.HasSuffix(s, "Z") {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UnixMicro(), true
		}
	}
	return 0, false
}
