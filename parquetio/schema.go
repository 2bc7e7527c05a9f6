package parquetio

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Key/value metadata written into every file's footer.
const (
	// MetaFormat holds the file format version, FormatVersion.
	MetaFormat = "miniodb.format"
	// MetaSchema holds the schema as JSON: [{"name":"ts","type":"TIMESTAMP"},...].
	MetaSchema = "miniodb.schema"
	// MetaNaN, present only when needed, lists as JSON the DOUBLE columns
	// that hold NaN: Parquet statistics leave NaN out, and ReadStats puts it
	// back as the maximum (see FileMeta).
	MetaNaN = "miniodb.nan"
	// FormatVersion is the version of the layout described in the package
	// doc. Readers reject files with a newer version.
	FormatVersion = 1
)

// TimeColumn is the column every table has and files are sorted by.
const TimeColumn = "ts"

// typeName returns the SQL name of a supported column type, used in the
// schema metadata, or "" for an unsupported one.
func typeName(t miniodbv1.ColumnType) string { return t.SQLName() }

// TypeName returns the SQL name of t ("BIGINT", "TIMESTAMP", ...), or the
// enum's string for an unsupported type.
func TypeName(t miniodbv1.ColumnType) string {
	if n := typeName(t); n != "" {
		return n
	}
	return t.String()
}

func typeFromName(name string) (miniodbv1.ColumnType, bool) {
	for t := range miniodbv1.ColumnType_name {
		if ct := miniodbv1.ColumnType(t); name != "" && typeName(ct) == name {
			return ct, true
		}
	}
	return 0, false
}

// validateSchema checks a table schema for writing.
func validateSchema(schema []*miniodbv1.Column) error {
	if len(schema) == 0 {
		return errors.New("parquetio: empty schema")
	}
	seen := make(map[string]bool, len(schema))
	hasTS := false
	for i, c := range schema {
		if c == nil || c.Name == "" {
			return fmt.Errorf("parquetio: schema column %d has no name", i)
		}
		if seen[c.Name] {
			return fmt.Errorf("parquetio: schema has column %q twice", c.Name)
		}
		seen[c.Name] = true
		if typeName(c.Type) == "" {
			return fmt.Errorf("parquetio: schema column %q has unsupported type %s", c.Name, c.Type)
		}
		if c.Name == TimeColumn {
			if c.Type != miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP {
				return fmt.Errorf("parquetio: schema column %q is %s, want TIMESTAMP", TimeColumn, TypeName(c.Type))
			}
			hasTS = true
		}
	}
	if !hasTS {
		return fmt.Errorf("parquetio: schema has no %q column", TimeColumn)
	}
	return nil
}

// leafNode returns the Parquet leaf for a column type (without the
// Optional wrapper).
func leafNode(t miniodbv1.ColumnType) parquet.Node {
	switch t {
	case miniodbv1.ColumnType_COLUMN_TYPE_BIGINT:
		return parquet.Int(64)
	case miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE:
		return parquet.Leaf(parquet.DoubleType)
	case miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR, miniodbv1.ColumnType_COLUMN_TYPE_JSON:
		return parquet.String()
	case miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN:
		return parquet.Leaf(parquet.BooleanType)
	case miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		return parquet.TimestampAdjusted(parquet.Microsecond, false)
	}
	panic(fmt.Sprintf("parquetio: leafNode of unchecked type %v", t))
}

// parquetSchema builds the file schema: one optional leaf per column, in
// schema order. parquet.Group sorts its fields by name, so the root is an
// orderedGroup instead.
// encodings, when not nil, gives each column's encoding (nil: PLAIN).
func parquetSchema(schema []*miniodbv1.Column, encodings []encoding.Encoding) *parquet.Schema {
	g := make(orderedGroup, len(schema))
	for i, c := range schema {
		n := leafNode(c.Type)
		if encodings != nil && encodings[i] != nil {
			n = parquet.Encoded(n, encodings[i])
		}
		g[i] = &orderedField{Node: parquet.Optional(n), name: c.Name}
	}
	return parquet.NewSchema("miniodb", g)
}

