//go:build linux

package jepsen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// Nemesis injects one kind of fault. Inject returns a description of what
// it did and a heal function that undoes it (never nil when err is nil).
type Nemesis struct {
	Name string
	// Needs says what the run must have (e.g. the wal log store); nil: any.
	Needs  func(cfg *Config) error
	Inject func(ctx context.Context, e *env) (desc string, heal func() error, err error)
}

// env is what a nemesis works with.
type env struct {
	c   *Cluster
	rng *rand.Rand
	cfg *Config
}

func (e *env) pick(ns []*Node) *Node { return ns[e.rng.Intn(len(ns))] }

func (e *env) shuffled() []*Node {
	ns := append([]*Node(nil), e.c.Nodes...)
	e.rng.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
	return ns
}

// leaderOrRandom returns the leader, or a random running node if there is
// no leader right now (with a note saying so).
func (e *env) leaderOrRandom(ctx context.Context) (*Node, string) {
	if l := e.c.Leader(ctx, 10*time.Second); l != nil {
		return l, "leader " + l.ID
	}
	return e.pick(e.c.Nodes), "no leader; random node"
}

func (e *env) followers(ctx context.Context) (leader *Node, fs []*Node) {
	leader = e.c.Leader(ctx, 10*time.Second)
	for _, n := range e.c.Nodes {
		if n != leader {
			fs = append(fs, n)
		}
	}
	return leader, fs
}

// Nemeses lists every nemesis by name.
var Nemeses = map[string]*Nemesis{}

func register(n *Nemesis) { Nemeses[n.Name] = n }

// NemesisNames returns the registered names, sorted.
func NemesisNames() []string {
	var out []string
	for k := range Nemeses {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func init() {
	register(&Nemesis{Name: "kill-leader", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		nd, who := e.leaderOrRandom(ctx)
		e.c.Kill(nd)
		return "SIGKILL " + nd.ID + " (" + who + ")", func() error { return e.c.Revive(nd) }, nil
	}})
	register(&Nemesis{Name: "kill-random", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		nd := e.pick(e.c.Nodes)
		e.c.Kill(nd)
		return "SIGKILL " + nd.ID, func() error { return e.c.Revive(nd) }, nil
	}})
	register(&Nemesis{Name: "pause-leader", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		nd, who := e.leaderOrRandom(ctx)
		if err := e.c.Pause(nd); err != nil {
			return "", nil, err
		}
		return "SIGSTOP " + nd.ID + " (" + who + ")", func() error { e.c.Resume(nd); return nil }, nil
	}})
	register(&Nemesis{Name: "pause-random", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		nd := e.pick(e.c.Nodes)
		if err := e.c.Pause(nd); err != nil {
			return "", nil, err
		}
		return "SIGSTOP " + nd.ID, func() error { e.c.Resume(nd); return nil }, nil
	}})
	register(&Nemesis{Name: "partition-leader", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		nd, who := e.leaderOrRandom(ctx)
		var rest []int
		for _, n := range e.c.Nodes {
			if n != nd {
				rest = append(rest, n.Index)
			}
		}
		mode := e.mode()
		e.c.Net.Partition([][]int{{nd.Index}, rest}, mode)
		return fmt.Sprintf("isolate %s (%s), %s", nd.ID, who, mode), e.healNet, nil
	}})
	register(&Nemesis{Name: "partition-halves", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		ns := e.shuffled()
		k := (len(ns) - 1) / 2 // the minority
		minority, majority := ns[:k], ns[k:]
		mode := e.mode()
		e.c.Net.Partition([][]int{indexes(minority), indexes(majority)}, mode)
		return fmt.Sprintf("halves {%s} | {%s}, %s", nodeIDs(minority), nodeIDs(majority), mode), e.healNet, nil
	}})
	register(&Nemesis{Name: "partition-bridge", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		// Two sides that cannot talk, and one node that talks to both.
		ns := e.shuffled()
		k := len(ns) / 2
		left, bridge, right := ns[:k], ns[k], ns[k+1:]
		mode := e.mode()
		e.c.Net.Partition([][]int{indexes(left), indexes(right)}, mode)
		return fmt.Sprintf("bridge %s between {%s} and {%s}, %s", bridge.ID, nodeIDs(left), nodeIDs(right), mode), e.healNet, nil
	}})
	register(&Nemesis{Name: "minio-kill", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		e.c.minio.Kill()
		return "SIGKILL minio", e.c.minio.Start, nil
	}})
	register(&Nemesis{Name: "power-loss", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		e.c.KillAll()
		return "SIGKILL every node", func() error {
			var errs []error
			for _, nd := range e.c.Nodes {
				if err := e.c.startAsync(nd); err != nil {
					errs = append(errs, err)
				}
			}
			for _, nd := range e.c.Nodes {
				if err := e.c.waitRunning(nd); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}, nil
	}})
	for _, point := range []string{"flush-after-upload", "flush-after-commit",
		"compaction-before-upload", "compaction-after-upload", "compaction-after-commit", "gc-mid-delete"} {
		register(&Nemesis{Name: "fp-" + point, Inject: func(ctx context.Context, e *env) (string, func() error, error) {
			return armLeaderPoint(ctx, e, point+"=crash")
		}})
	}
	register(&Nemesis{Name: "fp-snapshot-mid-write", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		return armOne(ctx, e, "snapshot-mid-write=crash")
	}})
	register(&Nemesis{Name: "fp-wal-mid-batch", Needs: needWAL, Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		return armOne(ctx, e, fmt.Sprintf("wal-mid-batch=crash@%d", 5+e.rng.Intn(60)))
	}})
	register(&Nemesis{Name: "corrupt-truncate", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		return corrupt(ctx, e, false)
	}})
	register(&Nemesis{Name: "corrupt-flip", Inject: func(ctx context.Context, e *env) (string, func() error, error) {
		return corrupt(ctx, e, true)
	}})
}

