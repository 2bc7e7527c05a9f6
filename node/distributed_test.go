package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/internal/failpoint"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/query"
)

// distributedQueries add shapes the distributed planner decomposes (or
// must refuse to) to the differential queries.
var distributedQueries = []string{
	"SELECT avg(value), avg(status), mean(score) FROM events",
	"SELECT region, avg(value) AS a, count(value) FROM events GROUP BY region ORDER BY a",
	"SELECT region, count(DISTINCT host), sum(DISTINCT status), avg(DISTINCT score), count(*) FROM events GROUP BY region ORDER BY region",
	"SELECT count(DISTINCT host) AS h, count(DISTINCT region) FROM events WHERE status = 404",
	"SELECT host, bool_and(status = 200), bool_or(status = 500), bit_or(status), bit_xor(status), bit_and(status) FROM events GROUP BY host ORDER BY host",
	"SELECT count(*) FILTER (WHERE status = 404) AS nf, sum(value) FILTER (WHERE region = 'eu') FROM events",
	"SELECT count(*), sum(value), min(ts), avg(value) FROM events WHERE region = 'nowhere'",
	"SELECT region, count(*) FROM events WHERE region = 'nowhere' GROUP BY region",
	"SELECT sum(value) / count(*) AS mean, max(value) - min(value) AS spread FROM events",
	"SELECT region AS host, count(*) FROM events GROUP BY region, host ORDER BY host, 2",
	"SELECT 1 + count(*), 'x' FROM events",
	"SELECT status, region FROM events GROUP BY status, region ORDER BY status, region",
	"SELECT date_trunc('hour', ts) AS h, count(*) AS n FROM events GROUP BY 1 HAVING count(*) > 30 ORDER BY n DESC, h LIMIT 5",
	"SELECT DISTINCT region FROM events ORDER BY region",
	"SELECT DISTINCT region, status FROM events ORDER BY 2 DESC, 1 LIMIT 4",
	"SELECT * FROM events ORDER BY ts, id LIMIT 7 OFFSET 3",
	"SELECT id, value * 2 AS v FROM events ORDER BY v DESC, id LIMIT 10",
	"SELECT -value AS value, id FROM events ORDER BY value, id LIMIT 5",
	"SELECT id FROM events ORDER BY value + 0, id LIMIT 5",
	// Ordered lists: partial lists merged in order (ties broken by id).
	"SELECT region, string_agg(id, '|' ORDER BY ts, id) FROM events WHERE status = 500 AND id LIKE 'id-1%' GROUP BY region ORDER BY region",
	"SELECT host, list(value ORDER BY id DESC) FILTER (WHERE status >= 400) FROM events WHERE id LIKE 'id-2%' GROUP BY host ORDER BY host",
	"SELECT string_agg(note ORDER BY note NULLS FIRST, id) FROM events WHERE id LIKE 'id-12%'",
	"SELECT status, list(note ORDER BY note DESC NULLS FIRST, id DESC) FROM events WHERE id LIKE 'id-12%' GROUP BY status ORDER BY status",
	"SELECT status, array_agg(note ORDER BY note NULLS LAST, id) AS notes, count(*) FROM events WHERE id LIKE 'id-13%' GROUP BY status HAVING count(*) > 1 ORDER BY status",
	"SELECT array_agg(id ORDER BY id) FROM events WHERE false",
	"SELECT region, string_agg(id ORDER BY id) FROM events WHERE note IS NULL AND id LIKE 'id-15%' GROUP BY region ORDER BY region",
	"SELECT group_concat(region, ', ' ORDER BY region, id) FILTER (WHERE note IS NULL), listagg(host, '' ORDER BY host DESC, id DESC) FROM events WHERE status = 404 AND id LIKE 'id-14%'",
	"SELECT region, count(*), string_agg(host, ',' ORDER BY host DESC, id DESC) FROM events WHERE value > 95 GROUP BY ROLLUP (region) ORDER BY region NULLS LAST",
	"SELECT region, list(id ORDER BY status DESC, id) FROM events WHERE status >= 500 AND id LIKE 'id-3%' GROUP BY region ORDER BY region",
	"SELECT list(score ORDER BY id), list(DISTINCT status ORDER BY status) FROM events WHERE id LIKE 'id-12%'",
	"SELECT string_agg(status ORDER BY id) FROM events WHERE id LIKE 'id-4%'",
	"SELECT string_agg(id, region ORDER BY id) FROM events WHERE id LIKE 'id-5%'",
	"SELECT list(id ORDER BY ts) FROM events WHERE id LIKE 'id-21%' AND status = 200",
	// Few NULLs: a fragment's top rows mix NULLs and values, and only the
	// final ORDER BY's NULLS FIRST puts them in place.
	"SELECT id, note FROM events WHERE note IS NOT NULL OR id IN ('id-1', 'id-2') ORDER BY note DESC NULLS FIRST, id LIMIT 5",
	"SELECT id, note FROM events WHERE note IS NOT NULL OR id IN ('id-1', 'id-2') ORDER BY note NULLS FIRST, id DESC LIMIT 4 OFFSET 1",
	"SELECT id, ts FROM events WHERE status = 500 AND ts < '2026-01-01 06:00:00' ORDER BY id",
	"SELECT id FROM events ORDER BY id OFFSET 2395",
	"SELECT median(value), quantile_cont(value, 0.9) FROM events",
	"SELECT var_pop(value), var_samp(value), stddev_pop(status), stddev_samp(score), variance(value), stddev(value) FROM events",
	"SELECT region, round(stddev(value), 9), round(var_samp(status + 1e6), 6), count(*) FROM events GROUP BY region ORDER BY region",
	"SELECT host, stddev_samp(value), var_pop(value) FROM events WHERE id IN ('id-1', 'id-2', 'id-40') GROUP BY host ORDER BY host",
	"SELECT stddev_samp(value), var_pop(value) FROM events WHERE region = 'nowhere'",
	"SELECT region, stddev_samp(value) > 0, string_agg(DISTINCT status::VARCHAR, ',' ORDER BY status::VARCHAR) FROM events GROUP BY region ORDER BY region",
	"SELECT region, count(*) FROM events GROUP BY ROLLUP (region) ORDER BY region NULLS LAST",
	"SELECT region, status, grouping(region) AS g, grouping(region, status), count(*), avg(value) FROM events GROUP BY CUBE (region, status) ORDER BY g, 1 NULLS FIRST, 2 NULLS FIRST",
	"SELECT region, host, count(DISTINCT status), sum(value) FROM events GROUP BY GROUPING SETS ((region), (region, host), (), ()) ORDER BY 1 NULLS FIRST, 2 NULLS FIRST, 4",
	"SELECT note, count(*) FROM events GROUP BY ROLLUP (note) ORDER BY grouping(note), note NULLS FIRST",
	"SELECT count(*) FROM events WHERE region = 'nowhere' GROUP BY ROLLUP (region)",
	"SELECT region, arg_max(id, value) FROM events GROUP BY ALL ORDER BY 1",
	// Joins with a small table, broadcast to every fragment.
	"SELECT h.dc, count(*), sum(e.value), avg(h.weight) FROM events e JOIN hosts h ON e.host = h.name GROUP BY h.dc ORDER BY 1",
	"SELECT e.region, h.dc, count(*), max(e.ts) FROM events e LEFT JOIN hosts h ON h.name = e.host AND h.weight > 2 GROUP BY e.region, h.dc ORDER BY 1, 2 NULLS FIRST",
	"SELECT e.id, h.dc, e.value * h.weight AS w FROM events e JOIN hosts h ON e.host = h.name WHERE e.status = 500 ORDER BY w DESC, e.id LIMIT 5",
	"SELECT count(*), count(h.name) FROM events e LEFT JOIN hosts h ON e.host = h.name WHERE e.region = 'eu'",
	"SELECT count(*) FROM events e LEFT JOIN hosts h ON e.host = h.name WHERE h.name IS NULL",
	"SELECT count(*), count(DISTINCT e.host) FROM hosts h JOIN events e ON e.host = h.name AND h.dc = 'dc1'",
	"SELECT h.dc, count(*) FROM events e JOIN hosts h ON e.host = h.name JOIN hosts g ON g.dc = h.dc GROUP BY h.dc ORDER BY 1",
	"SELECT h.name, count(*) FROM events e RIGHT JOIN hosts h ON e.host = h.name GROUP BY h.name ORDER BY 1",
	"SELECT DISTINCT h.dc FROM events e JOIN hosts h ON e.host = h.name WHERE e.score > 3 ORDER BY 1",
	"SELECT region, arg_min(value, id), max_by(ts, id), arg_max(note, id), min_by(note, id) FILTER (WHERE status = 404) FROM events GROUP BY region ORDER BY 1",
	"SELECT arg_min(id, id), arg_max(score, id) FROM events WHERE region = 'nowhere'",
	"SELECT arg_min(status, id) FILTER (WHERE note IS NULL), count(*) FROM events",
}

