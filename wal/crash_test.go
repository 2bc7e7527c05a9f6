package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// testRecordBounds returns the start offsets of the entry records of a
// segment file and the end of the last one, using the package's own scan.
func testRecordBounds(t testing.TB, path string) (offs []uint32, end int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := parseSegmentName(filepath.Base(path))
	res, err := scan(path, data, base, true)
	if err != nil {
		t.Fatal(err)
	}
	return res.offs, res.end
}

// testCrashImage writes entries [1, n] and returns a copy of the directory
// taken while the store is still open: what a machine crash right after
// the last StoreLogs would leave (with preallocated zeros after the data).
func testCrashImage(t testing.TB, segmentSize int64, batches [][]*raft.Log) string {
	t.Helper()
	s := mustOpen(t, t.TempDir(), testOptions(t, segmentSize))
	for _, b := range batches {
		mustStore(t, s, b)
	}
	return copyDir(t, s.dir)
}

// testRecoverAndAppend opens dir, expects exactly want, then appends two
// entries, reads everything back, reopens and reads everything again:
// the four phases of etcd's testRepair.
func testRecoverAndAppend(t testing.TB, dir string, segmentSize int64, want []*raft.Log) {
	t.Helper()
	s, err := Open(dir, testOptions(t, segmentSize))
	if err != nil {
		t.Fatalf("Open after damage: %v", err)
	}
	testCheckRange(t, s, want)
	next := uint64(1)
	if len(want) > 0 {
		next = want[len(want)-1].Index + 1
	}
	more := []*raft.Log{testEntry(next, 7), testEntry(next+1, 70)}
	more[0].Term += 100 // differs from whatever was cut
	mustStore(t, s, more)
	all := append(append([]*raft.Log(nil), want...), more...)
	testCheckRange(t, s, all)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, testOptions(t, segmentSize))
	if err != nil {
		t.Fatalf("reopen after append: %v", err)
	}
	defer s.Close()
	testCheckRange(t, s, all)
}

// TestTornTail damages the last record of the newest segment at every byte
// offset in three ways a crash can: the file ends there (short write), the
// rest is zeros (a preallocated file or torn sector), or one bit of the
// record is wrong with the record ending the data (a torn write whose CRC
// fails). Every case must recover to the previous record, accept appends,
// and survive another reopen.
func TestTornTail(t *testing.T) {
	entries := testEntries(1, 6, 40)
	lastSize := 90
	entries = append(entries, testEntry(7, lastSize))
	image := testCrashImage(t, 64<<10, [][]*raft.Log{entries[:3], entries[3:]})
	seg := segmentFiles(t, image)[0]
	offs, end := testRecordBounds(t, seg)
	start := int(offs[len(offs)-1])
	if end-start != frameHeaderSize+entryPayloadSize(entries[6]) {
		t.Fatalf("last record spans [%d, %d), want %d bytes", start, end, frameHeaderSize+entryPayloadSize(entries[6]))
	}
	want := entries[:6]

	damages := []struct {
		name  string
		from  int // first offset to damage, relative to the record start
		apply func(data []byte, off int) []byte
	}{
		{"truncate", 0, func(d []byte, off int) []byte { return d[:off] }},
		{"zero fill", 0, func(d []byte, off int) []byte {
			clear(d[off:])
			return d
		}},
		// Skip the length field: a wrong length is a different failure.
		{"bad CRC at end", 4, func(d []byte, off int) []byte {
			d = d[:end] // the record ends the data
			d[off] ^= 0x10
			return d
		}},
	}
	for _, dm := range damages {
		t.Run(dm.name, func(t *testing.T) {
			for off := start + dm.from; off < end; off++ {
				t.Run(fmt.Sprint(off-start), func(t *testing.T) {
					dir := copyDir(t, image)
					path := segmentFiles(t, dir)[0]
					data, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, dm.apply(data, off), 0o640); err != nil {
						t.Fatal(err)
					}
					testRecoverAndAppend(t, dir, 64<<10, want)
				})
			}
		})
	}
}

