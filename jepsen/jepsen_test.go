//go:build linux

package jepsen

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Environment of the process tests.
const (
	envMatrix   = "JEPSEN_MATRIX"    // 1: run TestMatrix
	envDuration = "JEPSEN_DURATION"  // faulty period of each matrix run (default 30s)
	envSeed     = "JEPSEN_SEED"      // fixed seed (default: the time)
	envDir      = "JEPSEN_DIR"       // where runs write (default: a new temp dir)
	envKeep     = "JEPSEN_KEEP_DATA" // 1: keep node data and objects of passing runs
)

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// setup returns a configuration with the binaries and the output directory
// filled in, or skips the test when MinIO is not available.
func setup(t *testing.T, name string, n int, nemeses ...string) Config {
	t.Helper()
	minioBin := os.Getenv(EnvMinIOBinary)
	if minioBin == "" {
		t.Skipf("%s not set; make jepsen / make jepsen-short set it (scripts/install-minio.sh)", EnvMinIOBinary)
	}
	rootOnce.Do(func() {
		if d := os.Getenv(envDir); d != "" {
			rootDir, rootErr = d, os.MkdirAll(d, 0o755)
			return
		}
		rootDir, rootErr = os.MkdirTemp("", "miniodb-jepsen-")
	})
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	bin, err := Binary(rootDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(n, nemeses...)
	cfg.Name = name
	cfg.Dir = rootDir
	cfg.Bin = bin
	cfg.MinIOBin = minioBin
	cfg.Seed = time.Now().UnixNano() % 1_000_000_007
	if s := os.Getenv(envSeed); s != "" {
		if cfg.Seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", envSeed, s, err)
		}
	}
	cfg.KeepData = os.Getenv(envKeep) == "1"
	// Background goroutines may still log while the cluster closes; never
	// after the test has ended (t.Logf would panic). This cleanup runs
	// last, after the cluster's Close (cleanups run in reverse order).
	var ended atomic.Bool
	t.Cleanup(func() { ended.Store(true) })
	cfg.Logf = func(format string, args ...any) {
		if !ended.Load() {
			t.Logf(format, args...)
		}
	}
	cfg.Cleanup = t.Cleanup
	t.Logf("run %s: seed %d (%s=%d reproduces the schedule), output in %s", name, cfg.Seed, envSeed, cfg.Seed, filepath.Join(rootDir, name))
	return cfg
}

func run(t *testing.T, cfg Config) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+10*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Logf("\n%s", res.Summary)
	for _, u := range res.Unexpected {
		t.Logf("unexpected exit: %s", u)
	}
	return res
}

// TestShort is the suite's quick run (make jepsen-short): three nodes; the
// leader crashes between a Parquet upload and its FlushCommit (fail point
// flush-after-upload, armed on the bootstrap node, which leads, for its
// first life; if it did not fire, the fp nemesis arms the followers and
// kills the leader); then the leader is cut off from the others. Pass or
// fail is decided by the checkers only.
func TestShort(t *testing.T) {
	cfg := setup(t, "short-3n", 3)
	cfg.Duration = 25 * time.Second
	cfg.InitialFailpoints = map[int]string{0: "flush-after-upload=crash@6"}
	cfg.Plan = []string{"?fp-flush-after-upload", "partition-leader"}
	cfg.Quiet = [2]time.Duration{5 * time.Second, 5 * time.Second}
	cfg.Hold = [2]time.Duration{6 * time.Second, 6 * time.Second}
	res := run(t, cfg)
	if !res.Report.Valid {
		t.Fatalf("the checker found anomalies; see %s", res.Dir)
	}
	if res.FailpointsFired == 0 {
		t.Logf("note: no fail point fired in this run")
	}
}

