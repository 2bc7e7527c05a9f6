package wal

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// testWriter sends log output to the test.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testLogger returns a logger that writes to t.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testOptions returns NoSync options with the given segment size and a
// logger writing to t.
func testOptions(t testing.TB, segmentSize int64) Options {
	return Options{SegmentSize: segmentSize, Logger: testLogger(t), NoSync: true}
}

// mustOpen opens a store and registers its Close.
func mustOpen(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testEntry builds a deterministic entry for index with a payload of size
// bytes.
func testEntry(index uint64, size int) *raft.Log {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(index*31 + uint64(i)*7)
	}
	l := &raft.Log{Index: index, Term: 1 + index/10, Type: raft.LogCommand, Data: data}
	if index%3 == 0 {
		l.Extensions = []byte(fmt.Sprintf("ext-%d", index))
	}
	if index%2 == 0 {
		l.AppendedAt = time.Unix(1_700_000_000+int64(index), int64(index)*1000)
	}
	return l
}

// testEntries builds entries [from, to].
func testEntries(from, to uint64, size int) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, testEntry(i, size))
	}
	return out
}

// randomEntry builds a random entry; sizes are skewed small with a few
// large ones.
func randomEntry(rng *rand.Rand, index, term uint64, maxSize int) *raft.Log {
	size := rng.IntN(maxSize/8 + 1)
	if rng.IntN(10) == 0 {
		size = rng.IntN(maxSize + 1)
	}
	l := &raft.Log{Index: index, Term: term, Type: raft.LogType(rng.IntN(6))}
	if size > 0 || rng.IntN(2) == 0 {
		l.Data = make([]byte, size)
		for i := range l.Data {
			l.Data[i] = byte(rng.Uint32())
		}
	}
	if rng.IntN(4) == 0 {
		l.Extensions = []byte(fmt.Sprintf("x%d", rng.Uint32()))
	}
	if rng.IntN(2) == 0 {
		l.AppendedAt = time.Unix(rng.Int64N(4_000_000_000)-1_000_000_000, rng.Int64N(1e9))
	}
	return l
}

// logsEqual compares two entries the way Raft sees them: nil and empty
// slices are equal, times compare as instants.
func logsEqual(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

func describeLog(l *raft.Log) string {
	return fmt.Sprintf("{index %d term %d type %d data %d bytes ext %q at %v}",
		l.Index, l.Term, l.Type, len(l.Data), l.Extensions, l.AppendedAt)
}

// mustStore stores entries or fails the test.
func mustStore(t testing.TB, s raft.LogStore, logs []*raft.Log) {
	t.Helper()
	if err := s.StoreLogs(logs); err != nil {
		t.Fatalf("StoreLogs([%d..%d]): %v", logs[0].Index, logs[len(logs)-1].Index, err)
	}
}

// testCheckRange checks that the store holds exactly want (in order, no
// gaps assumed) and answers FirstIndex/LastIndex accordingly.
func testCheckRange(t testing.TB, s raft.LogStore, want []*raft.Log) {
	t.Helper()
	first, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	var wf, wl uint64
	if len(want) > 0 {
		wf, wl = want[0].Index, want[len(want)-1].Index
	}
	if first != wf || last != wl {
		t.Fatalf("range [%d, %d], want [%d, %d]", first, last, wf, wl)
	}
	for _, w := range want {
		var got raft.Log
		if err := s.GetLog(w.Index, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", w.Index, err)
		}
		if !logsEqual(&got, w) {
			t.Fatalf("GetLog(%d) = %s, want %s", w.Index, describeLog(&got), describeLog(w))
		}
	}
	var l raft.Log
	if err := s.GetLog(wl+1, &l); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog(%d) past the end: %v, want ErrLogNotFound", wl+1, err)
	}
	if wf > 1 {
		if err := s.GetLog(wf-1, &l); err != raft.ErrLogNotFound {
			t.Fatalf("GetLog(%d) before the start: %v, want ErrLogNotFound", wf-1, err)
		}
	}
}

// segmentFiles lists the segment files in dir in log order.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if _, ok := parseSegmentName(e.Name()); ok {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == lockFileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}
