package ingest

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Short names for the column types, used throughout the package.
const (
	typeUnknown   = miniodbv1.ColumnType_COLUMN_TYPE_UNSPECIFIED
	typeBigint    = miniodbv1.ColumnType_COLUMN_TYPE_BIGINT
	typeDouble    = miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE
	typeVarchar   = miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR
	typeBoolean   = miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN
	typeTimestamp = miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP
	typeJSON      = miniodbv1.ColumnType_COLUMN_TYPE_JSON
)

const (
	// TimeColumn is the name of the time column every row has (TIMESTAMP).
	TimeColumn = "ts"
	// IDColumn is the name of the optional row id column (VARCHAR).
	IDColumn = "id"
	// MaxNameLen is the longest table or column name, in bytes.
	MaxNameLen = 63
	// ReservedPrefix starts names kept for MinIODB's own use; it is matched
	// case-insensitively.
	ReservedPrefix = "_miniodb"
)

// TypeName returns the SQL name of a column type: BIGINT, DOUBLE, VARCHAR,
// BOOLEAN, TIMESTAMP or JSON (the enum's name for anything else).
func TypeName(t miniodbv1.ColumnType) string {
	if n := t.SQLName(); n != "" {
		return n
	}
	return t.String()
}

// validType reports whether t is one of the six column types.
func validType(t miniodbv1.ColumnType) bool {
	return t >= typeBigint && t <= typeJSON
}

// ValidName checks a table or column name (kind is "table" or "column", used
// in the message): an identifier [A-Za-z_][A-Za-z0-9_]* of at most 63 bytes
// that does not start with "_miniodb" (in any case). The error is an
// ErrInvalid. Names are case-insensitive in SQL; uniqueness is checked where
// names meet (MergeColumns, NormalizeSchema, Parse).
func ValidName(kind, name string) error {
	return validName(kind, name)
}

