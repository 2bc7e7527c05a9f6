package query

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// hotSchema is the DuckDB schema that holds the mirrors of the hot buffers.
// User SQL cannot name it (qualified names are refused).
const hotSchema = "miniodb_hot"

// mirrorTable is the DuckDB copy of one table's hot rows. Each row is
// appended once, when the first query (or the background sync) after its
// Apply needs it, and deleted once its partition's flush is committed.
type mirrorTable struct {
	name         string // the MinIODB table
	ident        string // quoted, schema-qualified DuckDB name
	createdIndex uint64
	generation   uint64
	hotEpoch     uint64
	columns      []*v1.Column
	lastIndex    uint64            // highest batch index appended
	flushed      map[string]uint64 // partition → flushed-upto trimmed
}

// syncMirror brings the mirror of one table to exactly the hot rows of
// view. Called with Engine.mirrorMu held, on a connection outside any
// transaction.
func (e *Engine) syncMirror(ctx context.Context, conn *sql.Conn, name string, view raftfsm.TableView) error {
	m := e.mirrors[name]
	// A delete rewrites hot batches (HotEpoch): start over, as after a
	// snapshot restore.
	if m == nil || m.createdIndex != view.CreatedIndex || m.generation != view.Generation || m.hotEpoch != view.HotEpoch ||
		!columnsEqual(m.columns, view.Spec.Columns) {
		return e.rebuildMirror(ctx, conn, name, view)
	}
	for _, p := range view.Partitions {
		if p.FlushedUpto > m.flushed[p.Name] {
			if _, err := conn.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE _part = ? AND _idx <= ?", m.ident), p.Name, p.FlushedUpto); err != nil {
				return fmt.Errorf("query: trim hot mirror of %s: %w", name, err)
			}
			m.flushed[p.Name] = p.FlushedUpto
		}
	}
	// Partitions whose rows all flushed may have vanished from the view only
	// if the table was rebuilt; views keep flushed partitions, so nothing else
	// to trim.
	return e.appendHot(ctx, conn, m, view, m.lastIndex)
}

func (e *Engine) rebuildMirror(ctx context.Context, conn *sql.Conn, name string, view raftfsm.TableView) error {
	ident := hotSchema + "." + quoteIdent("t_"+name)
	var cols []string
	cols = append(cols, "_idx UBIGINT", "_part VARCHAR")
	for _, c := range view.Spec.Columns {
		cols = append(cols, quoteIdent(c.Name)+" "+storageType(c.Type))
	}
	stmt := fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s (%s)", ident, ident, strings.Join(cols, ", "))
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("query: create hot mirror of %s: %w", name, err)
	}
	m := &mirrorTable{
		name:         name,
		ident:        ident,
		createdIndex: view.CreatedIndex,
		generation:   view.Generation,
		hotEpoch:     view.HotEpoch,
		columns:      view.Spec.Columns,
		flushed:      map[string]uint64{},
	}
	for _, p := range view.Partitions {
		m.flushed[p.Name] = p.FlushedUpto
	}
	e.mirrors[name] = m
	if err := e.appendHot(ctx, conn, m, view, 0); err != nil {
		delete(e.mirrors, name)
		return err
	}
	return nil
}

// appendHot appends the view's batches with index > after.
func (e *Engine) appendHot(ctx context.Context, conn *sql.Conn, m *mirrorTable, view raftfsm.TableView, after uint64) error {
	type item struct {
		part string
		b    raftfsm.HotBatch
	}
	var todo []item
	for _, p := range view.Partitions {
		for _, b := range p.Batches {
			if b.Index > after {
				todo = append(todo, item{p.Name, b})
			}
		}
	}
	if len(todo) == 0 {
		return nil
	}
	err := conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), hotSchema, "t_"+m.name)
		if err != nil {
			return err
		}
		row := make([]driver.Value, 2+len(m.columns))
		for _, it := range todo {
			if err := ctx.Err(); err != nil {
				app.Close()
				return err
			}
			if err := appendBatch(app, row, m.columns, it.part, it.b); err != nil {
				app.Close()
				return err
			}
		}
		return app.Close()
	})
	if err != nil {
		// The mirror may now hold part of the rows: rebuild it next time.
		delete(e.mirrors, m.name)
		return fmt.Errorf("query: load hot rows: %w", err)
	}
	for _, it := range todo {
		if it.b.Index > m.lastIndex {
			m.lastIndex = it.b.Index
		}
	}
	return nil
}

// appendBatch appends one batch's rows, conformed to the table's columns.
func appendBatch(app *duckdb.Appender, row []driver.Value, columns []*v1.Column, part string, hb raftfsm.HotBatch) error {
	b := hb.Rows
	// Map each table column to the batch's vector (or -1: all NULL).
	idx := make([]int, len(columns))
	for i, c := range columns {
		idx[i] = -1
		for j, bc := range b.Columns {
			if bc.Name == c.Name {
				idx[i] = j
				break
			}
		}
	}
	for r := 0; r < int(b.RowCount); r++ {
		row[0] = hb.Index
		row[1] = part
		for i, c := range columns {
			j := idx[i]
			if j < 0 {
				row[2+i] = nil
				continue
			}
			row[2+i] = vectorValue(b.Columns[j].Type, c.Type, b.Vectors[j], r)
		}
		if err := app.AppendRow(row...); err != nil {
			return err
		}
	}
	return nil
}

// vectorValue returns row r of a vector as a driver value of the table
// column's type (widening BIGINT to DOUBLE where the table did).
func vectorValue(have, want v1.ColumnType, v *v1.ColumnVector, r int) driver.Value {
	if len(v.Nulls) > 0 && v.Nulls[r/8]&(1<<(r%8)) != 0 {
		return nil
	}
	switch have {
	case v1.ColumnType_COLUMN_TYPE_BIGINT:
		if want == v1.ColumnType_COLUMN_TYPE_DOUBLE {
			return float64(v.Ints[r])
		}
		return v.Ints[r]
	case v1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		return time.UnixMicro(v.Ints[r]).UTC()
	case v1.ColumnType_COLUMN_TYPE_DOUBLE:
		return v.Doubles[r]
	case v1.ColumnType_COLUMN_TYPE_VARCHAR, v1.ColumnType_COLUMN_TYPE_JSON:
		return v.Strings[r]
	case v1.ColumnType_COLUMN_TYPE_BOOLEAN:
		return v.Bools[r]
	}
	return nil
}

// storageType is the DuckDB type a column is stored as in files and the
// mirror; JSON is stored as text and cast in the table's view.
func storageType(t v1.ColumnType) string {
	if t == v1.ColumnType_COLUMN_TYPE_JSON {
		return "VARCHAR"
	}
	return sqlType(t)
}

// sqlType is the DuckDB type a column has in queries (VARCHAR for a type
// this version does not know).
func sqlType(t v1.ColumnType) string {
	if n := t.SQLName(); n != "" {
		return n
	}
	return "VARCHAR"
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func quoteString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func columnsEqual(a, b []*v1.Column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Type != b[i].Type {
			return false
		}
	}
	return true
}
