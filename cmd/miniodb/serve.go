package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miniodb/miniodb/internal/failpoint"
	"github.com/miniodb/miniodb/node"
)

const serveUsage = `Usage: miniodb serve [flags]

Runs a MinIODB node. With no flags: a single node on 127.0.0.1:7070, data
under ./data, Parquet files in ./data/objects (nothing else to install).

Examples:
  miniodb serve
  miniodb serve --node-id n2 --http-addr 127.0.0.1:7080 --raft-addr 127.0.0.1:7081 \
    --object-store 's3://miniodb?endpoint=127.0.0.1:9000&insecure=true' --join 127.0.0.1:7070
  miniodb serve --data-dir /var/lib/miniodb --http-addr 0.0.0.0:7070
  MINIO_ROOT_USER=minioadmin MINIO_ROOT_PASSWORD=minioadmin \
    miniodb serve --object-store 's3://miniodb/prod?endpoint=127.0.0.1:9000&insecure=true'
  miniodb serve --config miniodb.json    # keys are flag names: {"node-id": "n1", "flush-age": "10s"}
  miniodb certs --nodes n1 && miniodb serve --tls-cert certs/n1.crt --tls-key certs/n1.key \
    --peer-tls-cert certs/n1.crt --peer-tls-key certs/n1.key --peer-tls-ca certs/ca.crt

S3 credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or else
MINIO_ROOT_USER/MINIO_ROOT_PASSWORD.

Flags:
`

