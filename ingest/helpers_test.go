package ingest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Short names for tests.
const (
	BIGINT    = miniodbv1.ColumnType_COLUMN_TYPE_BIGINT
	DOUBLE    = miniodbv1.ColumnType_COLUMN_TYPE_DOUBLE
	VARCHAR   = miniodbv1.ColumnType_COLUMN_TYPE_VARCHAR
	BOOLEAN   = miniodbv1.ColumnType_COLUMN_TYPE_BOOLEAN
	TIMESTAMP = miniodbv1.ColumnType_COLUMN_TYPE_TIMESTAMP
	JSON      = miniodbv1.ColumnType_COLUMN_TYPE_JSON

	pNone  = miniodbv1.Partitioning_PARTITIONING_NONE
	pHour  = miniodbv1.Partitioning_PARTITIONING_HOUR
	pDay   = miniodbv1.Partitioning_PARTITIONING_DAY
	pMonth = miniodbv1.Partitioning_PARTITIONING_MONTH
)

// testNow is the server time of test requests; its nanoseconds show that
// now is truncated to microseconds.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)

// cols builds a schema from "name TYPE" pairs.
func cols(spec ...string) []*miniodbv1.Column {
	var out []*miniodbv1.Column
	for _, s := range spec {
		name, typ, _ := strings.Cut(s, " ")
		t, ok := miniodbv1.ColumnType_value["COLUMN_TYPE_"+typ]
		if !ok {
			panic("bad type in " + s)
		}
		out = append(out, &miniodbv1.Column{Name: name, Type: miniodbv1.ColumnType(t)})
	}
	return out
}

// schemaString renders columns as "ts TIMESTAMP, id VARCHAR".
func schemaString(cs []*miniodbv1.Column) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.GetName()+" "+TypeName(c.GetType()))
	}
	return strings.Join(parts, ", ")
}

func isNull(v *miniodbv1.ColumnVector, i int) bool {
	return i>>3 < len(v.Nulls) && v.Nulls[i>>3]&(1<<(i&7)) != 0
}

// cell renders row i of a vector: NULL, 42, 1.5, "text" (VARCHAR),
// {"a":1} (JSON as is), 2026-01-01T00:00:00Z (TIMESTAMP), true.
func cell(t miniodbv1.ColumnType, v *miniodbv1.ColumnVector, i int) string {
	if isNull(v, i) {
		return "NULL"
	}
	switch t {
	case BIGINT:
		return strconv.FormatInt(v.Ints[i], 10)
	case TIMESTAMP:
		return time.UnixMicro(v.Ints[i]).UTC().Format(time.RFC3339Nano)
	case DOUBLE:
		return strconv.FormatFloat(v.Doubles[i], 'g', -1, 64)
	case VARCHAR:
		return strconv.Quote(v.Strings[i])
	case JSON:
		return v.Strings[i]
	case BOOLEAN:
		return strconv.FormatBool(v.Bools[i])
	}
	return "?"
}

