package wal

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr []string // fragments, one per expected problem
	}{
		{name: "defaults", opts: DefaultOptions()},
		{name: "zero means default", opts: Options{}},
		{name: "minimum", opts: Options{SegmentSize: MinSegmentSize}},
		{name: "maximum", opts: Options{SegmentSize: MaxSegmentSize}},
		{name: "too small", opts: Options{SegmentSize: MinSegmentSize - 1}, wantErr: []string{"SegmentSize 255"}},
		{name: "negative", opts: Options{SegmentSize: -1}, wantErr: []string{"SegmentSize -1"}},
		{name: "too large", opts: Options{SegmentSize: MaxSegmentSize + 1}, wantErr: []string{"outside"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, frag := range tt.wantErr {
				if !strings.Contains(err.Error(), frag) || !strings.HasPrefix(err.Error(), "wal: ") {
					t.Errorf("Validate() = %q, want it to start with \"wal: \" and contain %q", err, frag)
				}
			}
			if _, err := Open(t.TempDir(), tt.opts); err == nil {
				t.Error("Open accepted invalid options")
			}
		})
	}
}

func TestStoreBasics(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(t, 1024))
	testCheckRange(t, s, nil)

	all := testEntries(1, 40, 100)
	mustStore(t, s, all[:1])
	if err := s.StoreLog(all[1]); err != nil {
		t.Fatal(err)
	}
	mustStore(t, s, all[2:40])
	testCheckRange(t, s, all)
	if n := len(segmentFiles(t, dir)); n < 3 {
		t.Fatalf("%d segment files, want several with 1 KiB segments", n)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	var l raft.Log
	for name, err := range map[string]error{
		"GetLog":      s.GetLog(1, &l),
		"StoreLogs":   s.StoreLogs(testEntries(41, 41, 1)),
		"DeleteRange": s.DeleteRange(1, 2),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if _, err := s.FirstIndex(); !errors.Is(err, ErrClosed) {
		t.Errorf("FirstIndex after Close: %v, want ErrClosed", err)
	}

	s2 := mustOpen(t, dir, testOptions(t, 1024))
	testCheckRange(t, s2, all)
}

func TestStoreLogsRejects(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOptions(t, 4096))
	mustStore(t, s, testEntries(5, 10, 10))
	tests := []struct {
		name string
		logs []*raft.Log
		want string
	}{
		{"index zero", []*raft.Log{testEntry(0, 1)}, "index 0"},
		{"nil entry", []*raft.Log{nil}, "nil"},
		{"not increasing", []*raft.Log{testEntry(12, 1), testEntry(12, 1)}, "not increasing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.StoreLogs(tt.logs)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "wal: ") {
				t.Fatalf("StoreLogs = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	testCheckRange(t, s, testEntries(5, 10, 10))
	if err := s.StoreLogs(nil); err != nil {
		t.Fatalf("StoreLogs(nil) = %v", err)
	}
}

// TestStoreLogsReplacesSuffix: a batch at or below the last index replaces
// the log from its first index on. Raft relies on it after installing a
// snapshot older than the follower's own log: it appends right after the
// snapshot without deleting the stale suffix (found by the jepsen suite:
// the follower panicked with "log not found").
func TestStoreLogsReplacesSuffix(t *testing.T) {
	tests := []struct {
		name  string
		have  []*raft.Log
		store []*raft.Log
		want  []*raft.Log
	}{
		{"inside", testEntries(5, 10, 1), testEntries(8, 9, 2), append(testEntries(5, 7, 1), testEntries(8, 9, 2)...)},
		{"at the last index", testEntries(5, 10, 1), testEntries(10, 12, 2), append(testEntries(5, 9, 1), testEntries(10, 12, 2)...)},
		{"at the first index", testEntries(5, 10, 1), testEntries(5, 6, 2), testEntries(5, 6, 2)},
		{"below the first index", testEntries(1481, 1490, 1), testEntries(1302, 1305, 2), testEntries(1302, 1305, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, testOptions(t, 1024))
			mustStore(t, s, tt.have)
			mustStore(t, s, tt.store)
			testCheckRange(t, s, tt.want)
			s.Close()
			testCheckRange(t, mustOpen(t, dir, testOptions(t, 1024)), tt.want)
		})
	}
}

func TestDeleteRangeShapes(t *testing.T) {
	tests := []struct {
		name     string
		min, max uint64
		want     []*raft.Log // remaining entries; nil means empty
		wantErr  string
	}{
		{name: "head within first segment", min: 1, max: 3, want: testEntries(4, 30, 60)},
		{name: "head across segments", min: 1, max: 17, want: testEntries(18, 30, 60)},
		{name: "head from below first", min: 0, max: 17, want: testEntries(18, 30, 60)},
		{name: "tail within last segment", min: 29, max: 30, want: testEntries(1, 28, 60)},
		{name: "tail across segments", min: 12, max: 30, want: testEntries(1, 11, 60)},
		{name: "tail beyond last", min: 12, max: 1000, want: testEntries(1, 11, 60)},
		{name: "all", min: 1, max: 30},
		{name: "all, wide", min: 0, max: 99},
		{name: "nothing: above", min: 31, max: 40, want: testEntries(1, 30, 60)},
		{name: "nothing: min > max", min: 9, max: 3, want: testEntries(1, 30, 60)},
		{name: "middle", min: 5, max: 20, want: testEntries(1, 30, 60), wantErr: "middle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, testOptions(t, 512))
			mustStore(t, s, testEntries(1, 30, 60))
			err := s.DeleteRange(tt.min, tt.max)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DeleteRange = %v, want error containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("DeleteRange: %v", err)
			}
			testCheckRange(t, s, tt.want)
			// The store keeps working and the answer survives a reopen.
			next := uint64(31)
			if len(tt.want) > 0 {
				next = tt.want[len(tt.want)-1].Index + 1
			}
			more := testEntries(next, next+5, 60)
			mustStore(t, s, more)
			want := append(append([]*raft.Log(nil), tt.want...), more...)
			testCheckRange(t, s, want)
			s.Close()
			testCheckRange(t, mustOpen(t, dir, testOptions(t, 512)), want)
		})
	}
}