// TestTornTailIsLogged checks that cutting a torn record is reported with
// the file and offset.
func TestTornTailIsLogged(t *testing.T) {
	dir := testCrashImage(t, 4096, [][]*raft.Log{testEntries(1, 3, 50)})
	path := segmentFiles(t, dir)[0]
	offs, _ := testRecordBounds(t, path)
	if err := os.Truncate(path, int64(offs[2])+20); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	opts := testOptions(t, 4096)
	opts.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := fmt.Sprintf("path=%s offset=%d bytes=20", path, offs[2])
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), want) {
		t.Fatalf("log output %q does not report the torn tail (%s)", buf.String(), want)
	}
}

// TestCorruption damages fsync'd data that is not the torn tail and
// requires Open to fail with ErrCorrupt and a message naming the file, the
// offset and the way to recover. Each record case flips every bit of the
// frame header and one bit of every payload byte.
func TestCorruption(t *testing.T) {
	const segSize = 1024
	// Entries 1..30 of 60 bytes: ~12 per segment, 3 segments, the last active.
	image := testCrashImage(t, segSize, [][]*raft.Log{testEntries(1, 10, 60), testEntries(11, 30, 60)})
	files := segmentFiles(t, image)
	if len(files) < 3 {
		t.Fatalf("%d segments, want at least 3", len(files))
	}
	sealedOffs, sealedEnd := testRecordBounds(t, files[0])
	lastOffs, _ := testRecordBounds(t, files[len(files)-1])
	if len(lastOffs) < 3 {
		t.Fatalf("newest segment has %d records, want at least 3", len(lastOffs))
	}

	type target struct {
		name     string
		file     int // index into files; -1 for the first-index file
		from, to int // byte range to damage
		wantOff  int // offset the error must name; -1: do not check
	}
	rec := func(offs []uint32, i, end int) (int, int) {
		if i+1 < len(offs) {
			return int(offs[i]), int(offs[i+1])
		}
		return int(offs[i]), end
	}
	var targets []target
	a, b := rec(lastOffs, 1, 0)
	targets = append(targets, target{"newest segment, middle record", len(files) - 1, a, b, a})
	a, b = rec(sealedOffs, 3, sealedEnd)
	targets = append(targets, target{"sealed segment, middle record", 0, a, b, a})
	a, b = rec(sealedOffs, len(sealedOffs)-1, sealedEnd)
	targets = append(targets, target{"sealed segment, last entry", 0, a, b, a})
	targets = append(targets, target{"sealed segment, seal record", 0, sealedEnd, sealedEnd + sealFrameSize(uint64(len(sealedOffs))), sealedEnd})
	targets = append(targets, target{"newest segment header", len(files) - 1, 0, headerSize, 0})
	targets = append(targets, target{"sealed segment header", 1, 0, headerSize, 0})

	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			for off := tg.from; off < tg.to; off++ {
				bits := []int{off % 8}
				if off < tg.from+frameHeaderSize || tg.wantOff == 0 {
					bits = []int{0, 1, 2, 3, 4, 5, 6, 7} // every bit of headers
				}
				for _, bit := range bits {
					dir := copyDir(t, image)
					path := segmentFiles(t, dir)[tg.file]
					testFlipBit(t, path, off, bit)
					s, err := Open(dir, testOptions(t, segSize))
					if err == nil {
						s.Close()
						t.Fatalf("byte %d bit %d of %s: Open succeeded on damaged data", off, bit, filepath.Base(path))
					}
					testCheckCorruptErr(t, err, path, tg.wantOff)
				}
			}
		})
	}

	t.Run("sealed segment lost its end", func(t *testing.T) {
		dir := copyDir(t, image)
		path := segmentFiles(t, dir)[1]
		offs, _ := testRecordBounds(t, path)
		if err := os.Truncate(path, int64(offs[len(offs)-1])); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, testOptions(t, segSize))
		testCheckCorruptErr(t, err, path, int(offs[len(offs)-1]))
		if !strings.Contains(err.Error(), "not sealed") {
			t.Fatalf("error %q does not say the segment is not sealed", err)
		}
	})
	t.Run("bytes after a seal record", func(t *testing.T) {
		dir := copyDir(t, image)
		path := segmentFiles(t, dir)[0]
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte{0, 0, 0, 0})
		f.Close()
		_, err = Open(dir, testOptions(t, segSize))
		testCheckCorruptErr(t, err, path, -1)
	})
	t.Run("hole then valid records in newest segment", func(t *testing.T) {
		// Zeros in the middle are not a torn end when records follow.
		dir := copyDir(t, image)
		path := segmentFiles(t, dir)[len(files)-1]
		data, _ := os.ReadFile(path)
		clear(data[lastOffs[1]:lastOffs[2]])
		os.WriteFile(path, data, 0o640)
		_, err := Open(dir, testOptions(t, segSize))
		testCheckCorruptErr(t, err, path, int(lastOffs[1]))
	})
	t.Run("first-index file", func(t *testing.T) {
		dir := t.TempDir()
		s := mustOpen(t, dir, testOptions(t, segSize))
		mustStore(t, s, testEntries(1, 30, 60))
		if err := s.DeleteRange(1, 5); err != nil {
			t.Fatal(err)
		}
		s.Close()
		path := filepath.Join(dir, floorFileName)
		for off := range headerSize {
			testFlipBit(t, path, off, off%8)
			_, err := Open(dir, testOptions(t, segSize))
			testCheckCorruptErr(t, err, path, 0)
			testFlipBit(t, path, off, off%8) // undo
		}
		testCheckRange(t, mustOpen(t, dir, testOptions(t, segSize)), testEntries(6, 30, 60))
	})
}