// render shows a Result for exact comparison:
//
//	schema: ts TIMESTAMP, x BIGINT
//	[2026-01-01] ts TIMESTAMP, x BIGINT
//	2026-01-01T00:00:00Z | 1
func render(res *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "schema: %s\n", schemaString(res.Columns))
	for _, pb := range res.Batches {
		fmt.Fprintf(&b, "[%s] %s\n", pb.Partition, schemaString(pb.Rows.Columns))
		for i := 0; i < int(pb.Rows.RowCount); i++ {
			var cells []string
			for ci, c := range pb.Rows.Columns {
				cells = append(cells, cell(c.Type, pb.Rows.Vectors[ci], i))
			}
			b.WriteString(strings.Join(cells, " | "))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// checkResult asserts the invariants every Result has.
func checkResult(t testing.TB, tbl Table, res *Result) {
	t.Helper()
	if err := resultProblem(tbl, res); err != "" {
		t.Fatalf("bad result: %s\n%s", err, render(res))
	}
}

func resultProblem(tbl Table, res *Result) string {
	if len(res.Batches) == 0 {
		return "no batches"
	}
	rows := 0
	var bytes int64
	var first []*miniodbv1.Column
	for bi, pb := range res.Batches {
		rb := pb.Rows
		n := int(rb.RowCount)
		if n <= 0 {
			return fmt.Sprintf("batch %d: row count %d", bi, n)
		}
		rows += n
		bytes += BatchBytes(rb)
		if bi > 0 {
			if pb.Partition <= res.Batches[bi-1].Partition {
				return "partitions not ascending"
			}
			if schemaString(rb.Columns) != schemaString(first) {
				return "batches have different columns"
			}
		} else {
			first = rb.Columns
		}
		if len(rb.Columns) != len(rb.Vectors) {
			return "columns and vectors differ in number"
		}
		tsSeen := false
		for ci, c := range rb.Columns {
			v := rb.Vectors[ci]
			lens := map[string]int{"ints": len(v.Ints), "doubles": len(v.Doubles), "strings": len(v.Strings), "bools": len(v.Bools)}
			want := map[miniodbv1.ColumnType]string{BIGINT: "ints", TIMESTAMP: "ints", DOUBLE: "doubles", VARCHAR: "strings", JSON: "strings", BOOLEAN: "bools"}[c.Type]
			if want == "" {
				return fmt.Sprintf("column %s has type %v", c.Name, c.Type)
			}
			for k, l := range lens {
				if k == want && l != n {
					return fmt.Sprintf("column %s: %d %s, want %d", c.Name, l, k, n)
				}
				if k != want && l != 0 {
					return fmt.Sprintf("column %s (%s) uses %s", c.Name, TypeName(c.Type), k)
				}
			}
			if len(v.Nulls) != 0 && len(v.Nulls) != (n+7)/8 {
				return fmt.Sprintf("column %s: %d null bytes for %d rows", c.Name, len(v.Nulls), n)
			}
			for i := 0; i < len(v.Nulls)*8; i++ {
				if i >= n && isNull(v, i) {
					return fmt.Sprintf("column %s: null bit %d past the rows", c.Name, i)
				}
				if i < n && isNull(v, i) {
					if want == "ints" && v.Ints[i] != 0 || want == "doubles" && v.Doubles[i] != 0 || want == "strings" && v.Strings[i] != "" || want == "bools" && v.Bools[i] {
						return fmt.Sprintf("column %s: NULL row %d holds a value", c.Name, i)
					}
				}
			}
			if c.Name == TimeColumn {
				tsSeen = true
				if c.Type != TIMESTAMP || len(v.Nulls) != 0 {
					return "ts not a non-null TIMESTAMP"
				}
				lo, hi, ok := PartitionBounds(tbl.Partitioning, pb.Partition)
				if !ok {
					return "bad partition name " + pb.Partition
				}
				for _, ts := range v.Ints {
					if ts < lo || ts >= hi || PartitionOf(tbl.Partitioning, ts) != pb.Partition {
						return fmt.Sprintf("ts %d outside partition %q", ts, pb.Partition)
					}
				}
			}
		}
		if !tsSeen {
			return "no ts column"
		}
	}
	if rows != res.Rows {
		return fmt.Sprintf("Rows = %d, batches hold %d", res.Rows, rows)
	}
	if bytes != res.Bytes {
		return fmt.Sprintf("Bytes = %d, batches hold %d", res.Bytes, bytes)
	}
	merged, err := MergeColumns(tbl.Columns, first, tbl.Explicit)
	if err != nil || schemaString(merged) != schemaString(res.Columns) {
		return fmt.Sprintf("Columns %q are not the merge of table and batch (%v)", schemaString(res.Columns), err)
	}
	return ""
}

// parseOK parses JSON array text against tbl and checks the invariants.
func parseOK(t testing.TB, tbl Table, in Input) *Result {
	t.Helper()
	if tbl.Name == "" {
		tbl.Name = "t"
	}
	res, err := Parse(tbl, in, testNow, Options{})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkResult(t, tbl, res)
	return res
}
