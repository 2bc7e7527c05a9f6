package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"connectrpc.com/connect"
	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/miniodb/miniodb/backup"
	"github.com/miniodb/miniodb/node"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

const benchUsage = `Usage: miniodb bench [flags]

Starts a throw-away single node in a temporary directory and measures:
  ingest  rows/s acknowledged for Connect JSON batches of {id, ts, value,
          region, host, status} from concurrent clients (durable: each batch
          is acknowledged after Raft commit and apply);
  query   GROUP BY and time-range queries over the flushed Parquet files,
          through MinIODB and through raw DuckDB on the same files, in the
          same run (median of --repeat runs each).

With --small-files N, the rows are instead written and flushed in N
pieces (N small files, as frequent flushes make them), and the queries
run before and after "compact --wait", beside raw DuckDB over the same
small files and over one file of the same rows.

With --hot, the node runs in its own process (the flags after "--" are
passed to its serve command) with its default flush settings, and the
first queries are timed from the last acknowledged write, while the rows
are hot; the node's peak RSS and Go heap are reported.

With --scale, two nodes run in their own processes, pinned to one core
each, over the same flushed files; each scan-heavy query runs on one of
them alone and distributed over both, with the CPU time both spent.

Examples:
  miniodb bench --rows 2000000 --clients 4 --batch 5000 --raft-log wal
  miniodb bench --rows 2000000 --small-files 1000
  miniodb bench --rows 2000000 --hot [-- extra serve flags]
  miniodb bench --rows 10000000 --days 30 --flush-rounds 4 --nodes 3
  miniodb bench --rows 10000000 --days 30 --flush-rounds 4 --scale

Flags:
`

type benchQuery struct {
	name, sql string
}

