package query

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/miniodb/miniodb/ingest"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
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
	OpIn        // column IN (Values…), literals all of one kind
	OpIsNull    // column IS NULL (no Value)
	OpIsNotNull // column IS NOT NULL (no Value)
)

func (o Op) String() string {
	return [...]string{"=", "<", "<=", ">", ">=", "IN", "IS NULL", "IS NOT NULL"}[o]
}

// LitKind is how a predicate's constant was written; it decides how DuckDB
// converts it for the comparison with a column.
type LitKind int

// Literal kinds.
const (
	LitString      LitKind = iota // 'text' or CAST('text' AS VARCHAR): cast to the column's type
	LitTimestamp                  // TIMESTAMP 'text'
	LitTimestampTZ                // TIMESTAMPTZ 'text' (the session time zone is UTC)
	LitDate                       // DATE 'text'
	LitInt                        // an integer literal
	LitDouble                     // a DOUBLE literal (1e3)
	LitDecimal                    // a DECIMAL literal (1.5): Dec holds it exactly
)

// Literal is a predicate's constant.
type Literal struct {
	Kind  LitKind
	Text  string   // LitString, LitTimestamp, LitTimestampTZ, LitDate
	Int   int64    // LitInt
	Float float64  // LitDouble
	Dec   *big.Rat // LitDecimal
}

func (l Literal) String() string {
	switch l.Kind {
	case LitInt:
		return strconv.FormatInt(l.Int, 10)
	case LitDouble:
		return strconv.FormatFloat(l.Float, 'g', -1, 64)
	case LitDecimal:
		return l.Dec.FloatString(10)
	case LitTimestamp:
		return "TIMESTAMP " + quoteString(l.Text)
	case LitTimestampTZ:
		return "TIMESTAMPTZ " + quoteString(l.Text)
	case LitDate:
		return "DATE " + quoteString(l.Text)
	}
	return quoteString(l.Text)
}

// Predicate is one conjunct "Column Op Value" of a WHERE clause.
type Predicate struct {
	Column string
	Op     Op
	Value  Literal
	// Values are the list of OpIn.
	Values []Literal
}

func (p Predicate) String() string {
	switch p.Op {
	case OpIsNull, OpIsNotNull:
		return fmt.Sprintf("%s %s", p.Column, p.Op)
	case OpIn:
		vals := make([]string, len(p.Values))
		for i, v := range p.Values {
			vals[i] = v.String()
		}
		return fmt.Sprintf("%s IN (%s)", p.Column, strings.Join(vals, ", "))
	}
	return fmt.Sprintf("%s %s %s", p.Column, p.Op, p.Value)
}

var compareOps = map[string]Op{
	"COMPARE_EQUAL":                OpEq,
	"COMPARE_LESSTHAN":             OpLt,
	"COMPARE_LESSTHANOREQUALTO":    OpLe,
	"COMPARE_GREATERTHAN":          OpGt,
	"COMPARE_GREATERTHANOREQUALTO": OpGe,
}

// flipOps turns "constant op column" into "column op' constant".
var flipOps = map[Op]Op{OpEq: OpEq, OpLt: OpGt, OpLe: OpGe, OpGt: OpLt, OpGe: OpLe}