// TestGaps stores entries with a gap in the indexes, as Raft does after
// installing a snapshot on a follower whose log is not fully deleted.
func TestGaps(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(t, 4096))
	mustStore(t, s, testEntries(1, 10, 20))
	mustStore(t, s, testEntries(20, 25, 20))
	var l raft.Log
	for i := uint64(11); i < 20; i++ {
		if err := s.GetLog(i, &l); err != raft.ErrLogNotFound {
			t.Fatalf("GetLog(%d) in the gap: %v", i, err)
		}
	}
	if err := s.DeleteRange(12, 15); err != nil {
		t.Fatalf("DeleteRange inside the gap: %v", err)
	}
	if err := s.DeleteRange(1, 14); err != nil { // head, ending in the gap
		t.Fatal(err)
	}
	if first, _ := s.FirstIndex(); first != 20 {
		t.Fatalf("FirstIndex = %d, want 20", first)
	}
	s.Close()
	s = mustOpen(t, dir, testOptions(t, 4096))
	testCheckRange(t, s, testEntries(20, 25, 20))
}

// TestAppendBelowOldFirstIndex empties the log with a head-style delete and
// then restarts it below the old first index, which raft-boltdb allows.
func TestAppendBelowOldFirstIndex(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(t, 1024))
	mustStore(t, s, testEntries(10, 40, 30))
	if err := s.DeleteRange(1, 20); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(21, 40); err != nil { // empties it
		t.Fatal(err)
	}
	testCheckRange(t, s, nil)
	mustStore(t, s, testEntries(5, 8, 30))
	testCheckRange(t, s, testEntries(5, 8, 30))
	s.Close()
	testCheckRange(t, mustOpen(t, dir, testOptions(t, 1024)), testEntries(5, 8, 30))
}

func TestOpenLocksDirectory(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir, testOptions(t, 4096))
	if s, err := Open(dir, testOptions(t, 4096)); err == nil {
		s.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
}

// TestOversizedEntry stores entries larger than a segment; each gets a
// segment of its own.
func TestOversizedEntry(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(t, 512))
	all := []*raft.Log{testEntry(1, 10), testEntry(2, 3000), testEntry(3, 10), testEntry(4, 5000)}
	mustStore(t, s, all)
	testCheckRange(t, s, all)
	s.Close()
	testCheckRange(t, mustOpen(t, dir, testOptions(t, 512)), all)
}

// TestConcurrentAccess runs readers against a writer and a head truncator,
// as Raft does (replication goroutines, main loop, snapshot goroutine). Run
// it with -race.
func TestConcurrentAccess(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOptions(t, 2048))
	const n = 2001 // batches of 4 from 2 end exactly here
	mustStore(t, s, testEntries(1, 1, 50))
	var wg sync.WaitGroup
	done := make(chan struct{})
	errc := make(chan error, 8)
	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		defer close(done)
		for i := uint64(2); i+3 <= n; i += 4 {
			if err := s.StoreLogs(testEntries(i, i+3, 50)); err != nil {
				errc <- err
				return
			}
		}
	}()
	wg.Add(1)
	go func() { // snapshot-style compaction
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			first, _ := s.FirstIndex()
			last, _ := s.LastIndex()
			if last > first+200 {
				if err := s.DeleteRange(first, last-100); err != nil {
					errc <- err
					return
				}
			}
		}
	}()
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() { // replication-style readers
			defer wg.Done()
			var l raft.Log
			for {
				select {
				case <-done:
					return
				default:
				}
				last, _ := s.LastIndex()
				for i := last; i > 0 && i+20 > last; i-- {
					err := s.GetLog(i, &l)
					if err == raft.ErrLogNotFound {
						break // deleted meanwhile
					}
					if err != nil {
						errc <- err
						return
					}
					if want := testEntry(i, 50); !logsEqual(&l, want) {
						errc <- errors.New("read a wrong entry: " + describeLog(&l))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	last, _ := s.LastIndex()
	if last != n {
		t.Fatalf("LastIndex = %d, want %d", last, n)
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := t.TempDir() + "/a/b"
	s := mustOpen(t, dir, testOptions(t, 4096))
	mustStore(t, s, testEntries(1, 1, 1))
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFailureIsSticky makes a write fail (the segment's file is closed
// underneath the store) and checks that later writes are refused, reads of
// durable entries still work, and a reopen recovers.
func TestWriteFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(t, 4096))
	mustStore(t, s, testEntries(1, 5, 30))
	s.segs[len(s.segs)-1].f.Close()
	if err := s.StoreLogs(testEntries(6, 6, 30)); err == nil {
		t.Fatal("StoreLogs on a closed file succeeded")
	}
	err := s.StoreLogs(testEntries(6, 6, 30))
	if err == nil || !strings.Contains(err.Error(), "reopen") {
		t.Fatalf("second StoreLogs: %v, want a sticky error asking to reopen", err)
	}
	if err := s.DeleteRange(1, 2); err == nil {
		t.Fatal("DeleteRange after a failed write succeeded")
	}
	testCheckRange(t, s, testEntries(1, 5, 30))
	s.Close()
	s = mustOpen(t, dir, testOptions(t, 4096))
	testCheckRange(t, s, testEntries(1, 5, 30))
	mustStore(t, s, testEntries(6, 6, 30))
}
