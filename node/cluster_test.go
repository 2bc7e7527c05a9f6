package node

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// startCluster starts size in-process nodes sharing one directory object
// store; the first bootstraps, the others join through it.
// startCluster starts size nodes that form one cluster; each option may
// change node i's configuration first.
func startCluster(t *testing.T, size int, options ...func(i int, cfg *Config)) []*Node {
	t.Helper()
	root := t.TempDir()
	objects := "file://" + filepath.Join(root, "objects")
	var nodes []*Node
	for i := 0; i < size; i++ {
		cfg := testConfig(t, filepath.Join(root, fmt.Sprint("n", i+1)))
		cfg.NodeID = fmt.Sprint("n", i+1)
		cfg.ObjectStore = objects
		cfg.ObjectStoreShared = true
		for _, o := range options {
			o(i, &cfg)
		}
		if i > 0 {
			cfg.JoinAddrs = []string{nodes[0].HTTPAddr()}
			n, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatalf("start %s: %v", cfg.NodeID, err)
			}
			nodes = append(nodes, n)
			continue
		}
		nodes = append(nodes, mustStartNode(t, cfg))
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.Close()
		}
	})
	// Wait until every node knows every member's API address.
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range nodes {
		for len(n.fsm.Members()) < size {
			if time.Now().After(deadline) {
				t.Fatalf("%s knows %d members", n.cfg.NodeID, len(n.fsm.Members()))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nodes
}

func TestClusterWritesAndReadsOnEveryNode(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx := context.Background()
	for i, n := range nodes {
		c := newClient(t, n)
		body := fmt.Sprintf(`{"table":"events","requestId":"req-%d","rows":[{"id":"n%d-a"},{"id":"n%d-b"}]}`, i, i, i)
		if s, b := c.postJSON("/miniodb.v1.WriteService/Write", body); s != 200 {
			t.Fatalf("write through %s: %d %s", n.cfg.NodeID, s, b)
		}
		// The same request id again, through another node: applied once.
		other := newClient(t, nodes[(i+1)%3])
		if s, b := other.postJSON("/miniodb.v1.WriteService/Write", body); s != 200 || !strings.Contains(b, `"duplicate":true`) {
			t.Fatalf("retry through another node: %d %s", s, b)
		}
		// A strong read through any node sees every acknowledged write.
		for _, m := range nodes {
			if got := newClient(t, m).sql("SELECT count(*) FROM events"); got != fmt.Sprintf("[%d]\n", 2*(i+1)) {
				t.Fatalf("strong read on %s after write %d: %s", m.cfg.NodeID, i, got)
			}
		}
	}
	// Flush through a follower: forwarded to the leader, files in the
	// shared store, readable on every node.
	follower := nodes[1]
	if nodes[1].raft.State().String() == "Leader" {
		follower = nodes[2]
	}
	if f := newClient(t, follower).flush(""); f.RowsFlushed != 6 {
		t.Fatalf("flush through a follower: %+v", f)
	}
	for _, m := range nodes {
		if got := newClient(t, m).sql("SELECT count(DISTINCT id) FROM events"); got != "[6]\n" {
			t.Fatalf("after flush on %s: %s", m.cfg.NodeID, got)
		}
	}
	// Local reads on a follower catch up.
	fc := newClient(t, follower)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := fc.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT count(*) FROM events", Consistency: "local", MaxStalenessMs: 5000}))
		if err == nil && resp.Msg.Rows[0].Values[0].GetNumberValue() == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("local read on a follower: %v %v", err, resp)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A write that asks for a redirect gets the leader's address.
	_, err := fc.write.Write(ctx, connect.NewRequest(&v1.WriteRequest{Table: "events", RowsNdjson: []byte(`{"id":"x"}`), Redirect: true}))
	var ce *connect.Error
	leader, _ := follower.leaderAPI(ctx)
	if !asConnectError(err, &ce) || ce.Code() != connect.CodeUnavailable || ce.Meta().Get(leaderHeader) != leader {
		t.Fatalf("redirect: %v", err)
	}
	resp, err := http.Post(fc.base+"/v1/tables/events/rows?redirect=true", "application/x-ndjson", strings.NewReader(`{"id":"y"}`))
	if err != nil || resp.StatusCode != 503 || resp.Header.Get(leaderHeader) != leader {
		t.Fatalf("NDJSON redirect: %v %v", err, resp)
	}
	resp.Body.Close()
}

func asConnectError(err error, target **connect.Error) bool {
	ce, ok := err.(*connect.Error)
	if ok {
		*target = ce
	}
	return ok
}

func TestJoinIsIdempotentAndRemove(t *testing.T) {
	nodes := startCluster(t, 3)
	ctx := context.Background()
	c := newClient(t, nodes[2]) // a follower or the leader: either accepts
	n2 := nodes[1]
	join := &v1.JoinRequest{NodeId: "n2", RaftAddr: string(n2.transport.LocalAddr()), HttpAddr: n2.HTTPAddr()}
	resp, err := c.clus.Join(ctx, connect.NewRequest(join))
	if err != nil || resp.Msg.Changed {
		t.Fatalf("re-join: %v %v", err, resp)
	}
	st, err := c.clus.Status(ctx, connect.NewRequest(&v1.StatusRequest{}))
	if err != nil || len(st.Msg.Members) != 3 {
		t.Fatalf("status members: %v %v", err, st)
	}
	var leaders int
	for _, m := range st.Msg.Members {
		if m.Leader {
			leaders++
		}
		if m.HttpAddr == "" || !m.Voter {
			t.Fatalf("member %+v", m)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders in %v", leaders, st.Msg.Members)
	}
	// Remove a follower (not the leader, to keep this test about removal).
	victim := nodes[2]
	if victim.raft.State().String() == "Leader" {
		victim = nodes[1]
	}
	if _, err := newClient(t, nodes[0]).clus.Remove(ctx, connect.NewRequest(&v1.RemoveRequest{NodeId: victim.cfg.NodeID})); err != nil {
		t.Fatalf("remove: %v", err)
	}
	st, _ = newClient(t, nodes[0]).clus.Status(ctx, connect.NewRequest(&v1.StatusRequest{}))
	if len(st.Msg.Members) != 2 {
		t.Fatalf("members after remove: %v", st.Msg.Members)
	}
	if _, err := newClient(t, nodes[0]).clus.Remove(ctx, connect.NewRequest(&v1.RemoveRequest{NodeId: "nope"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("remove of a stranger: %v", err)
	}
}

func TestJoinRefusesUnsharedLocalStore(t *testing.T) {
	n := mustStartNode(t, testConfig(t, t.TempDir()))
	defer n.Close()
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID = "n2"
	cfg.JoinAddrs = []string{n.HTTPAddr()}
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "shared") {
		t.Fatalf("a joining node with a private directory store: %v", err)
	}
	// A node that claims its directory is shared still cannot join a
	// leader whose own store is a private directory.
	cfg.ObjectStoreShared = true
	cfg.JoinTimeout = 5 * time.Second
	if _, err := New(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "shared object store") {
		t.Fatalf("joining a leader with a private directory store: %v", err)
	}
}

func TestJoinSameIDNewAddressReplaces(t *testing.T) {
	nodes := startCluster(t, 3)
	leader := nodes[0]
	old := nodes[2]
	oldRaft := string(old.transport.LocalAddr())
	cfg := old.cfg
	old.Close()
	// n3 comes back from a new machine: same id, new addresses, no state.
	cfg.DataDir = t.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.JoinAddrs = []string{leader.HTTPAddr()}
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("rejoin with new addresses: %v", err)
	}
	defer n.Close()
	newRaft := string(n.transport.LocalAddr())
	deadline := time.Now().Add(20 * time.Second)
	for {
		var found, stale bool
		for _, m := range leader.members() {
			found = found || (m.NodeId == "n3" && m.RaftAddr == newRaft && m.HttpAddr == n.HTTPAddr())
			stale = stale || m.RaftAddr == oldRaft
		}
		if found && !stale && len(leader.members()) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("members after rejoin: %v", leader.members())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The replaced node serves strong reads (forwarded) and catches up.
	newClient(t, leader).postJSON("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"x":1}]}`)
	if got := newClient(t, n).sql("SELECT count(*) FROM t"); got != "[1]\n" {
		t.Fatalf("read through the replaced node: %s", got)
	}
}

func TestLocalReadStalenessBound(t *testing.T) {
	nodes := startCluster(t, 3)
	newClient(t, nodes[0]).postJSON("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"x":1}]}`)
	follower := nodes[1]
	fc := newClient(t, follower)
	ctx := context.Background()
	q := &v1.QueryRequest{Sql: "SELECT count(*) FROM t", Consistency: "local", MaxStalenessMs: 300}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := fc.query.Query(ctx, connect.NewRequest(q))
		if err == nil && resp.Msg.Rows[0].Values[0].GetNumberValue() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("local read within the bound: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The other two stop: the follower hears from no leader any more.
	nodes[0].Close()
	nodes[2].Close()
	// Once the last contact is older than the bound, reads are refused.
	var err error
	waitFor(t, 10*time.Second, "local reads to be refused as stale", func() bool {
		_, err = fc.query.Query(ctx, connect.NewRequest(q))
		return err != nil
	})
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "max_staleness_ms") {
		t.Fatalf("stale local read: %v", err)
	}
	// Without a bound the follower still answers from its own state.
	q.MaxStalenessMs = 0
	if resp, err := fc.query.Query(ctx, connect.NewRequest(q)); err != nil || resp.Msg.Rows[0].Values[0].GetNumberValue() != 1 {
		t.Fatalf("unbounded local read: %v", err)
	}
}

// TestLocalReadBoundsAppliedLag: max_staleness_ms bounds how far the
// state a follower answers from lags, not only when it last heard from the
// leader. The follower's state machine is held back while the leader
// commits a write: the follower keeps hearing from the leader, yet its
// state lacks the row, so a bounded local read must wait or refuse, never
// answer without it (it did before).
func TestLocalReadBoundsAppliedLag(t *testing.T) {
	var hold atomic.Bool
	release := make(chan struct{})
	nodes := startCluster(t, 3, func(i int, cfg *Config) {
		if i == 1 {
			cfg.testApplyHook = func() {
				if hold.Load() {
					<-release
				}
			}
		}
	})
	leader, follower := newClient(t, nodes[0]), newClient(t, nodes[1])
	leader.postJSON("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"x":1}]}`)
	if err := nodes[1].fsm.WaitApplied(context.Background(), nodes[0].fsm.AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	hold.Store(true)
	if status, body := leader.postJSON("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"x":2}]}`); status != 200 {
		t.Fatalf("write: %d %s", status, body)
	}
	// The follower knows the entry is committed (its FSM is held back), so
	// its last contact with the leader is newer than the write.
	eventually(t, 5*time.Second, "the follower learns the commit", func() error {
		if got, want := nodes[1].raft.CommitIndex(), nodes[0].fsm.AppliedIndex(); got < want {
			return fmt.Errorf("follower's commit index %d, the leader applied %d", got, want)
		}
		return nil
	})
	q := &v1.QueryRequest{Sql: "SELECT count(*) FROM t", Consistency: "local", MaxStalenessMs: 300}
	_, err := follower.query.Query(context.Background(), connect.NewRequest(q))
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "did not catch up") {
		t.Fatalf("bounded local read on a lagging replica: %v", err)
	}
	// Released within the bound, the read waits and sees the row.
	go func() {
		time.Sleep(100 * time.Millisecond)
		hold.Store(false)
		close(release)
	}()
	q.MaxStalenessMs = 5000 // room for a slow machine's heartbeats
	resp, err := follower.query.Query(context.Background(), connect.NewRequest(q))
	if err != nil || resp.Msg.Rows[0].Values[0].GetNumberValue() != 2 {
		t.Fatalf("bounded local read after the replica caught up: %v %v", resp, err)
	}
}
