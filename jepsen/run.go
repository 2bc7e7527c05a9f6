//go:build linux

package jepsen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config describes one run.
type Config struct {
	Name  string // the run directory's name
	Nodes int
	// Nemeses are picked at random (seeded) for each fault. Plan, if set,
	// is injected in order instead, one fault each; a name starting with
	// "?" is skipped when a fail point has fired already.
	Nemeses []string
	Plan    []string
	// Duration of the faulty period; clients run during it and for
	// Recovery after every fault is healed.
	Duration time.Duration
	Recovery time.Duration
	Seed     int64
	// Quiet is the pause before each fault, Hold how long it lasts
	// (uniform in [min, max]).
	Quiet, Hold       [2]time.Duration
	NodeOptions       NodeOptions
	Workload          WorkloadOptions
	InitialFailpoints map[int]string
	// Dir is the root; the run writes into Dir/Name.
	Dir           string
	Bin, MinIOBin string
	// KeepData keeps node data and MinIO objects after a passing run.
	KeepData bool
	Logf     func(format string, args ...any)
	// Cleanup, if set (tests pass t.Cleanup), also gets the cluster's
	// Close, so that processes die with the test however it ends.
	Cleanup func(func())
}

// DefaultConfig returns a configuration for n nodes with the given
// nemeses; the caller sets Name, Dir, Bin, MinIOBin and Seed.
func DefaultConfig(n int, nemeses ...string) Config {
	return Config{
		Nodes:    n,
		Nemeses:  nemeses,
		Duration: 30 * time.Second,
		Recovery: 3 * time.Second,
		Quiet:    [2]time.Duration{time.Second, 3 * time.Second},
		Hold:     [2]time.Duration{2 * time.Second, 5 * time.Second},
		NodeOptions: NodeOptions{
			RaftLog:           "wal", // the product's default
			FlushAge:          time.Second,
			SnapshotThreshold: 256,
			TrailingLogs:      128,
			SnapshotInterval:  time.Second,
			LogLevel:          "info",
		},
		Workload: WorkloadOptions{
			Writers:        6,
			Readers:        2,
			MaxBatch:       4,
			Attempts:       3,
			AttemptTimeout: [2]time.Duration{time.Second, 3 * time.Second},
			ReadTimeout:    5 * time.Second,
			WriterThink:    20 * time.Millisecond,
			ReaderThink:    100 * time.Millisecond,
		},
	}
}

// Result is what a run produced.
type Result struct {
	Dir     string
	Report  *Report
	Summary string
	Events  []Event
	// Cluster events worth a look: unexpected exits (with log tails) and
	// refusals to start after corruption.
	Unexpected, Refusals []string
	FailpointsFired      int
	FaultsByKind         map[string]int
}

