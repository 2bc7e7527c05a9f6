package node

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"google.golang.org/protobuf/types/known/structpb"
)

// maxSafeInt is the largest integer a JSON number (a double) holds exactly.
const maxSafeInt = 1 << 53

// sqlType is a parsed DuckDB type name as the driver reports it
// (DatabaseTypeName): a base name, or a LIST/ARRAY (elem), STRUCT or
// UNION (fields), MAP (key, value).
type sqlType struct {
	name   string // upper case: "DATE", "LIST", "STRUCT", "MAP", "UNION", "DECIMAL", …
	elem   *sqlType
	key    *sqlType
	value  *sqlType
	fields map[string]*sqlType
}

// parseSQLType parses a DuckDB type name such as "DATE[]",
// `STRUCT("x" INTEGER, "y" DATE)` or "MAP(VARCHAR, INTEGER[3])". Unknown
// shapes parse to their base name, which only loses the type of nested
// values (they then take their natural JSON form).
func parseSQLType(s string) *sqlType {
	p := typeParser{s: s}
	return p.parse()
}

type typeParser struct {
	s   string
	pos int
}

func (p *typeParser) skipSpace() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

// ident reads a type word or a (possibly quoted) field name.
func (p *typeParser) ident() string {
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '"' {
		var b strings.Builder
		for p.pos++; p.pos < len(p.s); p.pos++ {
			if p.s[p.pos] == '"' {
				if p.pos+1 < len(p.s) && p.s[p.pos+1] == '"' {
					b.WriteByte('"')
					p.pos++
					continue
				}
				p.pos++
				break
			}
			b.WriteByte(p.s[p.pos])
		}
		return b.String()
	}
	start := p.pos
	for p.pos < len(p.s) && !strings.ContainsRune("(),[] ", rune(p.s[p.pos])) {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *typeParser) parse() *sqlType {
	name := strings.ToUpper(p.ident())
	// Multi-word names: TIMESTAMP WITH TIME ZONE, DOUBLE PRECISION, …
	for {
		save := p.pos
		p.skipSpace()
		if p.pos >= len(p.s) || strings.ContainsRune("(),[]", rune(p.s[p.pos])) {
			p.pos = save
			break
		}
		w := p.ident()
		if w == "" {
			p.pos = save
			break
		}
		name += " " + strings.ToUpper(w)
	}
	t := &sqlType{name: name}
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '(' {
		p.pos++
		switch name {
		case "STRUCT", "UNION":
			t.fields = map[string]*sqlType{}
			for p.pos < len(p.s) && p.s[p.pos] != ')' {
				f := p.ident()
				t.fields[f] = p.parse()
				p.skipSpace()
				if p.pos < len(p.s) && p.s[p.pos] == ',' {
					p.pos++
				}
			}
		case "MAP":
			t.key = p.parse()
			p.skipSpace()
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
			}
			t.value = p.parse()
			p.skipSpace()
		default: // DECIMAL(10,2), ENUM(…): skip the arguments
			depth := 1
			for p.pos < len(p.s) && depth > 0 {
				switch p.s[p.pos] {
				case '(':
					depth++
				case ')':
					depth--
					if depth == 0 {
						continue
					}
				}
				p.pos++
			}
		}
		if p.pos < len(p.s) && p.s[p.pos] == ')' {
			p.pos++
		}
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != '[' {
			return t
		}
		end := strings.IndexByte(p.s[p.pos:], ']')
		if end < 0 {
			return t
		}
		p.pos += end + 1
		t = &sqlType{name: "LIST", elem: t}
	}
}

