package node

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/miniodb/miniodb/ingest"
	"github.com/miniodb/miniodb/query"
)

// differentialQueries run against MinIODB (pruning on and off) and against
// DuckDB over the same rows in one plain table; the results must be equal.
var differentialQueries = []string{
	"SELECT count(*) FROM events",
	"SELECT region, count(*), sum(status), min(value), max(value) FROM events GROUP BY region ORDER BY region",
	"SELECT region, round(avg(value), 6) FROM events GROUP BY ALL ORDER BY 1",
	"SELECT count(DISTINCT host) FROM events",
	"SELECT count(*) FROM events WHERE ts >= '2026-01-02' AND ts < '2026-01-03'",
	"SELECT count(*) FROM events WHERE ts > TIMESTAMP '2026-01-02 12:00:00'",
	"SELECT count(*) FROM events WHERE ts BETWEEN '2026-01-01 06:00:00' AND '2026-01-02 06:00:00'",
	"SELECT count(*), sum(value) FROM events WHERE value > 90",
	"SELECT count(*) FROM events WHERE value <= 5.5",
	"SELECT count(*) FROM events WHERE status = 500",
	"SELECT count(*) FROM events WHERE status < 0",
	"SELECT count(*) FROM events WHERE 250 < status",
	"SELECT count(*) FROM events WHERE region = 'eu' AND status >= 400",
	"SELECT count(*) FROM events WHERE region = 'nowhere'",
	"SELECT count(*) FROM events WHERE id = 'id-17'",
	"SELECT count(*) FROM events WHERE region = 'eu' OR status = 200",
	"SELECT count(*) FROM events WHERE note IS NULL",
	"SELECT count(note), min(note) FROM events",
	"SELECT id, ts, value, region, host, status, note FROM events ORDER BY ts, id LIMIT 20",
	"SELECT id, value FROM events WHERE ts >= '2026-01-03' ORDER BY value DESC, id LIMIT 5",
	"SELECT date_trunc('day', ts) AS d, count(*) FROM events GROUP BY d ORDER BY d",
	"SELECT host, count(*) AS n FROM events GROUP BY host HAVING count(*) > 40 ORDER BY n DESC, host",
	"SELECT e.region, count(*) FROM events e WHERE e.ts < '2026-01-02' GROUP BY e.region ORDER BY 1",
	"WITH s AS (SELECT region, sum(status) AS t FROM events GROUP BY region) SELECT * FROM s ORDER BY t DESC",
	"SELECT region, row_number() OVER (PARTITION BY region ORDER BY ts, id) AS rn, id FROM events QUALIFY rn <= 2 ORDER BY region, rn",
	"SELECT count(*) FROM events WHERE id IN (SELECT id FROM events WHERE status = 404)",
	"SELECT count(*), sum(score) FROM events WHERE score > 1.5",
	"SELECT count(*), sum(score) FROM events WHERE score >= 2 AND score < 3.5",
	"SELECT score, count(*) FROM events GROUP BY score ORDER BY score",
}

func TestDifferential(t *testing.T) {
	ctx := context.Background()
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	c := newClient(t, n)

	// Rows over three days, written in several requests, with flushes in
	// between, so each partition has several files plus hot rows; a column
	// (note) appears only in later writes, and status widens nothing.
	rng := rand.New(rand.NewPCG(7, 7))
	regions := []string{"eu", "us", "ap"}
	var all bytes.Buffer
	id := 0
	for round := 0; round < 6; round++ {
		var req bytes.Buffer
		for i := 0; i < 400; i++ {
			ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(3*24*3600)) * time.Second)
			row := map[string]any{
				"id":     fmt.Sprintf("id-%d", id),
				"ts":     ts.Format(time.RFC3339),
				"value":  math.Round(rng.Float64()*10000) / 100,
				"region": regions[rng.IntN(3)],
				"host":   fmt.Sprintf("h-%d", rng.IntN(20)),
				"status": []int{200, 200, 200, 404, 500}[rng.IntN(5)],
			}
			if round >= 3 && rng.IntN(2) == 0 {
				row["note"] = fmt.Sprintf("n%d", rng.IntN(50))
			}
			// score is BIGINT in the first files and widens to DOUBLE later.
			if round < 3 {
				row["score"] = rng.IntN(5)
			} else {
				row["score"] = float64(rng.IntN(50)) / 10
			}
			id++
			b, _ := json.Marshal(row)
			req.Write(b)
			req.WriteByte('\n')
		}
		all.Write(req.Bytes())
		if _, err := n.Write(ctx, WriteInput{Table: "events", Input: ingest.NDJSON(req.Bytes())}); err != nil {
			t.Fatal(err)
		}
		if round != 5 {
			c.flush("events")
		}
	}
	view, _ := n.fsm.Table("events")
	if len(view.Files) < 9 {
		t.Fatalf("want several files per partition, got %d", len(view.Files))
	}
	if rows, _ := view.HotRows(); rows != 400 {
		t.Fatalf("want 400 hot rows, got %d", rows)
	}

	// Raw DuckDB over the same rows.
	dir := t.TempDir()
	file := filepath.Join(dir, "rows.ndjson")
	if err := os.WriteFile(file, all.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(fmt.Sprintf(`CREATE TABLE events AS SELECT * FROM read_json('%s', format = 'newline_delimited',
		columns = {id: 'VARCHAR', ts: 'TIMESTAMP', value: 'DOUBLE', region: 'VARCHAR', host: 'VARCHAR', status: 'BIGINT', note: 'VARCHAR', score: 'DOUBLE'})`, file)); err != nil {
		t.Fatal(err)
	}
	noPrune, err := query.Open(ctx, query.Config{Dir: t.TempDir(), Store: n.store, Catalog: n.fsm, NoPruning: true, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer noPrune.Close()

	pruned := 0
	for _, q := range differentialQueries {
		want := rawRows(t, raw, q)
		got, plan := engineRows(t, n.engine, q)
		if got != want {
			t.Errorf("%s\nMinIODB:\n%s\nDuckDB:\n%s", q, got, want)
		}
		if got2, _ := engineRows(t, noPrune, q); got2 != want {
			t.Errorf("%s (no pruning)\nMinIODB:\n%s\nDuckDB:\n%s", q, got2, want)
		}
		for _, tp := range plan.Tables {
			if tp.FilesRead < tp.FilesTotal {
				pruned++
			}
		}
	}
	if pruned < 5 {
		t.Errorf("pruning skipped files in only %d queries; the time and value predicates should prune", pruned)
	}
}

func rawRows(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("duckdb %q: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var b strings.Builder
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		writeRow(&b, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func engineRows(t *testing.T, e *query.Engine, q string) (string, *query.Plan) {
	t.Helper()
	rows, plan, err := e.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("miniodb %q: %v", q, err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		writeRow(&b, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String(), plan
}

// writeRow renders values so that results equal up to float summation
// order compare equal.
func writeRow(b *strings.Builder, vals []any) {
	for i, v := range vals {
		if i > 0 {
			b.WriteString(" | ")
		}
		switch x := v.(type) {
		case float64:
			fmt.Fprintf(b, "%.9g", x)
		case *big.Int:
			b.WriteString(x.String())
		case time.Time:
			b.WriteString(x.UTC().Format(time.RFC3339Nano))
		default:
			fmt.Fprintf(b, "%v", x)
		}
	}
	b.WriteByte('\n')
}