// TestDistributedDifferential runs the differential queries on a
// three-node cluster distributed (partial results on every node, merged
// by the leader) and gathered (rows from every node), and requires
// DuckDB's answer over the same rows each time.
func TestDistributedDifferential(t *testing.T) {
	nodes := startCluster(t, 3)
	f := newDiffFixtureOn(t, nodes[0])
	ex, err := f.node.newExchange()
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Nodes()) != 3 {
		t.Fatalf("exchange has nodes %v, want 3", ex.Nodes())
	}
	modes := map[query.Mode]int{}
	fragmentNodes := map[string]bool{}
	for _, q := range append(append([]string{}, differentialQueries...), distributedQueries...) {
		want, rawErr := queryRows(f.raw.QueryContext(context.Background(), q))
		for _, execution := range []string{"distributed", "gathered"} {
			for _, pruning := range []bool{true, false} {
				got, plan, err := engineQueryWith(f.node.engine, q, query.Options{Exchange: ex, Execution: execution, NoPruning: !pruning})
				switch {
				case rawErr != nil && err == nil:
					t.Errorf("%s (%s): DuckDB fails (%v) but MinIODB answers:\n%s", q, execution, rawErr, got)
				case rawErr != nil:
				case err != nil:
					t.Errorf("%s (%s, pruning %v): %v", q, execution, pruning, err)
				case got != want:
					t.Errorf("%s (%s, pruning %v, ran %s: %s)\npartial: %s\nfinal: %s\nMinIODB:\n%s\nDuckDB:\n%s",
						q, execution, pruning, plan.Mode, plan.Reason, plan.Partial, plan.Final, got, want)
				}
				if err != nil {
					continue
				}
				if execution == "distributed" && pruning {
					modes[plan.Mode]++
				}
				for _, fr := range plan.Fragments {
					if fr.Error != "" {
						t.Errorf("%s: fragment on %s failed: %s", q, fr.Node, fr.Error)
					}
					fragmentNodes[fr.Node] = true
				}
			}
		}
	}
	t.Logf("modes of %d statements: %v", len(differentialQueries)+len(distributedQueries), modes)
	if modes[query.ModeDistributed] < 30 || modes[query.ModeGathered] < 5 {
		t.Errorf("modes %v: want most statements distributed and some gathered", modes)
	}
	if len(fragmentNodes) != 3 {
		t.Errorf("fragments ran on %v, want all three nodes", fragmentNodes)
	}
}