// benchQueries are the standard workload's queries: Q1–Q6 and the fixed
// cost of a query. Q2, Q3 and Q6 group by 4, 50 and 10,000 keys, so the
// bytes fragments send grow with the groups, not the rows.
var benchQueries = []benchQuery{
	{"select-1 (fixed cost)", "SELECT 1"},
	{"Q1 count", "SELECT count(*) FROM events"},
	{"Q2 group-by region", "SELECT region, count(*), avg(value), max(status) FROM events GROUP BY region ORDER BY region"},
	{"Q3 group-by host top 10", "SELECT host, count(*), sum(value) FROM events GROUP BY host ORDER BY 3 DESC LIMIT 10"},
	{"Q4 time-range 1h", "SELECT count(*), avg(value) FROM events WHERE ts >= TIMESTAMP '2026-01-02 10:00:00' AND ts < TIMESTAMP '2026-01-02 11:00:00'"},
	{"Q5 time-range 1d by region", "SELECT region, count(*) FROM events WHERE ts >= TIMESTAMP '2026-01-03' AND ts < TIMESTAMP '2026-01-04' GROUP BY region ORDER BY region"},
	{"Q6 group-by id (10,000 groups) top 10", "SELECT id, count(*), avg(value) FROM events GROUP BY id ORDER BY 3 DESC, id LIMIT 10"},
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 2_000_000, "rows to ingest")
	batch := fs.Int("batch", 5000, "rows per write request")
	clients := fs.Int("clients", 4, "concurrent writers")
	raftLog := fs.String("raft-log", "wal", "raft log store of the node: bolt or wal")
	repeat := fs.Int("repeat", 5, "runs of each query (the median is reported)")
	days := fs.Int("days", 4, "days the rows' timestamps span (one partition per day)")
	flushRounds := fs.Int("flush-rounds", 1, "ingest in this many rounds with a flush after each, so every day partition has this many files")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the ingest phase to this file")
	catchup := fs.Bool("catchup", false, "with --nodes > 1: after ingest, join one more node and time its catch-up to the hot rows (by snapshot)")
	nodes := fs.Int("nodes", 1, "cluster size: 1, or 3 (or more) nodes in this process on loopback TCP, writes sent to the leader")
	rate := fs.Int("rate", 0, "with --ingest-compaction: send at most this many rows/s (0: as fast as the node takes them)")
	ingestCompaction := fs.Int64("ingest-compaction", 0, "ingest twice, flushing every this many rows, with background compaction off and on")
	smallFiles := fs.Int("small-files", 0, "write and flush the rows in this many pieces, then measure queries before and after compaction")
	writeVia := fs.String("write-via", "leader", "with --nodes > 1: send the writes to the leader or to a follower (which forwards them, coalesced)")
	backupFiles := fs.Int("backup", 0, "ingest the rows as this many files, then measure ingest with and without a backup running, and a second backup after 1% more rows")
	scale := fs.Bool("scale", false, "scaling on this machine: two nodes in their own processes pinned to one core each (taskset), each query single (one node) and distributed (both), with the CPU both spent")
	hot := fs.Bool("hot", false, "run the node in its own process with its default flush settings, then time the first queries over the hot rows after the last acknowledged write and report the node's peak RSS")
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rows <= 0 || *nodes <= 0 || *batch <= 0 || *clients <= 0 || *repeat <= 0 || *days <= 0 || *flushRounds <= 0 {
		return fmt.Errorf("--rows, --batch, --clients, --repeat, --days and --flush-rounds must be positive")
	}
	dir, err := os.MkdirTemp("", "miniodb-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.RaftLog = *raftLog
	cfg.HotBytesLimit = 8 << 30
	cfg.FlushAge = time.Hour // flushed once, at the end of ingest, so files are large
	cfg.FlushRows = 1 << 40
	cfg.FlushBytes = 1 << 40
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg.CompactionOff = true // merges run when the bench says so
	if *smallFiles > 0 {
		if *nodes > 1 || *catchup {
			return fmt.Errorf("--small-files runs on one node")
		}
		cfg.DataDir = filepath.Join(dir, "n1")
		return benchSmallFiles(ctx, cfg, *rows, *smallFiles, *days, *repeat, stdout)
	}
	if *scale {
		return benchScale(ctx, dir, *rows, *batch, *clients, *days, *flushRounds, *repeat, stdout)
	}
	if *hot {
		return benchHot(ctx, dir, *rows, *batch, *clients, *days, fs.Args(), stdout)
	}
	if *backupFiles > 0 {
		cfg.DataDir = filepath.Join(dir, "n1")
		return benchBackup(ctx, cfg, dir, *rows, *backupFiles, *batch, *clients, *days, stdout)
	}
	if *ingestCompaction > 0 {
		return benchIngestCompaction(ctx, cfg, dir, benchBodies(*rows, *batch, *days), *rows, *clients, *rate, *ingestCompaction, stdout)
	}
	if *nodes > 1 {
		cfg.ObjectStore = "file://" + filepath.Join(dir, "objects")
		cfg.ObjectStoreShared = true
	}
	if *catchup {
		// Snapshot often and keep little log, so a new node must catch up
		// by snapshot install (the case that matters for large buffers).
		cfg.SnapshotThreshold = 64
		cfg.TrailingLogs = 16
		cfg.SnapshotInterval = time.Second
	}
	ncfg := cfg
	ncfg.DataDir = filepath.Join(dir, "n1")
	n, err := node.New(ctx, ncfg)
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.WaitLeader(ctx); err != nil {
		return err
	}
	base := "http://" + n.HTTPAddr()
	var followers []*node.Node
	for i := 2; i <= *nodes; i++ {
		fcfg := cfg
		fcfg.NodeID = fmt.Sprint("n", i)
		fcfg.DataDir = filepath.Join(dir, fcfg.NodeID)
		fcfg.JoinAddrs = []string{n.HTTPAddr()}
		f, err := node.New(ctx, fcfg)
		if err != nil {
			return err
		}
		defer f.Close()
		followers = append(followers, f)
	}
	writeBase := base
	switch {
	case *writeVia == "followers" && len(followers) > 0:
		writeBase = "http://" + followers[0].HTTPAddr()
	case *writeVia != "leader" && *writeVia != "followers":
		return fmt.Errorf("--write-via %q: want leader or followers", *writeVia)
	}
	host, _ := os.Hostname()

	fmt.Fprintf(stdout, "# miniodb bench — %s, %s, %d CPUs, %s/%s, raft log %s, %d node(s)\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, *raftLog, *nodes)

	// Ingest.
	// Request bodies are built before the clock starts, so the figure is
	// the server's, not the load generator's.
	bodies := benchBodies(*rows, *batch, *days)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	cluster := miniodbv1connect.NewClusterServiceClient(http.DefaultClient, base)
	var elapsed, cpu time.Duration
	var lats []time.Duration
	for round := range *flushRounds {
		part := bodies[round*len(bodies)/(*flushRounds) : (round+1)*len(bodies)/(*flushRounds)]
		cpu0 := processCPU()
		el, l, err := benchIngest(writeBase, part, *clients, 0)
		if err != nil {
			return err
		}
		cpu += processCPU() - cpu0
		elapsed += el
		lats = append(lats, l...)
		if round < *flushRounds-1 {
			if _, err := cluster.Flush(ctx, connect.NewRequest(&v1.FlushRequest{})); err != nil {
				return err
			}
		}
	}
	slices.Sort(lats)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "## Ingest (writes to the %s)\n\n| rows | batch | clients | seconds | requests/s | rows/s | p50 request | p99 request | CPU per request (nodes and clients) |\n|---|---|---|---|---|---|---|---|---|\n",
		map[bool]string{true: "leader", false: "first follower"}[writeBase == base])
	fmt.Fprintf(stdout, "| %d | %d | %d | %.2f | %.0f | %.0f | %s | %s | %s |\n\n", *rows, *batch, *clients, elapsed.Seconds(),
		float64(len(bodies))/elapsed.Seconds(), float64(*rows)/elapsed.Seconds(), pct(lats, 0.50), pct(lats, 0.99),
		(cpu / time.Duration(max(len(bodies), 1))).Round(time.Microsecond))

	if *catchup && *nodes > 1 {
		time.Sleep(2 * time.Second) // let a snapshot truncate the log
		target := n.FSM().AppliedIndex()
		hotRows := int64(0)
		if v, ok := n.FSM().Table("events"); ok {
			hotRows, _ = v.HotRows()
		}
		jcfg := cfg
		jcfg.NodeID = "catchup"
		jcfg.DataDir = filepath.Join(dir, jcfg.NodeID)
		jcfg.JoinAddrs = []string{n.HTTPAddr()}
		t0 := time.Now()
		j, err := node.New(ctx, jcfg)
		if err != nil {
			return err
		}
		defer j.Close()
		for j.FSM().AppliedIndex() < target {
			if time.Since(t0) > 5*time.Minute {
				return fmt.Errorf("the new node did not catch up in 5 minutes")
			}
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Fprintf(stdout, "Catch-up: a new node joined and applied up to index %d (%d hot rows) in %.2f s.\n\n",
			target, hotRows, time.Since(t0).Seconds())
	}

	// Flush everything, then query.
	t0 := time.Now()
	fr, err := cluster.Flush(ctx, connect.NewRequest(&v1.FlushRequest{}))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Flush: %d rows into %d files in %.2f s (%.0f rows/s).\n\n", fr.Msg.RowsFlushed, fr.Msg.FilesWritten,
		time.Since(t0).Seconds(), float64(fr.Msg.RowsFlushed)/time.Since(t0).Seconds())
	view, ok := n.FSM().Table("events")
	if !ok {
		return fmt.Errorf("bench table missing")
	}
	var paths []string
	for _, f := range view.Files {
		objects := filepath.Join(dir, "n1", "objects")
		if *nodes > 1 {
			objects = filepath.Join(dir, "objects")
		}
		paths = append(paths, "'"+filepath.Join(objects, filepath.FromSlash(f.Key))+"'")
	}
	raw, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, fmt.Sprintf("CREATE VIEW events AS SELECT * FROM read_parquet([%s])", strings.Join(paths, ","))); err != nil {
		return err
	}
	qc := miniodbv1connect.NewQueryServiceClient(http.DefaultClient, base)
	_, flushedRows, _ := view.FileTotals()
	fmt.Fprintf(stdout, "## Queries over %d flushed rows in %d files (median of %d)\n\n", flushedRows, len(paths), *repeat)
	fmt.Fprintf(stdout, "| query | MinIODB ms | raw DuckDB ms | ratio | MinIODB read |\n|---|---|---|---|---|\n")
	for _, q := range benchQueries {
		var ours, theirs []time.Duration
		for i := 0; i < *repeat; i++ {
			t0 := time.Now()
			if _, err := qc.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: q.sql})); err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			ours = append(ours, time.Since(t0))
			t0 = time.Now()
			if err := drain(ctx, raw, q.sql); err != nil {
				return fmt.Errorf("%s (raw): %w", q.name, err)
			}
			theirs = append(theirs, time.Since(t0))
		}
		slices.Sort(ours)
		slices.Sort(theirs)
		a, b := pct(ours, 0.5), pct(theirs, 0.5)
		facts, err := explainFacts(ctx, qc, q.sql, "single")
		if err != nil {
			return fmt.Errorf("%s (explain): %w", q.name, err)
		}
		fmt.Fprintf(stdout, "| %s | %.1f | %.1f | %.2f | %s |\n", q.name, ms(a), ms(b), float64(a)/float64(b), facts.read)
	}
	fmt.Fprintln(stdout)
	if *nodes > 1 {
		return benchExecutions(ctx, qc, raw, *repeat, *nodes, stdout)
	}
	return nil
}

