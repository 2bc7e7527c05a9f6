package query

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// hotFunction is the table function that scans one table's hot rows,
// straight from the state machine's batches: miniodb_hot('events'). User
// SQL cannot call it (table functions are refused); the views of a query
// do.
const hotFunction = "miniodb_hot"

// hotKey is the context key of the hot rows a query reads: its views,
// taken at one applied index. DuckDB hands a table function's bind the
// context of the statement being prepared, so the function finds the
// query's own views there, and a view's text stays the same from query to
// query (views are reused while their files do not change).
type hotKey struct{}

func withHot(ctx context.Context, views map[string]raftfsm.TableView) context.Context {
	return context.WithValue(ctx, hotKey{}, views)
}

// registerHot registers the hot-row table function on the database (once:
// functions are shared by all connections).
func registerHot(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("query: connection: %w", err)
	}
	defer conn.Close()
	text, err := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	if err != nil {
		return fmt.Errorf("query: hot rows function: %w", err)
	}
	f := duckdb.ParallelChunkTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{text}},
		BindArgumentsContext: func(ctx context.Context, _ map[string]any, args ...any) (duckdb.ParallelChunkTableSource, error) {
			name, _ := args[0].(string)
			views, _ := ctx.Value(hotKey{}).(map[string]raftfsm.TableView)
			v, ok := views[name]
			if !ok {
				return nil, fmt.Errorf("%s(%q): the hot rows of this table are not part of the query", hotFunction, name)
			}
			return newHotSource(v)
		},
	}
	if err := duckdb.RegisterTableUDF(conn, hotFunction, f); err != nil {
		return fmt.Errorf("query: register the hot rows function: %w", err)
	}
	return nil
}

// hotSource scans the hot batches of one view, conformed to the table's
// columns (a column a batch lacks reads as NULL; BIGINT values of a column
// the table widened to DOUBLE are converted). The batches are immutable,
// so the scan needs no lock and sees exactly the view's rows; DuckDB's
// threads claim batches in turn.
type hotSource struct {
	// columns are the table's columns in the function's order: strings
	// last, because a statement that reads no column (count(*)) still
	// makes DuckDB fill the first one, and a string costs a cgo call per
	// value where a number is a store.
	columns []*v1.Column
	infos   []duckdb.ColumnInfo
	batches []*v1.RowBatch
	rows    int64
	next    atomic.Int64 // the next batch to claim
}

func newHotSource(v raftfsm.TableView) (*hotSource, error) {
	s := &hotSource{}
	for _, c := range v.Spec.Columns {
		if storageType(c.Type) != "VARCHAR" {
			s.columns = append(s.columns, c)
		}
	}
	for _, c := range v.Spec.Columns {
		if storageType(c.Type) == "VARCHAR" {
			s.columns = append(s.columns, c)
		}
	}
	for _, c := range s.columns {
		t, err := duckdbType(c.Type)
		if err != nil {
			return nil, err
		}
		s.infos = append(s.infos, duckdb.ColumnInfo{Name: c.Name, T: t})
	}
	for _, p := range v.Partitions {
		for _, b := range p.Batches {
			s.batches = append(s.batches, b.Rows)
			s.rows += b.Rows.RowCount
		}
	}
	return s, nil
}

// duckdbType is the type a column is stored as (JSON as text, cast in the
// table's view).
func duckdbType(t v1.ColumnType) (duckdb.TypeInfo, error) {
	var dt duckdb.Type
	switch t {
	case v1.ColumnType_COLUMN_TYPE_BIGINT:
		dt = duckdb.TYPE_BIGINT
	case v1.ColumnType_COLUMN_TYPE_DOUBLE:
		dt = duckdb.TYPE_DOUBLE
	case v1.ColumnType_COLUMN_TYPE_BOOLEAN:
		dt = duckdb.TYPE_BOOLEAN
	case v1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		dt = duckdb.TYPE_TIMESTAMP
	default: // VARCHAR, JSON, and types this version does not know
		dt = duckdb.TYPE_VARCHAR
	}
	ti, err := duckdb.NewTypeInfo(dt)
	if err != nil {
		return nil, fmt.Errorf("query: hot rows type %v: %w", t, err)
	}
	return ti, nil
}

func (s *hotSource) ColumnInfos() []duckdb.ColumnInfo { return s.infos }

func (s *hotSource) Cardinality() *duckdb.CardinalityInfo {
	return &duckdb.CardinalityInfo{Cardinality: uint(s.rows), Exact: true}
}

func (s *hotSource) Init() duckdb.ParallelTableSourceInfo {
	// Zero would mean one thread; DuckDB runs at most its own threads.
	return duckdb.ParallelTableSourceInfo{MaxThreads: max(1, min(len(s.batches), runtime.NumCPU()))}
}

