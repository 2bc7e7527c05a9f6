package wal

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// TestDifferentialBolt runs the same seeded random operations against
// wal.Store and raft-boltdb/v2 and requires identical answers from
// FirstIndex, LastIndex and GetLog (found or not, and contents) after every
// step. Operations follow Raft's usage: appends with occasional gaps (a
// snapshot install), head deletes ending anywhere (compaction), tail deletes
// (conflicts), deletes of everything, deletes that hit nothing, and
// close+reopen of both stores. Segments are tiny so rollover happens all the
// time. Middle deletes are checked to fail on wal.Store and change nothing.
func TestDifferentialBolt(t *testing.T) {
	tests := []struct {
		seed        uint64
		segmentSize int64
		maxEntry    int
		ops         int
	}{
		{seed: 1, segmentSize: 512, maxEntry: 600, ops: 3000},
		{seed: 2, segmentSize: 2048, maxEntry: 300, ops: 3000},
		{seed: 3, segmentSize: 64 << 10, maxEntry: 4096, ops: 2000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("seed=%d/segment=%d", tt.seed, tt.segmentSize), func(t *testing.T) {
			testDifferential(t, tt.seed, tt.segmentSize, tt.maxEntry, tt.ops)
		})
	}
}

// diffPair is the two stores under comparison.
type diffPair struct {
	t        testing.TB
	walDir   string
	boltPath string
	opts     Options
	w        *Store
	b        *raftboltdb.BoltStore
}

func (p *diffPair) open() {
	p.t.Helper()
	w, err := Open(p.walDir, p.opts)
	if err != nil {
		p.t.Fatalf("wal Open: %v", err)
	}
	b, err := raftboltdb.New(raftboltdb.Options{Path: p.boltPath, NoSync: true})
	if err != nil {
		p.t.Fatalf("bolt open: %v", err)
	}
	p.w, p.b = w, b
}

func (p *diffPair) close() {
	p.t.Helper()
	if err := p.w.Close(); err != nil {
		p.t.Fatalf("wal Close: %v", err)
	}
	if err := p.b.Close(); err != nil {
		p.t.Fatalf("bolt Close: %v", err)
	}
}

// bounds returns both stores' FirstIndex and LastIndex, failing on any
// difference.
func (p *diffPair) bounds(step int) (uint64, uint64) {
	p.t.Helper()
	wf, err1 := p.w.FirstIndex()
	wl, err2 := p.w.LastIndex()
	bf, err3 := p.b.FirstIndex()
	bl, err4 := p.b.LastIndex()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		p.t.Fatalf("step %d: bounds: %v", step, err)
	}
	if wf != bf || wl != bl {
		p.t.Fatalf("step %d: wal range [%d, %d], bolt [%d, %d]", step, wf, wl, bf, bl)
	}
	return wf, wl
}

// get compares GetLog(index) on both stores.
func (p *diffPair) get(step int, index uint64) {
	p.t.Helper()
	var wl, bl raft.Log
	werr := p.w.GetLog(index, &wl)
	berr := p.b.GetLog(index, &bl)
	if (werr == nil) != (berr == nil) || (werr != nil && !errors.Is(werr, raft.ErrLogNotFound)) {
		p.t.Fatalf("step %d: GetLog(%d): wal %v, bolt %v", step, index, werr, berr)
	}
	if werr == nil && !logsEqual(&wl, &bl) {
		p.t.Fatalf("step %d: GetLog(%d): wal %s, bolt %s", step, index, describeLog(&wl), describeLog(&bl))
	}
}

