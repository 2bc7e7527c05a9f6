//go:build linux

package jepsen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// NodeOptions are the serve flags every node gets (besides addresses).
type NodeOptions struct {
	RaftLog           string        // bolt or wal
	FlushAge          time.Duration // short, so that flushes happen all the time
	SnapshotThreshold int           // small, so that snapshots and log truncation happen
	TrailingLogs      int
	SnapshotInterval  time.Duration
	DeleteGrace       time.Duration // 0: the product's default
	FlushRows         int           // 0: the product's default; small makes size-triggered flushes
	// Compaction makes the leader merge all the time: every 200 ms, two
	// files make a merge, no cooldown (off: the product's defaults, which
	// rarely merge within a run).
	Compaction bool
	// Failpoints are armed in every life, besides a life's own (which the
	// harness tracks); only pause actions belong here.
	Failpoints string
	Env        []string // extra environment for every life (e.g. unsafe mode)
	LogLevel   string
}

// Node is one miniodb process slot: a node id, fixed addresses and a data
// directory; the process itself comes and goes.
type Node struct {
	Index int    // 0-based
	ID    string // n1, n2, …
	IP    string // 127.0.0.(11+Index)
	// Real listeners, and the proxies the node advertises.
	HTTPAddr, RaftAddr   string
	HTTPProxy, RaftProxy string
	DataDir, LogPath     string

	mu        sync.Mutex // serialises lifecycle changes
	p         *proc
	lives     int
	armed     string // MINIODB_FAILPOINTS of the current life
	expect    bool   // the harness ended (or will end) this life itself
	paused    bool
	corrupted bool // its log was damaged and it has not been wiped since: exits are the harness's business
	wiping    bool
	reviving  bool // Revive handles this life's exit
	crashes   int  // unexpected exits
}

// Cluster is a MinIO server and N miniodb nodes on loopback, each node's
// Raft and node-to-node traffic passing through Net.
type Cluster struct {
	bin   string
	dir   string
	opts  NodeOptions
	minio *minio
	Net   *Net
	Nodes []*Node
	api   *api
	hist  *History
	logf  func(format string, args ...any)

	closing atomic.Bool
	wg      sync.WaitGroup // monitors and restarts

	mu          sync.Mutex
	unexpected  []string // descriptions of unexpected exits
	refusals    []string // starts refused after corruption
	fpFired     int
	autoRestart bool
}