// benchExecutions times each query on the cluster run single (the leader
// alone), distributed and gathered, beside raw DuckDB, in one run.
func benchExecutions(ctx context.Context, qc miniodbv1connect.QueryServiceClient, raw *sql.DB, repeat, nodes int, stdout io.Writer) error {
	modes := []string{"single", "distributed", "gathered"}
	fmt.Fprintf(stdout, "## Execution modes on %d nodes (median of %d)\n\n| query | single ms | distributed ms | gathered ms | raw DuckDB ms | distributed / single | distributed: fragments sent |\n|---|---|---|---|---|---|---|\n", nodes, repeat)
	for _, q := range benchQueries {
		times := map[string][]time.Duration{}
		for i := 0; i < repeat; i++ {
			for _, m := range modes {
				t0 := time.Now()
				if _, err := qc.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: q.sql, Execution: m})); err != nil {
					return fmt.Errorf("%s (%s): %w", q.name, m, err)
				}
				times[m] = append(times[m], time.Since(t0))
			}
			t0 := time.Now()
			if err := drain(ctx, raw, q.sql); err != nil {
				return fmt.Errorf("%s (raw): %w", q.name, err)
			}
			times["raw"] = append(times["raw"], time.Since(t0))
		}
		med := map[string]time.Duration{}
		for m, ts := range times {
			slices.Sort(ts)
			med[m] = pct(ts, 0.5)
		}
		facts, err := explainFacts(ctx, qc, q.sql, "distributed")
		if err != nil {
			return fmt.Errorf("%s (explain): %w", q.name, err)
		}
		sent := "–"
		if facts.fragments > 0 {
			sent = fmt.Sprintf("%d rows, %s from %d fragments", facts.rowsOut, facts.bytesOut, facts.fragments)
		}
		fmt.Fprintf(stdout, "| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %s |\n", q.name, ms(med["single"]), ms(med["distributed"]), ms(med["gathered"]), ms(med["raw"]),
			float64(med["distributed"])/float64(med["single"]), sent)
	}
	fmt.Fprintln(stdout)
	return nil
}