// hotScan is one DuckDB thread's position: a claimed batch and the next
// row of it, and which of the table's columns the statement reads.
type hotScan struct {
	batch     *v1.RowBatch
	vectors   []int // per table column: the batch's vector, or -1
	row       int
	projected []int // table columns the chunk holds (nil: not known yet)
}

func (s *hotSource) NewLocalState() any { return &hotScan{} }

// FillChunk fills one chunk with the next rows: the rest of this thread's
// batch, then further batches it claims, so that many small batches (single
// row writes) still make full chunks.
func (s *hotSource) FillChunk(state any, ch duckdb.DataChunk) error {
	sc := state.(*hotScan)
	if sc.projected == nil {
		// A column the statement does not read has no vector; asking for
		// one is the only way to tell, and costs an error, so ask once.
		sc.projected = []int{}
		for i := range s.columns {
			if _, err := ch.GetVector(i); err == nil {
				sc.projected = append(sc.projected, i)
			}
		}
	}
	capacity := duckdb.GetDataChunkCapacity()
	n := 0
	for n < capacity {
		if sc.batch == nil || sc.row >= int(sc.batch.RowCount) {
			i := s.next.Add(1) - 1
			if i >= int64(len(s.batches)) {
				break
			}
			sc.batch, sc.row = s.batches[i], 0
			sc.vectors = batchVectors(s.columns, sc.batch, sc.vectors)
		}
		k := min(capacity-n, int(sc.batch.RowCount)-sc.row)
		for _, c := range sc.projected {
			if err := s.fill(ch, c, n, sc.batch, sc.vectors[c], sc.row, k); err != nil {
				return fmt.Errorf("%s: column %s: %w", hotFunction, s.columns[c].Name, err)
			}
		}
		n += k
		sc.row += k
	}
	return ch.SetSize(n)
}

// batchVectors maps each table column to the batch's vector of that name.
func batchVectors(columns []*v1.Column, b *v1.RowBatch, idx []int) []int {
	idx = idx[:0]
	for _, c := range columns {
		j := -1
		for k, bc := range b.Columns {
			if bc.Name == c.Name {
				j = k
				break
			}
		}
		idx = append(idx, j)
	}
	return idx
}

// fill writes k rows of table column c, from row from of the batch's
// vector j, to the chunk's rows at..at+k.
func (s *hotSource) fill(ch duckdb.DataChunk, c, at int, b *v1.RowBatch, j, from, k int) error {
	if j < 0 {
		for r := range k {
			if err := duckdb.SetChunkValue[any](ch, c, at+r, nil); err != nil {
				return err
			}
		}
		return nil
	}
	v := b.Vectors[j]
	switch have, want := b.Columns[j].Type, s.columns[c].Type; have {
	case v1.ColumnType_COLUMN_TYPE_BIGINT:
		if want == v1.ColumnType_COLUMN_TYPE_DOUBLE {
			return fillVector(ch, c, at, from, k, v.Nulls, func(i int) float64 { return float64(v.Ints[i]) })
		}
		return fillVector(ch, c, at, from, k, v.Nulls, func(i int) int64 { return v.Ints[i] })
	case v1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		return fillVector(ch, c, at, from, k, v.Nulls, func(i int) time.Time { return time.UnixMicro(v.Ints[i]).UTC() })
	case v1.ColumnType_COLUMN_TYPE_DOUBLE:
		return fillVector(ch, c, at, from, k, v.Nulls, func(i int) float64 { return v.Doubles[i] })
	case v1.ColumnType_COLUMN_TYPE_BOOLEAN:
		return fillVector(ch, c, at, from, k, v.Nulls, func(i int) bool { return v.Bools[i] })
	case v1.ColumnType_COLUMN_TYPE_VARCHAR, v1.ColumnType_COLUMN_TYPE_JSON:
		return fillVector(ch, c, at, from, k, v.Nulls, func(i int) string { return v.Strings[i] })
	}
	return fmt.Errorf("batch column of type %v", b.Columns[j].Type)
}

// fillVector writes rows from..from+k of one vector (NULL where its bitmap
// says so) to the chunk's rows at..at+k of column c.
func fillVector[T any](ch duckdb.DataChunk, c, at, from, k int, nulls []byte, get func(int) T) error {
	for r := range k {
		i := from + r
		var err error
		if len(nulls) > 0 && nulls[i/8]&(1<<(i%8)) != 0 {
			err = duckdb.SetChunkValue[any](ch, c, at+r, nil)
		} else {
			err = duckdb.SetChunkValue(ch, c, at+r, get(i))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// storageType is the DuckDB type a column is stored as in files and hot
// rows; JSON is stored as text and cast in the table's view.
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