// freePort returns host:port with a port that was free a moment ago.
func freePort(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("jepsen: find a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// StartCluster starts MinIO and n nodes and waits until they form one
// cluster with a leader. initialFailpoints[i], if set, is node i's
// MINIODB_FAILPOINTS for its first life. The caller must Close it.
func StartCluster(ctx context.Context, bin, minioBin, dir string, n int, opts NodeOptions, initialFailpoints map[int]string, hist *History, logf func(string, ...any)) (*Cluster, error) {
	c := &Cluster{bin: bin, dir: dir, opts: opts, Net: NewNet(), api: newAPI(), hist: hist, logf: logf, autoRestart: true}
	var err error
	if c.minio, err = newMinIO(minioBin, dir); err != nil {
		return nil, err
	}
	c.minio.onUnexpected = func(how string) {
		msg := "minio exited without the harness asking (" + how + "): something else stopped it; restarting it"
		c.hist.Note("event", msg)
		c.logf("%s", msg)
	}
	if err := c.minio.Start(); err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		nd := &Node{Index: i, ID: fmt.Sprint("n", i+1), IP: fmt.Sprintf("127.0.0.%d", 11+i)}
		nd.DataDir = filepath.Join(dir, nd.ID, "data")
		nd.LogPath = filepath.Join(dir, nd.ID+".log")
		if err := os.MkdirAll(nd.DataDir, 0o755); err != nil {
			return c, err
		}
		if nd.HTTPAddr, err = freePort(nd.IP); err != nil {
			return c, err
		}
		if nd.RaftAddr, err = freePort(nd.IP); err != nil {
			return c, err
		}
		if nd.HTTPProxy, err = c.Net.Listen(i, "http", nd.IP+":0", nd.HTTPAddr); err != nil {
			return c, err
		}
		if nd.RaftProxy, err = c.Net.Listen(i, "raft", nd.IP+":0", nd.RaftAddr); err != nil {
			return c, err
		}
		c.Net.AddNode(i, nd.IP)
		c.Nodes = append(c.Nodes, nd)
	}
	// n1 bootstraps; the others join it.
	if err := c.start(c.Nodes[0], initialFailpoints[0], false); err != nil {
		return c, err
	}
	if _, err := c.waitLeader(ctx, 60*time.Second); err != nil {
		return c, err
	}
	for _, nd := range c.Nodes[1:] {
		if err := c.start(nd, initialFailpoints[nd.Index], true); err != nil {
			return c, err
		}
	}
	if err := c.WaitHealthy(ctx, 90*time.Second); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) args(nd *Node, join bool) []string {
	o := c.opts
	args := []string{"serve",
		"--node-id", nd.ID,
		"--data-dir", nd.DataDir,
		"--http-addr", nd.HTTPAddr, "--http-advertise", nd.HTTPProxy,
		"--raft-addr", nd.RaftAddr, "--raft-advertise", nd.RaftProxy,
		"--object-store", c.minio.storeURL(),
		"--raft-log", o.RaftLog,
		"--flush-age", o.FlushAge.String(),
		"--snapshot-threshold", fmt.Sprint(o.SnapshotThreshold),
		"--trailing-logs", fmt.Sprint(o.TrailingLogs),
		"--snapshot-interval", o.SnapshotInterval.String(),
		"--query-threads", "1",
		"--cache-bytes", "268435456",
		// A partitioned or paused node's fragment moves to another node
		// well within the workload's read timeout.
		"--fragment-timeout", "1s",
		"--log-level", o.LogLevel,
	}
	if o.DeleteGrace > 0 {
		args = append(args, "--delete-grace", o.DeleteGrace.String())
	}
	if o.FlushRows > 0 {
		args = append(args, "--flush-rows", fmt.Sprint(o.FlushRows))
	}
	if o.Compaction {
		args = append(args, "--compaction-check", "200ms", "--compaction-min-files", "2", "--compaction-cooldown", "0s")
	}
	if join {
		// Through the proxies, as every node-to-node call. A node with
		// Raft state ignores --join, so restarts may always pass it.
		var peers []string
		for _, p := range c.Nodes {
			if p != nd {
				peers = append(peers, p.HTTPProxy)
			}
		}
		args = append(args, "--join", strings.Join(peers, ","))
	}
	return args
}

// start starts a life of nd (nd.mu must not be held) and waits until its
// API answers or it exits. failpoints is MINIODB_FAILPOINTS for this life.
func (c *Cluster) start(nd *Node, failpoints string, join bool) error {
	nd.mu.Lock()
	p, err := c.startLocked(nd, failpoints, join)
	nd.mu.Unlock()
	if err != nil {
		return err
	}
	return c.waitUp(nd, p, 60*time.Second)
}

func (c *Cluster) startLocked(nd *Node, failpoints string, join bool) (*proc, error) {
	if nd.p != nil && nd.p.running() {
		return nd.p, nil
	}
	if c.closing.Load() {
		return nil, errors.New("jepsen: the cluster is closing")
	}
	env := environ(append([]string{"MINIO_ROOT_USER=" + c.minio.accessKey, "MINIO_ROOT_PASSWORD=" + c.minio.secretKey}, c.opts.Env...)...)
	banner := "start " + nd.ID
	if all := strings.Trim(c.opts.Failpoints+","+failpoints, ","); all != "" {
		env = append(env, "MINIODB_FAILPOINTS="+all)
		banner += " MINIODB_FAILPOINTS=" + all
	}
	p, err := startProc(c.bin, c.args(nd, join), env, nd.LogPath, banner)
	if err != nil {
		return nil, err
	}
	nd.p, nd.armed, nd.expect, nd.paused = p, failpoints, false, false
	nd.lives++
	c.wg.Add(1)
	go c.monitor(nd, p, nd.reviving)
	return p, nil
}

// waitUp waits until the node's API answers /healthz, or its process exits.
func (c *Cluster) waitUp(nd *Node, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ok := c.api.healthy(ctx, nd.HTTPAddr)
		cancel()
		if ok {
			return nil
		}
		select {
		case <-p.exited:
			return &exitError{node: nd.ID, how: describeExit(p.state, p.err), log: tail(nd.LogPath, 15)}
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jepsen: %s: API not up after %v\n%s", nd.ID, timeout, tail(nd.LogPath, 15))
		}
	}
}