// gcOptions make the garbage collector work hard: the shortest grace the
// product accepts, no snapshots and a slow state machine (a restart
// replays the whole log, and a node leads long before its state machine has
// caught up), flushes triggered by size and forced through random nodes,
// also right after leader changes.
func gcOptions(cfg *Config) {
	cfg.NodeOptions.DeleteGrace = time.Second
	cfg.NodeOptions.SnapshotThreshold = 1 << 30
	cfg.NodeOptions.TrailingLogs = 1 << 30
	cfg.NodeOptions.SnapshotInterval = time.Hour
	cfg.NodeOptions.FlushRows = 40
	// A slow state machine: a restarted node replays its log for seconds
	// after it leads, the window in which a collector that trusted its
	// catalog would delete live files.
	cfg.NodeOptions.Failpoints = "fsm-apply=pause(1ms)"
	cfg.Workload.FlushEvery = 400 * time.Millisecond
	// Merges all the time, so replaced files are deleted while nodes
	// crash, and merged objects whose commit is in flight must be spared;
	// a deleter deletes rows while merges rewrite their files.
	cfg.NodeOptions.Compaction = true
	cfg.Workload.Deleters = 1
}

// TestGarbageCollector is the review's lost-files scenario as a run: with
// a short grace period and merges all the time, every node is killed and
// restarted (the new leader replays a long log), the leader crashes
// between a merged upload and its commit and between the collector's
// deletes and its ForgetObjects, and the leader is killed; the collector
// sweeps all the while. A file deleted while the catalog still named it makes the
// final reads fail (no-final-read) or lose rows.
func TestGarbageCollector(t *testing.T) {
	cfg := setup(t, "gc-3n", 3)
	gcOptions(&cfg)
	cfg.Duration = 24 * time.Second
	cfg.Plan = []string{"power-loss", "fp-compaction-after-upload", "kill-leader", "fp-gc-mid-delete"}
	cfg.Quiet = [2]time.Duration{3 * time.Second, 4 * time.Second}
	cfg.Hold = [2]time.Duration{time.Second, 2 * time.Second}
	res := run(t, cfg)
	if !res.Report.Valid {
		t.Fatalf("the checker found anomalies; see %s", res.Dir)
	}
}

// singleRow makes the workload many clients writing one row per request,
// as devices and log shippers do: the leader's group commit and the
// followers' coalescing put many requests in one entry and one hop.
func singleRow(cfg *Config) {
	cfg.Workload.Writers = 48
	cfg.Workload.MaxBatch = 1
	cfg.Workload.WriterThink = 2 * time.Millisecond
}

// TestSingleRowWriters kills the leader and then every node while 48
// clients write single rows through random nodes (so followers coalesce
// what they forward and the leader coalesces what it applies): every
// acknowledged row must be there once.
func TestSingleRowWriters(t *testing.T) {
	cfg := setup(t, "single-row-3n", 3)
	singleRow(&cfg)
	cfg.Duration = 20 * time.Second
	cfg.Plan = []string{"kill-leader", "power-loss"}
	cfg.Quiet = [2]time.Duration{3 * time.Second, 4 * time.Second}
	cfg.Hold = [2]time.Duration{time.Second, 2 * time.Second}
	res := run(t, cfg)
	if !res.Report.Valid {
		t.Fatalf("the checker found anomalies; see %s", res.Dir)
	}
}

// TestUnsafe proves the checker can fail: with
// MINIODB_UNSAFE_ACK_BEFORE_COMMIT=1 nodes acknowledge writes before Raft
// commits them, and the leader is killed over and over while many writers
// are busy. A kill loses the acknowledged entries the leader had not
// replicated yet, which is only a few milliseconds' worth (1 to 15 rows a
// kill here, sometimes none); so every other fault isolates the leader
// instead, and an isolated leader acknowledges writes it can never commit
// until it notices it has lost its quorum. The test passes only if the
// checker reports lost rows.
func TestUnsafe(t *testing.T) {
	cfg := setup(t, "unsafe-3n", 3)
	cfg.Duration = 20 * time.Second
	cfg.NodeOptions.Env = []string{"MINIODB_UNSAFE_ACK_BEFORE_COMMIT=1"}
	cfg.Workload.Writers = 32
	cfg.Workload.Readers = 1
	cfg.Workload.WriterThink = 0
	for i := 0; i < 12; i++ {
		cfg.Plan = append(cfg.Plan, []string{"kill-leader", "partition-leader"}[i%2])
	}
	// The hold outlasts an election, so that an isolated leader is
	// replaced and its unreplicated tail overwritten.
	cfg.Quiet = [2]time.Duration{time.Second, 1500 * time.Millisecond}
	cfg.Hold = [2]time.Duration{1500 * time.Millisecond, 2500 * time.Millisecond}
	res := run(t, cfg)
	if res.Report.Valid || res.Report.Stats.Lost == 0 {
		t.Fatalf("the checker did not catch the loss of unsafe acknowledgements (lost %d, valid %v); see %s",
			res.Report.Stats.Lost, res.Report.Valid, res.Dir)
	}
	t.Logf("as expected, the checker caught %d lost acknowledged rows", res.Report.Stats.Lost)
}

