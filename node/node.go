package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/miniodb/miniodb/objstore"
	"github.com/miniodb/miniodb/pgwire"
	"github.com/miniodb/miniodb/query"
	"github.com/miniodb/miniodb/raftfsm"
	"github.com/miniodb/miniodb/wal"
)

// Node is one running MinIODB server.
type Node struct {
	cfg    Config
	logger *slog.Logger

	fsm       *raftfsm.FSM
	raft      *raft.Raft
	transport *raft.NetworkTransport
	logStore  raft.LogStore
	stable    *raftboltdb.BoltStore
	store     objstore.ObjectStore
	engine    *query.Engine
	metrics   *metrics
	registry  *prometheus.Registry
	peers     *peers

	httpLn  net.Listener
	httpSrv *http.Server
	// pgLn and pgSrv serve the PostgreSQL protocol (PGAddr).
	pgLn  net.Listener
	pgSrv *pgwire.Server
	// peer is the Raft address's listener; peerSrv serves the API to
	// other nodes on it (forwarded requests).
	peer    *peerLayer
	peerSrv *http.Server

	flushMu sync.Mutex // one flush at a time
	// compactMu: one compaction round at a time (background or on demand).
	compactMu  sync.Mutex
	compacting compactions
	// Bytes this process wrote to the object store by flushes and by
	// merges (write amplification is their sum over the first).
	flushedBytes, compactedBytes atomic.Int64
	ageMu                        sync.Mutex
	hotSince                     map[string]time.Time // table/partition → when first seen hot (leader-local)

	needJoin bool // first start with JoinAddrs: join instead of bootstrapping

	// authOn: this node checks tokens whatever the catalog says (see
	// authEnforced); bootstrapToken is the first admin token it applies
	// while the cluster has none; authFails limits failed attempts.
	authOn         bool
	bootstrapToken string
	authFails      authFailures
	limits         tokenLimits

	// backupMu: one backup at a time; backupPins: files it still copies.
	backupMu   sync.Mutex
	backupPins pins
	// queryPins: files distributed queries are reading on other nodes.
	queryPins pins

	storeMu  sync.Mutex
	storeErr error // last object-store error, nil when healthy

	// barrierIndex: every entry up to it is known applied (by a read
	// barrier); lets strong reads skip the barrier when nothing was added.
	barrierIndex atomic.Uint64
	// readyTerm is the term in which leaderReady's barrier completed.
	readyTerm atomic.Uint64
	// commitCh queues small writes for the group commit workers;
	// forwardCh those a follower coalesces for the leader.
	commitCh  chan *commitRequest
	forwardCh chan *forwardRequest
	// querySlots holds a token per running query (MaxConcurrentQueries).
	querySlots chan struct{}
	// uploadSeq numbers this process's uploads; with the term it makes
	// every object key unique (objstore.KeyInfo).
	uploadSeq atomic.Uint64

	stop chan struct{}
	// stopCtx is canceled when the node stops: the parent of every
	// background loop's context.
	stopCtx    context.Context
	cancelStop context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once
	closeErr   error
}