// Run runs one test: cluster, clients, faults, heal, final reads, checks.
// The error is for the harness failing (the cluster never formed, …); the
// verdict is Result.Report.Valid.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	// A new directory per run (-count=N repeats a name).
	dir := filepath.Join(cfg.Dir, cfg.Name)
	for i := 2; ; i++ {
		if err := os.Mkdir(dir, 0o755); err == nil {
			break
		} else if !os.IsExist(err) {
			if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
				return nil, err
			}
			if err := os.Mkdir(dir, 0o755); err == nil {
				break
			}
			return nil, err
		}
		dir = filepath.Join(cfg.Dir, fmt.Sprintf("%s-%d", cfg.Name, i))
	}
	logFile, err := os.Create(filepath.Join(dir, "harness.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	var logMu sync.Mutex
	start := time.Now()
	logf := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		logMu.Lock()
		fmt.Fprintf(logFile, "%8.3fs %s\n", time.Since(start).Seconds(), msg)
		logMu.Unlock()
		if cfg.Logf != nil {
			cfg.Logf("%s", msg)
		}
	}
	for _, name := range append(append([]string(nil), cfg.Nemeses...), cfg.Plan...) {
		n := Nemeses[strings.TrimPrefix(name, "?")]
		if n == nil {
			return nil, fmt.Errorf("jepsen: unknown nemesis %q (known: %s)", name, strings.Join(NemesisNames(), ", "))
		}
		if n.Needs != nil {
			if err := n.Needs(&cfg); err != nil {
				return nil, fmt.Errorf("jepsen: nemesis %s: %w", name, err)
			}
		}
	}
	logf("run %s: %d nodes, raft log %s, nemeses %v plan %v, duration %v, seed %d, directory %s",
		cfg.Name, cfg.Nodes, cfg.NodeOptions.RaftLog, cfg.Nemeses, cfg.Plan, cfg.Duration, cfg.Seed, dir)
	hist, err := NewHistory(filepath.Join(dir, "history.jsonl"))
	if err != nil {
		return nil, err
	}
	defer hist.Close()

	c, err := StartCluster(ctx, cfg.Bin, cfg.MinIOBin, dir, cfg.Nodes, cfg.NodeOptions, cfg.InitialFailpoints, hist, logf)
	if c != nil { // a cluster that started partly is closed too
		defer c.Close()
		if cfg.Cleanup != nil {
			cfg.Cleanup(c.Close)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jepsen: start cluster (logs in %s): %w", dir, err)
	}
	logf("cluster up: %s", describeNodes(c))
	if err := retry(ctx, 30*time.Second, func(ctx context.Context) error {
		if err := c.api.createTable(ctx, c.Nodes[0].HTTPAddr, Table); err != nil {
			return err
		}
		return c.api.createTable(ctx, c.Nodes[0].HTTPAddr, DoomedTable)
	}); err != nil {
		return nil, fmt.Errorf("jepsen: create table: %w", err)
	}

	rng := rand.New(rand.NewSource(cfg.Seed))
	w := startWorkload(c, hist, cfg.Workload, cfg.Seed)
	e := &env{c: c, rng: rng, cfg: &cfg}
	faults := map[string]int{}
	runNemesis(ctx, e, &cfg, hist, faults, logf)

	logf("faulty period over: healing everything")
	if err := c.HealAll(ctx); err != nil {
		logf("heal: %v", err)
		hist.Note("heal", "heal all: "+err.Error())
	} else {
		hist.Note("heal", "heal all")
	}
	time.Sleep(cfg.Recovery)
	w.Stop()
	logf("clients stopped")

	// Final: a healthy cluster, everything flushed, every node read.
	if err := c.WaitHealthy(ctx, 120*time.Second); err != nil {
		logf("%v", err)
		hist.Note("event", err.Error())
		c.HealAll(ctx) // once more: something may have died during the wait
		if err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
			hist.Note("event", err.Error())
		}
	}
	if err := retry(ctx, 60*time.Second, func(ctx context.Context) error {
		for _, nd := range c.Nodes {
			if err := c.api.flush(ctx, nd.HTTPAddr); err == nil {
				return nil
			} else if !c.Running(nd) {
				continue
			} else {
				return err
			}
		}
		return errors.New("no node answered")
	}); err != nil {
		logf("final flush failed: %v", err)
		hist.Note("event", "final flush failed: "+err.Error())
	} else {
		hist.Note("event", "final flush done")
	}
	if err := c.WaitHealthy(ctx, 60*time.Second); err != nil {
		logf("%v", err)
	}
	finalReads(ctx, c, hist, logf)

	res = &Result{Dir: dir, Unexpected: c.Unexpected(), Refusals: c.Refusals(), FailpointsFired: c.FailpointsFired(), FaultsByKind: faults}
	c.Close()
	hist.Close()
	res.Events = hist.Events()
	res.Report = Check(res.Events, CheckOptions{VisualizeDir: dir})
	res.Summary = summarize(&cfg, res)
	os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(res.Summary), 0o644)
	if b, err := json.MarshalIndent(res.Report, "", "  "); err == nil {
		os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644)
	}
	logf("%s", res.Summary)
	if res.Report.Valid && !cfg.KeepData {
		for _, nd := range c.Nodes {
			os.RemoveAll(filepath.Dir(nd.DataDir))
		}
		os.RemoveAll(filepath.Join(dir, "minio-data"))
	}
	return res, nil
}