// exitError: the process exited while the harness waited for it.
type exitError struct{ node, how, log string }

func (e *exitError) Error() string {
	return fmt.Sprintf("jepsen: %s exited during start (%s); log tail:\n%s", e.node, e.how, e.log)
}

// monitor watches one life of a node. An exit the harness did not cause is
// recorded; a node that crashed at an armed fail point is restarted
// without fail points; any other unexpected exit is an anomaly worth a
// look (a panic, a refusal to start), and the node is restarted too, a
// bounded number of times.
func (c *Cluster) monitor(nd *Node, p *proc, reviving bool) {
	defer c.wg.Done()
	<-p.exited
	if c.closing.Load() {
		return
	}
	nd.mu.Lock()
	if nd.p != p || nd.expect {
		nd.mu.Unlock()
		return
	}
	if reviving && nd.corrupted {
		// Revive handles a refusal at start; a later exit leaves the
		// node down until a heal revives (and maybe wipes) it.
		nd.mu.Unlock()
		c.hist.Note("event", fmt.Sprintf("%s (log damaged) exited: %s", nd.ID, describeExit(p.state, p.err)))
		return
	}
	armed, corrupted := nd.armed, nd.corrupted
	how := describeExit(p.state, p.err)
	var restart bool
	switch {
	case armed != "" && p.killedBySignal():
		c.mu.Lock()
		c.fpFired++
		c.mu.Unlock()
		c.hist.Note("event", fmt.Sprintf("%s crashed at its fail point (%s)", nd.ID, armed))
		c.logf("%s crashed at fail point %s", nd.ID, armed)
		restart = true
	case corrupted:
		msg := fmt.Sprintf("%s (log damaged earlier) exited: %s: %s", nd.ID, how, lastMessage(nd.LogPath))
		c.hist.Note("event", msg)
		c.logf("%s", msg)
		c.mu.Lock()
		c.refusals = append(c.refusals, msg)
		c.mu.Unlock()
		nd.mu.Unlock()
		return // Revive (by a nemesis's heal or HealAll) wipes it
	default:
		nd.crashes++
		msg := fmt.Sprintf("%s exited unexpectedly (%s); log tail:\n%s", nd.ID, how, tail(nd.LogPath, 25))
		c.hist.Note("event", fmt.Sprintf("%s exited unexpectedly (%s)", nd.ID, how))
		c.logf("%s", msg)
		c.mu.Lock()
		c.unexpected = append(c.unexpected, msg)
		c.mu.Unlock()
		restart = nd.crashes <= 5
	}
	nd.mu.Unlock()
	if !restart {
		return
	}
	time.Sleep(500 * time.Millisecond)
	if c.closing.Load() {
		return
	}
	nd.mu.Lock()
	if nd.p != p || nd.expect { // someone else took over meanwhile
		nd.mu.Unlock()
		return
	}
	np, err := c.startLocked(nd, "", true)
	nd.mu.Unlock()
	if err == nil {
		err = c.waitUp(nd, np, 60*time.Second)
	}
	if err != nil {
		c.logf("restart of %s failed: %v", nd.ID, err)
		return
	}
	c.hist.Note("event", fmt.Sprintf("%s restarted without fail points", nd.ID))
}

// lastMessage is the last line the process wrote (skipping the harness's
// own lines), shortened.
func lastMessage(path string) string {
	lines := strings.Split(tail(path, 40), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "===") {
			return trunc(l, 400)
		}
	}
	return "(no output)"
}

// Kill SIGKILLs the node (no-op if it is down).
func (c *Cluster) Kill(nd *Node) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	c.killLocked(nd)
}

func (c *Cluster) killLocked(nd *Node) {
	if nd.p == nil {
		return
	}
	nd.expect = true
	nd.p.kill()
	nd.paused = false
}

// KillAll SIGKILLs every node as close to the same moment as possible.
func (c *Cluster) KillAll() {
	for _, nd := range c.Nodes {
		nd.mu.Lock()
	}
	for _, nd := range c.Nodes {
		if nd.p != nil && nd.p.running() {
			nd.expect = true
			nd.p.cmd.Process.Kill()
		}
	}
	for _, nd := range c.Nodes {
		if nd.p != nil {
			<-nd.p.exited
		}
		nd.paused = false
		nd.mu.Unlock()
	}
}

