package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// setFSM is a small raft.FSM: each command is an 8-byte id, the state is
// the set of ids applied. Re-applying an id (a client retry after lost
// leadership) does not change the state, so the test can retry freely and
// still demand exact convergence.
type setFSM struct {
	mu  sync.Mutex
	ids map[uint64]bool
}

func newSetFSM() *setFSM { return &setFSM{ids: make(map[uint64]bool)} }

func (f *setFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand || len(l.Data) != 8 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids[binary.BigEndian.Uint64(l.Data)] = true
	return nil
}

func (f *setFSM) sorted() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]uint64, 0, len(f.ids))
	for id := range f.ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (f *setFSM) Snapshot() (raft.FSMSnapshot, error) { return setSnapshot(f.sorted()), nil }

func (f *setFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	ids := make(map[uint64]bool)
	for ; len(b) >= 8; b = b[8:] {
		ids[binary.BigEndian.Uint64(b)] = true
	}
	f.mu.Lock()
	f.ids = ids
	f.mu.Unlock()
	return nil
}

type setSnapshot []uint64

func (s setSnapshot) Persist(sink raft.SnapshotSink) error {
	b := make([]byte, 8*len(s))
	for i, id := range s {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	if _, err := sink.Write(b); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (setSnapshot) Release() {}

// syncBuffer collects log output from many goroutines; the test prints it
// only when it fails, so late log lines never touch a finished test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// raftNode is one member of the test cluster. stable and snaps survive a
// restart (they stand in for disk); the wal directory is reopened.
type raftNode struct {
	id     raft.ServerID
	addr   raft.ServerAddress
	dir    string
	stable *raft.InmemStore
	snaps  *raft.InmemSnapshotStore
	store  *Store
	trans  *raft.InmemTransport
	fsm    *setFSM
	r      *raft.Raft
}

type raftCluster struct {
	t     *testing.T
	nodes []*raftNode
	logs  *syncBuffer
}

func (c *raftCluster) config(id raft.ServerID) *raft.Config {
	conf := raft.DefaultConfig()
	conf.LocalID = id
	conf.HeartbeatTimeout = 200 * time.Millisecond
	conf.ElectionTimeout = 200 * time.Millisecond
	conf.LeaderLeaseTimeout = 100 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.SnapshotThreshold = 16
	conf.SnapshotInterval = 50 * time.Millisecond
	conf.TrailingLogs = 8
	conf.Logger = hclog.New(&hclog.LoggerOptions{Name: string(id), Output: c.logs, Level: hclog.Info})
	return conf
}

// start opens n's wal directory and starts Raft on it.
func (c *raftCluster) start(n *raftNode) {
	c.t.Helper()
	store, err := Open(n.dir, Options{
		SegmentSize: 4096, // many segments, so that compaction removes files
		Logger:      slog.New(slog.NewTextHandler(c.logs, nil)).With("node", n.id),
	})
	if err != nil {
		c.t.Fatalf("node %s: open wal: %v", n.id, err)
	}
	_, trans := raft.NewInmemTransport(n.addr)
	for _, o := range c.nodes {
		if o != n && o.r != nil {
			trans.Connect(o.addr, o.trans)
			o.trans.Connect(n.addr, trans)
		}
	}
	n.store, n.trans, n.fsm = store, trans, newSetFSM()
	r, err := raft.NewRaft(c.config(n.id), n.fsm, store, n.stable, n.snaps, trans)
	if err != nil {
		c.t.Fatalf("node %s: NewRaft: %v", n.id, err)
	}
	n.r = r
}

// stop shuts Raft down and closes the wal, as a process exit would.
func (c *raftCluster) stop(n *raftNode) {
	c.t.Helper()
	if n.r == nil {
		return
	}
	if err := n.r.Shutdown().Error(); err != nil {
		c.t.Fatalf("node %s: shutdown: %v", n.id, err)
	}
	for _, o := range c.nodes {
		if o != n && o.trans != nil {
			o.trans.Disconnect(n.addr)
		}
	}
	n.trans.Close()
	if err := n.store.Close(); err != nil {
		c.t.Fatalf("node %s: close wal: %v", n.id, err)
	}
	n.r = nil
}

// waitFor polls cond until it holds or a generous deadline passes.
func (c *raftCluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *raftCluster) leader() *raftNode {
	c.t.Helper()
	var l *raftNode
	c.waitFor("a leader", func() bool {
		for _, n := range c.nodes {
			if n.r != nil && n.r.State() == raft.Leader {
				l = n
				return true
			}
		}
		return false
	})
	return l
}

// apply commits ids [from, to], retrying on leadership changes. Commands
// are submitted concurrently so Raft batches them into multi-entry
// StoreLogs calls.
func (c *raftCluster) apply(from, to uint64) {
	c.t.Helper()
	for id := from; id <= to; {
		l := c.leader()
		end := min(id+31, to)
		var futures []raft.ApplyFuture
		for j := id; j <= end; j++ {
			cmd := binary.BigEndian.AppendUint64(nil, j)
			futures = append(futures, l.r.Apply(cmd, 5*time.Second))
		}
		ok := true
		for _, f := range futures {
			if err := f.Error(); err != nil {
				if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) &&
					!errors.Is(err, raft.ErrEnqueueTimeout) && !errors.Is(err, raft.ErrRaftShutdown) {
					c.t.Fatalf("apply: %v", err)
				}
				ok = false
			}
		}
		if ok {
			id = end + 1
		}
	}
}

// converged waits until every running node has applied exactly ids 1..n.
func (c *raftCluster) converged(n uint64) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("all running nodes to apply ids 1..%d", n), func() bool {
		for _, node := range c.nodes {
			if node.r == nil {
				continue
			}
			ids := node.fsm.sorted()
			if uint64(len(ids)) != n || (n > 0 && ids[n-1] != n) {
				return false
			}
		}
		return true
	})
}