// conjuncts extracts the prunable conjuncts of a WHERE clause whose FROM
// is one table reference bound under the name binding. Anything it does
// not understand (OR, functions, casts of columns, subqueries, columns
// qualified by another name) is left out, which is always safe: a missing
// predicate only prunes less.
func conjuncts(where map[string]any, binding string) []Predicate {
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
			col, okc := columnRef(input, binding)
			lo, okl := constant(lower)
			hi, oku := constant(upper)
			if okc && okl {
				preds = append(preds, Predicate{Column: col, Op: OpGe, Value: lo})
			}
			if okc && oku {
				preds = append(preds, Predicate{Column: col, Op: OpLe, Value: hi})
			}
		case "COMPARE_IN":
			// DuckDB compares the column with every value in one type,
			// the widest of all: with values of one kind that is the type
			// each comparison alone would use, so the file may match
			// when one of the equalities may.
			children, _ := e["children"].([]any)
			if len(children) < 2 {
				return
			}
			col, ok := columnRef(asMap(children[0]), binding)
			if !ok {
				return
			}
			var vals []Literal
			for _, c := range children[1:] {
				v, ok := constant(asMap(c))
				if !ok || v.Kind != vals0Kind(vals, v.Kind) {
					return
				}
				vals = append(vals, v)
			}
			preds = append(preds, Predicate{Column: col, Op: OpIn, Values: vals})
		case "OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL":
			children, _ := e["children"].([]any)
			if len(children) != 1 {
				return
			}
			if col, ok := columnRef(asMap(children[0]), binding); ok {
				op := OpIsNull
				if e["type"] == "OPERATOR_IS_NOT_NULL" {
					op = OpIsNotNull
				}
				preds = append(preds, Predicate{Column: col, Op: op})
			}
		default:
			op, ok := compareOps[asString(e["type"])]
			if !ok {
				return
			}
			left, _ := e["left"].(map[string]any)
			right, _ := e["right"].(map[string]any)
			if col, ok := columnRef(left, binding); ok {
				if v, ok := constant(right); ok {
					preds = append(preds, Predicate{Column: col, Op: op, Value: v})
				}
			} else if col, ok := columnRef(right, binding); ok {
				if v, ok := constant(left); ok {
					preds = append(preds, Predicate{Column: col, Op: flipOps[op], Value: v})
				}
			}
		}
	}
	visit(where)
	return preds
}

func asString(v any) string { s, _ := v.(string); return s }

// vals0Kind is the kind of the first literal of vals, or k when empty.
func vals0Kind(vals []Literal, k LitKind) LitKind {
	if len(vals) == 0 {
		return k
	}
	return vals[0].Kind
}

// columnRef returns the column of a reference "col" or "binding.col".
// An unqualified name may still be an outer query's column or a select
// alias; fileMayMatch ignores names that are not columns of the table,
// and DuckDB binds a name that is one to the table first.
func columnRef(e map[string]any, binding string) (string, bool) {
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
		if strings.EqualFold(q, binding) {
			return strings.ToLower(s), ok
		}
	}
	return "", false
}

// constant returns the value of a literal, or of a cast of a string
// literal to TIMESTAMP, TIMESTAMPTZ, DATE or VARCHAR (TIMESTAMP '…' parses
// as such a cast).
func constant(e map[string]any) (Literal, bool) {
	if e == nil {
		return Literal{}, false
	}
	switch e["type"] {
	case "VALUE_CONSTANT":
		val, _ := e["value"].(map[string]any)
		if val == nil || val["is_null"] == true {
			return Literal{}, false
		}
		typ, _ := val["type"].(map[string]any)
		switch asString(typ["id"]) {
		case "VARCHAR":
			s, ok := val["value"].(string)
			return Literal{Kind: LitString, Text: s}, ok
		case "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT":
			n, ok := val["value"].(json.Number)
			if !ok {
				return Literal{}, false
			}
			i, err := strconv.ParseInt(n.String(), 10, 64)
			return Literal{Kind: LitInt, Int: i}, err == nil
		case "DOUBLE":
			n, ok := val["value"].(json.Number)
			if !ok {
				return Literal{}, false
			}
			f, err := strconv.ParseFloat(n.String(), 64)
			return Literal{Kind: LitDouble, Float: f}, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
		case "DECIMAL":
			// A scaled integer (a JSON number up to width 18; wider ones
			// are hugeint objects, left alone) with the scale in type_info.
			n, ok := val["value"].(json.Number)
			info, _ := typ["type_info"].(map[string]any)
			scale, okScale := info["scale"].(json.Number)
			if !ok || !okScale {
				return Literal{}, false
			}
			r, ok := new(big.Rat).SetString(n.String())
			sc, err := scale.Int64()
			if !ok || err != nil || sc < 0 || sc > 38 {
				return Literal{}, false
			}
			r.Quo(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(sc), nil)))
			return Literal{Kind: LitDecimal, Dec: r}, true
		}
	case "OPERATOR_CAST":
		if e["try_cast"] == true {
			return Literal{}, false
		}
		child, _ := e["child"].(map[string]any)
		ct, _ := e["cast_type"].(map[string]any)
		v, ok := constant(child)
		if !ok || v.Kind != LitString {
			return Literal{}, false
		}
		switch asString(ct["id"]) {
		case "VARCHAR":
			return v, true
		case "TIMESTAMP":
			return Literal{Kind: LitTimestamp, Text: v.Text}, true
		case "TIMESTAMP WITH TIME ZONE":
			return Literal{Kind: LitTimestampTZ, Text: v.Text}, true
		case "DATE":
			return Literal{Kind: LitDate, Text: v.Text}, true
		}
	}
	return Literal{}, false
}