// Restart starts the node if it is down, with the given fail points
// (killing it first if it runs and force is set).
func (c *Cluster) Restart(nd *Node, failpoints string, force bool) error {
	nd.mu.Lock()
	if force {
		c.killLocked(nd)
	}
	p, err := c.startLocked(nd, failpoints, true)
	nd.mu.Unlock()
	if err != nil {
		return err
	}
	return c.waitUp(nd, p, 60*time.Second)
}

// Revive starts a node that is down. A node whose log was damaged and that
// refuses to start (or exits soon after) is removed from the cluster,
// wiped and started afresh with --join: a valid outcome of corruption.
func (c *Cluster) Revive(nd *Node) error {
	nd.mu.Lock()
	nd.reviving = true
	nd.mu.Unlock()
	err := c.Restart(nd, "", false)
	nd.mu.Lock()
	corrupted := nd.corrupted
	nd.reviving = false
	nd.mu.Unlock()
	var ee *exitError
	if err != nil && corrupted && errors.As(err, &ee) {
		msg := fmt.Sprintf("%s refused to start after its log was damaged (%s): %s", nd.ID, ee.how, lastMessage(nd.LogPath))
		c.hist.Note("event", msg)
		c.logf("%s", msg)
		c.mu.Lock()
		c.refusals = append(c.refusals, msg)
		c.mu.Unlock()
		return c.wipeAndRejoin(nd)
	}
	if err == nil && corrupted {
		// It started; exits in the next seconds still count as refusals.
		time.Sleep(3 * time.Second)
		if !c.Running(nd) && !c.closing.Load() {
			return c.wipeAndRejoin(nd)
		}
	}
	return err
}

// Pause SIGSTOPs the node.
func (c *Cluster) Pause(nd *Node) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.p == nil || !nd.p.running() {
		return fmt.Errorf("%s is not running", nd.ID)
	}
	nd.paused = true
	return nd.p.pause()
}

// Resume SIGCONTs the node.
func (c *Cluster) Resume(nd *Node) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.p != nil {
		nd.p.resume()
	}
	nd.paused = false
}

// Running reports whether the node's process runs and is not paused.
func (c *Cluster) Running(nd *Node) bool {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.p != nil && nd.p.running() && !nd.paused
}

// Armed reports the node's current fail points ("" if none or down).
func (c *Cluster) Armed(nd *Node) string {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.p == nil || !nd.p.running() {
		return ""
	}
	return nd.armed
}

// Leader returns the node that leads (the highest term wins if two think
// they do), or nil if none does within timeout.
func (c *Cluster) Leader(ctx context.Context, timeout time.Duration) *Node {
	nd, _ := c.waitLeader(ctx, timeout)
	return nd
}