func needWAL(cfg *Config) error {
	if cfg.NodeOptions.RaftLog != "wal" {
		return errors.New("needs --raft-log wal")
	}
	return nil
}

func (e *env) mode() Mode {
	if e.rng.Intn(2) == 0 {
		return ModeRefuse
	}
	return ModeDrop
}

func (e *env) healNet() error { e.c.Net.Heal(); return nil }

func indexes(ns []*Node) []int {
	out := make([]int, len(ns))
	for i, n := range ns {
		out[i] = n.Index
	}
	return out
}

// startAsync and waitRunning split Revive for nodes started together.
func (c *Cluster) startAsync(nd *Node) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	_, err := c.startLocked(nd, "", true)
	return err
}

func (c *Cluster) waitRunning(nd *Node) error {
	nd.mu.Lock()
	p := nd.p
	nd.mu.Unlock()
	if p == nil {
		return fmt.Errorf("%s never started", nd.ID)
	}
	err := c.waitUp(nd, p, 60*time.Second)
	var ee *exitError
	if errors.As(err, &ee) {
		return c.Revive(nd)
	}
	return err
}

// armLeaderPoint makes the next leader crash at a leader-only fail point
// (the flush path): every follower is restarted, one at a time, with the
// fail point armed for that life; then the leader is killed and restarted
// without it. Whichever armed node wins the election crashes when it
// flushes; the cluster's monitor restarts it unarmed, and the next leader
// may be armed too. Heal restarts the nodes still armed without it.
func armLeaderPoint(ctx context.Context, e *env, spec string) (string, func() error, error) {
	leader, fs := e.followers(ctx)
	if leader == nil {
		return "", nil, errors.New("no leader to aim at")
	}
	heal := func() error { return disarm(e.c) }
	for _, f := range fs {
		if err := e.c.Restart(f, spec, true); err != nil && !firedAtStart(err) {
			return "", heal, fmt.Errorf("arm %s: %w", f.ID, err)
		}
		// Let it catch up before the next one goes down.
		time.Sleep(time.Second)
	}
	// The old leader stays down until an armed node leads; otherwise it
	// often wins the election again as soon as it is back.
	e.c.Kill(leader)
	next := e.c.Leader(ctx, 15*time.Second)
	if err := e.c.Revive(leader); err != nil {
		return "", heal, err
	}
	who := "no new leader within 15s"
	if next != nil {
		who = "new leader " + next.ID
	}
	return fmt.Sprintf("%s armed on followers {%s}; killed leader %s (%s), restarted it unarmed", spec, nodeIDs(fs), leader.ID, who), heal, nil
}

// armOne restarts a random node with the fail point armed for that life.
func armOne(ctx context.Context, e *env, spec string) (string, func() error, error) {
	nd := e.pick(e.c.Nodes)
	heal := func() error { return disarm(e.c) }
	if err := e.c.Restart(nd, spec, true); err != nil {
		if firedAtStart(err) {
			return fmt.Sprintf("%s armed on %s (it fired while the node started)", spec, nd.ID), heal, nil
		}
		return "", heal, fmt.Errorf("arm %s: %w", nd.ID, err)
	}
	return fmt.Sprintf("%s armed on %s", spec, nd.ID), heal, nil
}

// disarm restarts every node that still runs with fail points, and starts
// any that is down.
func disarm(c *Cluster) error {
	var errs []error
	for _, nd := range c.Nodes {
		switch {
		case c.Armed(nd) != "":
			errs = append(errs, c.Restart(nd, "", true))
		case !c.Running(nd):
			errs = append(errs, c.Revive(nd))
		}
	}
	return errors.Join(errs...)
}