// validName is ValidName for a string or a byte slice, so that Parse can
// check a field name without allocating it first.
func validName[T string | []byte](kind string, name T) error {
	// Letters are Unicode letters (温度, über), digits Unicode decimal
	// digits; combining marks may follow a letter. ASCII names take the
	// fast path without decoding.
	if len(name) == 0 {
		return invalidf("invalid %s name \"\": empty", kind)
	}
	if len(name) > MaxNameLen {
		return invalidf("invalid %s name %s: longer than %d characters", kind, quoteTrunc(string(name)), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		if c >= utf8.RuneSelf && unicodeName(string(name[i:]), i == 0) {
			break
		}
		return invalidf("invalid %s name %q: want letters, digits and _, not starting with a digit", kind, string(name))
	}
	if len(name) >= len(ReservedPrefix) && strings.EqualFold(string(name[:len(ReservedPrefix)]), ReservedPrefix) {
		return invalidf("invalid %s name %q: names starting with %s are reserved", kind, string(name), ReservedPrefix)
	}
	return nil
}

// MergeColumns merges a batch's columns into a table's schema and returns the
// new schema. It is the schema rule of MinIODB, used by Parse on the leader
// and by the Raft FSM's Apply, so it is deterministic and pure:
//
//   - a batch column the table lacks is appended, in batch order (it must be
//     a valid name of a valid type);
//   - equal types are fine; a DOUBLE batch column widens a BIGINT table
//     column to DOUBLE; a BIGINT batch column fits a DOUBLE table column;
//   - any other difference, a name that differs from the table's only by
//     case, or a name twice in the batch is a *SchemaError naming the column
//     and both types;
//   - explicit: the table's schema is fixed: a new column or a widening is a
//     *SchemaError too.
//
// It never mutates its inputs: the result is a new slice of new Columns
// (table columns are copied even when unchanged). Nil entries are errors.
func MergeColumns(table, batch []*miniodbv1.Column, explicit bool) ([]*miniodbv1.Column, error) {
	out := make([]*miniodbv1.Column, len(table), len(table)+len(batch))
	for i, c := range table {
		out[i] = &miniodbv1.Column{Name: c.GetName(), Type: c.GetType()}
	}
	// Find columns case-insensitively; a map only when the schema is wide.
	var byLower map[string]int
	if len(table)+len(batch) > 32 {
		byLower = make(map[string]int, len(table)+len(batch))
		for i, c := range out {
			byLower[strings.ToLower(c.Name)] = i
		}
	}
	find := func(name string) int {
		if byLower != nil {
			if i, ok := byLower[strings.ToLower(name)]; ok {
				return i
			}
			return -1
		}
		for i, c := range out {
			if strings.EqualFold(c.Name, name) {
				return i
			}
		}
		return -1
	}
	for bi, c := range batch {
		if c == nil {
			return nil, &SchemaError{Msg: "nil column in batch"}
		}
		name, bt := c.GetName(), c.GetType()
		if !validType(bt) {
			return nil, &SchemaError{Column: name, Batch: bt, Msg: "invalid type " + TypeName(bt) + " in batch"}
		}
		for _, prev := range batch[:bi] {
			if strings.EqualFold(prev.GetName(), name) {
				return nil, &SchemaError{Column: name, Batch: bt, Msg: "appears twice in the batch (names are case-insensitive)"}
			}
		}
		i := find(name)
		if i < 0 {
			if explicit {
				return nil, &SchemaError{Column: name, Batch: bt, Msg: "not in the table's explicit schema (batch has " + TypeName(bt) + ")"}
			}
			if err := ValidName("column", name); err != nil {
				return nil, &SchemaError{Column: name, Batch: bt, Msg: err.Error()}
			}
			out = append(out, &miniodbv1.Column{Name: name, Type: bt})
			if byLower != nil {
				byLower[strings.ToLower(name)] = len(out) - 1
			}
			continue
		}
		tc := out[i]
		if tc.Name != name {
			return nil, &SchemaError{Column: name, Table: tc.Type, Batch: bt, Msg: "conflicts with column " + strconv.Quote(tc.Name) + " (names are case-insensitive)"}
		}
		switch {
		case tc.Type == bt:
		case tc.Type == typeDouble && bt == typeBigint:
		case tc.Type == typeBigint && bt == typeDouble && !explicit:
			tc.Type = typeDouble
		case tc.Type == typeBigint && bt == typeDouble:
			return nil, &SchemaError{Column: name, Table: tc.Type, Batch: bt, Msg: "table has BIGINT, batch has DOUBLE, and the explicit schema does not widen"}
		default:
			return nil, &SchemaError{Column: name, Table: tc.Type, Batch: bt, Msg: "table has " + TypeName(tc.Type) + ", batch has " + TypeName(bt)}
		}
	}
	return out, nil
}

// NormalizeSchema checks a schema given when a table is created (an
// explicit schema) and returns it ready to store: valid names, unique
// case-insensitively, valid types, ts TIMESTAMP and id VARCHAR when present,
// and ts prepended as the first column when absent. It returns new Columns
// and never mutates its input. Errors are *SchemaError (ErrInvalid).
func NormalizeSchema(cols []*miniodbv1.Column) ([]*miniodbv1.Column, error) {
	out := make([]*miniodbv1.Column, 0, len(cols)+1)
	hasTS := false
	for i, c := range cols {
		if c == nil {
			return nil, &SchemaError{Msg: "nil column"}
		}
		name, t := c.GetName(), c.GetType()
		if err := ValidName("column", name); err != nil {
			return nil, &SchemaError{Column: name, Table: t, Msg: err.Error()}
		}
		if !validType(t) {
			return nil, &SchemaError{Column: name, Table: t, Msg: "invalid type " + TypeName(t)}
		}
		for _, prev := range cols[:i] {
			if strings.EqualFold(prev.GetName(), name) {
				return nil, &SchemaError{Column: name, Table: t, Msg: "declared twice (names are case-insensitive)"}
			}
		}
		switch {
		case strings.EqualFold(name, TimeColumn):
			if name != TimeColumn || t != typeTimestamp {
				return nil, &SchemaError{Column: name, Table: t, Msg: "the time column must be ts TIMESTAMP"}
			}
			hasTS = true
		case strings.EqualFold(name, IDColumn):
			if name != IDColumn || t != typeVarchar {
				return nil, &SchemaError{Column: name, Table: t, Msg: "the id column must be id VARCHAR"}
			}
		}
		out = append(out, &miniodbv1.Column{Name: name, Type: t})
	}
	if !hasTS {
		out = append(out, nil)
		copy(out[1:], out)
		out[0] = &miniodbv1.Column{Name: TimeColumn, Type: typeTimestamp}
	}
	return out, nil
}

// unicodeName reports whether rest, the remainder of a name from its
// first non-ASCII byte, holds only letters, digits, marks and _ (first:
// rest starts the name, so it must start with a letter or _).
func unicodeName(rest string, first bool) bool {
	if !utf8.ValidString(rest) {
		return false
	}
	for i, r := range rest {
		switch {
		case r == '_' || unicode.IsLetter(r):
		case (i > 0 || !first) && (unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)):
		default:
			return false
		}
	}
	return true
}