// TestCorruptionFoundByGetLog damages a sealed segment after Open: the
// read from disk checks the CRC again.
func TestCorruptionFoundByGetLog(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(t, 1024))
	mustStore(t, s, testEntries(1, 30, 60))
	path := segmentFiles(t, dir)[0]
	offs, _ := testRecordBounds(t, path)
	testFlipBit(t, path, int(offs[2])+20, 3)
	var l raft.Log
	err := s.GetLog(3, &l)
	testCheckCorruptErr(t, err, path, int(offs[2]))
	if err := s.GetLog(2, &l); err != nil {
		t.Fatalf("GetLog of an intact neighbour: %v", err)
	}
}

func testFlipBit(t testing.TB, path string, off, bit int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[off] ^= 1 << bit
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

// testCheckCorruptErr checks that err is a corruption error naming path
// (and off, unless off < 0) and telling the operator what to do.
func testCheckCorruptErr(t testing.TB, err error, path string, off int) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("error %v, want ErrCorrupt", err)
	}
	msg := err.Error()
	want := path + " at offset "
	if off >= 0 {
		want += fmt.Sprint(off) + ":"
	}
	if !strings.Contains(msg, want) || !strings.Contains(msg, "wipe the node's data directory and re-join the cluster") ||
		!strings.HasPrefix(msg, "wal: ") {
		t.Fatalf("error %q does not name %q and the recovery steps", msg, want)
	}
}