// corrupt kills one node (a minority) and damages the tail of its Raft log
// while it is down: the last bytes cut off (flip=false), or one byte
// flipped. Heal restarts it; a node that refuses to start is wiped and
// rejoins (Revive).
func corrupt(ctx context.Context, e *env, flip bool) (string, func() error, error) {
	nd := e.pick(e.c.Nodes)
	e.c.Kill(nd)
	nd.mu.Lock()
	nd.corrupted = true
	nd.mu.Unlock()
	heal := func() error { return e.c.Revive(nd) }
	var what string
	var err error
	if e.cfg.NodeOptions.RaftLog == "wal" {
		what, err = damageWAL(filepath.Join(nd.DataDir, "raft", "wal"), e.rng, flip)
	} else {
		what, err = damageFile(filepath.Join(nd.DataDir, "raft", "log.db"), e.rng, flip)
	}
	if err != nil {
		return "", heal, fmt.Errorf("damage %s: %w", nd.ID, err)
	}
	return fmt.Sprintf("SIGKILL %s; %s", nd.ID, what), heal, nil
}

// damageFile (for raft-boltdb's log.db) truncates a random 1..4096 bytes
// off the file's end, or flips one random bit past its two meta pages
// (bolt checksums only those).
func damageFile(path string, rng *rand.Rand, flip bool) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	size := st.Size()
	if size == 0 {
		return "", fmt.Errorf("%s is empty", path)
	}
	if !flip {
		cut := 1 + rng.Int63n(min(size, 4096))
		return fmt.Sprintf("truncated %d of %d bytes off %s", cut, size, filepath.Base(path)), os.Truncate(path, size-cut)
	}
	const meta = 2 * 4096
	if size <= meta {
		return "", fmt.Errorf("%s has no data pages", path)
	}
	return flipAt(path, meta+rng.Int63n(size-meta), rng)
}

func flipAt(path string, off int64, rng *rand.Rand) (string, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return "", err
	}
	bit := byte(1) << rng.Intn(8)
	b[0] ^= bit
	if _, err := f.WriteAt(b, off); err != nil {
		return "", err
	}
	return fmt.Sprintf("flipped bit %#x at offset %d of %s", bit, off, filepath.Base(path)), f.Sync()
}

// damageWAL damages the newest segment of a MinIODB wal directory where
// its records end (segments are preallocated with zeros, so the file's end
// is not the log's end): it cuts the file inside one of the last records,
// or flips a bit inside one of them. The frame is documented in the wal
// package: a 24-byte header, then records of u32 length, u32 CRC-32C, u8
// type and the payload.
func damageWAL(dir string, rng *rand.Rand, flip bool) (string, error) {
	segs, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(segs) == 0 {
		return "", fmt.Errorf("no wal segments in %s (%v)", dir, err)
	}
	sort.Strings(segs)
	seg := segs[len(segs)-1]
	data, err := os.ReadFile(seg)
	if err != nil {
		return "", err
	}
	const header, frame = 24, 9
	var starts []int64
	off := int64(header)
	for off+frame <= int64(len(data)) {
		n := int64(binary.LittleEndian.Uint32(data[off:]))
		crc := binary.LittleEndian.Uint32(data[off+4:])
		if n == 0 && crc == 0 || off+frame+n > int64(len(data)) {
			break
		}
		starts = append(starts, off)
		off += frame + n
	}
	end := off
	if len(starts) == 0 {
		return "", fmt.Errorf("%s holds no records", filepath.Base(seg))
	}
	// One of the last three records: damage in the last one looks like a
	// torn write (the wal may cut it off); damage before intact records is
	// corruption (the node must refuse to start).
	k := len(starts) - 1 - rng.Intn(min(3, len(starts)))
	lo, hi := starts[k], end
	if k+1 < len(starts) {
		hi = starts[k+1]
	}
	where := fmt.Sprintf("record %d of %d (bytes %d-%d; records end at %d)", k+1, len(starts), lo, hi, end)
	if !flip {
		cut := lo + 1 + rng.Int63n(hi-lo-1)
		return fmt.Sprintf("truncated %s at offset %d, inside %s", filepath.Base(seg), cut, where), os.Truncate(seg, cut)
	}
	at := lo + rng.Int63n(hi-lo)
	desc, err := flipAt(seg, at, rng)
	return desc + ", inside " + where, err
}

// firedAtStart reports whether a start failed because the node crashed
// (SIGKILL: its armed fail point) before its API answered; the cluster's
// monitor restarts it without fail points.
func firedAtStart(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.how == "signal "+syscall.SIGKILL.String()
}