// explained is what EXPLAIN ANALYZE says a query read and what its
// fragments sent to the coordinator.
type explained struct {
	read      string // "files read of total, bytes read of total"
	fragments int
	rowsOut   int64
	bytesOut  string
}

var (
	explainTable    = regexp.MustCompile(`reads (\d+) of (\d+) files, ([^;]+) of ([^;]+);`)
	explainFragment = regexp.MustCompile(`^fragment on .*; (\d+) rows out \(([\d.]+) (B|KiB|MiB|GiB)\)`)
)

func explainFacts(ctx context.Context, qc miniodbv1connect.QueryServiceClient, sqlText, execution string) (explained, error) {
	resp, err := qc.Explain(ctx, connect.NewRequest(&v1.ExplainRequest{Query: &v1.QueryRequest{Sql: sqlText, Execution: execution}, Analyze: true}))
	if err != nil {
		return explained{}, err
	}
	var e explained
	var bytes float64
	for _, l := range resp.Msg.Lines {
		if m := explainTable.FindStringSubmatch(l); m != nil && e.read == "" {
			e.read = fmt.Sprintf("%s of %s files, %s of %s", m[1], m[2], m[3], m[4])
		}
		if m := explainFragment.FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			size, _ := strconv.ParseFloat(m[2], 64)
			e.fragments++
			e.rowsOut += n
			bytes += size * map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m[3]]
		}
	}
	if e.read == "" {
		e.read = "no file"
	}
	e.bytesOut = fmt.Sprintf("%.1f KiB", bytes/(1<<10))
	return e, nil
}