// New starts a node: opens its stores, starts Raft (bootstrapping a
// one-voter cluster on first start), the query engine, the API server and
// the background loops. Close stops it.
func New(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("node_id", cfg.NodeID)
	n := &Node{cfg: cfg, logger: logger, hotSince: map[string]time.Time{}, stop: make(chan struct{}),
		compacting: compactions{running: map[string]int{}, outputs: map[string]uint64{}, tombSeen: map[uint64]time.Time{}}}
	n.stopCtx, n.cancelStop = context.WithCancel(context.Background())
	n.commitCh = make(chan *commitRequest, commitMaxRequests)
	n.forwardCh = make(chan *forwardRequest, forwardMaxRequests)
	if err := n.open(ctx); err != nil {
		n.closeAll()
		return nil, err
	}
	n.wg.Add(10 + commitWorkers + forwardWorkers)
	for range commitWorkers {
		go n.commitWorker()
	}
	for range forwardWorkers {
		go n.forwardWorker()
	}
	go n.serveHTTP()
	go n.servePeers()
	go n.servePG()
	go n.flushLoop()
	go n.gcLoop()
	go n.compactLoop()
	go n.retentionLoop()
	go n.leaderLoop()
	go n.cacheLoop()
	go n.backupLoop()
	if n.needJoin {
		if err := n.joinCluster(ctx); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

func (n *Node) open(ctx context.Context) error {
	cfg := n.cfg
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("node: data dir: %w", err)
	}
	raftDir := filepath.Join(dataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o755); err != nil {
		return fmt.Errorf("node: create data dir: %w", err)
	}
	storeURL := cfg.ObjectStore
	if storeURL == "" {
		storeURL = "file://" + filepath.Join(dataDir, "objects")
	}
	n.store, err = objstore.OpenStore(ctx, storeURL, objstore.Credentials{AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey})
	if err != nil {
		return fmt.Errorf("node: object store: %w", err)
	}
	if len(cfg.JoinAddrs) > 0 && isLocalStore(n.store) && !cfg.ObjectStoreShared {
		return fmt.Errorf("node: cannot join a cluster with a local-directory object store (%s): other nodes cannot read its files; use a shared store (s3://…), or --object-store-shared for a directory every node sees", n.store)
	}

	// Parquet files a flush was writing when the process died: never
	// uploaded, or uploaded and an orphan the collector handles.
	if err := os.RemoveAll(filepath.Join(dataDir, "tmp")); err != nil {
		return fmt.Errorf("node: clear %s: %w", filepath.Join(dataDir, "tmp"), err)
	}

	n.fsm = raftfsm.New(n.logger.With("component", "fsm"))
	switch {
	case cfg.testApplyHook != nil:
		n.fsm.SetApplyHook(cfg.testApplyHook)
	case cfg.Failpoints != nil:
		n.fsm.SetApplyHook(func() { cfg.Failpoints.Inject("fsm-apply") })
	}
	if cfg.Failpoints != nil {
		n.fsm.SetSnapshotHook(func() error { return cfg.Failpoints.Inject("snapshot-mid-write") })
	}
	n.stable, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(raftDir, "stable.db")})
	if err != nil {
		return fmt.Errorf("node: open raft stable store: %w", err)
	}
	// Assign the store only on success: a nil *wal.Store in the interface
	// would look non-nil to closeAll.
	switch cfg.RaftLog {
	case "wal":
		opts := wal.DefaultOptions()
		opts.Logger = n.logger.With("component", "wal")
		if fp := cfg.Failpoints; fp != nil {
			opts.FailHook = fp.Inject
		}
		ws, err := wal.Open(filepath.Join(raftDir, "wal"), opts)
		if err != nil {
			return fmt.Errorf("node: open raft log (wal): %w", err)
		}
		n.logStore = ws
	default:
		bs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(raftDir, "log.db")})
		if err != nil {
			return fmt.Errorf("node: open raft log (bolt): %w", err)
		}
		n.logStore = bs
	}
	hlog := newHCLogger(n.logger.With("component", "raft"))
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 2, hlog)
	if err != nil {
		return fmt.Errorf("node: open snapshot store: %w", err)
	}
	advertise := cfg.RaftAdvertise
	if advertise == "" {
		advertise = cfg.RaftAddr
	}
	serverTLS, clientTLS, err := peerTLS(cfg, n.logger.With("component", "peer-tls"))
	if err != nil {
		return err
	}
	n.peer, err = newPeerLayer(cfg.RaftAddr, advertise, serverTLS, clientTLS)
	if err != nil {
		return err
	}
	n.peers = newPeers(n.peer.httpClient())
	n.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: n.peer, MaxPool: 3, Timeout: 10 * time.Second, Logger: hlog,
	})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.TrailingLogs = cfg.TrailingLogs
	rc.SnapshotInterval = cfg.SnapshotInterval
	existing, err := raft.HasExistingState(n.logStore, n.stable, snaps)
	if err != nil {
		return fmt.Errorf("node: inspect raft state: %w", err)
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, n.logStore, n.stable, snaps, n.transport)
	if err != nil {
		return fmt.Errorf("node: start raft: %w", err)
	}
	switch {
	case !existing && len(cfg.JoinAddrs) > 0:
		n.needJoin = true
	case existing && len(cfg.JoinAddrs) > 0:
		n.logger.Info("node has raft state already; not joining again", "join", cfg.JoinAddrs)
	case !existing:
		conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: n.transport.LocalAddr()}}}
		if err := n.raft.BootstrapCluster(conf).Error(); err != nil {
			return fmt.Errorf("node: bootstrap cluster: %w", err)
		}
		n.logger.Info("bootstrapped a new single-node cluster", "raft_addr", cfg.RaftAddr)
	}

	if n.authOn, err = resolveAuth(cfg); err != nil {
		return err
	}
	if n.authOn {
		if err := n.prepareBootstrapToken(dataDir, !existing && len(cfg.JoinAddrs) == 0); err != nil {
			return err
		}
		if cfg.PeerCertFile == "" && !loopback(cfg.RaftAddr) {
			n.logger.Warn("the Raft address takes connections without peer TLS: anyone who reaches it can read and change the log; use --peer-tls-cert, --peer-tls-key and --peer-tls-ca", "raft_addr", cfg.RaftAddr)
		}
	} else if !loopback(cfg.HTTPAddr) {
		n.logger.Warn("authentication is off on a non-loopback address (--auth off): anyone who reaches the API may read, write and drop", "http_addr", cfg.HTTPAddr)
	}

	memLimit, spillLimit := queryLimits(cfg, dataDir)
	n.logger.Info("query limits", "memory_limit", memLimit, "spill_limit", spillLimit,
		"timeout", cfg.QueryTimeout, "max_concurrent", cfg.MaxConcurrentQueries)
	n.querySlots = make(chan struct{}, cfg.MaxConcurrentQueries)
	n.engine, err = query.Open(ctx, query.Config{
		Dir:         filepath.Join(dataDir, "query"),
		CacheBytes:  cfg.CacheBytes,
		MemoryLimit: memLimit,
		SpillLimit:  spillLimit,
		Threads:     cfg.QueryThreads,
		Store:       n.store,
		Catalog:     n.fsm,
		Logger:      n.logger.With("component", "query"),
		NoPruning:   cfg.QueryNoPruning,
	})
	if err != nil {
		return err
	}
	n.registry = prometheus.NewRegistry()
	n.metrics = newMetrics(n.registry, n)

	apiTLS, err := apiTLS(cfg, n.logger.With("component", "api-tls"))
	if err != nil {
		return err
	}
	n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("node: listen on %s: %w", cfg.HTTPAddr, err)
	}
	if apiTLS != nil {
		n.httpLn = tls.NewListener(n.httpLn, apiTLS)
	}
	if cfg.PGAddr != "" {
		if n.pgLn, err = net.Listen("tcp", cfg.PGAddr); err != nil {
			return fmt.Errorf("node: listen on %s (--pg-addr): %w", cfg.PGAddr, err)
		}
		n.pgSrv = pgwire.NewServer(pgBackend{n}, apiTLS, n.logger.With("component", "postgres"))
	}
	n.httpSrv, n.peerSrv = n.newHTTPServers()
	return nil
}

