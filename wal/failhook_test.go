package wal

import (
	"errors"
	"testing"

	"github.com/hashicorp/raft"
)

// TestFailHookTearsBatch: a batch interrupted halfway (the process dies
// there) leaves a torn tail; the next Open keeps the records that reached
// the file whole (a valid prefix; none of them was acknowledged) and cuts
// the torn one.
func TestFailHookTearsBatch(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	boom := errors.New("boom")
	armed := false
	opts.FailHook = func(point string) error {
		if armed && point == "wal-mid-batch" {
			return boom
		}
		return nil
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	batch := func(first uint64) []*raft.Log {
		var logs []*raft.Log
		for i := uint64(0); i < 8; i++ {
			logs = append(logs, &raft.Log{Index: first + i, Term: 1, Type: raft.LogCommand, Data: make([]byte, 100)})
		}
		return logs
	}
	if err := s.StoreLogs(batch(1)); err != nil {
		t.Fatal(err)
	}
	armed = true
	if err := s.StoreLogs(batch(9)); !errors.Is(err, boom) {
		t.Fatalf("interrupted batch: %v", err)
	}
	s.Close()
	s, err = Open(dir, DefaultOptions())
	if err != nil {
		t.Fatalf("reopen after a torn batch: %v", err)
	}
	defer s.Close()
	last, _ := s.LastIndex()
	if last < 8 || last >= 16 {
		t.Fatalf("last index %d after the torn batch, want 8..15", last)
	}
	for i := uint64(1); i <= last; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil || l.Index != i {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if err := s.StoreLogs(batch(last + 1)); err != nil {
		t.Fatalf("append after recovery: %v", err)
	}
}
