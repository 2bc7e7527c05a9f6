package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/miniodb/miniodb/compaction"
	"github.com/miniodb/miniodb/internal/failpoint"
)

// Config configures one MinIODB node. Start from DefaultConfig.
type Config struct {
	// NodeID names the node in the Raft cluster; unique and stable.
	NodeID string
	// DataDir holds the Raft log, snapshots and the query cache.
	DataDir string
	// HTTPAddr is the API address (Connect, gRPC, HTTP).
	HTTPAddr string
	// RaftAddr is the Raft transport's listen address. Outgoing Raft and
	// node-to-node API connections are dialed from its host's IP.
	RaftAddr string
	// RaftAdvertise is the Raft address other nodes dial (default RaftAddr).
	RaftAdvertise string
	// HTTPAdvertise is the API address published to other nodes, for
	// forwarding (default: the address the API listens on).
	HTTPAdvertise string
	// ObjectStore is where Parquet files go: file:///path (default
	// <DataDir>/objects) or s3://bucket/prefix?endpoint=host:port&insecure=true.
	ObjectStore string
	// AccessKey and SecretKey are the S3 credentials.
	AccessKey, SecretKey string
	// RaftLog picks the Raft log store: "wal" (MinIODB's own segmented log,
	// the default) or "bolt" (raft-boltdb).
	RaftLog string
	// ObjectStoreShared marks a local-directory object store as visible to
	// every node (tests on one machine); a cluster needs a shared store.
	ObjectStoreShared bool
	// JoinAddrs are API addresses of cluster members to join on first
	// start; empty means bootstrap a new one-node cluster.
	JoinAddrs []string
	// JoinTimeout bounds the retries of a join.
	JoinTimeout time.Duration

	// Auth is "auto" (the default: on when the API or Raft address is not
	// a loopback address), "on" or "off". Once the cluster has a bootstrap
	// token every node checks tokens, whatever its own setting.
	Auth string
	// BootstrapTokenFile holds the cluster's first admin token: written
	// with a new token if missing or empty, used as it is otherwise
	// (default <DataDir>/bootstrap-token on the node that creates the
	// cluster).
	BootstrapTokenFile string
	// JoinToken is the admin token a node sends with its Join when the
	// cluster checks tokens.
	JoinToken string
	// MetricsPublic serves /metrics without a token.
	MetricsPublic bool

	// PGAddr, when set, serves the PostgreSQL wire protocol there (TLS
	// with the API's certificate when it has one).
	PGAddr string

	// BackupTo, when set, makes the leader write a backup there every
	// BackupEvery and keep the newest BackupKeep (0: all).
	BackupTo    string
	BackupEvery time.Duration
	BackupKeep  int

	// TLSCertFile and TLSKeyFile make the API serve HTTPS (and gRPC over
	// TLS); the files are reloaded when they change.
	TLSCertFile, TLSKeyFile string
	// PeerCertFile, PeerKeyFile and PeerCAFile turn on mutual TLS on the
	// Raft address (Raft and node-to-node calls): every node presents a
	// certificate the cluster CA signed and accepts only such peers. All
	// three or none.
	PeerCertFile, PeerKeyFile, PeerCAFile string

	// MaxRequestBytes bounds one API request body.
	MaxRequestBytes int64
	// MaxRowsPerWrite bounds the rows of one write request.
	MaxRowsPerWrite int
	// HotBytesLimit is the memory hot rows may hold before writes are
	// refused with ResourceExhausted.
	HotBytesLimit int64
	// MaxResultRows and MaxResultBytes bound a unary Query's result, which
	// is built in memory (QueryStream and the HTTP query stream rows and
	// have no bound).
	MaxResultRows  int
	MaxResultBytes int64
	// MaxPartitionsPerWrite bounds the partitions one write may touch (as
	// ClickHouse's max_partitions_per_insert_block): each becomes a file.
	MaxPartitionsPerWrite int

	// Flush thresholds for tables that do not set their own: a partition is
	// flushed when it holds FlushRows rows or FlushBytes bytes, or when its
	// oldest hot row is FlushAge old.
	FlushRows  int64
	FlushBytes int64
	FlushAge   time.Duration
	// FlushCheck is how often the flusher looks at the buffers.
	FlushCheck time.Duration
	// DeleteGrace is how long replaced or dropped objects (and orphans)
	// stay in the object store before they are deleted, so that queries
	// that started on an older catalog can still read them; at least
	// MinDeleteGrace. Whether an object may be deleted at all never
	// depends on it: that is proven from the catalog and the key.
	DeleteGrace time.Duration

	// Compaction is the merge policy of tables that do not set their own
	// (compaction.DefaultPolicy unless changed).
	Compaction compaction.Policy
	// CompactionCheck is how often the leader plans merges in the
	// background; CompactionOff turns background merges off (the
	// on-demand Compact still runs).
	CompactionCheck time.Duration
	CompactionOff   bool
	// CompactionConcurrency bounds the merges running at once. Each holds
	// about one block per input and one output row group in memory
	// (package compaction).
	CompactionConcurrency int
	// CompactionBufferRows bounds one merge's memory in rows (see
	// compaction.MergeOptions.BufferRows): about twice this many rows.
	CompactionBufferRows int
	// TombstoneDeadline: files holding rows a delete matched are rewritten
	// by compaction (whatever their size) once the delete is this old.
	TombstoneDeadline time.Duration
	// RetentionCheck is how often the leader removes files whose rows are
	// all older than their table's TTL.
	RetentionCheck time.Duration

	// SnapshotThreshold and TrailingLogs tune Raft snapshots (see raft.Config).
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// SnapshotInterval is how often Raft checks whether to snapshot.
	SnapshotInterval time.Duration
	// ApplyTimeout bounds how long a write waits for Raft.
	ApplyTimeout time.Duration

	// QueryMemoryLimit is DuckDB's memory_limit. "" picks a default that
	// leaves room for Raft and the hot buffers in the same process: half
	// of what physical memory leaves after HotBytesLimit, at least 256 MiB
	// (DuckDB's own default, 80% of RAM, does not).
	QueryMemoryLimit string
	// QuerySpillLimit is DuckDB's max_temp_directory_size, the disk its
	// spill files may use next to the Raft log. "" picks a quarter of the
	// data directory's free space at start.
	QuerySpillLimit string
	// QueryTimeout is the statement timeout; a request may ask for less
	// (Connect-Timeout-Ms, grpc-timeout, timeout_ms on /v1/query).
	QueryTimeout time.Duration
	// FragmentTimeout bounds one node's fragment of a distributed query;
	// a fragment that takes longer has its files run on another node.
	FragmentTimeout time.Duration
	// MaxConcurrentQueries bounds the queries this node runs at once;
	// beyond it a query is refused with ResourceExhausted.
	MaxConcurrentQueries int
	// DistributeMinBytes is how much a strong query must read, after
	// pruning, before the leader distributes it over the cluster (when
	// its request leaves execution to "auto"); below it, the fragments'
	// round trips cost more than the scan they share.
	DistributeMinBytes int64
	// QueryThreads is DuckDB's thread count (0 for the CPU count).
	QueryThreads int
	// CacheBytes bounds the local Parquet file cache.
	CacheBytes int64
	// QueryNoPruning turns file pruning off (differential tests compare
	// results with and without it).
	QueryNoPruning bool

	// Logger receives the node's logs.
	Logger *slog.Logger

	// Failpoints are test-only crash/pause/error points (nil: none).
	Failpoints *failpoint.Set
	// UnsafeAckBeforeCommit acknowledges writes once handed to Raft, before
	// they are committed. Test-only: it exists to show that the jepsen
	// checker catches the loss it causes. Never set it in production.
	UnsafeAckBeforeCommit bool

	// testApplyHook runs before the FSM applies each entry (in-package
	// tests make a replica lag with it).
	testApplyHook func()
	// testCommitGate, when set, lets a group commit worker take writes
	// only after receiving from it (one send: one entry; close: no gate),
	// so in-package tests can queue writes to coalesce them.
	testCommitGate chan struct{}
	// testNow, when set, is the node's clock for retention and file ages.
	testNow func() time.Time
}

