package node

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/miniodb/miniodb/ingest"
	"github.com/miniodb/miniodb/query"
)

// TestDistributedLogic runs the files under testdata/distributed on a
// three-node cluster, every query in every way a query can run: single,
// distributed and gathered forced, each with pruning on and off; all six
// answers must equal DuckDB's over the same rows (kept in a plain DuckDB
// table beside the cluster, read through a view with MinIODB's column
// order; floats within 1e-9 relative), and a
// statement DuckDB refuses must fail in all six. The expected output is
// DuckDB's answer and the mode the distributed run took, so the files
// show which shapes really spread over the nodes. DuckDB runs on one
// thread there, so its float sums, and the file, are the same every run.
// `go test ./node -run TestDistributedLogic -rewrite` writes the outputs;
// review the diff. Directives:
//
//	table name=T          the DuckDB columns of T follow ("id VARCHAR, …")
//	write table=T         NDJSON rows follow, written through the leader
//	gen table=T rows=N seed=S from=K [note] [double-score]
//	                      N generated events rows with ids id-K…: ts over
//	                      three days of 2026-01, value, region, host,
//	                      status; with note, half have a note; score is
//	                      BIGINT, or DOUBLE with double-score
//	flush                 flush every table
//	query [rowsort]       SQL follows; "mode: …" then DuckDB's rows
//	                      (sorted with rowsort), or "error"
func TestDistributedLogic(t *testing.T) {
	datadriven.Walk(t, "testdata/distributed", func(t *testing.T, path string) {
		nodes := startCluster(t, 3)
		leader := nodes[0]
		c := newClient(t, leader)
		ex, err := leader.newExchange()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := sql.Open("duckdb", "")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		raw.SetMaxOpenConns(1)
		if _, err := raw.Exec("SET TimeZone = 'UTC'; SET threads = 1"); err != nil {
			t.Fatal(err)
		}
		columns := map[string]string{} // table → read_json columns struct
		ctx := context.Background()
		write := func(t *testing.T, table string, rows []byte) string {
			res, err := leader.Write(ctx, WriteInput{Table: table, Input: ingest.NDJSON(rows)})
			if err != nil {
				return "error: " + err.Error() + "\n"
			}
			cols, ok := columns[table]
			if !ok {
				t.Fatalf("write to %s before its table directive", table)
			}
			file := filepath.Join(t.TempDir(), "rows.ndjson")
			if err := os.WriteFile(file, rows, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(fmt.Sprintf("INSERT INTO raw_%s BY NAME SELECT * FROM read_json('%s', format = 'newline_delimited', columns = %s)", table, file, cols)); err != nil {
				t.Fatalf("raw insert: %v", err)
			}
			// The columns MinIODB knows, in its order (SELECT * must
			// mean the same on both).
			view, _ := leader.fsm.Table(table)
			var names []string
			for _, c := range view.Spec.Columns {
				names = append(names, c.Name)
			}
			if _, err := raw.Exec(fmt.Sprintf("CREATE OR REPLACE VIEW %s AS SELECT %s FROM raw_%s", table, strings.Join(names, ", "), table)); err != nil {
				t.Fatalf("raw view: %v", err)
			}
			return fmt.Sprintf("ok: %d rows\n", res.Rows)
		}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			switch td.Cmd {
			case "table":
				var name string
				td.ScanArgs(t, "name", &name)
				if _, err := raw.Exec(fmt.Sprintf("CREATE TABLE raw_%s (%s)", name, td.Input)); err != nil {
					t.Fatalf("%s: %v", td.Pos, err)
				}
				var fields []string
				for _, def := range strings.Split(td.Input, ",") {
					col, typ, _ := strings.Cut(strings.TrimSpace(def), " ")
					fields = append(fields, fmt.Sprintf("%s: '%s'", col, strings.TrimSpace(typ)))
				}
				columns[name] = "{" + strings.Join(fields, ", ") + "}"
				return "ok\n"
			case "write":
				var table string
				td.ScanArgs(t, "table", &table)
				return write(t, table, []byte(td.Input))
			case "gen":
				var table string
				var rows, seed, from int
				td.ScanArgs(t, "table", &table)
				td.ScanArgs(t, "rows", &rows)
				td.ScanArgs(t, "seed", &seed)
				td.ScanArgs(t, "from", &from)
				return write(t, table, genEvents(rows, seed, from, td.HasArg("note"), td.HasArg("double-score")))
			case "flush":
				r := c.flush("")
				return fmt.Sprintf("flushed %d rows into %d files\n", r.RowsFlushed, r.FilesWritten)
			case "query":
				return runEveryWay(t, td, leader.engine, ex, raw)
			}
			t.Fatalf("%s: unknown directive %q", td.Pos, td.Cmd)
			return ""
		})
	})
}