// orderedGroup is a parquet group node whose fields keep their order.
type orderedGroup []parquet.Field

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return parquet.NewSchema("", g).String() }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Fields() []parquet.Field     { return g }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }

type orderedField struct {
	parquet.Node
	name string
}

func (f *orderedField) Name() string { return f.name }

// Value is used only by reflection-based writers, which this package does
// not use.
func (f *orderedField) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}

type schemaJSONColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

func encodeSchemaJSON(schema []*miniodbv1.Column) string {
	cols := make([]schemaJSONColumn, len(schema))
	for i, c := range schema {
		cols[i] = schemaJSONColumn{Name: c.Name, Type: TypeName(c.Type)}
	}
	b, err := json.Marshal(cols)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return string(b)
}

func decodeSchemaJSON(s string) ([]*miniodbv1.Column, error) {
	var cols []schemaJSONColumn
	if err := json.Unmarshal([]byte(s), &cols); err != nil {
		return nil, fmt.Errorf("%s: %w", MetaSchema, err)
	}
	out := make([]*miniodbv1.Column, len(cols))
	for i, c := range cols {
		t, ok := typeFromName(c.Type)
		if !ok {
			return nil, fmt.Errorf("%s: column %q has unknown type %q", MetaSchema, c.Name, c.Type)
		}
		out[i] = &miniodbv1.Column{Name: c.Name, Type: t}
	}
	return out, nil
}

// columnTypeOfLeaf maps a Parquet leaf back to a column type, for files
// without the schema metadata. It also returns the factor that turns stored
// TIMESTAMP values into microseconds (1 for others): positive multiplies,
// negative divides.
func columnTypeOfLeaf(col *parquet.Column) (miniodbv1.ColumnType, int64, error) {
	if !col.Leaf() {
		return 0, 0, fmt.Errorf("column %q is a group; nested columns are not supported", col.Name())
	}
	if col.MaxRepetitionLevel() > 0 {
		return 0, 0, fmt.Errorf("column %q is repeated; lists are not supported", col.Name())
	}
	typ := col.Type()
	var logical format.LogicalTypeValue
	if lt := typ.LogicalType(); lt != nil {
		logical = lt.Value
	}
	converted := deprecated.ConvertedType(-1)
	if ct := typ.ConvertedType(); ct != nil {
		converted = *ct
	}
	unsupported := func() (miniodbv1.ColumnType, int64, error) {
		what := strings.ToUpper(typ.Kind().String())
		if logical != nil {
			what += " " + logical.String()
		}
		return 0, 0, fmt.Errorf("column %q: Parquet type %s is not supported", col.Name(), what)
	}
	switch typ.Kind() {
	case parquet.Int64:
		switch lt := logical.(type) {
		case nil:
			switch converted {
			case deprecated.TimestampMillis:
				return miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP, 1000, nil
			case deprecated.TimestampMicros:
				return miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP, 1, nil
			case -1, deprecated.Int64:
				return miniodbv1.ColumnType_COLUMN_TYPE_BIGINT, 1, nil
			}
		case *format.TimestampType:
			switch lt.Unit.Value.(type) {
			case *format.MilliSeconds:
				return miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP, 1000, nil
			case *format.MicroSeconds:
				return miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP, 1, nil
			case *format.NanoSeconds:
				return miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP, -1000, nil
			}
		case *format.IntType:
			if lt.IsSigned {
				return miniodbv1.ColumnType_COLUMN_TYPE_BIGINT, 1, nil
			}
		}
	case parquet.Double:
		if logical == nil {
			return miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE, 1, nil
		}
	case parquet.Boolean:
		if logical == nil {
			return miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN, 1, nil
		}
	case parquet.ByteArray:
		switch logical.(type) {
		case *format.StringType:
			return miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR, 1, nil
		case *format.JsonType:
			return miniodbv1.ColumnType_COLUMN_TYPE_JSON, 1, nil
		case nil:
			switch converted {
			case deprecated.UTF8:
				return miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR, 1, nil
			case deprecated.Json:
				return miniodbv1.ColumnType_COLUMN_TYPE_JSON, 1, nil
			}
		}
	}
	return unsupported()
}
