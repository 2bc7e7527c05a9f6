package node

import (
	"context"
	"strings"
	"testing"

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
	"SELECT id, ts FROM events WHERE status = 500 AND ts < '2026-01-01 06:00:00' ORDER BY id",
	"SELECT id FROM events ORDER BY id OFFSET 2395",
	"SELECT median(value), quantile_cont(value, 0.9) FROM events",
	"SELECT region, stddev_samp(value) > 0, string_agg(DISTINCT status::VARCHAR, ',' ORDER BY status::VARCHAR) FROM events GROUP BY region ORDER BY region",
	"SELECT region, count(*) FROM events GROUP BY ROLLUP (region) ORDER BY region NULLS LAST",
	"SELECT region, arg_max(id, value) FROM events GROUP BY ALL ORDER BY 1",
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