// fileMayMatch reports whether a file may hold a row that satisfies every
// predicate; schema maps column names to the table's (current) types. It
// errs on "true": a predicate it cannot reason about exactly as DuckDB
// would evaluate it means "may match".
// pruneFiles returns the files of view that may hold rows satisfying
// preds. A partition whose time range the ts predicates exclude is
// skipped whole, so planning reads only the catalog entries of the
// partitions a query may touch.
func pruneFiles(view raftfsm.TableView, schema map[string]v1.ColumnType, preds []Predicate) []*v1.DataFile {
	var tsPreds []Predicate
	for _, p := range preds {
		if p.Column == "ts" && schema["ts"] == v1.ColumnType_COLUMN_TYPE_TIMESTAMP && (p.Op <= OpGe || p.Op == OpIn) {
			tsPreds = append(tsPreds, p)
		}
	}
	var files []*v1.DataFile
	for _, part := range view.Partitions {
		if len(part.Files) == 0 {
			continue
		}
		if len(tsPreds) > 0 {
			if lo, hi, ok := ingest.PartitionBounds(view.Spec.Partitioning, part.Name); ok && lo < hi {
				bounds := &v1.DataFile{RowCount: 1, Stats: []*v1.ColumnStats{{Name: "ts",
					Min: &v1.Scalar{Value: &v1.Scalar_Int{Int: lo}}, Max: &v1.Scalar{Value: &v1.Scalar_Int{Int: hi - 1}}}}}
				if !fileMayMatch(bounds, schema, tsPreds) {
					continue
				}
			}
		}
		for _, f := range part.Files {
			if fileMayMatch(f, schema, preds) {
				files = append(files, f)
			}
		}
	}
	return files
}

