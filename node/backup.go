package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"

	"github.com/miniodb/miniodb/backup"
	"github.com/miniodb/miniodb/objstore"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// pins are object keys a running backup still copies: the collector does
// not delete them, whatever their grace period.
type pins struct {
	mu   sync.Mutex
	keys map[string]int
}

func (p *pins) add(keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys == nil {
		p.keys = map[string]int{}
	}
	for _, k := range keys {
		p.keys[k]++
	}
}

func (p *pins) remove(keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range keys {
		if p.keys[k]--; p.keys[k] <= 0 {
			delete(p.keys, k)
		}
	}
}

func (p *pins) has(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[key] > 0
}

func (a *api) Backup(ctx context.Context, req *connect.Request[v1.BackupRequest], stream *connect.ServerStream[v1.BackupResponse]) error {
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return err
	} else if p != nil {
		s, err := p.cluster.Backup(ctx, forwarded(ctx, req.Msg))
		if err != nil {
			return err
		}
		defer s.Close()
		for s.Receive() {
			if err := stream.Send(s.Msg()); err != nil {
				return err
			}
		}
		return s.Err()
	}
	// Progress at most every half second, and the final answer.
	var last time.Time
	var sendErr error
	m, err := a.n.Backup(ctx, req.Msg.To, func(p backup.Progress) {
		if time.Since(last) < 500*time.Millisecond || sendErr != nil {
			return
		}
		last = time.Now()
		sendErr = stream.Send(progressMsg(p))
	})
	if err != nil {
		return err
	}
	if sendErr != nil {
		return sendErr
	}
	final := progressMsg(backup.Progress{FilesTotal: len(m.Files), FilesDone: len(m.Files), BytesCopied: m.BytesCopied, BytesReused: m.BytesReused})
	final.Done, final.BackupId, final.RaftIndex, final.CatalogBytes = true, m.ID, m.RaftIndex, m.Catalog.Size
	if req.Msg.Keep > 0 {
		if final.Pruned, err = a.n.pruneBackups(ctx, req.Msg.To, int(req.Msg.Keep)); err != nil {
			return err
		}
	}
	return stream.Send(final)
}

func progressMsg(p backup.Progress) *v1.BackupResponse {
	return &v1.BackupResponse{FilesTotal: int64(p.FilesTotal), FilesDone: int64(p.FilesDone), BytesCopied: p.BytesCopied, BytesReused: p.BytesReused}
}

func (n *Node) openBackupStore(ctx context.Context, to string) (objstore.ObjectStore, error) {
	if to == "" {
		return nil, fmt.Errorf("%w: a backup needs a destination (s3://bucket/prefix or file:///dir)", ErrInvalid)
	}
	dest, err := objstore.OpenStore(ctx, to, objstore.Credentials{AccessKey: n.cfg.AccessKey, SecretKey: n.cfg.SecretKey})
	if err != nil {
		return nil, fmt.Errorf("%w: backup destination: %w", ErrInvalid, err)
	}
	return dest, nil
}

// Backup writes a backup of the cluster's state to the destination URL,
// on the leader: after a read barrier, so it holds every write
// acknowledged before the call, at one Raft index. The cluster keeps
// taking writes; the files the backup copies are pinned against the
// collector until it ends. One backup runs at a time on a node.
func (n *Node) Backup(ctx context.Context, to string, progress func(backup.Progress)) (*backup.Manifest, error) {
	dest, err := n.openBackupStore(ctx, to)
	if err != nil {
		return nil, err
	}
	n.backupMu.Lock()
	defer n.backupMu.Unlock()
	if err := n.readBarrier(ctx); err != nil {
		return nil, err
	}
	snap := n.fsm.Backup()
	files := make([]objstore.ObjectInfo, len(snap.Files))
	keys := make([]string, len(snap.Files))
	for i, f := range snap.Files {
		files[i] = objstore.ObjectInfo{Key: f.Key, Size: f.SizeBytes}
		keys[i] = f.Key
	}
	n.backupPins.add(keys)
	defer n.backupPins.remove(keys)
	start := time.Now()
	m, err := backup.Write(ctx, dest, backup.Source{
		Store: n.store, WriteCatalog: snap.Write, Files: files, RaftIndex: snap.Index, NodeID: n.cfg.NodeID,
	}, backup.Options{Progress: progress, Now: n.now})
	if err != nil {
		return nil, fmt.Errorf("node: backup to %s: %w", dest, err)
	}
	if err := n.recordAction(ctx, n.auditRecord(ctx, "backup", m.ID, fmt.Sprintf("to %s at raft index %d: %d files, %d bytes copied", dest, m.RaftIndex, len(m.Files), m.BytesCopied))); err != nil {
		return nil, fmt.Errorf("node: backup %s written, but recording it failed: %w", m.ID, err)
	}
	n.logger.Info("backup written", "backup_id", m.ID, "destination", dest.String(), "raft_index", m.RaftIndex,
		"files", len(m.Files), "bytes_copied", m.BytesCopied, "bytes_reused", m.BytesReused, "seconds", time.Since(start).Seconds())
	return m, nil
}