// DefaultConfig returns a working single-node configuration.
func DefaultConfig() Config {
	return Config{
		NodeID:                "n1",
		DataDir:               "data",
		HTTPAddr:              "127.0.0.1:7070",
		Auth:                  "auto",
		RaftAddr:              "127.0.0.1:7071",
		RaftLog:               "wal",
		MaxRequestBytes:       64 << 20,
		MaxRowsPerWrite:       1_000_000,
		HotBytesLimit:         1 << 30,
		MaxResultRows:         1_000_000,
		MaxResultBytes:        256 << 20,
		MaxPartitionsPerWrite: 100,
		QueryTimeout:          5 * time.Minute,
		FragmentTimeout:       time.Minute,
		MaxConcurrentQueries:  16,
		DistributeMinBytes:    64 << 20,
		FlushRows:             1_000_000,
		FlushBytes:            64 << 20,
		FlushAge:              30 * time.Second,
		FlushCheck:            500 * time.Millisecond,
		DeleteGrace:           10 * time.Minute,
		Compaction:            compaction.DefaultPolicy(),
		CompactionCheck:       5 * time.Second,
		CompactionConcurrency: 1,
		CompactionBufferRows:  compaction.DefaultBufferRows,
		RetentionCheck:        10 * time.Second,
		BackupEvery:           24 * time.Hour,
		TombstoneDeadline:     time.Hour,
		SnapshotThreshold:     8192,
		TrailingLogs:          10240,
		SnapshotInterval:      30 * time.Second,
		ApplyTimeout:          30 * time.Second,
		JoinTimeout:           60 * time.Second,
		CacheBytes:            4 << 30,
	}
}