// matrix lists the matrix's rows: a nemesis set and the Raft log store.
// Every nemesis runs on the default store (wal); the bolt rows cover the
// other store where it matters (crashes, power loss, damaged files).
var matrix = []struct {
	name    string
	nemeses []string
	raftLog string
	gc      bool // gcOptions: short grace, long logs, forced flushes
}{
	{"kill-leader", []string{"kill-leader"}, "wal", false},
	{"kill-random", []string{"kill-random"}, "wal", false},
	{"fp-flush-after-upload", []string{"fp-flush-after-upload"}, "wal", false},
	{"fp-flush-after-commit", []string{"fp-flush-after-commit"}, "wal", false},
	{"fp-snapshot-mid-write", []string{"fp-snapshot-mid-write"}, "wal", false},
	{"fp-wal-mid-batch", []string{"fp-wal-mid-batch"}, "wal", false},
	{"pause-leader", []string{"pause-leader"}, "wal", false},
	{"pause-random", []string{"pause-random"}, "wal", false},
	{"partition-leader", []string{"partition-leader"}, "wal", false},
	{"partition-halves", []string{"partition-halves"}, "wal", false},
	{"partition-bridge", []string{"partition-bridge"}, "wal", false},
	{"minio-kill", []string{"minio-kill"}, "wal", false},
	{"power-loss", []string{"power-loss"}, "wal", false},
	{"corrupt-wal", []string{"corrupt-truncate", "corrupt-flip"}, "wal", false},
	{"mixed-wal", nil, "wal", false},
	{"kill-leader-bolt", []string{"kill-leader"}, "bolt", false},
	{"power-loss-bolt", []string{"power-loss"}, "bolt", false},
	{"corrupt-bolt", []string{"corrupt-truncate", "corrupt-flip"}, "bolt", false},
	{"mixed-bolt", nil, "bolt", false},
	{"gc-power-loss", []string{"power-loss", "kill-leader", "kill-random"}, "wal", true},
	{"compaction-faults", []string{"fp-compaction-before-upload", "fp-compaction-after-upload", "fp-compaction-after-commit",
		"fp-gc-mid-delete", "kill-leader", "minio-kill"}, "wal", true},
	// Single-row writers (singleRow) under kills and partitions.
	{"single-row-faults", []string{"kill-leader", "kill-random", "partition-leader", "power-loss"}, "wal", false},
}

// TestMatrix runs every nemesis alone, and all of them mixed, on three and
// five nodes (JEPSEN_MATRIX=1; JEPSEN_DURATION sets each run's faulty
// period).
func TestMatrix(t *testing.T) {
	if os.Getenv(envMatrix) != "1" {
		t.Skipf("set %s=1 to run the matrix (make jepsen)", envMatrix)
	}
	dur := 30 * time.Second
	if s := os.Getenv(envDuration); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", envDuration, s, err)
		}
		dur = d
	}
	for _, n := range []int{3, 5} {
		for _, row := range matrix {
			name := fmt.Sprintf("%s-%dn", row.name, n)
			t.Run(name, func(t *testing.T) {
				nemeses := row.nemeses
				if nemeses == nil { // mixed: everything the log store allows
					for _, nm := range NemesisNames() {
						if Nemeses[nm].Needs == nil || row.raftLog == "wal" {
							nemeses = append(nemeses, nm)
						}
					}
				}
				cfg := setup(t, name, n, nemeses...)
				cfg.Duration = dur
				cfg.NodeOptions.RaftLog = row.raftLog
				if row.gc {
					gcOptions(&cfg)
				}
				if strings.HasPrefix(row.name, "single-row") {
					singleRow(&cfg)
				}
				res := run(t, cfg)
				if !res.Report.Valid {
					t.Errorf("the checker found anomalies; see %s", res.Dir)
				}
			})
		}
	}
}
