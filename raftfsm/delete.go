package raftfsm

import (
	"fmt"
	"slices"

	"github.com/miniodb/miniodb/ingest"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Matches reports whether a row (its id, NULL when !idValid, and its ts)
// is one the tombstone deletes.
func Matches(t *v1.Tombstone, id string, idValid bool, ts int64, tsValid bool) bool {
	if len(t.Ids) > 0 && (!idValid || !slices.Contains(t.Ids, id)) {
		return false
	}
	if t.HasRange && (!tsValid || ts < t.FromMicros || ts >= t.ToMicros) {
		return false
	}
	return true
}

// Applies reports whether the tombstone applies to a file: the file was
// made live before the delete (later files never hold rows it deleted).
func Applies(t *v1.Tombstone, f *v1.DataFile) bool { return t.Index > f.LiveIndex }

// checkTombstone validates a delete's match.
func checkTombstone(t *v1.Tombstone) error {
	switch {
	case t == nil || len(t.Ids) == 0 && !t.HasRange:
		return fmt.Errorf("%w: a delete needs ids or a time range", ErrBadCommand)
	case t.HasRange && t.FromMicros >= t.ToMicros:
		return fmt.Errorf("%w: delete range [%d, %d) is empty", ErrBadCommand, t.FromMicros, t.ToMicros)
	}
	return nil
}

// RowMatcher returns a function telling which rows of b the tombstone
// deletes, or nil when none can match (the batch lacks the id column).
func RowMatcher(t *v1.Tombstone, b *v1.RowBatch) func(i int) bool {
	var idv, tsv *v1.ColumnVector
	for k, c := range b.Columns {
		switch c.Name {
		case "id":
			if c.Type == v1.ColumnType_COLUMN_TYPE_VARCHAR {
				idv = b.Vectors[k]
			}
		case "ts":
			tsv = b.Vectors[k]
		}
	}
	if len(t.Ids) > 0 && idv == nil {
		return nil
	}
	return func(i int) bool {
		var id string
		idValid := false
		if idv != nil && !ingest.IsNull(idv, i) {
			id, idValid = idv.Strings[i], true
		}
		var ts int64
		tsValid := false
		if tsv != nil && !ingest.IsNull(tsv, i) {
			ts, tsValid = tsv.Ints[i], true
		}
		return Matches(t, id, idValid, ts, tsValid)
	}
}

// deleteHot removes the hot rows the tombstone matches and returns how
// many. Batches are replaced, never changed: views hold the old ones.
func (t *table) deleteHot(m *v1.Tombstone) int64 {
	var deleted int64
	for _, p := range t.parts {
		var out []HotBatch
		changed := false
		for k, b := range p.batches {
			match := RowMatcher(m, b.Rows)
			if match == nil {
				if changed {
					out = append(out, b)
				}
				continue
			}
			kept, n := ingest.FilterRows(b.Rows, func(i int) bool { return !match(i) })
			if n == 0 {
				if changed {
					out = append(out, b)
				}
				continue
			}
			if !changed {
				out = append(out, p.batches[:k]...)
				changed = true
			}
			deleted += n
			size := ingest.BatchBytes(kept)
			p.rows -= n
			p.bytes += size - b.Bytes
			if kept.RowCount > 0 {
				out = append(out, HotBatch{Index: b.Index, Rows: kept, Bytes: size})
			}
		}
		if changed {
			p.batches = out
		}
	}
	if deleted > 0 {
		t.hotEpoch++
	}
	return deleted
}

// fileMayMatch reports whether a file's statistics allow a row the
// tombstone matches.
func fileMayMatch(m *v1.Tombstone, f *v1.DataFile) bool {
	if m.HasRange {
		for _, s := range f.Stats {
			if s.Name != "ts" {
				continue
			}
			lo, okLo := s.GetMin().GetValue().(*v1.Scalar_Int)
			hi, okHi := s.GetMax().GetValue().(*v1.Scalar_Int)
			if okLo && okHi && (hi.Int < m.FromMicros || lo.Int >= m.ToMicros) {
				return false
			}
		}
	}
	if len(m.Ids) > 0 {
		hasID := false
		for _, c := range f.Columns {
			hasID = hasID || c.Name == "id" && c.Type == v1.ColumnType_COLUMN_TYPE_VARCHAR
		}
		if len(f.Columns) > 0 && !hasID {
			return false
		}
		for _, s := range f.Stats {
			if s.Name != "id" {
				continue
			}
			lo, okLo := s.GetMin().GetValue().(*v1.Scalar_String_)
			hi, okHi := s.GetMax().GetValue().(*v1.Scalar_String_)
			if s.Min == nil && s.Max == nil && s.NullCount == f.RowCount {
				return false // only NULL ids
			}
			if okLo && okHi && !slices.ContainsFunc(m.Ids, func(id string) bool { return id >= lo.String_ && id <= hi.String_ }) {
				return false
			}
		}
	}
	return true
}

// applyTombstone deletes the matching hot rows and, when a live file may
// hold matching rows, records the tombstone at index. It returns the hot
// rows deleted.
func (t *table) applyTombstone(index uint64, m *v1.Tombstone) int64 {
	deleted := t.deleteHot(m)
	for _, f := range t.files {
		if fileMayMatch(m, f) {
			tomb := &v1.Tombstone{Index: index, Ids: m.Ids, HasRange: m.HasRange, FromMicros: m.FromMicros, ToMicros: m.ToMicros}
			t.tombstones = append(slices.Clip(t.tombstones), tomb)
			break
		}
	}
	return deleted
}

// purgeTombstones forgets the tombstones no live file is subject to any
// more (every file became live after them: merges rewrote the files).
func (t *table) purgeTombstones() {
	if len(t.tombstones) == 0 {
		return
	}
	keep := t.tombstones[:0:0]
	for _, tomb := range t.tombstones {
		if slices.ContainsFunc(t.files, func(f *v1.DataFile) bool { return Applies(tomb, f) }) {
			keep = append(keep, tomb)
		}
	}
	if len(keep) != len(t.tombstones) {
		t.tombstones = keep
	}
}

func (f *FSM) applyDelete(index uint64, c *v1.DeleteCommand) *Result {
	if err := checkTombstone(c.Match); err != nil {
		return &Result{Index: index, Err: err}
	}
	t, ok := f.tables[c.Table]
	if !ok || (c.TableCreatedIndex != 0 && t.createdIndex != c.TableCreatedIndex) {
		return &Result{Index: index, Err: fmt.Errorf("%w: %q", ErrTableNotFound, c.Table)}
	}
	return &Result{Index: index, Rows: t.applyTombstone(index, c.Match)}
}

// upsertIDs returns the distinct non-NULL ids of an insert's batches.
func upsertIDs(c *v1.InsertCommand) []string {
	seen := map[string]bool{}
	var ids []string
	for _, pb := range c.Batches {
		b := pb.GetRows()
		for k, col := range b.GetColumns() {
			if col.Name != "id" || col.Type != v1.ColumnType_COLUMN_TYPE_VARCHAR {
				continue
			}
			v := b.Vectors[k]
			for i, id := range v.Strings {
				if !ingest.IsNull(v, i) && !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
		}
	}
	slices.Sort(ids)
	return ids
}