func fileMayMatch(file *v1.DataFile, schema map[string]v1.ColumnType, preds []Predicate) bool {
	for _, p := range preds {
		t, ok := schema[p.Column]
		if !ok {
			continue // not a column of this table: an outer or alias name
		}
		var st *v1.ColumnStats
		for _, s := range file.Stats {
			if strings.EqualFold(s.Name, p.Column) {
				st = s
				break
			}
		}
		switch {
		case p.Op == OpIsNull:
			// A column the file does not have reads as NULL in all its
			// rows; otherwise the null count says.
			if st != nil && st.NullCount == 0 && file.RowCount > 0 {
				return false
			}
			continue
		case p.Op == OpIsNotNull:
			if st == nil || st.NullCount >= file.RowCount {
				return false
			}
			continue
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
		if p.Op == OpIn {
			some := false
			for _, v := range p.Values {
				if rangeMayMatch(t, st.Min, st.Max, OpEq, v) {
					some = true
					break
				}
			}
			if !some {
				return false
			}
			continue
		}
		if !rangeMayMatch(t, st.Min, st.Max, p.Op, p.Value) {
			return false
		}
	}
	return true
}

// rangeMayMatch reports whether some value v of type t in [lo, hi] may
// satisfy "v op lit" as DuckDB evaluates it. Where DuckDB's conversion of
// the literal is not certain (DECIMAL against BIGINT may compare exactly
// or as DOUBLE; a double's last bit), every candidate is tried and any
// match counts.
func rangeMayMatch(t v1.ColumnType, lo, hi *v1.Scalar, op Op, lit Literal) bool {
	switch t {
	case v1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		loI, ok1 := lo.Value.(*v1.Scalar_Int)
		hiI, ok2 := hi.Value.(*v1.Scalar_Int)
		if !ok1 || !ok2 {
			return true
		}
		var us int64
		var ok bool
		switch lit.Kind {
		case LitString, LitTimestamp:
			us, ok = parseTimestamp(lit.Text, false)
		case LitTimestampTZ:
			us, ok = parseTimestamp(lit.Text, true)
		case LitDate:
			us, ok = parseDate(lit.Text)
		}
		if !ok {
			return true
		}
		return interval(op, cmpOrdered(loI.Int, us), cmpOrdered(hiI.Int, us))
	case v1.ColumnType_COLUMN_TYPE_BIGINT:
		loI, ok1 := lo.Value.(*v1.Scalar_Int)
		hiI, ok2 := hi.Value.(*v1.Scalar_Int)
		if !ok1 || !ok2 {
			return true
		}
		switch lit.Kind {
		case LitInt:
			return interval(op, cmpOrdered(loI.Int, lit.Int), cmpOrdered(hiI.Int, lit.Int))
		case LitDouble, LitDecimal:
			// BIGINT against DOUBLE compares as DOUBLE, against DECIMAL
			// exactly or as DOUBLE depending on widths: try both. The
			// conversion to DOUBLE is monotone, so the converted bounds
			// bound the converted values.
			c, f := lit.Dec, lit.Float
			if lit.Kind == LitDouble {
				c = new(big.Rat).SetFloat64(f)
			} else {
				f, _ = c.Float64()
			}
			l, h := new(big.Rat).SetInt64(loI.Int), new(big.Rat).SetInt64(hiI.Int)
			return interval(op, l.Cmp(c), h.Cmp(c)) || doubleMayMatch(op, float64(loI.Int), float64(hiI.Int), f, lit.Kind == LitDouble)
		}
	case v1.ColumnType_COLUMN_TYPE_DOUBLE:
		l, ok1 := asDouble(lo)
		h, ok2 := asDouble(hi)
		if !ok1 || !ok2 {
			return true
		}
		switch lit.Kind {
		case LitInt:
			return doubleMayMatch(op, l, h, float64(lit.Int), lit.Int >= -1<<53 && lit.Int <= 1<<53)
		case LitDouble:
			return doubleMayMatch(op, l, h, lit.Float, true)
		case LitDecimal:
			f, _ := lit.Dec.Float64()
			return doubleMayMatch(op, l, h, f, false)
		}
	case v1.ColumnType_COLUMN_TYPE_VARCHAR:
		loS, ok1 := lo.Value.(*v1.Scalar_String_)
		hiS, ok2 := hi.Value.(*v1.Scalar_String_)
		if !ok1 || !ok2 || lit.Kind != LitString {
			return true
		}
		// DuckDB compares VARCHAR bytewise (no collation is configured).
		return interval(op, strings.Compare(loS.String_, lit.Text), strings.Compare(hiS.String_, lit.Text))
	}
	return true
}

// asDouble reads a statistic of a DOUBLE column; files written while the
// column was BIGINT hold integer statistics, which widen monotonically.
func asDouble(s *v1.Scalar) (float64, bool) {
	switch x := s.Value.(type) {
	case *v1.Scalar_Double:
		return x.Double, !math.IsNaN(x.Double)
	case *v1.Scalar_Int:
		return float64(x.Int), true
	}
	return 0, false
}

// doubleMayMatch compares a range of doubles with a constant. Unless the
// constant is exact (a DOUBLE literal: DuckDB's tree holds it in shortest
// round-trip form; a small integer), DuckDB may have rounded it one bit
// differently, so it is widened to the neighbouring doubles either side.
func doubleMayMatch(op Op, lo, hi, c float64, exact bool) bool {
	cLo, cHi := c, c
	if !exact {
		cLo, cHi = math.Nextafter(c, math.Inf(-1)), math.Nextafter(c, math.Inf(1))
	}
	return intervalRange(op, cmpOrdered(lo, cHi), cmpOrdered(hi, cLo))
}

// interval decides "some v in [lo, hi] satisfies v op c" from lo ? c and
// hi ? c.
func interval(op Op, loC, hiC int) bool { return intervalRange(op, loC, hiC) }

// intervalRange decides "some v in [lo, hi] and c in [cLo, cHi] satisfy
// v op c" from loVsCHi = lo ? cHi and hiVsCLo = hi ? cLo.
func intervalRange(op Op, loVsCHi, hiVsCLo int) bool {
	switch op {
	case OpEq:
		return loVsCHi <= 0 && hiVsCLo >= 0
	case OpLt:
		return loVsCHi < 0
	case OpLe:
		return loVsCHi <= 0
	case OpGt:
		return hiVsCLo > 0
	case OpGe:
		return hiVsCLo >= 0
	}
	return true
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

var (
	timestampRe = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?)?$`)
	zoneRe      = regexp.MustCompile(`(?:Z|[+-]\d{2}(?::?\d{2})?)$`)
	dateRe      = regexp.MustCompile(`^(\d{4})-(\d{2})-(\d{2})$`)
)

// parseTimestamp parses the literal forms of a timestamp that pruning
// reasons about, in microseconds since the epoch (UTC): YYYY-MM-DD, and
// YYYY-MM-DD[ T]HH:MM:SS with up to six fractional digits. With tz (a
// TIMESTAMPTZ literal) a trailing Z or ±HH[:MM] offset is allowed; without
// one the time is UTC, the session time zone. Anything else (other
// layouts, more digits, offsets on a plain TIMESTAMP, out-of-range fields)
// returns false, which means "do not prune": DuckDB's own parser decides.
func parseTimestamp(s string, tz bool) (int64, bool) {
	offset := 0
	if tz {
		if z := zoneRe.FindString(s); z != "" {
			s = s[:len(s)-len(z)]
			if z != "Z" {
				sign := 1
				if z[0] == '-' {
					sign = -1
				}
				digits := strings.ReplaceAll(z[1:], ":", "")
				h, _ := strconv.Atoi(digits[:2])
				m := 0
				if len(digits) == 4 {
					m, _ = strconv.Atoi(digits[2:])
				}
				if h > 15 || m > 59 {
					return 0, false
				}
				offset = sign * (h*3600 + m*60)
			}
		}
	}
	m := timestampRe.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	num := func(i int) int { n, _ := strconv.Atoi(m[i]); return n }
	year, month, day := num(1), num(2), num(3)
	hour, minute, sec, micro := 0, 0, 0, 0
	if m[4] != "" {
		hour, minute, sec = num(4), num(5), num(6)
	}
	if m[7] != "" {
		frac := m[7] + strings.Repeat("0", 6-len(m[7]))
		micro, _ = strconv.Atoi(frac)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, micro*1000, time.UTC)
	if t.Year() != year || int(t.Month()) != month || t.Day() != day || t.Hour() != hour || t.Minute() != minute || t.Second() != sec {
		return 0, false // out of range: DuckDB refuses it
	}
	return t.UnixMicro() - int64(offset)*1_000_000, true
}

// parseDate parses a DATE literal YYYY-MM-DD to its midnight (UTC) in
// microseconds: DuckDB compares a TIMESTAMP with a DATE by casting the
// DATE to the TIMESTAMP of its midnight. Other forms return false.
func parseDate(s string) (int64, bool) {
	if !dateRe.MatchString(s) {
		return 0, false
	}
	return parseTimestamp(s, false)
}