// checkLogsMatch checks Raft's log matching property on the wal stores:
// where two running nodes both hold an index, the entries are identical.
func (c *raftCluster) checkLogsMatch() {
	c.t.Helper()
	var running []*raftNode
	for _, n := range c.nodes {
		if n.r != nil {
			running = append(running, n)
		}
	}
	for i, a := range running {
		for _, b := range running[i+1:] {
			af, _ := a.store.FirstIndex()
			al, _ := a.store.LastIndex()
			bf, _ := b.store.FirstIndex()
			bl, _ := b.store.LastIndex()
			compared := 0
			for idx := max(af, bf); idx <= min(al, bl); idx++ {
				var la, lb raft.Log
				ea, eb := a.store.GetLog(idx, &la), b.store.GetLog(idx, &lb)
				if ea != nil || eb != nil {
					continue // a gap left by a snapshot install
				}
				if la.Term != lb.Term || la.Type != lb.Type || !bytes.Equal(la.Data, lb.Data) {
					c.t.Fatalf("index %d differs: %s has %s, %s has %s", idx, a.id, describeLog(&la), b.id, describeLog(&lb))
				}
				compared++
			}
			c.t.Logf("%s [%d, %d] and %s [%d, %d]: %d common entries match", a.id, af, al, b.id, bf, bl, compared)
		}
	}
}

// TestRaftCluster runs hashicorp/raft on wal.Store: a 3-node in-process
// cluster with small snapshot threshold and trailing logs, so snapshots and
// head truncation happen all the time. It applies commands, kills the
// leader, applies more under the new leader (which compacts past the dead
// node's log), restarts the old leader from its wal directory (it catches up
// by snapshot install, which leaves a gap in its log), and requires every
// node to converge to the same state with matching logs.
func TestRaftCluster(t *testing.T) {
	c := &raftCluster{t: t, logs: &syncBuffer{}}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n.r != nil {
				n.r.Shutdown().Error()
				n.store.Close()
			}
		}
		if t.Failed() {
			t.Logf("raft and wal logs:\n%s", c.logs.String())
		}
	})
	var servers []raft.Server
	for i := range 3 {
		n := &raftNode{
			id:     raft.ServerID(fmt.Sprintf("node%d", i)),
			addr:   raft.ServerAddress(fmt.Sprintf("addr%d", i)),
			dir:    t.TempDir(),
			stable: raft.NewInmemStore(),
			snaps:  raft.NewInmemSnapshotStore(),
		}
		c.nodes = append(c.nodes, n)
		servers = append(servers, raft.Server{ID: n.id, Address: n.addr})
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	for _, n := range c.nodes {
		if err := n.r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			t.Fatalf("bootstrap: %v", err)
		}
	}

	// Phase 1: commands and snapshots on the first leader.
	c.apply(1, 200)
	c.converged(200)
	for _, n := range c.nodes {
		if err := n.r.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			t.Fatalf("snapshot on %s: %v", n.id, err)
		}
		if first, _ := n.store.FirstIndex(); first <= 1 {
			t.Fatalf("%s: FirstIndex %d after a snapshot: the log was not truncated", n.id, first)
		}
	}
	c.checkLogsMatch()

	// Phase 2: kill the leader; the others elect a new one and move on,
	// snapshotting past everything the dead node has.
	old := c.leader()
	oldLast, _ := old.store.LastIndex()
	c.stop(old)
	c.apply(201, 400)
	c.converged(400)
	for _, n := range c.nodes {
		if n.r != nil {
			if err := n.r.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
				t.Fatalf("snapshot on %s: %v", n.id, err)
			}
		}
	}
	if first, _ := c.leader().store.FirstIndex(); first <= oldLast {
		t.Fatalf("the leader's log still starts at %d, at or below the stopped node's last index %d: the restart would not need a snapshot", first, oldLast)
	}

	// Phase 3: restart the old leader from its wal directory. Its log ends
	// where the leader's begins no more, so it must install a snapshot
	// over a log that holds a suffix the snapshot replaces.
	c.start(old)
	c.apply(401, 450)
	c.converged(450)
	c.checkLogsMatch()
	if metas, err := old.snaps.List(); err != nil || len(metas) == 0 || metas[0].Index <= oldLast {
		t.Fatalf("the restarted node caught up without installing a snapshot past %d: %v %v", oldLast, metas, err)
	}

	// Phase 4: restart a follower in the middle of traffic and kill the
	// current leader once more.
	l := c.leader()
	var f *raftNode
	for _, n := range c.nodes {
		if n != l {
			f = n
			break
		}
	}
	c.stop(f)
	c.start(f)
	c.stop(l)
	c.apply(451, 500)
	c.start(l)
	c.converged(500)
	c.checkLogsMatch()
	for _, n := range c.nodes {
		first, _ := n.store.FirstIndex()
		last, _ := n.store.LastIndex()
		t.Logf("%s: log [%d, %d], %d segment files", n.id, first, last, len(segmentFiles(t, n.dir)))
	}
}
