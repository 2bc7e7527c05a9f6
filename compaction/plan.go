package compaction

import (
	"cmp"
	"slices"
	"time"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Task is one planned merge: live files of one partition of one table
// incarnation, to be replaced by one file holding their rows.
type Task struct {
	Table        string
	CreatedIndex uint64 // the table incarnation the inputs belong to
	Partition    string
	Inputs       []*v1.DataFile
	// Watermark is the catalog index the task was planned at: the merge
	// leaves out the rows of the tombstones up to it (set by the caller,
	// with Tombstones, the table's tombstones at that index).
	Watermark  uint64
	Tombstones []*v1.Tombstone
}

// Bytes returns the inputs' total size.
func (t Task) Bytes() int64 {
	var n int64
	for _, f := range t.Inputs {
		n += f.SizeBytes
	}
	return n
}

// Rows returns the inputs' total row count.
func (t Task) Rows() int64 {
	var n int64
	for _, f := range t.Inputs {
		n += f.RowCount
	}
	return n
}

// tierRatio is how much larger each size tier's files are than the
// previous tier's; a merge of MinFiles files of one tier makes (about) a
// file of the next.
const tierRatio = 4

// tier returns a file's size tier: files below floor share tier 0, then
// every tierRatio-fold size is one tier up.
func tier(size, floor int64) int {
	t := 0
	for s := floor; size >= s && t < 62; s *= tierRatio {
		t++
	}
	return t
}

// Options change how Plan chooses.
type Options struct {
	// Now is the planner's clock, for the cooldown.
	Now time.Time
	// Busy reports files that a running merge holds; they are not planned.
	Busy func(key string) bool
	// Full plans a major compaction (the on-demand command): every file
	// below the target size is eligible whatever its age and tier, and
	// two files make a merge.
	Full bool
	// Rewrite reports files that must be rewritten whatever their size
	// and tier (files with deleted rows past the purge deadline); one such
	// file alone makes a task.
	Rewrite func(f *v1.DataFile) bool
}

// Plan returns the merges to run in one partition's live files under p,
// disjoint from each other, most useful first (most inputs).
//
// The strategy is size-tiered: files below the target size are grouped in
// tiers of tierRatio-fold size (every file below target/256 in the lowest
// tier, so that the many small files of frequent flushes merge at once),
// and a tier holding at least MinFiles files is merged, smallest files
// first, up to MaxFiles inputs and TargetFileBytes of input. A file is
// rewritten about log_tierRatio(target/flush size) times in its life
// (the write amplification), and a partition holds at most about
// (MinFiles-1) files per tier outside the cooldown.
func Plan(table string, createdIndex uint64, partition string, files []*v1.DataFile, p Policy, o Options) []Task {
	if p.Disabled {
		return nil
	}
	floor := max(p.TargetFileBytes/256, 1)
	minFiles := p.MinFiles
	if o.Full {
		minFiles = 2
	}
	tiers := map[int][]*v1.DataFile{}
	var rewrite []*v1.DataFile
	for _, f := range files {
		if f.Partition != partition || o.Busy != nil && o.Busy(f.Key) {
			continue
		}
		if o.Rewrite != nil && o.Rewrite(f) && (!o.Full || f.SizeBytes >= p.TargetFileBytes) {
			// (A full compaction merges small files anyway, these with the
			// rest; only large ones need a rewrite of their own.)
			rewrite = append(rewrite, f)
			continue
		}
		if f.SizeBytes >= p.TargetFileBytes {
			continue
		}
		if !o.Full && f.CreatedUnixMicros > 0 && o.Now.Sub(time.UnixMicro(f.CreatedUnixMicros)) < p.Cooldown {
			continue
		}
		t := tier(f.SizeBytes, floor)
		if o.Full {
			t = 0
		}
		tiers[t] = append(tiers[t], f)
	}
	var tasks []Task
	for _, t := range sortedTiers(tiers) {
		group := tiers[t]
		slices.SortFunc(group, func(a, b *v1.DataFile) int {
			return cmp.Or(cmp.Compare(a.SizeBytes, b.SizeBytes), cmp.Compare(a.Key, b.Key))
		})
		for len(group) >= minFiles {
			n, bytes := 0, int64(0)
			for n < len(group) && n < p.MaxFiles && (n < 2 || bytes+group[n].SizeBytes <= p.TargetFileBytes) {
				bytes += group[n].SizeBytes
				n++
			}
			if n < minFiles {
				break
			}
			tasks = append(tasks, Task{Table: table, CreatedIndex: createdIndex, Partition: partition, Inputs: slices.Clone(group[:n])})
			group = group[n:]
		}
	}
	// Files to rewrite go alone, or with their neighbours by size up to
	// the target: a file with few rows left may merge with another.
	slices.SortFunc(rewrite, func(a, b *v1.DataFile) int {
		return cmp.Or(cmp.Compare(a.SizeBytes, b.SizeBytes), cmp.Compare(a.Key, b.Key))
	})
	for len(rewrite) > 0 {
		n, bytes := 1, rewrite[0].SizeBytes
		for n < len(rewrite) && n < p.MaxFiles && bytes+rewrite[n].SizeBytes <= p.TargetFileBytes {
			bytes += rewrite[n].SizeBytes
			n++
		}
		tasks = append(tasks, Task{Table: table, CreatedIndex: createdIndex, Partition: partition, Inputs: slices.Clone(rewrite[:n])})
		rewrite = rewrite[n:]
	}
	slices.SortStableFunc(tasks, func(a, b Task) int { return cmp.Compare(len(b.Inputs), len(a.Inputs)) })
	return tasks
}

func sortedTiers(m map[int][]*v1.DataFile) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