// toValue converts a DuckDB result value of type t to its JSON form; the
// forms are documented in docs/results.md and are the same on every path
// (Connect JSON, gRPC, HTTP JSON/NDJSON/CSV, the CLI):
//
//   - NULL → null; BOOLEAN → true/false; VARCHAR, ENUM, BIT → string
//   - integers → number, or a decimal string beyond ±2^53 (as protobuf's
//     JSON mapping does for int64); HUGEINT, UHUGEINT likewise
//   - DOUBLE, FLOAT → number; NaN and ±Infinity → "NaN", "+Inf", "-Inf"
//   - DECIMAL → number when the double reads back as the same digits,
//     otherwise the exact decimal text as a string
//   - DATE → "2006-01-02"; TIME → "15:04:05.999999"; TIMETZ adds the offset
//   - TIMESTAMP, TIMESTAMPTZ → RFC 3339 in UTC, "2006-01-02T15:04:05.999999Z"
//   - INTERVAL → DuckDB's text form, "1 year 2 months 3 days 04:05:06.5"
//   - UUID → "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; BLOB → base64
//   - LIST, ARRAY → array; STRUCT → object; JSON → the JSON value itself
//   - MAP → array of {"key": k, "value": v} in the map's order (keys of any
//     type, order kept); UNION → the value of its member
func toValue(v any, t *sqlType) *structpb.Value {
	if t == nil {
		t = &sqlType{}
	}
	switch x := v.(type) {
	case nil:
		return structpb.NewNullValue()
	case bool:
		return structpb.NewBoolValue(x)
	case string:
		return structpb.NewStringValue(x)
	case int8:
		return structpb.NewNumberValue(float64(x))
	case int16:
		return structpb.NewNumberValue(float64(x))
	case int32:
		return structpb.NewNumberValue(float64(x))
	case uint8:
		return structpb.NewNumberValue(float64(x))
	case uint16:
		return structpb.NewNumberValue(float64(x))
	case uint32:
		return structpb.NewNumberValue(float64(x))
	case int64:
		if x > maxSafeInt || x < -maxSafeInt {
			return structpb.NewStringValue(strconv.FormatInt(x, 10))
		}
		return structpb.NewNumberValue(float64(x))
	case int:
		return toValue(int64(x), t)
	case uint64:
		if x > maxSafeInt {
			return structpb.NewStringValue(strconv.FormatUint(x, 10))
		}
		return structpb.NewNumberValue(float64(x))
	case *big.Int:
		if x.IsInt64() {
			return toValue(x.Int64(), t)
		}
		return structpb.NewStringValue(x.String())
	case float32:
		return toValue(float64(x), t)
	case float64:
		switch {
		case math.IsNaN(x):
			return structpb.NewStringValue("NaN")
		case math.IsInf(x, 1):
			return structpb.NewStringValue("+Inf")
		case math.IsInf(x, -1):
			return structpb.NewStringValue("-Inf")
		}
		return structpb.NewNumberValue(x)
	case duckdb.Decimal:
		text := x.String()
		if f, err := strconv.ParseFloat(text, 64); err == nil && strconv.FormatFloat(f, 'f', -1, 64) == text {
			return structpb.NewNumberValue(f)
		}
		return structpb.NewStringValue(text)
	case time.Time:
		switch t.name {
		case "DATE":
			return structpb.NewStringValue(x.Format("2006-01-02"))
		case "TIME":
			return structpb.NewStringValue(x.Format("15:04:05.999999"))
		case "TIMETZ", "TIME WITH TIME ZONE":
			return structpb.NewStringValue(x.Format("15:04:05.999999-07:00"))
		}
		return structpb.NewStringValue(x.UTC().Format(time.RFC3339Nano))
	case []byte:
		if t.name == "UUID" && len(x) == 16 {
			var u duckdb.UUID
			copy(u[:], x)
			return structpb.NewStringValue(u.String())
		}
		return structpb.NewStringValue(base64.StdEncoding.EncodeToString(x))
	case duckdb.UUID:
		return structpb.NewStringValue(x.String())
	case duckdb.Interval:
		return structpb.NewStringValue(intervalText(x))
	case []any:
		vals := make([]*structpb.Value, len(x))
		for i, e := range x {
			vals[i] = toValue(e, t.elem)
		}
		return structpb.NewListValue(&structpb.ListValue{Values: vals})
	case map[string]any:
		fields := make(map[string]*structpb.Value, len(x))
		for k, e := range x {
			fields[k] = toValue(e, t.fields[k])
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields})
	case duckdb.OrderedMap:
		keys, vals := x.Keys(), x.Values()
		pairs := make([]*structpb.Value, len(keys))
		for i := range keys {
			pairs[i] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
				"key": toValue(keys[i], t.key), "value": toValue(vals[i], t.value),
			}})
		}
		return structpb.NewListValue(&structpb.ListValue{Values: pairs})
	case duckdb.Union:
		return toValue(x.Value, t.fields[x.Tag])
	case duckdb.Bit:
		return structpb.NewStringValue(x.String())
	}
	// A type this version does not know: its text, never a Go debug form
	// of a known container.
	return structpb.NewStringValue(fmt.Sprint(v))
}

// intervalText formats an interval as DuckDB casts it to VARCHAR:
// "1 year 2 months 3 days 04:05:06.5", "-1 day -02:00:00", "00:00:00".
func intervalText(iv duckdb.Interval) string {
	var parts []string
	unit := func(n int64, one string) {
		if n == 0 {
			return
		}
		s := strconv.FormatInt(n, 10) + " " + one
		if n != 1 && n != -1 {
			s += "s"
		}
		parts = append(parts, s)
	}
	unit(int64(iv.Months/12), "year")
	unit(int64(iv.Months%12), "month")
	unit(int64(iv.Days), "day")
	if iv.Micros != 0 || len(parts) == 0 {
		us := iv.Micros
		sign := ""
		if us < 0 {
			sign = "-"
			us = -us
		}
		h, m, s, frac := us/3_600_000_000, us/60_000_000%60, us/1_000_000%60, us%1_000_000
		text := fmt.Sprintf("%s%02d:%02d:%02d", sign, h, m, s)
		if frac != 0 {
			text += strings.TrimRight("."+fmt.Sprintf("%06d", frac), "0")
		}
		parts = append(parts, text)
	}
	return strings.Join(parts, " ")
}