// HTTPAddr returns the address the API listens on.
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// advertisedHTTP is the API address other nodes use to reach this one.
func (n *Node) advertisedHTTP() string {
	if n.cfg.HTTPAdvertise != "" {
		return n.cfg.HTTPAdvertise
	}
	return n.HTTPAddr()
}

// Raft returns the node's Raft instance.
func (n *Node) Raft() *raft.Raft { return n.raft }

// FSM returns the node's state machine.
func (n *Node) FSM() *raftfsm.FSM { return n.fsm }

// WaitLeader blocks until the cluster has a leader or ctx ends.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: no leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func (n *Node) serveHTTP() {
	defer n.wg.Done()
	n.logger.Info("serving API", "http_addr", n.HTTPAddr())
	if err := n.httpSrv.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
		n.logger.Error("API server stopped", "error", err)
	}
}

// servePG serves the PostgreSQL protocol, when configured.
func (n *Node) servePG() {
	defer n.wg.Done()
	if n.pgSrv == nil {
		return
	}
	n.logger.Info("serving the PostgreSQL protocol", "pg_addr", n.pgLn.Addr().String())
	if err := n.pgSrv.Serve(n.pgLn); err != nil {
		n.logger.Error("PostgreSQL server stopped", "error", err)
	}
}

// PGAddr returns the address of the PostgreSQL listener ("" if none).
func (n *Node) PGAddr() string {
	if n.pgLn == nil {
		return ""
	}
	return n.pgLn.Addr().String()
}