// engineQueryWith is engineQuery with options.
func engineQueryWith(e *query.Engine, q string, opts query.Options) (string, *query.Plan, error) {
	rows, plan, err := e.QueryWith(context.Background(), q, opts)
	if err != nil {
		return "", nil, err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return "", plan, err
		}
		writeRow(&b, vals)
	}
	return b.String(), plan, rows.Err()
}

// TestDistributedFragmentFailsOver makes every fragment fail on one node:
// its files run on the others and the answer stays exact; an error of the
// statement itself fails the query at once, on any node.
func TestDistributedFragmentFailsOver(t *testing.T) {
	fp, err := failpoint.Parse("fragment-run=error")
	if err != nil {
		t.Fatal(err)
	}
	nodes := startCluster(t, 3, func(i int, cfg *Config) {
		if i == 1 {
			cfg.Failpoints = fp
		}
	})
	f := newDiffFixtureOn(t, nodes[0])
	ex, err := f.node.newExchange()
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT region, count(*), sum(value) FROM events GROUP BY region ORDER BY region"
	want, err := queryRows(f.raw.QueryContext(context.Background(), q))
	if err != nil {
		t.Fatal(err)
	}
	got, plan, err := engineQueryWith(f.node.engine, q, query.Options{Exchange: ex, Execution: "distributed"})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("MinIODB:\n%s\nDuckDB:\n%s", got, want)
	}
	failed, moved := 0, 0
	for _, fr := range plan.Fragments {
		switch {
		case fr.Node == "n2" && fr.Error != "":
			failed++
		case fr.Error != "":
			t.Errorf("fragment on %s failed: %s", fr.Node, fr.Error)
		case fr.Attempts > 1:
			moved++
		}
	}
	if failed != 1 || moved == 0 {
		t.Errorf("fragments %+v: want n2's failure and its files run again elsewhere", plan.Fragments)
	}

	// Through the public API, from a follower: forwarded to the leader,
	// distributed there.
	c := newClient(t, nodes[2])
	resp, err := c.query.Query(context.Background(), connect.NewRequest(&v1.QueryRequest{Sql: "SELECT count(*) FROM events", Execution: "distributed"}))
	if err != nil {
		t.Fatal(err)
	}
	if n := resp.Msg.Rows[0].Values[0].GetNumberValue(); n != 2400 {
		t.Errorf("count(*) = %v, want 2400", n)
	}
	_, err = c.query.Query(context.Background(), connect.NewRequest(&v1.QueryRequest{Sql: "SELECT count(*) FROM events", Execution: "everywhere"}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "want auto, distributed, gathered or single") {
		t.Errorf("bad execution: %v", err)
	}
	// A statement that fails in the fragments fails the query.
	_, err = c.query.Query(context.Background(), connect.NewRequest(&v1.QueryRequest{Sql: "SELECT sum(CAST(region AS INTEGER)) FROM events", Execution: "distributed"}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "Could not convert") {
		t.Errorf("a failing statement: %v", err)
	}
}

// TestExplain plans and runs statements with EXPLAIN and EXPLAIN ANALYZE
// through the public API of a follower.
func TestExplain(t *testing.T) {
	nodes := startCluster(t, 3)
	newDiffFixtureOn(t, nodes[0])
	c := newClient(t, nodes[1])
	explain := func(sql, execution string, analyze bool) string {
		t.Helper()
		resp, err := c.query.Explain(context.Background(), connect.NewRequest(&v1.ExplainRequest{
			Query: &v1.QueryRequest{Sql: sql, Execution: execution}, Analyze: analyze}))
		if err != nil {
			t.Fatalf("explain %s: %v", sql, err)
		}
		return resp.Msg.Mode + "\n" + strings.Join(resp.Msg.Lines, "\n")
	}
	q := "SELECT region, avg(value) FROM events WHERE ts >= '2026-01-03' GROUP BY region"
	for _, tc := range []struct {
		sql, execution string
		analyze        bool
		want           []string
		not            []string
	}{
		{q, "distributed", false, []string{"distributed\nmode: distributed", "table events (reference 1): reads ", "pruned by: ts >= '2026-01-03'", "fragment on n", "partial (every fragment", `sum("value") AS __a1`, "final (coordinator)"}, []string{"rows out", "result:"}},
		{q, "distributed", true, []string{"mode: distributed", "rows out", "files cached", "result: 3 rows"}, nil},
		{q, "auto", false, []string{"mode: single", "less than the 67108864 worth distributing", "ran: "}, []string{"fragment on"}},
		{"SELECT median(value) FROM events", "distributed", false, []string{"mode: gathered", "why: aggregate median() does not decompose exactly", "partial (every fragment; the hot rows on the coordinator): SELECT * FROM (SELECT \"value\" FROM"}, nil},
		{"SELECT count(*) FROM events a JOIN events b USING (id)", "distributed", false, []string{"mode: single", "why: a join with USING runs on the coordinator"}, nil},
		{"SELECT h.dc, count(*) FROM events e JOIN hosts h ON e.host = h.name GROUP BY 1", "distributed", true, []string{"mode: distributed", "table hosts: reads 1 of 1 files", "9 hot rows", `"__miniodb.broadcast.hosts" AS h`, "result: 4 rows"}, nil},
		{"EXPLAIN ANALYZE SELECT count(*) FROM events", "gathered", false, []string{"mode: gathered", "result: 1 rows"}, nil},
	} {
		got := explain(tc.sql, tc.execution, tc.analyze)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s (%s, analyze %v): no %q in\n%s", tc.sql, tc.execution, tc.analyze, w, got)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(got, w) {
				t.Errorf("%s (%s, analyze %v): %q in\n%s", tc.sql, tc.execution, tc.analyze, w, got)
			}
		}
	}
	// EXPLAIN through Query answers a "plan" column.
	resp, err := c.query.Query(context.Background(), connect.NewRequest(&v1.QueryRequest{Sql: "  -- why so slow?\n explain " + q}))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Msg.Columns) != 1 || resp.Msg.Columns[0].Name != "plan" || len(resp.Msg.Rows) < 3 {
		t.Fatalf("EXPLAIN through Query: %v", resp.Msg)
	}
}

