package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// scaleQueries are the scan-heavy statements of the scaling run.
var scaleQueries = []benchQuery{
	benchQueries[1], benchQueries[2], benchQueries[3], benchQueries[6],
}

// benchScale measures how a distributed query scales with nodes honestly
// on a small machine: two nodes in their own processes, each pinned to one
// core (taskset), sharing a directory object store. Every query runs
// single (the leader alone: one core) and distributed (both nodes: two
// cores), interleaved; the report gives the speed-up and the CPU both
// processes spent per query, so the cost of distributing shows too.
func benchScale(ctx context.Context, dir string, rows, batch, clients, days, flushRounds, repeat int, stdout io.Writer) error {
	objects := "file://" + filepath.Join(dir, "objects")
	common := []string{"--object-store", objects, "--object-store-shared", "--flush-age", "1h", "--flush-rows", strconv.Itoa(1 << 40),
		"--flush-bytes", "1024GiB", "--compaction-off", "--query-threads", "1"}
	a, err := startChildNode(ctx, filepath.Join(dir, "a"), "0", append([]string{"--node-id", "a"}, common...))
	if err != nil {
		return fmt.Errorf("bench --scale: node a: %w", err)
	}
	defer a.stop()
	cluster := miniodbv1connect.NewClusterServiceClient(http.DefaultClient, a.base)
	bodies := benchBodies(rows, batch, days)
	for round := range flushRounds {
		part := bodies[round*len(bodies)/flushRounds : (round+1)*len(bodies)/flushRounds]
		if _, _, err := benchIngest(a.base, part, clients, 0); err != nil {
			return err
		}
		if _, err := cluster.Flush(ctx, connect.NewRequest(&v1.FlushRequest{})); err != nil {
			return err
		}
	}
	b, err := startChildNode(ctx, filepath.Join(dir, "b"), "1", append([]string{"--node-id", "b", "--join", a.base[len("http://"):]}, common...))
	if err != nil {
		return fmt.Errorf("bench --scale: node b: %w", err)
	}
	defer b.stop()
	// The join is done when b answers a local read with every row.
	qb := miniodbv1connect.NewQueryServiceClient(http.DefaultClient, b.base)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		resp, err := qb.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT count(*) FROM events", Consistency: "local"}))
		if err == nil && len(resp.Msg.Rows) == 1 && fmt.Sprint(resp.Msg.Rows[0].Values[0].AsInterface()) == strconv.Itoa(rows) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench --scale: node b did not catch up in 2 minutes (last: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	qa := miniodbv1connect.NewQueryServiceClient(http.DefaultClient, a.base)
	facts, err := explainFacts(ctx, qa, scaleQueries[0].sql, "single")
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	fmt.Fprintf(stdout, "# miniodb bench --scale — %s, %s: nodes a (core 0) and b (core 1), one DuckDB thread each, %d rows, %s, median of %d\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, rows, facts.read, repeat)
	fmt.Fprintf(stdout, "| query | a alone ms | a and b ms | speed-up | CPU per query, a alone ms | CPU per query, a and b ms | CPU ratio |\n|---|---|---|---|---|---|---|\n")
	for _, q := range scaleQueries {
		times := map[string][]time.Duration{}
		cpus := map[string]time.Duration{}
		// One warm-up run each fills both nodes' file caches.
		for i := -1; i < repeat; i++ {
			for _, mode := range []string{"single", "distributed"} {
				ca, err := a.cpu()
				if err != nil {
					return err
				}
				cb, err := b.cpu()
				if err != nil {
					return err
				}
				t0 := time.Now()
				if _, err := qa.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: q.sql, Execution: mode})); err != nil {
					return fmt.Errorf("%s (%s): %w", q.name, mode, err)
				}
				el := time.Since(t0)
				ca2, _ := a.cpu()
				cb2, _ := b.cpu()
				if i >= 0 {
					times[mode] = append(times[mode], el)
					cpus[mode] += ca2 - ca + cb2 - cb
				}
			}
		}
		med := map[string]time.Duration{}
		for m, ts := range times {
			slices.Sort(ts)
			med[m] = pct(ts, 0.5)
		}
		cs, cd := cpus["single"]/time.Duration(repeat), cpus["distributed"]/time.Duration(repeat)
		fmt.Fprintf(stdout, "| %s | %.1f | %.1f | %.2f× | %.0f | %.0f | %.2f |\n", q.name, ms(med["single"]), ms(med["distributed"]),
			float64(med["single"])/float64(med["distributed"]), ms(cs), ms(cd), float64(cd)/float64(max(cs, 1)))
	}
	fmt.Fprintln(stdout)
	return nil
}
