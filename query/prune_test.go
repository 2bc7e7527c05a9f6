package query

import (
	"math"
	"slices"
	"testing"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// TestPruneSkipsPartitions checks that a partition the ts predicates
// exclude is skipped whole, by its name's time range alone: its files'
// statistics here span all time, so only the partition can exclude them.
func TestPruneSkipsPartitions(t *testing.T) {
	all := func(name string) *v1.ColumnStats {
		return &v1.ColumnStats{Name: name, Min: &v1.Scalar{Value: &v1.Scalar_Int{Int: math.MinInt64}}, Max: &v1.Scalar{Value: &v1.Scalar_Int{Int: math.MaxInt64}}}
	}
	file := func(key, part string) *v1.DataFile {
		return &v1.DataFile{Key: key, Partition: part, RowCount: 10, Stats: []*v1.ColumnStats{all("ts"), all("n")}}
	}
	view := raftfsm.TableView{
		Spec: &v1.TableSpec{Name: "t", Partitioning: v1.Partitioning_PARTITIONING_DAY},
		Partitions: []raftfsm.PartitionView{
			{Name: "2026-01-01", Files: []*v1.DataFile{file("a1", "2026-01-01"), file("a2", "2026-01-01")}},
			{Name: "2026-01-02", Files: []*v1.DataFile{file("b1", "2026-01-02")}},
			{Name: "2026-01-03", Files: []*v1.DataFile{file("c1", "2026-01-03")}},
		},
	}
	schema := map[string]v1.ColumnType{"ts": v1.ColumnType_COLUMN_TYPE_TIMESTAMP, "n": v1.ColumnType_COLUMN_TYPE_BIGINT}
	ts := func(op Op, s string) Predicate {
		return Predicate{Column: "ts", Op: op, Value: Literal{Kind: LitTimestamp, Text: s}}
	}
	for _, tc := range []struct {
		name  string
		preds []Predicate
		want  []string
	}{
		{"one day", []Predicate{ts(OpGe, "2026-01-02 00:00:00"), ts(OpLt, "2026-01-03 00:00:00")}, []string{"b1"}},
		{"the last microsecond of a day", []Predicate{ts(OpEq, "2026-01-01 23:59:59.999999")}, []string{"a1", "a2"}},
		{"from midnight", []Predicate{ts(OpGe, "2026-01-03 00:00:00")}, []string{"c1"}},
		{"before any", []Predicate{ts(OpLt, "2025-12-31 00:00:00")}, nil},
		{"no ts predicate", []Predicate{{Column: "n", Op: OpEq, Value: Literal{Kind: LitInt, Int: 1}}}, []string{"a1", "a2", "b1", "c1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range pruneFiles(view, schema, tc.preds) {
				got = append(got, f.Key)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
