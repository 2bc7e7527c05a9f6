package query

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/miniodb/miniodb/objstore"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// views is a Catalog of fixed views.
type views map[string]raftfsm.TableView

func (v views) Views(names []string) map[string]raftfsm.TableView {
	out := map[string]raftfsm.TableView{}
	for _, n := range names {
		if t, ok := v[n]; ok {
			out[n] = t
		}
	}
	return out
}
func (v views) Exists(name string) bool { _, ok := v[name]; return ok }
func (v views) TableNames() []string {
	var out []string
	for n := range v {
		out = append(out, n)
	}
	return out
}

func col(name string, t v1.ColumnType) *v1.Column { return &v1.Column{Name: name, Type: t} }

const (
	tBigint  = v1.ColumnType_COLUMN_TYPE_BIGINT
	tDouble  = v1.ColumnType_COLUMN_TYPE_DOUBLE
	tVarchar = v1.ColumnType_COLUMN_TYPE_VARCHAR
	tBool    = v1.ColumnType_COLUMN_TYPE_BOOLEAN
	tTS      = v1.ColumnType_COLUMN_TYPE_TIMESTAMP
	tJSON    = v1.ColumnType_COLUMN_TYPE_JSON
)

func openWith(t testing.TB, cat Catalog) *Engine {
	t.Helper()
	store, err := objstore.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(context.Background(), Config{Dir: t.TempDir(), Store: store, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func queryText(t testing.TB, e *Engine, sql string) string {
	t.Helper()
	rows, _, err := e.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, vals...)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestHotRowsScan: hot rows reach queries straight from the batches,
// conformed to the table's columns: a column a batch predates is NULL, a
// BIGINT batch of a column the table widened to DOUBLE reads as DOUBLE,
// NULL bitmaps hold, JSON is cast, and many one-row batches fill chunks.
func TestHotRowsScan(t *testing.T) {
	spec := &v1.TableSpec{Name: "t", Columns: []*v1.Column{
		col("ts", tTS), col("n", tDouble), col("s", tVarchar), col("b", tBool), col("j", tJSON),
	}}
	old := &v1.RowBatch{RowCount: 2, Columns: []*v1.Column{col("ts", tTS), col("n", tBigint)}, Vectors: []*v1.ColumnVector{
		{Ints: []int64{1_000_000, 2_000_000}}, {Ints: []int64{7, 0}, Nulls: []byte{0b10}},
	}}
	full := &v1.RowBatch{RowCount: 1, Columns: spec.Columns, Vectors: []*v1.ColumnVector{
		{Ints: []int64{3_000_000}}, {Doubles: []float64{1.5}}, {Strings: []string{"a string longer than twelve"}}, {Bools: []bool{true}}, {Strings: []string{`{"k": 1}`}},
	}}
	var batches []raftfsm.HotBatch
	batches = append(batches, raftfsm.HotBatch{Index: 1, Rows: old}, raftfsm.HotBatch{Index: 2, Rows: full})
	// 5,000 one-row batches: more than two chunks' worth.
	for i := range 5000 {
		batches = append(batches, raftfsm.HotBatch{Index: uint64(3 + i), Rows: &v1.RowBatch{RowCount: 1, Columns: []*v1.Column{col("ts", tTS), col("s", tVarchar)}, Vectors: []*v1.ColumnVector{
			{Ints: []int64{int64(10_000_000 + i)}}, {Strings: []string{fmt.Sprint("r", i%3)}},
		}}})
	}
	var rows int64
	for _, b := range batches {
		rows += b.Rows.RowCount
	}
	e := openWith(t, views{"t": {Spec: spec, Partitions: []raftfsm.PartitionView{{Name: "p", Batches: batches, Rows: rows}}}})
	for _, tc := range []struct{ sql, want string }{
		{"SELECT ts, n, s, b, j->>'k' FROM t WHERE ts < TIMESTAMP '1970-01-01 00:00:04' ORDER BY ts",
			"1970-01-01 00:00:01 +0000 UTC 7 <nil> <nil> <nil>\n" +
				"1970-01-01 00:00:02 +0000 UTC <nil> <nil> <nil> <nil>\n" +
				"1970-01-01 00:00:03 +0000 UTC 1.5 a string longer than twelve true 1\n"},
		{"SELECT typeof(n), typeof(j) FROM t LIMIT 1", "DOUBLE JSON\n"},
		{"SELECT s, count(*), min(ts) FROM t WHERE s LIKE 'r%' GROUP BY s ORDER BY s",
			"r0 1667 1970-01-01 00:00:10 +0000 UTC\nr1 1667 1970-01-01 00:00:10.000001 +0000 UTC\nr2 1666 1970-01-01 00:00:10.000002 +0000 UTC\n"},
		{"SELECT count(*), count(n), count(s), count(b) FROM t", "5003 2 5001 1\n"},
	} {
		if got := queryText(t, e, tc.sql); got != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.sql, got, tc.want)
		}
	}
}

// BenchmarkHotRows scans 2 M hot rows of the standard workload's shape in
// batches of 5,000.
func BenchmarkHotRows(b *testing.B) {
	spec := &v1.TableSpec{Name: "events", Columns: []*v1.Column{
		col("id", tVarchar), col("ts", tTS), col("value", tDouble), col("region", tVarchar), col("host", tVarchar), col("status", tBigint),
	}}
	var batches []raftfsm.HotBatch
	for k := range 400 {
		var id, region, host []string
		var ts, status []int64
		var value []float64
		for i := range 5000 {
			j := k*5000 + i
			id = append(id, fmt.Sprintf("%016x", j*7919))
			ts = append(ts, int64(j)*1000)
			value = append(value, float64(j%1000))
			region = append(region, []string{"eu-west", "us-east", "ap-south"}[j%3])
			host = append(host, fmt.Sprintf("host-%d", j%100))
			status = append(status, int64(j%5))
		}
		batches = append(batches, raftfsm.HotBatch{Index: uint64(k + 1), Rows: &v1.RowBatch{RowCount: 5000, Columns: spec.Columns, Vectors: []*v1.ColumnVector{
			{Strings: id}, {Ints: ts}, {Doubles: value}, {Strings: region}, {Strings: host}, {Ints: status},
		}}})
	}
	e := openWith(b, views{"events": {Spec: spec, Partitions: []raftfsm.PartitionView{{Name: "p", Batches: batches, Rows: 2_000_000}}}})
	for _, q := range []struct{ name, sql string }{
		{"count", "SELECT count(*) FROM events"},
		{"group-by", "SELECT region, count(*), avg(value), max(status) FROM events GROUP BY region ORDER BY region"},
		{"id", "SELECT count(*) FROM events WHERE id = '0000000000001ef7'"},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				queryText(b, e, q.sql)
			}
		})
	}
}