// TestQueryLargerThanCache runs queries over more data than the file cache
// holds on one node: they run through a fragment that reads the files in
// chunks, the answers are DuckDB's, and the cache stays within its bound.
func TestQueryLargerThanCache(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.CacheBytes = 24 << 10
	n := mustStartNode(t, cfg)
	t.Cleanup(func() { n.Close() })
	f := newDiffFixtureOn(t, n)
	view, _ := n.fsm.Table("events")
	if _, _, b := view.FileTotals(); b < 2*cfg.CacheBytes {
		t.Fatalf("the table's files are %d bytes, want more than twice the cache of %d", b, cfg.CacheBytes)
	}
	ex, err := n.newExchange()
	if err != nil {
		t.Fatal(err)
	}
	chunked := 0
	for _, q := range []string{
		"SELECT region, count(*), sum(value), avg(status), count(DISTINCT host) FROM events GROUP BY region ORDER BY region",
		"SELECT id, value FROM events ORDER BY value DESC, id LIMIT 7",
		"SELECT median(value), count(*) FROM events",
		"SELECT count(*) FROM events WHERE status = 404",
	} {
		want, err := queryRows(f.raw.QueryContext(context.Background(), q))
		if err != nil {
			t.Fatal(err)
		}
		got, plan, err := engineQueryWith(n.engine, q, query.Options{Exchange: ex})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got != want {
			t.Errorf("%s (ran %s: %s)\nMinIODB:\n%s\nDuckDB:\n%s", q, plan.Mode, plan.Reason, got, want)
		}
		for _, fr := range plan.Fragments {
			if fr.Stats != nil && fr.Stats.Chunks > 1 {
				chunked++
			}
		}
		if size := n.engine.Cache().Size(); size > cfg.CacheBytes {
			t.Errorf("%s: the cache holds %d bytes, more than its %d", q, size, cfg.CacheBytes)
		}
	}
	if chunked < 3 {
		t.Errorf("%d queries read their files in chunks, want at least 3", chunked)
	}
}

