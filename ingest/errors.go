package ingest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// ErrInvalid marks every error this package returns for bad client input:
// rows that do not parse or do not fit the schema, bad names, limits passed,
// schema conflicts. Test with errors.Is(err, ErrInvalid); the node maps it to
// InvalidArgument. Errors that are not marked are caller bugs (bad Options).
var ErrInvalid = errors.New("ingest: invalid input")

// RowError is a rejected request, usually about one row and one field. Its
// message is written for the client:
//
//	row 2: field "value": column is DOUBLE, got string "x"
//	row 4 (line 6): invalid JSON at byte 310: want ',' or '}' after a field, got 'x'
//	empty input: no rows
type RowError struct {
	// Row is the 1-based row number in the request; 0 when the error is not
	// about one row (empty input, bad table).
	Row int
	// Line is the 1-based NDJSON line of the row, set only when it differs
	// from Row (blank lines were skipped).
	Line int
	// Field is the field (column) name, empty when the error is about the
	// whole row.
	Field string
	// Msg says what is wrong.
	Msg string
}

func (e *RowError) Error() string {
	var b strings.Builder
	if e.Row > 0 {
		b.WriteString("row ")
		b.WriteString(strconv.Itoa(e.Row))
		if e.Line > 0 {
			b.WriteString(" (line ")
			b.WriteString(strconv.Itoa(e.Line))
			b.WriteString(")")
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(strconv.Quote(e.Field))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is reports that a RowError is an ErrInvalid.
func (e *RowError) Is(target error) bool { return target == ErrInvalid }

// SchemaError is a conflict between a batch's columns and a table's schema
// found by MergeColumns (or a bad schema given to NormalizeSchema).
type SchemaError struct {
	// Column is the column's name as the batch (or schema) spells it.
	Column string
	// Table is the column's type in the table; UNSPECIFIED when the table
	// has no such column.
	Table miniodbv1.ColumnType
	// Batch is the column's type in the batch; UNSPECIFIED when not relevant.
	Batch miniodbv1.ColumnType
	// Msg says what is wrong.
	Msg string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("column %q: %s", e.Column, e.Msg)
}

// Is reports that a SchemaError is an ErrInvalid.
func (e *SchemaError) Is(target error) bool { return target == ErrInvalid }

// invalidError is any other ErrInvalid (bad names).
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

func invalidf(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}
