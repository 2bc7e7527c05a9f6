package pgwire

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"google.golang.org/protobuf/types/known/structpb"
)

// pgType is how one DuckDB result type goes over the wire: its OID and
// the conversion of MinIODB's JSON form of a value (docs/results.md) to a
// Go value pgtype encodes under that OID, in text or binary.
type pgType struct {
	oid  uint32
	size int16 // the pg_type typlen: -1 for variable length
	conv func(v *structpb.Value) (any, error)
}

func typeOf(duckType string) pgType {
	t := strings.ToUpper(strings.TrimSpace(duckType))
	switch {
	case t == "BOOLEAN":
		return pgType{pgtype.BoolOID, 1, asBool}
	case t == "TINYINT", t == "SMALLINT", t == "UTINYINT":
		return pgType{pgtype.Int2OID, 2, asInt(16)}
	case t == "INTEGER", t == "USMALLINT":
		return pgType{pgtype.Int4OID, 4, asInt(32)}
	case t == "BIGINT", t == "UINTEGER":
		return pgType{pgtype.Int8OID, 8, asInt(64)}
	case t == "HUGEINT", t == "UBIGINT", t == "UHUGEINT", strings.HasPrefix(t, "DECIMAL"):
		return pgType{pgtype.NumericOID, -1, asNumeric}
	case t == "FLOAT":
		return pgType{pgtype.Float4OID, 4, asFloat(32)}
	case t == "DOUBLE":
		return pgType{pgtype.Float8OID, 8, asFloat(64)}
	case t == "DATE":
		return pgType{pgtype.DateOID, 4, asTime("2006-01-02")}
	case t == "TIMESTAMP", t == "TIMESTAMP_S", t == "TIMESTAMP_MS", t == "TIMESTAMP_NS":
		return pgType{pgtype.TimestampOID, 8, asTime(time.RFC3339Nano)}
	case t == "TIMESTAMP WITH TIME ZONE", t == "TIMESTAMPTZ":
		return pgType{pgtype.TimestamptzOID, 8, asTime(time.RFC3339Nano)}
	case t == "TIME":
		return pgType{pgtype.TimeOID, 8, asClock}
	case t == "UUID":
		return pgType{pgtype.UUIDOID, 16, asUUID}
	case t == "BLOB":
		return pgType{pgtype.ByteaOID, -1, asBytes}
	case t == "JSON", strings.HasSuffix(t, "]"), strings.HasPrefix(t, "STRUCT"), strings.HasPrefix(t, "MAP"), strings.HasPrefix(t, "UNION"):
		return pgType{pgtype.JSONOID, -1, asJSON}
	}
	return pgType{pgtype.TextOID, -1, asText}
}

func asBool(v *structpb.Value) (any, error) {
	b, ok := v.Kind.(*structpb.Value_BoolValue)
	if !ok {
		return nil, fmt.Errorf("want a boolean, got %v", v)
	}
	return b.BoolValue, nil
}

func asInt(bits int) func(*structpb.Value) (any, error) {
	return func(v *structpb.Value) (any, error) {
		var n int64
		switch k := v.Kind.(type) {
		case *structpb.Value_NumberValue:
			if k.NumberValue != math.Trunc(k.NumberValue) {
				return nil, fmt.Errorf("want an integer, got %v", k.NumberValue)
			}
			n = int64(k.NumberValue)
		case *structpb.Value_StringValue:
			var err error
			if n, err = strconv.ParseInt(k.StringValue, 10, 64); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("want an integer, got %v", v)
		}
		switch bits {
		case 16:
			return int16(n), nil
		case 32:
			return int32(n), nil
		}
		return n, nil
	}
}

func asNumeric(v *structpb.Value) (any, error) {
	var s string
	switch k := v.Kind.(type) {
	case *structpb.Value_NumberValue:
		s = strconv.FormatFloat(k.NumberValue, 'f', -1, 64)
	case *structpb.Value_StringValue:
		s = k.StringValue
	default:
		return nil, fmt.Errorf("want a number, got %v", v)
	}
	var n pgtype.Numeric
	if err := n.Scan(s); err != nil {
		return nil, err
	}
	return n, nil
}

func asFloat(bits int) func(*structpb.Value) (any, error) {
	return func(v *structpb.Value) (any, error) {
		var f float64
		switch k := v.Kind.(type) {
		case *structpb.Value_NumberValue:
			f = k.NumberValue
		case *structpb.Value_StringValue:
			switch k.StringValue {
			case "NaN":
				f = math.NaN()
			case "+Inf", "Infinity":
				f = math.Inf(1)
			case "-Inf", "-Infinity":
				f = math.Inf(-1)
			default:
				return nil, fmt.Errorf("want a number, got %q", k.StringValue)
			}
		default:
			return nil, fmt.Errorf("want a number, got %v", v)
		}
		if bits == 32 {
			return float32(f), nil
		}
		return f, nil
	}
}

func asTime(layout string) func(*structpb.Value) (any, error) {
	return func(v *structpb.Value) (any, error) {
		s, ok := v.Kind.(*structpb.Value_StringValue)
		if !ok {
			return nil, fmt.Errorf("want a time, got %v", v)
		}
		t, err := time.Parse(layout, s.StringValue)
		if err != nil {
			return nil, err
		}
		return t, nil
	}
}

func asClock(v *structpb.Value) (any, error) {
	s, ok := v.Kind.(*structpb.Value_StringValue)
	if !ok {
		return nil, fmt.Errorf("want a time of day, got %v", v)
	}
	t, err := time.Parse("15:04:05.999999999", s.StringValue)
	if err != nil {
		return nil, err
	}
	us := int64(t.Hour())*3600e6 + int64(t.Minute())*60e6 + int64(t.Second())*1e6 + int64(t.Nanosecond())/1e3
	return pgtype.Time{Microseconds: us, Valid: true}, nil
}

func asUUID(v *structpb.Value) (any, error) {
	s, ok := v.Kind.(*structpb.Value_StringValue)
	if !ok {
		return nil, fmt.Errorf("want a UUID, got %v", v)
	}
	var u pgtype.UUID
	if err := u.Scan(s.StringValue); err != nil {
		return nil, err
	}
	return u, nil
}

func asBytes(v *structpb.Value) (any, error) {
	s, ok := v.Kind.(*structpb.Value_StringValue)
	if !ok {
		return nil, fmt.Errorf("want base64 bytes, got %v", v)
	}
	return base64.StdEncoding.DecodeString(s.StringValue)
}

func asJSON(v *structpb.Value) (any, error) {
	b, err := json.Marshal(v.AsInterface())
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

func asText(v *structpb.Value) (any, error) {
	if s, ok := v.Kind.(*structpb.Value_StringValue); ok {
		return s.StringValue, nil
	}
	b, err := json.Marshal(v.AsInterface())
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