func serveFlags(cfg *node.Config, configFile, logLevel *string) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(configFile, "config", "", "JSON config file; keys are flag names, flags given on the command line win")
	fs.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "unique, stable id of this node in the cluster")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for the Raft log, snapshots and the query cache")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", cfg.HTTPAddr, "API address (Connect, gRPC, HTTP)")
	fs.StringVar(&cfg.RaftAddr, "raft-addr", cfg.RaftAddr, "Raft listen address (outgoing node-to-node connections are dialed from its IP)")
	fs.StringVar(&cfg.RaftAdvertise, "raft-advertise", "", "Raft address other nodes dial (default --raft-addr)")
	fs.StringVar(&cfg.HTTPAdvertise, "http-advertise", "", "API address published to other nodes for forwarding (default --http-addr)")
	fs.StringVar(&cfg.ObjectStore, "object-store", "", "where Parquet files go: file:///path or s3://bucket/prefix?endpoint=host:port&insecure=true (default <data-dir>/objects)")
	fs.StringVar(&cfg.RaftLog, "raft-log", cfg.RaftLog, "Raft log store: bolt or wal")
	fs.BoolVar(&cfg.ObjectStoreShared, "object-store-shared", false, "the file:// object store is a directory every node sees (tests on one machine)")
	fs.Func("join", "on first start, join the cluster through these members' API addresses (comma-separated) instead of bootstrapping", func(v string) error {
		cfg.JoinAddrs = nil
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cfg.JoinAddrs = append(cfg.JoinAddrs, a)
			}
		}
		return nil
	})
	fs.DurationVar(&cfg.JoinTimeout, "join-timeout", cfg.JoinTimeout, "how long --join keeps retrying")
	fs.StringVar(&cfg.Auth, "auth", cfg.Auth, "check API tokens: auto (on when --http-addr or --raft-addr is not a loopback address), on or off; once a cluster has tokens every node checks them")
	fs.StringVar(&cfg.BootstrapTokenFile, "bootstrap-token-file", "", "file with the cluster's first admin token: written with a new token if missing or empty, used if it holds one (default <data-dir>/bootstrap-token on the node that creates the cluster)")
	fs.StringVar(&cfg.JoinToken, "join-token", "", "admin token sent with --join when the cluster checks tokens (env MINIODB_TOKEN)")
	fs.BoolVar(&cfg.MetricsPublic, "metrics-public", false, "serve /metrics without a token when the node checks tokens")
	fs.StringVar(&cfg.PGAddr, "pg-addr", "", "serve the PostgreSQL wire protocol on this address, e.g. 127.0.0.1:5432 (TLS with --tls-cert; a token as password when the node checks tokens)")
	fs.StringVar(&cfg.BackupTo, "backup-to", "", "write a backup to this URL (s3://… or file:///…) every --backup-every, on the leader")
	fs.DurationVar(&cfg.BackupEvery, "backup-every", cfg.BackupEvery, "how often --backup-to backs up")
	fs.IntVar(&cfg.BackupKeep, "backup-keep", 0, "with --backup-to, keep only the newest N backups (default: all)")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "serve the API over HTTPS (and gRPC over TLS) with this PEM certificate; reloaded when the file changes")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "the PEM key of --tls-cert")
	fs.StringVar(&cfg.PeerCertFile, "peer-tls-cert", "", "mutual TLS between nodes (Raft and forwarded requests): this node's PEM certificate, signed by --peer-tls-ca")
	fs.StringVar(&cfg.PeerKeyFile, "peer-tls-key", "", "the PEM key of --peer-tls-cert")
	fs.StringVar(&cfg.PeerCAFile, "peer-tls-ca", "", "the cluster CA: only nodes with a certificate it signed may connect (also trusted for https:// --join addresses)")
	fs.Var((*sizeFlag)(&cfg.MaxRequestBytes), "max-request-bytes", "largest request body accepted")
	fs.IntVar(&cfg.MaxRowsPerWrite, "max-rows-per-write", cfg.MaxRowsPerWrite, "most rows in one write request")
	fs.Var((*sizeFlag)(&cfg.HotBytesLimit), "hot-bytes-limit", "memory unflushed rows may hold before writes are refused (ResourceExhausted)")
	fs.IntVar(&cfg.MaxResultRows, "max-result-rows", cfg.MaxResultRows, "most rows a unary Query returns (QueryStream has no limit)")
	fs.Var((*sizeFlag)(&cfg.MaxResultBytes), "max-result-bytes", "largest result a unary Query returns (QueryStream has no limit)")
	fs.IntVar(&cfg.MaxPartitionsPerWrite, "max-partitions-per-write", cfg.MaxPartitionsPerWrite, "most partitions one write may touch (each becomes a file)")
	fs.DurationVar(&cfg.QueryTimeout, "query-timeout", cfg.QueryTimeout, "statement timeout (a request may ask for less)")
	fs.DurationVar(&cfg.FragmentTimeout, "fragment-timeout", cfg.FragmentTimeout, "how long one node's share of a distributed query may take before its files run on another node")
	fs.IntVar(&cfg.MaxConcurrentQueries, "max-concurrent-queries", cfg.MaxConcurrentQueries, "queries run at once on this node; more are refused (ResourceExhausted)")
	fs.Int64Var(&cfg.DistributeMinBytes, "distribute-min-bytes", cfg.DistributeMinBytes, "bytes a query must read (after pruning) before the leader spreads it over the cluster's nodes")
	fs.Int64Var(&cfg.FlushRows, "flush-rows", cfg.FlushRows, "flush a partition at this many hot rows")
	fs.Var((*sizeFlag)(&cfg.FlushBytes), "flush-bytes", "flush a partition at this many hot bytes")
	fs.DurationVar(&cfg.FlushAge, "flush-age", cfg.FlushAge, "flush a partition when its oldest hot row is this old")
	fs.DurationVar(&cfg.DeleteGrace, "delete-grace", cfg.DeleteGrace, "keep replaced, dropped and orphaned objects this long before deleting them")
	fs.BoolVar(&cfg.CompactionOff, "compaction-off", cfg.CompactionOff, "no background merges of small files (miniodb compact still merges)")
	fs.DurationVar(&cfg.CompactionCheck, "compaction-check", cfg.CompactionCheck, "how often the leader plans merges")
	fs.IntVar(&cfg.CompactionConcurrency, "compaction-concurrency", cfg.CompactionConcurrency, "merges run at once on the leader")
	fs.IntVar(&cfg.CompactionBufferRows, "compaction-buffer-rows", cfg.CompactionBufferRows, "rows one merge holds in memory (its memory is about twice this many rows), whatever the number of files merged")
	fs.Var((*sizeFlag)(&cfg.Compaction.TargetFileBytes), "compaction-target", "merged files grow up to this size; larger files are left alone (tables may set their own)")
	fs.IntVar(&cfg.Compaction.MinFiles, "compaction-min-files", cfg.Compaction.MinFiles, "files of one size tier that make a merge (tables may set their own)")
	fs.IntVar(&cfg.Compaction.MaxFiles, "compaction-max-files", cfg.Compaction.MaxFiles, "most files one merge takes (tables may set their own)")
	fs.DurationVar(&cfg.Compaction.Cooldown, "compaction-cooldown", cfg.Compaction.Cooldown, "a new file waits this long before it is merged (tables may set their own)")
	fs.DurationVar(&cfg.TombstoneDeadline, "tombstone-deadline", cfg.TombstoneDeadline, "files holding deleted rows are rewritten by compaction once the delete is this old")
	fs.DurationVar(&cfg.RetentionCheck, "retention-check", cfg.RetentionCheck, "how often the leader removes files whose rows are all older than their table's TTL")
	fs.Uint64Var(&cfg.SnapshotThreshold, "snapshot-threshold", cfg.SnapshotThreshold, "Raft log entries between snapshots")
	fs.Uint64Var(&cfg.TrailingLogs, "trailing-logs", cfg.TrailingLogs, "Raft log entries kept after a snapshot")
	fs.DurationVar(&cfg.SnapshotInterval, "snapshot-interval", cfg.SnapshotInterval, "how often Raft checks whether a snapshot is due")
	fs.StringVar(&cfg.QueryMemoryLimit, "query-memory-limit", cfg.QueryMemoryLimit, "DuckDB memory_limit, e.g. 4GB (default: half of RAM less --hot-bytes-limit)")
	fs.StringVar(&cfg.QuerySpillLimit, "query-spill-limit", cfg.QuerySpillLimit, "disk DuckDB may spill to, e.g. 20GB (default: a quarter of the data directory's free space)")
	fs.IntVar(&cfg.QueryThreads, "query-threads", cfg.QueryThreads, "DuckDB threads (default: the CPU count)")
	fs.Var((*sizeFlag)(&cfg.CacheBytes), "cache-bytes", "size of the local Parquet file cache")
	fs.StringVar(logLevel, "log-level", "info", "debug, info, warn or error")
	return fs
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := node.DefaultConfig()
	var configFile, logLevel string
	fs := serveFlags(&cfg, &configFile, &logLevel)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, serveUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("serve takes no arguments, got %q (see miniodb serve --help)", fs.Args())
	}
	if configFile != "" {
		if err := applyConfigFile(fs, configFile); err != nil {
			return err
		}
	}
	var level slog.Level
	var err error
	if err = level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", logLevel)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if cfg.JoinToken == "" {
		cfg.JoinToken = os.Getenv("MINIODB_TOKEN")
	}
	cfg.AccessKey, cfg.SecretKey = s3Credentials()
	// Test-only switches, read from the environment so that no flag invites
	// their use: fail points (see internal/failpoint) and the unsafe mode
	// the jepsen suite uses to prove its checker can fail.
	if cfg.Failpoints, err = failpoint.Parse(os.Getenv("MINIODB_FAILPOINTS")); err != nil {
		return err
	}
	if os.Getenv("MINIODB_UNSAFE_ACK_BEFORE_COMMIT") == "1" {
		cfg.UnsafeAckBeforeCommit = true
		cfg.Logger.Warn("UNSAFE: acknowledging writes before Raft commits them (MINIODB_UNSAFE_ACK_BEFORE_COMMIT=1); acknowledged rows can be lost")
	}

	n, err := node.New(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "miniodb: node %s serving on http://%s (raft %s, data %s)\n", cfg.NodeID, n.HTTPAddr(), cfg.RaftAddr, cfg.DataDir)
	<-ctx.Done()
	cfg.Logger.Info("shutting down")
	shutdown := make(chan error, 1)
	go func() { shutdown <- n.Close() }()
	select {
	case err := <-shutdown:
		return err
	case <-time.After(30 * time.Second):
		return errors.New("shutdown took longer than 30s")
	}
}

// applyConfigFile sets every flag named in the JSON file that was not given
// on the command line.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for k, v := range m {
		if k == "config" {
			return fmt.Errorf("config %s: a config file cannot name another config file", path)
		}
		if fs.Lookup(k) == nil {
			return fmt.Errorf("config %s: unknown key %q (keys are the flag names of miniodb serve)", path, k)
		}
		if given[k] {
			continue
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case float64:
			s = strconv.FormatFloat(x, 'f', -1, 64)
		case bool:
			s = strconv.FormatBool(x)
		default:
			return fmt.Errorf("config %s: key %q: want a string, number or bool", path, k)
		}
		if err := fs.Set(k, s); err != nil {
			return fmt.Errorf("config %s: key %q: %w", path, k, err)
		}
	}
	return nil
}

func s3Credentials() (access, secret string) {
	if a, s := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); a != "" {
		return a, s
	}
	return os.Getenv("MINIO_ROOT_USER"), os.Getenv("MINIO_ROOT_PASSWORD")
}