// TestBatchAcrossSegments writes one batch that spans several segments and
// checks the crash states such a batch can leave: the newest segment
// missing, torn at any offset, or holding only its header; and an
// unfinished segment creation (a .tmp file).
func TestBatchAcrossSegments(t *testing.T) {
	const segSize = 1024
	batch := testEntries(1, 30, 60) // ~2.2 KiB: three segments
	image := testCrashImage(t, segSize, [][]*raft.Log{batch})
	files := segmentFiles(t, image)
	if len(files) != 3 {
		t.Fatalf("%d segments, want 3", len(files))
	}
	lastBase, _ := parseSegmentName(filepath.Base(files[2]))

	t.Run("all intact", func(t *testing.T) {
		testRecoverAndAppend(t, copyDir(t, image), segSize, batch)
	})
	t.Run("newest segment missing", func(t *testing.T) {
		dir := copyDir(t, image)
		os.Remove(segmentFiles(t, dir)[2])
		testRecoverAndAppend(t, dir, segSize, batch[:lastBase-1])
	})
	t.Run("newest segment holds only its header", func(t *testing.T) {
		dir := copyDir(t, image)
		path := segmentFiles(t, dir)[2]
		os.Truncate(path, headerSize)
		s, err := Open(dir, testOptions(t, segSize))
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("empty newest segment was kept: %v", err)
		}
		testRecoverAndAppend(t, dir, segSize, batch[:lastBase-1])
	})
	t.Run("newest segment torn at every offset", func(t *testing.T) {
		offs, end := testRecordBounds(t, files[2])
		for cut := headerSize; cut < end; cut++ {
			dir := copyDir(t, image)
			os.Truncate(segmentFiles(t, dir)[2], int64(cut))
			keep := 0
			for keep < len(offs) && int(offs[keep]) < cut {
				keep++
			}
			if keep > 0 && cut < end && (keep == len(offs) || int(offs[keep]) > cut) {
				keep-- // the record at offs[keep-1] is cut short
			}
			testRecoverAndAppend(t, dir, segSize, batch[:int(lastBase)-1+keep])
		}
	})
	t.Run("unfinished segment creation", func(t *testing.T) {
		dir := copyDir(t, image)
		tmp := filepath.Join(dir, segmentName(99)+tmpSuffix)
		os.WriteFile(tmp, []byte("MIODBW"), 0o640)
		testRecoverAndAppend(t, dir, segSize, batch)
		if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf(".tmp file still there: %v", err)
		}
	})
}

// TestInterruptedHeadTruncation simulates a crash after the first-index
// file was written but before the old segments were removed.
func TestInterruptedHeadTruncation(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(t, 1024))
	all := testEntries(1, 60, 60)
	mustStore(t, s, all)
	files := segmentFiles(t, dir)
	saved := make(map[string][]byte)
	for _, f := range files[:3] {
		saved[f], _ = os.ReadFile(f)
	}
	if err := s.DeleteRange(1, 40); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for f, b := range saved {
		if _, err := os.Stat(f); err == nil {
			continue // still live
		}
		os.WriteFile(f, b, 0o640)
	}
	s = mustOpen(t, dir, testOptions(t, 1024))
	testCheckRange(t, s, all[40:])
	for f := range saved {
		base, _ := parseSegmentName(filepath.Base(f))
		if _, err := os.Stat(f); err == nil && base+12 < 41 {
			offs, _ := testRecordBounds(t, f)
			if base+uint64(len(offs)) <= 41 {
				t.Errorf("segment %s below the first index was not removed", filepath.Base(f))
			}
		}
	}
}

// TestInterruptedTailTruncation simulates a crash after the later segments
// were removed but before the cut segment was truncated: the log is then a
// prefix of what it was, which is a state Raft can continue from.
func TestInterruptedTailTruncation(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(t, 1024))
	all := testEntries(1, 60, 60)
	mustStore(t, s, all)
	files := segmentFiles(t, dir)
	cutFile := files[1]
	saved, _ := os.ReadFile(cutFile)
	base, _ := parseSegmentName(filepath.Base(cutFile))
	if err := s.DeleteRange(base+2, 60); err != nil {
		t.Fatal(err)
	}
	testCheckRange(t, s, all[:base+1])
	s.Close()
	os.WriteFile(cutFile, saved, 0o640) // the truncation never reached the disk
	offs, _ := testRecordBounds(t, cutFile)
	testRecoverAndAppend(t, dir, 1024, all[:int(base)-1+len(offs)])
}