// smallFileQueries are the queries of the small-files case (issue 9's
// Q1–Q3).
var smallFileQueries = []benchQuery{
	{"Q1 count", "SELECT count(*) FROM events"},
	{"Q2 group-by", "SELECT region, count(*), avg(value) FROM events GROUP BY region ORDER BY region"},
	{"Q3 time-range-1h", "SELECT count(*), avg(value) FROM events WHERE ts >= TIMESTAMP '2026-01-02 10:00:00' AND ts < TIMESTAMP '2026-01-02 11:00:00'"},
}

// benchSmallFiles measures the small-files case: queries over many small
// files, the merge, and the queries again, beside raw DuckDB.
func benchSmallFiles(ctx context.Context, cfg node.Config, rows, files, days, repeat int, stdout io.Writer) error {
	n, err := node.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.WaitLeader(ctx); err != nil {
		return err
	}
	host, _ := os.Hostname()
	fmt.Fprintf(stdout, "# miniodb bench --small-files — %s, %s, %d CPUs, %s/%s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	base := "http://" + n.HTTPAddr()
	cluster := miniodbv1connect.NewClusterServiceClient(http.DefaultClient, base)
	qc := miniodbv1connect.NewQueryServiceClient(http.DefaultClient, base)
	span := int64(days) * 24 * 3600 * 1e6
	per := max(int64(rows/files), 1)
	t0 := time.Now()
	for first := int64(0); first < int64(rows); first += per {
		body := benchBody(nil, first, min(per, int64(rows)-first), span)
		resp, err := http.Post(base+"/miniodb.v1.WriteService/Write", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("write: %s: %s", resp.Status, b)
		}
		if _, err := cluster.Flush(ctx, connect.NewRequest(&v1.FlushRequest{})); err != nil {
			return err
		}
	}
	view, ok := n.FSM().Table("events")
	if !ok {
		return fmt.Errorf("bench table missing")
	}
	nfiles, _, bytesIn := view.FileTotals()
	fmt.Fprintf(stdout, "Wrote %d rows as %d writes, each flushed: %d files, %.1f MB, in %.1f s.\n\n",
		rows, (int64(rows)+per-1)/per, nfiles, float64(bytesIn)/1e6, time.Since(t0).Seconds())
	objects := filepath.Join(cfg.DataDir, "objects")
	pathsOf := func(v []*v1.DataFile) string {
		var paths []string
		for _, f := range v {
			paths = append(paths, "'"+filepath.Join(objects, filepath.FromSlash(f.Key))+"'")
		}
		return strings.Join(paths, ",")
	}
	rawSmall, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer rawSmall.Close()
	if _, err := rawSmall.ExecContext(ctx, fmt.Sprintf("CREATE VIEW events AS SELECT * FROM read_parquet([%s])", pathsOf(view.Files))); err != nil {
		return err
	}
	one := filepath.Join(cfg.DataDir, "one.parquet")
	if _, err := rawSmall.ExecContext(ctx, fmt.Sprintf("COPY (SELECT * FROM events ORDER BY ts) TO '%s' (FORMAT parquet, COMPRESSION zstd)", one)); err != nil {
		return err
	}
	rawOne, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer rawOne.Close()
	if _, err := rawOne.ExecContext(ctx, fmt.Sprintf("CREATE VIEW events AS SELECT * FROM read_parquet('%s')", one)); err != nil {
		return err
	}
	median := func(f func() error) (time.Duration, error) {
		var d []time.Duration
		for i := 0; i < repeat; i++ {
			t0 := time.Now()
			if err := f(); err != nil {
				return 0, err
			}
			d = append(d, time.Since(t0))
		}
		slices.Sort(d)
		return pct(d, 0.5), nil
	}
	ours := func(q string) func() error {
		return func() error {
			_, err := qc.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: q}))
			return err
		}
	}
	raw := func(db *sql.DB, q string) func() error { return func() error { return drain(ctx, db, q) } }
	before := map[string]time.Duration{}
	fmt.Fprintf(stdout, "## Before compaction: %d files (median of %d)\n\n", nfiles, repeat)
	fmt.Fprintf(stdout, "| query | MinIODB ms | raw DuckDB, same %d files, ms | raw DuckDB, one file, ms | MinIODB / one file |\n|---|---|---|---|---|\n", nfiles)
	for _, q := range smallFileQueries {
		a, err := median(ours(q.sql))
		if err != nil {
			return fmt.Errorf("%s: %w", q.name, err)
		}
		b, err := median(raw(rawSmall, q.sql))
		if err != nil {
			return err
		}
		c, err := median(raw(rawOne, q.sql))
		if err != nil {
			return err
		}
		before[q.name] = c
		fmt.Fprintf(stdout, "| %s | %.1f | %.1f | %.1f | %.2f |\n", q.name, ms(a), ms(b), ms(c), float64(a)/float64(c))
	}
	t0 = time.Now()
	cr, err := cluster.Compact(ctx, connect.NewRequest(&v1.CompactRequest{Wait: true}))
	if err != nil {
		return err
	}
	el := time.Since(t0)
	view, _ = n.FSM().Table("events")
	after, _, bytesOut := view.FileTotals()
	fmt.Fprintf(stdout, "\nCompact --wait: %d merges of %d files in %.2f s: %.1f MB read (%.1f MB/s), %.0f rows/s merged, %.1f MB written; %d files left.\n\n",
		cr.Msg.Merges, cr.Msg.FilesMerged, el.Seconds(), float64(cr.Msg.BytesRead)/1e6, float64(cr.Msg.BytesRead)/1e6/el.Seconds(),
		float64(cr.Msg.Rows)/el.Seconds(), float64(bytesOut)/1e6, after)
	// Raw DuckDB over the merged files themselves tells the file
	// format's share of the difference from MinIODB's own.
	rawMerged, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer rawMerged.Close()
	if _, err := rawMerged.ExecContext(ctx, fmt.Sprintf("CREATE VIEW events AS SELECT * FROM read_parquet([%s])", pathsOf(view.Files))); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "## After compaction: %d files (median of %d)\n\n", after, repeat)
	fmt.Fprintf(stdout, "| query | MinIODB ms | raw DuckDB, the merged files, ms | raw DuckDB, one file, ms | MinIODB / one file |\n|---|---|---|---|---|\n")
	for _, q := range smallFileQueries {
		a, err := median(ours(q.sql))
		if err != nil {
			return fmt.Errorf("%s: %w", q.name, err)
		}
		b, err := median(raw(rawMerged, q.sql))
		if err != nil {
			return err
		}
		c, err := median(raw(rawOne, q.sql))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "| %s | %.1f | %.1f | %.1f | %.2f |\n", q.name, ms(a), ms(b), ms(c), float64(a)/float64(c))
	}
	fmt.Fprintln(stdout)
	return nil
}