// TestDistributedFragmentTimesOut pauses every fragment on one node past
// the fragment timeout: its files run elsewhere and the query answers.
func TestDistributedFragmentTimesOut(t *testing.T) {
	fp, err := failpoint.Parse("fragment-run=pause(3s)")
	if err != nil {
		t.Fatal(err)
	}
	nodes := startCluster(t, 3, func(i int, cfg *Config) {
		cfg.FragmentTimeout = 300 * time.Millisecond
		if i == 2 {
			cfg.Failpoints = fp
		}
	})
	f := newDiffFixtureOn(t, nodes[0])
	ex, err := f.node.newExchange()
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT status, count(*), min(ts) FROM events GROUP BY status ORDER BY status"
	want, err := queryRows(f.raw.QueryContext(context.Background(), q))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got, plan, err := engineQueryWith(f.node.engine, q, query.Options{Exchange: ex, Execution: "distributed"})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("MinIODB:\n%s\nDuckDB:\n%s", got, want)
	}
	timedOut := false
	for _, fr := range plan.Fragments {
		if fr.Node == "n3" && strings.Contains(fr.Error, "deadline") {
			timedOut = true
		}
	}
	if !timedOut {
		t.Errorf("fragments %+v: want n3's to time out", plan.Fragments)
	}
	if el := time.Since(start); el > 2500*time.Millisecond {
		t.Errorf("the query took %v: it waited for the paused node", el)
	}
}