// Validate reports every problem of the configuration at once.
// MinDeleteGrace is the shortest DeleteGrace accepted: a query downloads
// the files it reads before it runs, and a download of a file the catalog
// named a moment ago must not find it gone.
const MinDeleteGrace = time.Second

func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("node: "+format, args...)) }
	if c.NodeID == "" {
		add("node id is empty")
	}
	if c.DataDir == "" {
		add("data dir is empty")
	}
	for _, a := range [][2]string{{"http address", c.HTTPAddr}, {"raft address", c.RaftAddr}} {
		if _, _, err := net.SplitHostPort(a[1]); err != nil {
			add("%s %q: %v", a[0], a[1], err)
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		add("TLS needs both a certificate and a key file (--tls-cert, --tls-key)")
	}
	if n := countSet(c.PeerCertFile, c.PeerKeyFile, c.PeerCAFile); n != 0 && n != 3 {
		add("peer TLS needs a certificate, a key and the cluster CA (--peer-tls-cert, --peer-tls-key, --peer-tls-ca)")
	}
	if c.RaftLog != "bolt" && c.RaftLog != "wal" {
		add("raft log %q: want bolt or wal", c.RaftLog)
	}
	// A slice, not a map: the errors come in the same order every time.
	positive := []struct {
		name string
		v    int64
	}{
		{"max request bytes", c.MaxRequestBytes}, {"max rows per write", int64(c.MaxRowsPerWrite)},
		{"hot bytes limit", c.HotBytesLimit}, {"max result rows", int64(c.MaxResultRows)},
		{"max result bytes", c.MaxResultBytes}, {"max partitions per write", int64(c.MaxPartitionsPerWrite)},
		{"flush rows", c.FlushRows}, {"flush bytes", c.FlushBytes}, {"flush age", int64(c.FlushAge)},
		{"flush check", int64(c.FlushCheck)}, {"snapshot threshold", int64(c.SnapshotThreshold)},
		{"snapshot interval", int64(c.SnapshotInterval)}, {"apply timeout", int64(c.ApplyTimeout)},
		{"join timeout", int64(c.JoinTimeout)}, {"query timeout", int64(c.QueryTimeout)}, {"fragment timeout", int64(c.FragmentTimeout)},
		{"max concurrent queries", int64(c.MaxConcurrentQueries)}, {"cache bytes", c.CacheBytes},
		{"compaction check", int64(c.CompactionCheck)}, {"compaction concurrency", int64(c.CompactionConcurrency)},
		{"compaction buffer rows", int64(c.CompactionBufferRows)},
		{"retention check", int64(c.RetentionCheck)}, {"tombstone deadline", int64(c.TombstoneDeadline)},
		{"backup every", int64(c.BackupEvery)},
	}
	for _, p := range positive {
		if p.v <= 0 {
			add("%s must be positive, got %d", p.name, p.v)
		}
	}
	if err := c.Compaction.Validate(); err != nil {
		add("%v", err)
	}
	if c.DeleteGrace < MinDeleteGrace {
		add("delete grace must be at least %v (queries that started before a file was replaced may still need it), got %v", MinDeleteGrace, c.DeleteGrace)
	}
	if c.BackupKeep < 0 {
		add("backup keep must not be negative, got %d", c.BackupKeep)
	}
	if c.QueryThreads < 0 {
		add("query threads must not be negative, got %d", c.QueryThreads)
	}
	return errors.Join(errs...)
}

func countSet(vs ...string) int {
	n := 0
	for _, v := range vs {
		if v != "" {
			n++
		}
	}
	return n
}