// processCPU is the CPU time (user and system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchBodies builds the write requests of rows rows over days days.
func benchBodies(rows, batch, days int) [][]byte {
	span := int64(days) * 24 * 3600 * 1e6
	var bodies [][]byte
	for first := int64(0); first < int64(rows); first += int64(batch) {
		bodies = append(bodies, benchBody(nil, first, min(int64(batch), int64(rows)-first), span))
	}
	return bodies
}

// benchIngest sends the request bodies from concurrent clients, at most
// rate rows/s in all when rate > 0, and returns the elapsed time and the
// sorted request latencies.
func benchIngest(base string, bodies [][]byte, clients, rate int) (time.Duration, []time.Duration, error) {
	var next atomic.Int64
	var latMu sync.Mutex
	var lats []time.Duration
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	rowsPer := 0
	if len(bodies) > 0 {
		rowsPer = bytes.Count(bodies[0], []byte("\"id\""))
	}
	start := time.Now()
	for range clients {
		wg.Go(func() {
			hc := &http.Client{}
			for {
				i := next.Add(1) - 1
				if i >= int64(len(bodies)) {
					return
				}
				if rate > 0 {
					// Request i is due when i batches at the rate have passed.
					due := start.Add(time.Duration(float64(i) * float64(rowsPer) / float64(rate) * float64(time.Second)))
					time.Sleep(time.Until(due))
				}
				t0 := time.Now()
				resp, err := hc.Post(base+"/miniodb.v1.WriteService/Write", "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					errc <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errc <- fmt.Errorf("write: %s: %s", resp.Status, b)
					return
				}
				latMu.Lock()
				lats = append(lats, time.Since(t0))
				latMu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errc:
		return 0, nil, err
	default:
	}
	slices.Sort(lats)
	return elapsed, lats, nil
}

// benchIngestCompaction ingests the same rows twice, each time on a fresh
// node that flushes every flushRows rows, with background compaction off
// and on, and reports rows/s and the files left per partition.
func benchIngestCompaction(ctx context.Context, cfg node.Config, dir string, bodies [][]byte, rows, clients, rate int, flushRows int64, stdout io.Writer) error {
	fmt.Fprintf(stdout, "## Ingest with background compaction off and on (flush every %d rows, rate limit %d rows/s)\n\n", flushRows, rate)
	fmt.Fprintf(stdout, "| compaction | rows | seconds | rows/s | p99 batch | files | max files/partition | merges |\n|---|---|---|---|---|---|---|---|\n")
	for _, on := range []bool{false, true} {
		c := cfg
		c.DataDir = filepath.Join(dir, fmt.Sprint("compaction-", on))
		c.FlushRows = flushRows
		c.FlushCheck = 100 * time.Millisecond
		c.CompactionOff = !on
		c.CompactionCheck = 200 * time.Millisecond
		c.Compaction.Cooldown = time.Second
		n, err := node.New(ctx, c)
		if err != nil {
			return err
		}
		if err := n.WaitLeader(ctx); err != nil {
			n.Close()
			return err
		}
		elapsed, lats, err := benchIngest("http://"+n.HTTPAddr(), bodies, clients, rate)
		if err != nil {
			n.Close()
			return err
		}
		view, _ := n.FSM().Table("events")
		files, _, _ := view.FileTotals()
		per := map[string]int{}
		most := 0
		for _, f := range view.Files {
			per[f.Partition]++
			most = max(most, per[f.Partition])
		}
		st := n.Status(ctx)
		merged := st.GetCompactionBytesWritten()
		n.Close()
		fmt.Fprintf(stdout, "| %t | %d | %.2f | %.0f | %s | %d | %d | %.1f MB merged |\n", on, rows, elapsed.Seconds(),
			float64(rows)/elapsed.Seconds(), pct(lats, 0.99), files, most, float64(merged)/1e6)
	}
	fmt.Fprintln(stdout)
	return nil
}

func drain(ctx context.Context, db *sql.DB, q string) error {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
	}
	return rows.Err()
}

// benchBody appends a Connect JSON write of count rows starting at row first.
func benchBody(b []byte, first, count, spanMicros int64) []byte {
	regions := []string{"eu", "us", "ap", "sa"}
	statuses := []int{200, 200, 200, 201, 404, 500}
	b = append(b, `{"table":"events","rows":[`...)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for i := int64(0); i < count; i++ {
		r := first + i
		if i > 0 {
			b = append(b, ',')
		}
		ts := time.UnixMicro(base + r*172_801_013%spanMicros).UTC() // spread over the span
		b = fmt.Appendf(b, `{"id":"dev-%d","ts":"%s","value":%d.%02d,"region":"%s","host":"host-%d","status":%d}`,
			r%10000, ts.Format(time.RFC3339Nano), r%1000, r%100, regions[r%4], r%50, statuses[r%6])
	}
	return append(b, "]}"...)
}

// withPayload adds a field of 16 random bytes (hex) to every row of a
// benchBody, so the files hold data that does not compress away.
func withPayload(body []byte) []byte {
	var out []byte
	var raw [16]byte
	for {
		i := bytes.Index(body, []byte(`,"status":`))
		if i < 0 {
			return append(out, body...)
		}
		rand.Read(raw[:])
		out = append(out, body[:i]...)
		out = append(out, `,"payload":"`...)
		out = hex.AppendEncode(out, raw[:])
		out = append(out, '"')
		body = body[i:]
		out = append(out, body[:1]...)
		body = body[1:]
	}
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// benchBackup measures a backup of rows rows (with a random payload, so
// the files are not mostly compressed away) in files files: ingest with
// and without a backup running (the same number of rows each time, in
// one run), the backup's speed, and a backup after 1% more rows following
// a complete one.
func benchBackup(ctx context.Context, cfg node.Config, dir string, rows, files, batch, clients, days int, stdout io.Writer) error {
	n, err := node.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.WaitLeader(ctx); err != nil {
		return err
	}
	base := "http://" + n.HTTPAddr()
	span := int64(days) * 24 * 3600 * 1e6
	bodies := func(first, count int) [][]byte {
		var out [][]byte
		for f := int64(first); f < int64(first+count); f += int64(batch) {
			out = append(out, withPayload(benchBody(nil, f, min(int64(batch), int64(first+count)-f), span)))
		}
		return out
	}
	// ingest writes count rows from first on and flushes them.
	ingest := func(first, count int) (time.Duration, error) {
		d, _, err := benchIngest(base, bodies(first, count), clients, 0)
		if err != nil {
			return 0, err
		}
		_, err = n.Flush(ctx, "", true)
		return d, err
	}
	per := max(rows/files, 1)
	for f := 0; f < rows; f += per {
		if _, err := ingest(f, min(per, rows-f)); err != nil {
			return err
		}
	}
	next := rows
	view, _ := n.FSM().Table("events")
	nfiles, _, fileBytes := view.FileTotals()
	fmt.Fprintf(stdout, "## Backup of %d rows in %d files (%.1f MB), to a local directory\n\n", rows, nfiles, float64(fileBytes)/1e6)
	// Ingest without and with a backup running: the same rows count.
	extra := max(rows/10, batch)
	quiet, _, err := benchIngest(base, bodies(next, extra), clients, 0)
	if err != nil {
		return err
	}
	next += extra
	dest := "file://" + filepath.Join(dir, "backups")
	type result struct {
		m       *backup.Manifest
		elapsed time.Duration
		err     error
	}
	done := make(chan result, 1)
	t0 := time.Now()
	go func() {
		m, err := n.Backup(ctx, dest, nil)
		done <- result{m, time.Since(t0), err}
	}()
	busy, _, err := benchIngest(base, bodies(next, extra), clients, 0)
	next += extra
	first := <-done // waited for before any return: the goroutine ends here
	if err != nil {
		return err
	}
	if first.err != nil {
		return first.err
	}
	// A complete backup, then 1% more rows (new files), then another.
	if _, err := n.Flush(ctx, "", true); err != nil {
		return err
	}
	if _, err := n.Backup(ctx, dest, nil); err != nil {
		return err
	}
	if _, err := ingest(next, max(rows/100, 1)); err != nil {
		return err
	}
	t1 := time.Now()
	last, err := n.Backup(ctx, dest, nil)
	if err != nil {
		return err
	}
	lastTime := time.Since(t1)
	fmt.Fprintf(stdout, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(stdout, "| ingest of %d rows, no backup | %.0f rows/s |\n", extra, float64(extra)/quiet.Seconds())
	fmt.Fprintf(stdout, "| ingest of %d rows, backup running | %.0f rows/s (%.0f%% of the rate without) |\n", extra, float64(extra)/busy.Seconds(), 100*quiet.Seconds()/busy.Seconds())
	fmt.Fprintf(stdout, "| first backup | %d files, %.1f MB copied in %.2f s (%.0f MB/s), raft index %d |\n", len(first.m.Files), float64(first.m.BytesCopied)/1e6,
		first.elapsed.Seconds(), float64(first.m.BytesCopied)/1e6/first.elapsed.Seconds(), first.m.RaftIndex)
	fmt.Fprintf(stdout, "| backup after 1%% more rows | %d files, %.2f MB copied of %.1f MB (%.2f%%), %.2f s |\n\n", len(last.Files),
		float64(last.BytesCopied)/1e6, float64(last.FileBytes())/1e6, 100*float64(last.BytesCopied)/float64(last.FileBytes()), lastTime.Seconds())
	return nil
}
