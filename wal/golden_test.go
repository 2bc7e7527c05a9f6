package wal

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenEntries are the three entries of testdata/segment-v1.wal: every
// field used, and one entry without AppendedAt and extensions.
func goldenEntries() []*raft.Log {
	return []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogConfiguration, Data: []byte("config"),
			AppendedAt: time.Unix(1_796_000_000, 123_456_789)},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte("insert"), Extensions: []byte{0xe1}},
		{Index: 3, Term: 2, Type: raft.LogNoop, AppendedAt: time.Unix(1_796_000_001, 0)},
	}
}

// TestGoldenSegment pins the on-disk format: a store writing the golden
// entries must produce testdata/segment-v1.wal byte for byte, and a store
// opened on that file must read them back. Regenerate with
//
//	go test ./wal/ -run TestGoldenSegment -update
//
// and commit a changed file only with a new format version (old files must
// stay readable).
func TestGoldenSegment(t *testing.T) {
	golden := filepath.Join("testdata", "segment-v1.wal")
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(t, 4096))
	mustStore(t, s, goldenEntries()[:2])
	mustStore(t, s, goldenEntries()[2:])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("segment bytes differ from %s:\n got:\n%s\nwant:\n%s", golden, hex.Dump(got), hex.Dump(want))
	}

	readDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(readDir, segmentName(1)), want, 0o640); err != nil {
		t.Fatal(err)
	}
	testCheckRange(t, mustOpen(t, readDir, testOptions(t, 4096)), goldenEntries())
}