func (n *Node) pruneBackups(ctx context.Context, to string, keep int) ([]string, error) {
	dest, err := n.openBackupStore(ctx, to)
	if err != nil {
		return nil, err
	}
	removed, err := backup.Prune(ctx, dest, keep, n.now())
	if err != nil {
		return removed, fmt.Errorf("node: prune backups in %s: %w", dest, err)
	}
	if len(removed) > 0 {
		n.logger.Info("old backups removed", "destination", dest.String(), "removed", removed)
	}
	return removed, nil
}

// backupLoop writes scheduled backups on the leader (Config.BackupTo).
func (n *Node) backupLoop() {
	if n.cfg.BackupTo == "" {
		n.wg.Done()
		return
	}
	check := min(n.cfg.BackupEvery, time.Minute)
	n.whileLeader(check, 24*time.Hour, "scheduled backup failed", func(ctx context.Context) error {
		if _, err := n.leaderReady(ctx); err != nil {
			return err
		}
		dest, err := n.openBackupStore(ctx, n.cfg.BackupTo)
		if err != nil {
			return err
		}
		if last, err := backup.Find(ctx, dest, ""); err == nil && n.now().Sub(time.UnixMicro(last.CreatedUnixMicros)) < n.cfg.BackupEvery {
			return nil
		} else if err != nil && !errors.Is(err, backup.ErrNotFound) {
			return err
		}
		if _, err := n.Backup(ctx, n.cfg.BackupTo, nil); err != nil {
			return err
		}
		if n.cfg.BackupKeep > 0 {
			_, err = n.pruneBackups(ctx, n.cfg.BackupTo, n.cfg.BackupKeep)
		}
		return err
	})
}

// RestoreOptions says what RestoreDataDir restores and where.
type RestoreOptions struct {
	// From is the backup destination URL; BackupID picks a backup ("" the
	// newest).
	From, BackupID string
	// DataDir is the new node's data directory; it must be empty or
	// missing.
	DataDir string
	// NodeID and RaftAddr are the new node's (the one-voter cluster's
	// configuration); start it with the same --node-id and --raft-addr.
	NodeID, RaftAddr string
	// ObjectStore receives the files (default file://<DataDir>/objects).
	ObjectStore string
	// Credentials for s3:// URLs.
	Credentials objstore.Credentials
	Progress    func(backup.Progress)
	Logger      *slog.Logger
}

// RestoreDataDir makes the data directory of a new one-node cluster whose
// state is the backup's: it copies the backup's files into the object
// store (checking every checksum) and writes the catalog as the node's
// Raft snapshot, at the backup's index. Start the node with miniodb serve
// on that directory; others join it.
func RestoreDataDir(ctx context.Context, o RestoreOptions) (*backup.Manifest, error) {
	if o.NodeID == "" || o.RaftAddr == "" {
		return nil, errors.New("node: restore needs the new node's id and raft address")
	}
	if entries, err := os.ReadDir(o.DataDir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("node: restore into %s: the directory is not empty; restore builds a new cluster in an empty directory", o.DataDir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("node: restore: %w", err)
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	src, err := objstore.OpenStore(ctx, o.From, o.Credentials)
	if err != nil {
		return nil, fmt.Errorf("node: restore from %s: %w", o.From, err)
	}
	m, err := backup.Find(ctx, src, o.BackupID)
	if err != nil {
		return nil, err
	}
	target := o.ObjectStore
	if target == "" {
		target = "file://" + filepath.Join(dataDir, "objects")
	}
	dst, err := objstore.OpenStore(ctx, target, o.Credentials)
	if err != nil {
		return nil, fmt.Errorf("node: restore into %s: %w", target, err)
	}
	raftDir := filepath.Join(dataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o755); err != nil {
		return nil, fmt.Errorf("node: restore: %w", err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 2, newHCLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("node: restore: snapshot store: %w", err)
	}
	// The transport only encodes the configuration's peers.
	_, trans := raft.NewInmemTransport(raft.ServerAddress(o.RaftAddr))
	defer trans.Close()
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(o.NodeID), Address: raft.ServerAddress(o.RaftAddr)}}}
	sink, err := snaps.Create(raft.SnapshotVersionMax, m.RaftIndex, 1, conf, m.RaftIndex, trans)
	if err != nil {
		return nil, fmt.Errorf("node: restore: create snapshot: %w", err)
	}
	if err := backup.Restore(ctx, src, m, dst, sink, backup.Options{Progress: o.Progress}); err != nil {
		sink.Cancel()
		return nil, err
	}
	if err := sink.Close(); err != nil {
		return nil, fmt.Errorf("node: restore: write snapshot: %w", err)
	}
	b, _ := json.Marshal(restoredInfo{From: src.String(), BackupID: m.ID, RaftIndex: m.RaftIndex})
	if err := writeFileSync(filepath.Join(dataDir, restoredMarker), b, 0o644); err != nil {
		return nil, fmt.Errorf("node: restore: %w", err)
	}
	return m, nil
}