// TestDistributedProperty generates random GROUP BY statements (keys,
// decomposable and non-decomposable aggregates, DISTINCT, FILTER, WHERE
// with random predicates, HAVING, ORDER BY every key, LIMIT, a join with
// the small table) and requires every one, run distributed and gathered
// with pruning on and off on three nodes, to give DuckDB's answer over
// the same rows. MINIODB_PROPERTY_SEED picks other statements.
func TestDistributedProperty(t *testing.T) {
	nodes := startCluster(t, 3)
	f := newDiffFixtureOn(t, nodes[0])
	ex, err := f.node.newExchange()
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(3)
	switch v := os.Getenv("MINIODB_PROPERTY_SEED"); v {
	case "":
	case "random":
		seed = uint64(time.Now().UnixNano())
	default:
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("MINIODB_PROPERTY_SEED=%q: %v", v, err)
		}
	}
	t.Logf("seed %d (MINIODB_PROPERTY_SEED=%d repeats this run)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 14))
	n := 150
	if testing.Short() {
		n = 40
	}
	modes := map[query.Mode]int{}
	for i := range n {
		q := randomGroupBy(rng)
		want, rawErr := queryRows(f.raw.QueryContext(context.Background(), q))
		for _, execution := range []string{"distributed", "gathered"} {
			got, plan, err := engineQueryWith(f.node.engine, q, query.Options{Exchange: ex, Execution: execution, NoPruning: i%2 == 1})
			switch {
			case rawErr != nil && err == nil:
				t.Errorf("%s (%s): DuckDB fails (%v) but MinIODB answers", q, execution, rawErr)
			case rawErr != nil:
			case err != nil:
				t.Errorf("%s (%s): %v", q, execution, err)
			case got != want:
				t.Errorf("%s (%s, ran %s: %s)\npartial: %s\nfinal: %s\nMinIODB:\n%s\nDuckDB:\n%s", q, execution, plan.Mode, plan.Reason, plan.Partial, plan.Final, got, want)
			}
			if err == nil && execution == "distributed" {
				modes[plan.Mode]++
			}
		}
		if t.Failed() {
			t.Fatalf("seed %d, statement %d", seed, i)
		}
	}
	t.Logf("modes: %v", modes)
	if modes[query.ModeDistributed] < n*2/3 {
		t.Errorf("modes %v: want most random GROUP BY statements distributed", modes)
	}
}

// randomGroupBy returns a random aggregate statement over events (joined
// to hosts now and then) whose result order is total.
func randomGroupBy(rng *rand.Rand) string {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	keys := []string{"e.region", "e.host", "e.status", "date_trunc('day', e.ts)", "e.note", "e.score", "e.status % 3 = 0"}
	join := rng.IntN(4) == 0
	if join {
		keys = append(keys, "h.dc", "h.weight")
	}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	k := keys[:rng.IntN(3)]
	aggs := []string{
		"count(*)", "count(e.note)", "sum(e.status)", "min(e.value)", "max(e.ts)", "round(avg(e.value), 6)",
		"count(DISTINCT e.host)", "sum(DISTINCT e.status)", "bool_or(e.status = 404)", "bit_xor(e.status)",
		"count(*) FILTER (WHERE e.value > 50)", "round(stddev_samp(e.value), 6)", "round(var_pop(e.score), 6)",
		"arg_min(e.id, e.id)", "max_by(e.id, e.id)", "min(e.note)", "round(median(e.value), 6)",
		"sum(e.value * 2) - count(*)", "avg(e.status) > 300",
	}
	var sel []string
	sel = append(sel, k...)
	for range 1 + rng.IntN(3) {
		sel = append(sel, pick(aggs...))
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM events e"
	if join {
		q += pick(" JOIN hosts h ON e.host = h.name", " LEFT JOIN hosts h ON h.name = e.host")
	}
	if rng.IntN(2) == 0 {
		q += " WHERE " + randomPredicate(rng, "e")
	}
	if len(k) > 0 {
		q += " GROUP BY " + strings.Join(k, ", ")
	}
	if rng.IntN(3) == 0 {
		q += fmt.Sprintf(" HAVING count(*) > %d", rng.IntN(60))
	}
	if len(k) > 0 {
		var order []string
		for i := range k {
			order = append(order, fmt.Sprintf("%d NULLS FIRST", i+1))
		}
		q += " ORDER BY " + strings.Join(order, ", ")
		if rng.IntN(3) == 0 {
			q += fmt.Sprintf(" LIMIT %d", 1+rng.IntN(10))
		}
	}
	return q
}
