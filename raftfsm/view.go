package raftfsm

import (
	"context"
	"slices"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TableView is a consistent read-only cut of one table at AppliedIndex.
// Everything it references is immutable; do not modify it.
type TableView struct {
	Spec         *v1.TableSpec // current schema in Spec.Columns
	CreatedIndex uint64
	Files        []*v1.DataFile // live files, in the order they became live
	Partitions   []PartitionView
	AppliedIndex uint64
	Generation   uint64 // changes when a snapshot is restored
	// Tombstones are the deletes files may still hold rows of, ascending
	// by index; one applies to a file when Applies says so.
	Tombstones []*v1.Tombstone
	// HotEpoch changes when hot rows are deleted: batches with an index
	// seen before may now hold fewer rows.
	HotEpoch uint64
}

// PartitionView is one partition's hot rows.
type PartitionView struct {
	Name        string
	FlushedUpto uint64
	Batches     []HotBatch // ascending Index, all > FlushedUpto
	Rows, Bytes int64
	// Files are the partition's live files (those of TableView.Files with
	// this partition, in the same order).
	Files []*v1.DataFile
}

// HotRows returns the number of hot rows and their approximate bytes.
func (v *TableView) HotRows() (rows, bytes int64) {
	for _, p := range v.Partitions {
		rows += p.Rows
		bytes += p.Bytes
	}
	return rows, bytes
}

// FileTotals returns the number of live files, their rows and bytes.
func (v *TableView) FileTotals() (files, rows, bytes int64) {
	for _, f := range v.Files {
		rows += f.RowCount
		bytes += f.SizeBytes
	}
	return int64(len(v.Files)), rows, bytes
}

func (f *FSM) viewLocked(t *table) TableView {
	v := TableView{
		Spec:         t.spec,
		CreatedIndex: t.createdIndex,
		Files:        slices.Clip(t.files),
		AppliedIndex: f.applied,
		Generation:   f.generation,
		Tombstones:   slices.Clip(t.tombstones),
		HotEpoch:     t.hotEpoch,
	}
	for _, name := range sortedKeys(t.parts) {
		p := t.parts[name]
		v.Partitions = append(v.Partitions, PartitionView{
			Name:        name,
			FlushedUpto: p.flushedUpto,
			Batches:     slices.Clip(p.batches),
			Rows:        p.rows,
			Bytes:       p.bytes,
			Files:       slices.Clip(p.files),
		})
	}
	return v
}

// Table returns a view of one table.
func (f *FSM) Table(name string) (TableView, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t, ok := f.tables[name]
	if !ok {
		return TableView{}, false
	}
	return f.viewLocked(t), true
}

// Tables returns views of all tables, sorted by name, at one applied index.
func (f *FSM) Tables() []TableView {
	f.mu.RLock()
	defer f.mu.RUnlock()
	views := make([]TableView, 0, len(f.tables))
	for _, name := range f.tableNames() {
		views = append(views, f.viewLocked(f.tables[name]))
	}
	return views
}

// HotBytes returns the approximate memory held by all hot rows.
func (f *FSM) HotBytes() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var n int64
	for _, t := range f.tables {
		for _, p := range t.parts {
			n += p.bytes
		}
	}
	return n
}

// PendingDeletes returns the objects waiting for deletion.
func (f *FSM) PendingDeletes() []*v1.PendingDelete {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Clone(f.pending)
}

// LiveKeys returns the object keys the catalog names.
func (f *FSM) LiveKeys() map[string]bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	keys := map[string]bool{}
	for _, t := range f.tables {
		for _, file := range t.files {
			keys[file.Key] = true
		}
	}
	for _, p := range f.pending {
		keys[p.Key] = true
	}
	return keys
}

// ObjectUnneeded reports whether the state provably no longer needs the
// object key, which holds rows up to index upto of a partition of the table
// incarnation created at createdIndex: no live file or pending delete names
// it, and either that incarnation is gone (dropped, or replaced by a table
// of the same name) or every row of the partition up to upto is in
// committed files. An object for which this is false may be an upload
// whose commit is still coming, or rows a later flush will supersede.
// The answer is only as good as the state: call it on a leader that has
// applied everything committed.
func (f *FSM) ObjectUnneeded(key, table string, createdIndex uint64, partition string, upto uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, p := range f.pending {
		if p.Key == key {
			return false
		}
	}
	t, ok := f.tables[table]
	if !ok || t.createdIndex != createdIndex {
		// An incarnation created at or below the applied index that is not
		// the current one was dropped; one above it is not known yet.
		return createdIndex <= f.applied
	}
	for _, file := range t.files {
		if file.Key == key {
			return false
		}
	}
	p, ok := t.parts[partition]
	return ok && upto <= p.flushedUpto
}

// AppliedIndex returns the index of the last applied entry.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// Generation changes each time a snapshot is restored.
func (f *FSM) Generation() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.generation
}

// WaitApplied blocks until the FSM has applied index or ctx ends.
func (f *FSM) WaitApplied(ctx context.Context, index uint64) error {
	for {
		f.mu.RLock()
		applied, ch := f.applied, f.appliedCh
		f.mu.RUnlock()
		if applied >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Views returns views of the named tables that exist, all taken at one
// applied index (so a query joining tables sees one consistent state).
func (f *FSM) Views(names []string) map[string]TableView {
	f.mu.RLock()
	defer f.mu.RUnlock()
	views := make(map[string]TableView, len(names))
	for _, n := range names {
		if t, ok := f.tables[n]; ok {
			views[n] = f.viewLocked(t)
		}
	}
	return views
}

// Exists reports whether a table exists.
func (f *FSM) Exists(name string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.tables[name]
	return ok
}

// TableNames returns the names of all tables, sorted.
func (f *FSM) TableNames() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.tableNames()
}

// Member returns the recorded addresses of a node.
func (f *FSM) Member(id string) (*v1.MemberRecord, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m, ok := f.members[id]
	return m, ok
}

// Members returns all recorded members, sorted by id.
func (f *FSM) Members() []*v1.MemberRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*v1.MemberRecord, 0, len(f.members))
	for _, id := range sortedKeys(f.members) {
		out = append(out, f.members[id])
	}
	return out
}