// runEveryWay runs one query on raw DuckDB and on the cluster in every
// execution and pruning setting, reports differences, and returns the
// directive's output.
func runEveryWay(t *testing.T, td *datadriven.TestData, e *query.Engine, ex query.Exchange, raw *sql.DB) string {
	q := td.Input
	rowsort := td.HasArg("rowsort")
	want, rawErr := rawValues(raw, q, rowsort)
	mode := ""
	for _, execution := range []string{"single", "distributed", "gathered"} {
		for _, pruning := range []bool{true, false} {
			got, plan, err := engineValues(e, q, query.Options{Exchange: ex, Execution: execution, NoPruning: !pruning}, rowsort)
			switch {
			case rawErr != nil && err == nil:
				t.Errorf("%s: %s (%s): DuckDB fails (%v) but MinIODB answers:\n%s", td.Pos, q, execution, rawErr, render(got))
			case rawErr != nil:
			case err != nil:
				t.Errorf("%s: %s (%s, pruning %v): %v", td.Pos, q, execution, pruning, err)
			case !sameValues(got, want):
				t.Errorf("%s: %s (%s, pruning %v, ran %s: %s)\npartial: %s\nfinal: %s\nMinIODB:\n%s\nDuckDB:\n%s",
					td.Pos, q, execution, pruning, plan.Mode, plan.Reason, plan.Partial, plan.Final, render(got), render(want))
			}
			if err != nil {
				continue
			}
			if execution == "distributed" && pruning {
				mode = string(plan.Mode)
			}
			for _, fr := range plan.Fragments {
				if fr.Error != "" {
					t.Errorf("%s: %s: fragment on %s failed: %s", td.Pos, q, fr.Node, fr.Error)
				}
			}
		}
	}
	if rawErr != nil {
		return "error\n"
	}
	return "mode: " + mode + "\n" + render(want)
}

// rawValues runs q on DuckDB and returns its rows (sorted by their
// rendering with rowsort).
func rawValues(db *sql.DB, q string, rowsort bool) ([][]any, error) {
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return sortRows(out, rowsort), rows.Err()
}

// engineValues runs q on MinIODB and returns its rows like rawValues.
func engineValues(e *query.Engine, q string, opts query.Options, rowsort bool) ([][]any, *query.Plan, error) {
	rows, plan, err := e.QueryWith(context.Background(), q, opts)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, nil, err
		}
		out = append(out, slices.Clone(vals))
	}
	return sortRows(out, rowsort), plan, rows.Err()
}

func sortRows(rows [][]any, rowsort bool) [][]any {
	if rowsort {
		slices.SortStableFunc(rows, func(a, b []any) int { return strings.Compare(render([][]any{a}), render([][]any{b})) })
	}
	return rows
}

func render(rows [][]any) string {
	var b strings.Builder
	for _, r := range rows {
		writeRow(&b, r)
	}
	return b.String()
}

// sameValues compares two results value by value: floats within 1e-9
// relative (sums in another order differ in their last bits), everything
// else as rendered.
func sameValues(a, b [][]any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			x, xok := a[i][j].(float64)
			y, yok := b[i][j].(float64)
			switch {
			case xok && yok:
				if x != y && !(math.IsNaN(x) && math.IsNaN(y)) && math.Abs(x-y) > 1e-9*math.Max(math.Abs(x), math.Abs(y)) {
					return false
				}
			case render([][]any{{a[i][j]}}) != render([][]any{{b[i][j]}}):
				return false
			}
		}
	}
	return true
}

// genEvents returns n NDJSON rows of the events shape, the same for the
// same arguments.
func genEvents(n, seed, from int, note, doubleScore bool) []byte {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(seed)))
	regions := []string{"eu", "us", "ap"}
	var b bytes.Buffer
	for i := range n {
		ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(3*24*3600)) * time.Second)
		row := map[string]any{
			"id":     fmt.Sprintf("id-%d", from+i),
			"ts":     ts.Format(time.RFC3339),
			"value":  math.Round(rng.Float64()*10000) / 100,
			"region": regions[rng.IntN(3)],
			"host":   fmt.Sprintf("h-%d", rng.IntN(20)),
			"status": []int{200, 200, 200, 404, 500}[rng.IntN(5)],
		}
		if note && rng.IntN(2) == 0 {
			row["note"] = fmt.Sprintf("n%d", rng.IntN(50))
		}
		if doubleScore {
			row["score"] = float64(rng.IntN(50)) / 10
		} else {
			row["score"] = rng.IntN(5)
		}
		line, _ := json.Marshal(row)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}
