package query

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestAnalyseData runs testdata/analyse.txt: statements → tables,
// references with their predicates and the files each keeps, or the
// refusal. Directives:
//
//	schema                 "column TYPE" lines: the columns of the tables
//	                       events and other
//	file name=N rows=R     "column min max" or "column nulls" lines: a file's
//	                       statistics (TIMESTAMP as 2006-01-02T15:04:05)
//	analyse                SQL follows
//
// go test ./query -run TestAnalyseData -rewrite regenerates the outputs.
func TestAnalyseData(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	types := map[string]v1.ColumnType{}
	var files []*v1.DataFile
	datadriven.RunTest(t, "testdata/analyse.txt", func(t *testing.T, td *datadriven.TestData) string {
		switch td.Cmd {
		case "schema":
			for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
				f := strings.Fields(line)
				typ, ok := v1.ColumnType_value["COLUMN_TYPE_"+f[1]]
				if len(f) != 2 || !ok {
					t.Fatalf("%s: bad column %q", td.Pos, line)
				}
				types[f[0]] = v1.ColumnType(typ)
			}
			return ""
		case "file":
			var name string
			var rows int64
			td.ScanArgs(t, "name", &name)
			td.ScanArgs(t, "rows", &rows)
			f := &v1.DataFile{Key: name, RowCount: rows}
			for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
				fields := strings.Fields(line)
				st := &v1.ColumnStats{Name: fields[0]}
				if len(fields) == 2 && fields[1] == "nulls" {
					st.NullCount = rows
				} else if len(fields) == 3 {
					st.Min, st.Max = scalar(t, types[fields[0]], fields[1]), scalar(t, types[fields[0]], fields[2])
				} else {
					t.Fatalf("%s: bad statistics %q", td.Pos, line)
				}
				f.Stats = append(f.Stats, st)
			}
			files = append(files, f)
			return ""
		case "analyse":
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			q := strings.TrimSpace(td.Input)
			root, err := parseTree(context.Background(), conn, q)
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			a, err := analyse(q, root, func(name string) bool { return name == "events" || name == "other" })
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			var b strings.Builder
			fmt.Fprintf(&b, "tables: %s\n", strings.Join(a.Tables, " "))
			for _, r := range a.Refs {
				if r.Start >= 0 && !strings.EqualFold(strings.Trim(q[r.Start:r.End], `"`), r.Table) {
					t.Errorf("%s: ref %s at [%d, %d) is %q", td.Pos, r.Table, r.Start, r.End, q[r.Start:r.End])
				}
				fmt.Fprintf(&b, "ref %s", r.Table)
				if r.Alias != "" {
					fmt.Fprintf(&b, " as %s", r.Alias)
				}
				if r.Start < 0 {
					b.WriteString(" (not rewritable)")
				}
				if len(r.Predicates) == 0 {
					b.WriteString(": all files\n")
					continue
				}
				var preds, keep []string
				for _, p := range r.Predicates {
					preds = append(preds, p.String())
				}
				for _, f := range files {
					if fileMayMatch(f, types, r.Predicates) {
						keep = append(keep, f.Key)
					}
				}
				fmt.Fprintf(&b, ": %s → files [%s]\n", strings.Join(preds, " AND "), strings.Join(keep, " "))
			}
			return b.String()
		}
		t.Fatalf("%s: unknown directive %q", td.Pos, td.Cmd)
		return ""
	})
}

func scalar(t *testing.T, typ v1.ColumnType, s string) *v1.Scalar {
	t.Helper()
	switch typ {
	case v1.ColumnType_COLUMN_TYPE_TIMESTAMP:
		ts, err := time.Parse("2006-01-02T15:04:05", s)
		if err != nil {
			t.Fatal(err)
		}
		return &v1.Scalar{Value: &v1.Scalar_Int{Int: ts.UnixMicro()}}
	case v1.ColumnType_COLUMN_TYPE_BIGINT:
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return &v1.Scalar{Value: &v1.Scalar_Int{Int: i}}
	case v1.ColumnType_COLUMN_TYPE_DOUBLE:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return &v1.Scalar{Value: &v1.Scalar_Double{Double: f}}
	}
	return &v1.Scalar{Value: &v1.Scalar_String_{String_: s}}
}