func testDifferential(t *testing.T, seed uint64, segmentSize int64, maxEntry, ops int) {
	dir := t.TempDir()
	p := &diffPair{
		t:        t,
		walDir:   filepath.Join(dir, "wal"),
		boltPath: filepath.Join(dir, "bolt.db"),
		opts:     Options{SegmentSize: segmentSize, NoSync: true}, // quiet logger
	}
	p.open()
	defer func() { p.close() }()
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	term := uint64(1)
	var counts [8]int
	for step := 0; step < ops; step++ {
		first, last := p.bounds(step)
		op := rng.IntN(100)
		switch {
		case op < 45: // append a batch
			counts[0]++
			start := last + 1
			switch {
			case last == 0:
				start = 1 + rng.Uint64N(2*max(first, 50)) // restart anywhere, even below the old start
			case rng.IntN(25) == 0:
				start = last + 2 + rng.Uint64N(40) // a gap, as after InstallSnapshot
			}
			if rng.IntN(10) == 0 {
				term++
			}
			n := 1 + rng.IntN(12)
			if rng.IntN(8) == 0 {
				n = 1 + rng.IntN(80) // large batch, several segments
			}
			batch := make([]*raft.Log, n)
			for i := range batch {
				batch[i] = randomEntry(rng, start+uint64(i), term, maxEntry)
			}
			if err := p.w.StoreLogs(batch); err != nil {
				t.Fatalf("step %d: wal StoreLogs: %v", step, err)
			}
			if err := p.b.StoreLogs(batch); err != nil {
				t.Fatalf("step %d: bolt StoreLogs: %v", step, err)
			}
		case op < 53 && last > 0: // head delete, as after a snapshot
			counts[1]++
			max := first + rng.Uint64N(last-first+1)
			if max == last && rng.IntN(3) != 0 {
				max = last - 1 // usually keep something (trailing logs)
			}
			min := first
			if rng.IntN(4) == 0 {
				min = first - min64(first, rng.Uint64N(5))
			}
			p.del(step, min, max)
		case op < 59 && last > 0: // tail delete, as after a conflict
			counts[2]++
			min := first + rng.Uint64N(last-first+1)
			max := last
			if rng.IntN(4) == 0 {
				max = last + rng.Uint64N(100)
			}
			p.del(step, min, max)
		case op < 60 && last > 0: // everything
			counts[3]++
			p.del(step, first-min64(first, rng.Uint64N(3)), last+rng.Uint64N(3))
		case op < 62: // ranges that hold nothing
			counts[4]++
			p.del(step, last+1+rng.Uint64N(5), last+10+rng.Uint64N(5))
			if first > 2 {
				p.del(step, 0, first-1-uint64(rng.IntN(2)))
			}
		case op < 64 && last > first+2: // middle: wal refuses, bolt not asked
			counts[5]++
			min := first + 1 + rng.Uint64N(last-first-1)
			max := min + rng.Uint64N(last-min)
			if max >= last {
				max = last - 1
			}
			if p.holdsAny(min, max) {
				if err := p.w.DeleteRange(min, max); err == nil {
					t.Fatalf("step %d: wal DeleteRange(%d, %d) in the middle of [%d, %d] succeeded", step, min, max, first, last)
				}
			}
		case op < 68: // restart both
			counts[6]++
			p.close()
			p.open()
		default: // reads
			counts[7]++
			for range 1 + rng.IntN(8) {
				lo := first - min64(first, 3)
				p.get(step, lo+rng.Uint64N(last-lo+6))
			}
		}
		if step%250 == 0 || step == ops-1 {
			first, last := p.bounds(step)
			for i := first - min64(first, 2); i <= last+2; i++ {
				p.get(step, i)
			}
		}
	}
	t.Logf("ops: append %d, head %d, tail %d, all %d, empty %d, middle %d, reopen %d, read %d; segments now %d",
		counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6], counts[7], len(segmentFiles(t, p.walDir)))
}

// del applies DeleteRange to both stores.
func (p *diffPair) del(step int, min, max uint64) {
	p.t.Helper()
	if err := p.w.DeleteRange(min, max); err != nil {
		p.t.Fatalf("step %d: wal DeleteRange(%d, %d): %v", step, min, max, err)
	}
	if err := p.b.DeleteRange(min, max); err != nil {
		p.t.Fatalf("step %d: bolt DeleteRange(%d, %d): %v", step, min, max, err)
	}
}

// holdsAny reports whether bolt holds any entry in [min, max].
func (p *diffPair) holdsAny(min, max uint64) bool {
	var l raft.Log
	for i := min; i <= max; i++ {
		if p.b.GetLog(i, &l) == nil {
			return true
		}
	}
	return false
}

func min64(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}