func (c *Cluster) waitLeader(ctx context.Context, timeout time.Duration) (*Node, error) {
	deadline := time.Now().Add(timeout)
	for {
		sts := c.statuses(ctx)
		var best *Node
		var term uint64
		for i, st := range sts {
			if st != nil && st.RaftState == "Leader" && (best == nil || uint64(st.Term) > term) {
				best, term = c.Nodes[i], uint64(st.Term)
			}
		}
		if best != nil {
			return best, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("jepsen: no leader after %v", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// statuses asks every running node for its status (nil for no answer).
func (c *Cluster) statuses(ctx context.Context) []*status {
	out := make([]*status, len(c.Nodes))
	var wg sync.WaitGroup
	for i, nd := range c.Nodes {
		if !c.Running(nd) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			st, err := c.api.status(ctx, nd.HTTPAddr)
			if err == nil {
				out[i] = st
			}
		}()
	}
	wg.Wait()
	return out
}

// WaitHealthy waits until every node runs, all agree on one leader and on
// the full membership (with API addresses), and every node has applied
// what the leader had committed when the wait began to succeed.
func (c *Cluster) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var why string
	for {
		why = c.healthProblem(ctx)
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("jepsen: cluster not healthy after %v: %s", timeout, why)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (c *Cluster) healthProblem(ctx context.Context) string {
	sts := c.statuses(ctx)
	leader := ""
	var commit uint64
	for i, st := range sts {
		nd := c.Nodes[i]
		if st == nil {
			return nd.ID + " does not answer"
		}
		if st.LeaderID == "" {
			return nd.ID + " knows no leader"
		}
		if leader != "" && st.LeaderID != leader {
			return fmt.Sprintf("%s follows %s, another node follows %s", nd.ID, st.LeaderID, leader)
		}
		leader = st.LeaderID
		if len(st.Members) != len(c.Nodes) {
			return fmt.Sprintf("%s sees %d members", nd.ID, len(st.Members))
		}
		for _, m := range st.Members {
			if m.HTTPAddr == "" {
				return fmt.Sprintf("%s: member %s has no API address yet", nd.ID, m.NodeID)
			}
		}
		if st.RaftState == "Leader" {
			commit = uint64(st.CommitIndex)
		}
	}
	if commit == 0 {
		return "the leader " + leader + " does not report itself as leader"
	}
	for i, st := range sts {
		if uint64(st.AppliedIndex) < commit {
			// Give it a moment and look again.
			return fmt.Sprintf("%s has applied %d of %d", c.Nodes[i].ID, st.AppliedIndex, commit)
		}
	}
	return ""
}

// HealAll undoes every fault: the network heals, MinIO runs, paused nodes
// continue, dead nodes start and armed nodes restart without fail points.
func (c *Cluster) HealAll(ctx context.Context) error {
	c.Net.Heal()
	var errs []error
	if !c.minio.Running() {
		if err := c.minio.Start(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, nd := range c.Nodes {
		c.Resume(nd)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, nd := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			switch {
			case c.Armed(nd) != "":
				err = c.Restart(nd, "", true)
			case !c.Running(nd):
				err = c.Revive(nd)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", nd.ID, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// wipeAndRejoin removes a node that cannot start from the cluster, wipes
// its data and starts it afresh with --join.
func (c *Cluster) wipeAndRejoin(nd *Node) error {
	nd.mu.Lock()
	if nd.wiping {
		nd.mu.Unlock()
		return fmt.Errorf("%s is being wiped already", nd.ID)
	}
	c.killLocked(nd)
	nd.wiping = true
	nd.mu.Unlock()
	defer func() {
		nd.mu.Lock()
		nd.wiping = false
		nd.mu.Unlock()
	}()
	c.hist.Note("event", "removing "+nd.ID+" to wipe it and rejoin")
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := errors.New("no other node runs")
		for _, other := range c.Nodes {
			if other == nd || !c.Running(other) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = c.api.remove(ctx, other.HTTPAddr, nd.ID)
			cancel()
			if err == nil {
				break
			}
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) || c.closing.Load() {
			return fmt.Errorf("remove %s: %w", nd.ID, err)
		}
		time.Sleep(time.Second)
	}
	if err := os.RemoveAll(nd.DataDir); err != nil {
		return err
	}
	if err := os.MkdirAll(nd.DataDir, 0o755); err != nil {
		return err
	}
	nd.mu.Lock()
	nd.corrupted = false
	p, err := c.startLocked(nd, "", true)
	nd.mu.Unlock()
	if err == nil {
		err = c.waitUp(nd, p, 60*time.Second)
	}
	if err != nil {
		return err
	}
	c.hist.Note("event", nd.ID+" wiped and rejoined")
	return nil
}

// Stats of the cluster's own events.
func (c *Cluster) Unexpected() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.unexpected...)
}

func (c *Cluster) Refusals() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.refusals...)
}

func (c *Cluster) FailpointsFired() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fpFired
}

// Close stops everything: nodes (SIGKILL: no need to be gentle at the
// end), MinIO and the proxies.
func (c *Cluster) Close() {
	if c == nil || c.closing.Swap(true) {
		return
	}
	var wg sync.WaitGroup
	for _, nd := range c.Nodes {
		wg.Add(1)
		go func() { defer wg.Done(); c.Kill(nd) }()
	}
	wg.Wait()
	if c.minio != nil {
		c.minio.Close()
	}
	c.Net.Close()
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.logf("jepsen: background restarts still running after 30s")
	}
}

// nodesByID sorts nodes for stable output.
func nodeIDs(ns []*Node) string {
	ids := make([]string, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}