// servePeers serves the API to other nodes on the Raft address.
func (n *Node) servePeers() {
	defer n.wg.Done()
	if err := n.peerSrv.Serve(n.peer.api); err != nil && !errors.Is(err, http.ErrServerClosed) {
		n.logger.Error("node-to-node API server stopped", "error", err)
	}
}

// Close stops the node: the API first, then the loops, Raft and the stores.
// Later calls return the first call's result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	close(n.stop)
	n.cancelStop()
	var errs []error
	if n.pgSrv != nil {
		n.pgSrv.Close()
	}
	for _, srv := range []*http.Server{n.httpSrv, n.peerSrv} {
		if srv == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	n.wg.Wait()
	n.peers.http.CloseIdleConnections()
	errs = append(errs, n.closeAll())
	return errors.Join(errs...)
}

func (n *Node) closeAll() error {
	var errs []error
	if n.raft != nil {
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("node: raft shutdown: %w", err))
		}
	}
	if n.transport != nil {
		// Close only stops the listener; the pooled outbound connections
		// (and with them the peers' handlers reading from them) end only
		// when the streams are closed too.
		n.transport.CloseStreams()
		n.transport.Close()
	} else if n.peer != nil {
		n.peer.Close()
	}
	if n.engine != nil {
		errs = append(errs, n.engine.Close())
	}
	if c, ok := n.logStore.(io.Closer); ok && c != nil {
		errs = append(errs, c.Close())
	}
	if n.stable != nil {
		errs = append(errs, n.stable.Close())
	}
	if n.httpLn != nil && n.httpSrv == nil {
		n.httpLn.Close()
	}
	if n.pgLn != nil {
		n.pgLn.Close() // closed by pgSrv.Close too, unless it never served
	}
	return errors.Join(errs...)
}

// hcLogger adapts slog to the hclog.Logger raft wants.
func newHCLogger(l *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Info,
		Output: &slogWriter{l: l},
	})
}

type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	switch {
	case strings.Contains(msg, "[ERROR]"):
		level = slog.LevelError
	case strings.Contains(msg, "[WARN]"):
		level = slog.LevelWarn
	case strings.Contains(msg, "[DEBUG]"), strings.Contains(msg, "[TRACE]"):
		level = slog.LevelDebug
	}
	// hclog's own prefix (time, level) is redundant under slog.
	if i := strings.Index(msg, "] "); i >= 0 && i < 40 {
		msg = msg[i+2:]
	}
	w.l.Log(context.Background(), level, msg)
	return len(p), nil
}

// queryLimits returns DuckDB's memory and spill limits: the configured
// ones, or defaults that leave room for what else the process and the
// disk hold (see Config.QueryMemoryLimit and QuerySpillLimit).
func queryLimits(cfg Config, dataDir string) (memory, spill string) {
	memory, spill = cfg.QueryMemoryLimit, cfg.QuerySpillLimit
	if memory == "" {
		limit := int64(256 << 20)
		if total := physicalMemory(); total > 0 {
			limit = max(limit, (total-cfg.HotBytesLimit)/2)
		}
		memory = fmt.Sprintf("%dMiB", limit>>20)
	}
	if spill == "" {
		limit := int64(1 << 30)
		if free := freeDisk(dataDir); free > 0 {
			limit = max(64<<20, free/4)
		}
		spill = fmt.Sprintf("%dMiB", limit>>20)
	}
	return memory, spill
}
