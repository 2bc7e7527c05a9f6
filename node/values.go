package node

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"google.golang.org/protobuf/types/known/structpb"
)

// maxSafeInt is the largest integer a JSON number (a double) holds exactly.
const maxSafeInt = 1 << 53

// toValue converts a DuckDB result value to a JSON value. BIGINT-like
// values beyond ±2^53 become strings (as protobuf's JSON mapping does for
// int64), TIMESTAMP becomes RFC 3339 text, NaN and infinities become
// strings, and NULL is null.
func toValue(v any, dbType string) *structpb.Value {
	switch x := v.(type) {
	case nil:
		return structpb.NewNullValue()
	case bool:
		return structpb.NewBoolValue(x)
	case string:
		return structpb.NewStringValue(x)
	case int8, int16, int32, uint8, uint16, uint32:
		return structpb.NewNumberValue(toFloat(x))
	case int64:
		if x > maxSafeInt || x < -maxSafeInt {
			return structpb.NewStringValue(fmt.Sprint(x))
		}
		return structpb.NewNumberValue(float64(x))
	case int:
		return toValue(int64(x), dbType)
	case uint64:
		if x > maxSafeInt {
			return structpb.NewStringValue(fmt.Sprint(x))
		}
		return structpb.NewNumberValue(float64(x))
	case *big.Int:
		if x.IsInt64() {
			return toValue(x.Int64(), dbType)
		}
		return structpb.NewStringValue(x.String())
	case float32:
		return toValue(float64(x), dbType)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return structpb.NewStringValue(fmt.Sprint(x))
		}
		return structpb.NewNumberValue(x)
	case duckdb.Decimal:
		return structpb.NewNumberValue(x.Float64())
	case time.Time:
		switch {
		case dbType == "DATE":
			return structpb.NewStringValue(x.Format("2006-01-02"))
		case strings.HasPrefix(dbType, "TIME") && !strings.HasPrefix(dbType, "TIMESTAMP"):
			return structpb.NewStringValue(x.Format("15:04:05.999999"))
		}
		return structpb.NewStringValue(x.UTC().Format(time.RFC3339Nano))
	case []byte:
		return structpb.NewStringValue(base64.StdEncoding.EncodeToString(x))
	case duckdb.Interval:
		return structpb.NewStringValue(fmt.Sprintf("%d months %d days %d us", x.Months, x.Days, x.Micros))
	case []any:
		vals := make([]*structpb.Value, len(x))
		for i, e := range x {
			vals[i] = toValue(e, "")
		}
		return structpb.NewListValue(&structpb.ListValue{Values: vals})
	case map[string]any:
		fields := make(map[string]*structpb.Value, len(x))
		for k, e := range x {
			fields[k] = toValue(e, "")
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: fields})
	case duckdb.UUID:
		return structpb.NewStringValue(x.String())
	}
	return structpb.NewStringValue(fmt.Sprint(v))
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int8:
		return float64(x)
	case int16:
		return float64(x)
	case int32:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case uint32:
		return float64(x)
	}
	return 0
}