// runNemesis injects faults until the duration is over, one at a time:
// quiet, inject, hold, heal.
func runNemesis(ctx context.Context, e *env, cfg *Config, hist *History, faults map[string]int, logf func(string, ...any)) {
	deadline := time.Now().Add(cfg.Duration)
	sleepUntil := func(t time.Time) bool {
		d := time.Until(t)
		if d <= 0 {
			return ctx.Err() == nil
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	defer sleepUntil(deadline)
	for step := 0; ; step++ {
		quiet := uniform(e.rng, cfg.Quiet[0], cfg.Quiet[1])
		if time.Now().Add(quiet).After(deadline) || !sleepUntil(time.Now().Add(quiet)) {
			return
		}
		var name string
		switch {
		case cfg.Plan != nil && step >= len(cfg.Plan):
			return
		case cfg.Plan != nil:
			name = cfg.Plan[step]
			if strings.HasPrefix(name, "?") {
				name = name[1:]
				if e.c.FailpointsFired() > 0 {
					logf("plan step %s skipped: a fail point fired already", name)
					continue
				}
			}
		case len(cfg.Nemeses) == 0:
			return
		default:
			name = cfg.Nemeses[e.rng.Intn(len(cfg.Nemeses))]
		}
		n := Nemeses[name]
		logf("nemesis %s: injecting", name)
		desc, heal, err := n.Inject(ctx, e)
		if err != nil {
			logf("nemesis %s: %v", name, err)
			hist.Note("fault-error", name+": "+err.Error())
			if heal != nil {
				if err := heal(); err != nil {
					logf("nemesis %s: heal: %v", name, err)
				}
			}
			continue
		}
		faults[name]++
		hist.Note("fault", name+": "+desc)
		logf("nemesis %s: %s", name, desc)
		hold := uniform(e.rng, cfg.Hold[0], cfg.Hold[1])
		sleepUntil(time.Now().Add(hold))
		err = heal()
		msg := name
		if err != nil {
			msg += ": " + err.Error()
		}
		hist.Note("heal", msg)
		logf("nemesis %s: healed (%v)", name, err)
	}
}

// finalReads reads every id through every node, strongly (each forwards
// to the leader) and locally (each node's own replica, which must have
// converged).
func finalReads(ctx context.Context, c *Cluster, hist *History, logf func(string, ...any)) {
	// The deleted rows: one strong read of DoomedTable.
	err := retry(ctx, 30*time.Second, func(ctx context.Context) error {
		inv := hist.Invoke(ProcFinal, FReadDoomed, nil)
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		ids, err := c.api.readIDs(rctx, c.Nodes[0].HTTPAddr, DoomedTable, "strong", "")
		hist.Complete(inv, map[bool]string{true: OK, false: Fail}[err == nil], func(e *Event) {
			e.Node = c.Nodes[0].ID
			if err != nil {
				e.Error = err.Error()
			} else {
				e.IDs = ids
			}
		})
		return err
	})
	if err != nil {
		logf("final read of %s failed: %v", DoomedTable, err)
	}
	// Strong reads also run distributed (every node reads its share of
	// the files) and gathered, so the fragments' answers are checked too.
	for _, f := range []struct{ fn, consistency, execution string }{{FRead, "strong", ""}, {FReadLocal, "local", ""}, {FRead, "strong", "distributed"}, {FRead, "strong", "gathered"}} {
		for _, nd := range c.Nodes {
			var ids []string
			var lastErr error
			err := retry(ctx, 30*time.Second, func(ctx context.Context) error {
				inv := hist.Invoke(ProcFinal, f.fn, nil)
				rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				defer cancel()
				var err error
				ids, err = c.api.readIDs(rctx, nd.HTTPAddr, Table, f.consistency, f.execution)
				hist.Complete(inv, map[bool]string{true: OK, false: Fail}[err == nil], func(e *Event) {
					e.Node = nd.ID
					if err != nil {
						e.Error = err.Error()
					} else {
						e.Read = NewReadSet(ids)
					}
				})
				lastErr = err
				return err
			})
			if err != nil {
				logf("final %s%s read through %s failed: %v", f.consistency, suffix(f.execution), nd.ID, lastErr)
				continue
			}
			logf("final %s%s read through %s: %d rows", f.consistency, suffix(f.execution), nd.ID, len(ids))
		}
	}
}

func retry(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := f(actx)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func describeNodes(c *Cluster) string {
	var parts []string
	for _, nd := range c.Nodes {
		parts = append(parts, fmt.Sprintf("%s api %s (advertised %s) raft %s (advertised %s)", nd.ID, nd.HTTPAddr, nd.HTTPProxy, nd.RaftAddr, nd.RaftProxy))
	}
	return strings.Join(parts, "; ")
}

// summarize renders the verdict, the counts and the first anomaly.
func summarize(cfg *Config, res *Result) string {
	r := res.Report
	s := r.Stats
	var b strings.Builder
	verdict := "PASS"
	if !r.Valid {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "jepsen %s: %s (seed %d, %d nodes, raft log %s, faulty period %v)\n", cfg.Name, verdict, cfg.Seed, cfg.Nodes, cfg.NodeOptions.RaftLog, cfg.Duration)
	fmt.Fprintf(&b, "  directory: %s (history.jsonl, harness.log, n*.log, minio.log)\n", res.Dir)
	fmt.Fprintf(&b, "  operations: %d writes (%d ok, %d failed, %d unknown), %d strong reads (%d ok)\n",
		s.AddOps, s.AddOK, s.AddFail, s.AddInfo, s.Reads, s.ReadsOK)
	fmt.Fprintf(&b, "  rows: %d attempted, %d acknowledged, %d lost, %d duplicated, %d unknown (%d present at the end), %d of failed writes; final read %d rows\n",
		s.Attempted, s.Acked, s.Lost, s.Duplicated, s.Unknown, s.UnknownPresent, s.FailedRows, s.FinalRows)
	if s.Deletes+s.Upserts > 0 {
		fmt.Fprintf(&b, "  deletes: %d (%d acknowledged, %d rows), %d deleted rows back at the end; upserts: %d (%d acknowledged)\n",
			s.Deletes, s.DeletesOK, s.DeletedRows, s.Resurrected, s.Upserts, s.UpsertsOK)
	}
	var kinds []string
	for k, v := range res.FaultsByKind {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(kinds)
	fmt.Fprintf(&b, "  faults injected: %d [%s]; fail points fired: %d; refusals to start after corruption: %d; unexpected exits: %d\n",
		s.Faults+res.FailpointsFired, strings.Join(kinds, ", "), res.FailpointsFired, len(res.Refusals), len(res.Unexpected))
	fmt.Fprintf(&b, "  linearizability (porcupine, grow-only set, per client): %s\n", r.Linearizable)
	if len(r.Counts) > 0 {
		var cs []string
		for k, v := range r.Counts {
			cs = append(cs, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(cs)
		fmt.Fprintf(&b, "  anomalies: %s\n", strings.Join(cs, ", "))
	}
	if len(r.Anomalies) > 0 {
		a := firstAnomaly(r.Anomalies)
		fmt.Fprintf(&b, "  first anomaly: %s: %s\n  history excerpt:\n%s", a.Kind, a.Message, Excerpt(res.Events, a))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, u := range res.Refusals {
		fmt.Fprintf(&b, "  refusal: %s\n", u)
	}
	for _, u := range res.Unexpected {
		fmt.Fprintf(&b, "  unexpected exit: %s\n", firstLine(u))
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// EnvBinary names the variable that points at a prebuilt miniodb binary.
const EnvBinary = "MINIODB_BIN"

// Binary returns the miniodb binary: $MINIODB_BIN, or one built once per
// process from the repository that contains this module into dir.
func Binary(dir string) (string, error) {
	if b := os.Getenv(EnvBinary); b != "" {
		return b, nil
	}
	buildOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			buildErr = err
			return
		}
		out := filepath.Join(dir, "miniodb")
		cmd := exec.Command("go", "build", "-o", out, "./cmd/miniodb")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("jepsen: go build ./cmd/miniodb in %s: %v\n%s", root, err, b)
			return
		}
		buildBin = out
	})
	return buildBin, buildErr
}

// repoRoot finds the main module's directory above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/miniodb/miniodb\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("jepsen: no github.com/miniodb/miniodb go.mod above %s", dir)
		}
	}
}

// suffix names an execution mode in a log line ("" for the server's).
func suffix(execution string) string {
	if execution == "" {
		return ""
	}
	return " (" + execution + ")"
}
