package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

var (
	// ErrCorrupt marks damage to the log found by Open (a bad record before
	// the torn-tail region, a bad segment header, a missing seal, a bad
	// first-index file) or by GetLog (a record read back from disk that
	// fails its CRC). The wrapped message names the file and offset and
	// says how to recover. Test with errors.Is.
	ErrCorrupt = errors.New("wal: corrupt log")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("wal: store is closed")
)

// File names inside the store's directory.
const (
	segmentSuffix = ".wal"
	tmpSuffix     = ".tmp"
	floorFileName = "first-index"
	lockFileName  = "LOCK"
)

// minBufCap is the initial capacity of the in-memory copy of a new segment.
const minBufCap = 64 << 10

// Store is MinIODB's raft.LogStore: segmented, CRC-framed, fsync'd
// append-only files. See the package documentation for the format and the
// concurrency contract. Create one with Open; it is safe for concurrent use.
type Store struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock *os.File

	// writeMu serialises the mutating calls (StoreLogs, DeleteRange, Close)
	// and owns the writer's scratch state. Fields written only by a holder
	// of writeMu may be read by a holder of writeMu without mu.
	writeMu sync.Mutex
	pending []uint32 // offsets of encoded but not yet published records
	spare   []byte   // buffer of the last sealed segment, reused by the next one

	// mu guards the in-memory view readers use. Writers take it only to
	// publish durable changes, never across a write or fsync.
	mu     sync.RWMutex
	segs   []*segment // ascending base, non-overlapping
	first  uint64     // first visible index; 0 when empty
	last   uint64     // last index; 0 when empty
	floor  uint64     // entries below it are deleted (persisted in first-index)
	closed bool
	failed error // sticky write-path I/O error
}

// segment is one segment file and its in-memory index.
type segment struct {
	base   uint64
	path   string
	f      *os.File
	offs   []uint32 // offs[i] is the frame offset of entry base+i
	end    int64    // offset just past the last entry frame
	sealed bool     // a seal record follows end; no more appends
	// buf holds the file's bytes for the active (newest, unsealed)
	// segment and is nil otherwise. Readers may use buf[:end]; the writer
	// fills buf[end:] before publishing. len(buf) is its capacity.
	buf []byte
}

func (g *segment) next() uint64      { return g.base + uint64(len(g.offs)) }
func (g *segment) lastIndex() uint64 { return g.next() - 1 }

// frameEnd returns the end offset of entry i's frame.
func (g *segment) frameEnd(i int) int64 {
	if i+1 < len(g.offs) {
		return int64(g.offs[i+1])
	}
	return g.end
}

func segmentName(base uint64) string { return fmt.Sprintf("%020d%s", base, segmentSuffix) }

func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	return v, err == nil
}

// Open opens the log in dir, creating the directory if needed, and recovers
// it: a torn final record of the newest segment is cut off (and logged);
// any other damage makes Open fail with an error wrapping ErrCorrupt. The
// directory is locked until Close.
func Open(dir string, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := createDir(dir, opts.NoSync); err != nil {
		return nil, err
	}
	lock, err := lockFile(filepath.Join(dir, lockFileName))
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, opts: opts, log: opts.Logger.With("wal_dir", dir), lock: lock}
	if err := s.recover(); err != nil {
		for _, g := range s.segs {
			g.f.Close()
		}
		lock.Close()
		return nil, err
	}
	return s, nil
}

// createDir creates dir and any missing parents, and syncs the parent of
// every directory it created so that the new entries survive a crash.
func createDir(dir string, noSync bool) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("wal: create directory: %w", err)
	}
	if noSync {
		return nil
	}
	for _, d := range created {
		p, err := os.Open(filepath.Dir(d))
		if err == nil {
			err = p.Sync()
			p.Close()
		}
		if err != nil {
			return fmt.Errorf("wal: sync directory: %w", err)
		}
	}
	return nil
}

// recover loads every segment, validates it and builds the index.
func (s *Store) recover() error {
	start := time.Now()
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("wal: read directory: %w", err)
	}
	var bases []uint64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, tmpSuffix) {
			// An atomic create that did not reach its rename: never part
			// of the log.
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
				return fmt.Errorf("wal: remove unfinished file: %w", err)
			}
			s.log.Info("wal: removed unfinished file", "path", name)
			continue
		}
		if b, ok := parseSegmentName(name); ok && e.Type().IsRegular() {
			bases = append(bases, b)
		}
	}
	slices.Sort(bases)
	floor, err := s.readFloor()
	if err != nil {
		return err
	}
	s.floor = floor

	var scratch []byte
	var tornBytes int64
	for i, base := range bases {
		last := i == len(bases)-1
		path := filepath.Join(s.dir, segmentName(base))
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("wal: open segment: %w", err)
		}
		g := &segment{base: base, path: path, f: f}
		s.segs = append(s.segs, g) // so that Open closes it on failure
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("wal: stat segment: %w", err)
		}
		size := fi.Size()
		if size > MaxSegmentSize+maxPayload+2*headerSize {
			return &corruptError{path: path, reason: fmt.Sprintf("segment file is %d bytes, larger than any segment this store writes", size)}
		}
		var data []byte
		if last {
			data = make([]byte, max(size, minBufCap))[:size]
		} else {
			if int64(cap(scratch)) < size {
				scratch = make([]byte, size)
			}
			data = scratch[:size]
		}
		if n, err := f.ReadAt(data, 0); n != len(data) {
			return fmt.Errorf("wal: read segment %s: %w", path, err)
		}
		res, err := scan(path, data, base, last)
		if err != nil {
			return err
		}
		if i > 0 && len(res.offs) > 0 {
			if prev := s.segs[i-1]; base <= prev.lastIndex() {
				return &corruptError{path: path, reason: fmt.Sprintf(
					"segment starts at index %d but the previous segment ends at %d", base, prev.lastIndex())}
			}
		}
		g.offs, g.end, g.sealed = res.offs, int64(res.end), res.sealed
		if !last {
			continue
		}
		if res.torn {
			tornBytes = size - int64(res.fileEnd)
			s.log.Warn("wal: cut torn final write from the newest segment",
				"path", path, "offset", res.fileEnd, "bytes", tornBytes)
		}
		if (res.torn || res.sealed) && int64(res.fileEnd) < size {
			if err := f.Truncate(int64(res.fileEnd)); err != nil {
				return fmt.Errorf("wal: cut torn tail: %w", err)
			}
			if err := s.sync(f); err != nil {
				return fmt.Errorf("wal: cut torn tail: %w", err)
			}
		}
		if len(g.offs) == 0 {
			// Created, but no record made it to disk.
			s.segs = s.segs[:i]
			f.Close()
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("wal: remove empty segment: %w", err)
			}
			if err := s.syncDir(); err != nil {
				return err
			}
			s.log.Info("wal: removed empty newest segment", "path", path)
			continue
		}
		if !g.sealed {
			g.buf = data[:cap(data)]
			if err := preallocate(f, s.opts.SegmentSize); err != nil {
				return fmt.Errorf("wal: preallocate: %w", err)
			}
		}
	}

	// Finish an interrupted head truncation: drop segments wholly below
	// the floor.
	var drop []*segment
	for len(s.segs) > 0 && s.segs[0].lastIndex() < s.floor {
		drop = append(drop, s.segs[0])
		s.segs = s.segs[1:]
	}
	if len(drop) > 0 {
		s.log.Info("wal: removing segments below the first index", "first_index", s.floor, "segments", len(drop))
		if err := s.removeSegments(drop); err != nil {
			return err
		}
	}
	if len(s.segs) > 0 {
		s.first = max(s.floor, s.segs[0].base)
		s.last = s.segs[len(s.segs)-1].lastIndex()
	}
	s.log.Info("wal: opened", "segments", len(s.segs), "first_index", s.first, "last_index", s.last,
		"torn_bytes", tornBytes, "duration", time.Since(start))
	return nil
}

// readFloor reads the first-index file; a missing file means 0.
func (s *Store) readFloor() (uint64, error) {
	path := filepath.Join(s.dir, floorFileName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("wal: read first index: %w", err)
	}
	if len(b) != headerSize {
		return 0, &corruptError{path: path, reason: fmt.Sprintf("first-index file is %d bytes, want %d", len(b), headerSize)}
	}
	v, err := parseHeader(b, floorMagic)
	if err != nil {
		return 0, &corruptError{path: path, reason: err.Error()}
	}
	return v, nil
}

// writeFloor durably records that entries below v are deleted: write a
// temporary file, sync it, rename it over the old one, sync the directory.
func (s *Store) writeFloor(v uint64) error {
	var b [headerSize]byte
	putHeader(b[:], floorMagic, v)
	path := filepath.Join(s.dir, floorFileName)
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("wal: write first index: %w", err)
	}
	_, err = f.Write(b[:])
	if err == nil {
		err = s.sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = s.syncDir()
	}
	if err != nil {
		return fmt.Errorf("wal: write first index: %w", err)
	}
	return nil
}

// sync is fdatasync unless NoSync.
func (s *Store) sync(f *os.File) error {
	if s.opts.NoSync {
		return nil
	}
	return fdatasync(f)
}

// syncDir fsyncs the directory so that creates, renames and removes are
// durable.
func (s *Store) syncDir() error {
	if s.opts.NoSync {
		return nil
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("wal: sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: sync directory: %w", err)
	}
	return nil
}

// FirstIndex returns the first index written, 0 for no entries. After a
// head DeleteRange(min, max) it is the smallest stored index above max.
// Err returns the write error that broke the store, nil while it is
// healthy. After a failed write (a full disk, an fsync error) the store
// refuses every later write until it is reopened, because what reached
// the disk is unknown; readiness checks report it.
func (s *Store) Err() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.failed
}

func (s *Store) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.first, nil
}

// LastIndex returns the last index written, 0 for no entries.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	return s.last, nil
}

// find returns the segment holding index, or nil. Callers hold mu.
func (s *Store) find(index uint64) *segment {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].base > index }) - 1
	if i < 0 || index >= s.segs[i].next() {
		return nil
	}
	return s.segs[i]
}

// GetLog reads the entry at index into out. It returns raft.ErrLogNotFound
// if the index was never written or has been deleted. out's Data and
// Extensions are fresh copies the caller owns. Entries of the newest
// segment are served from memory; older ones with one positioned read,
// whose CRC is checked again.
func (s *Store) GetLog(index uint64, out *raft.Log) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.last == 0 || index < s.first || index > s.last {
		return raft.ErrLogNotFound
	}
	g := s.find(index)
	if g == nil {
		return raft.ErrLogNotFound
	}
	i := int(index - g.base)
	start, end := int64(g.offs[i]), g.frameEnd(i)
	if g.buf != nil {
		// Verified when written or recovered; memory is trusted.
		if err := decodeEntry(g.buf[start+frameHeaderSize:end], out, true); err != nil {
			return fmt.Errorf("wal: decode entry %d from memory: %w", index, err)
		}
		return nil
	}
	b := make([]byte, end-start)
	if n, err := g.f.ReadAt(b, start); n != len(b) {
		return fmt.Errorf("wal: read entry %d from %s: %w", index, g.path, err)
	}
	f, err := readFrame(b, 0)
	if err == nil && f.typ != recEntry {
		err = fmt.Errorf("record type %d, want an entry", f.typ)
	}
	if err == nil {
		err = decodeEntry(f.payload, out, false)
	}
	if err == nil && out.Index != index {
		err = fmt.Errorf("record holds index %d", out.Index)
	}
	if err != nil {
		return &corruptError{path: g.path, off: start, reason: fmt.Sprintf("reading entry %d: %v", index, err)}
	}
	return nil
}

// StoreLog stores one entry; see StoreLogs.
func (s *Store) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// StoreLogs appends entries with one write and one fdatasync per segment
// touched (usually one), and returns once they are durable. Indexes must be
// strictly increasing; a batch whose first index is at or below LastIndex
// first deletes the log from that index on (all of it, if the index is at
// or below FirstIndex); gaps are allowed (Raft leaves one after installing
// a snapshot) and start a new segment. On an I/O error
// the store refuses further writes until it is reopened, because the file
// state is then unknown; recovery on Open sorts it out.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	for i, l := range logs {
		switch {
		case l == nil:
			return fmt.Errorf("wal: StoreLogs: entry %d of the batch is nil", i)
		case l.Index == 0:
			return errors.New("wal: StoreLogs: index 0 is not a valid Raft index")
		case i > 0 && l.Index <= logs[i-1].Index:
			return fmt.Errorf("wal: StoreLogs: indexes not increasing (%d after %d)", l.Index, logs[i-1].Index)
		case entryPayloadSize(l) > maxPayload:
			return fmt.Errorf("wal: StoreLogs: entry %d is %d bytes, above the %d-byte limit", l.Index, entryPayloadSize(l), maxPayload)
		}
	}
	// A batch that starts at or below the last index replaces everything
	// from its first index on, as raft-boltdb's overwrite does for Raft's
	// purposes. Raft relies on it: after installing a snapshot older than
	// the follower's own log, it appends after the snapshot's index without
	// deleting the now-stale suffix first.
	if s.last != 0 && logs[0].Index <= s.last {
		var err error
		if logs[0].Index <= s.first {
			err = s.deleteAll()
		} else {
			err = s.deleteTail(logs[0].Index)
		}
		if err != nil {
			return err
		}
		s.log.Info("wal: a batch replaced the log's suffix", "from_index", logs[0].Index)
	}
	if s.last == 0 && logs[0].Index < s.floor {
		// The log is empty and restarts below an earlier head truncation.
		if err := s.writeFloor(logs[0].Index); err != nil {
			return err
		}
		s.mu.Lock()
		s.floor = logs[0].Index
		s.mu.Unlock()
	}

	var g *segment
	var wend int64  // end of the encoded bytes in g.buf
	var next uint64 // index the next record in g must have
	if n := len(s.segs); n > 0 && !s.segs[n-1].sealed {
		g = s.segs[n-1]
		wend, next = g.end, g.next()
	}
	s.pending = s.pending[:0]
	for _, l := range logs {
		n := int64(entryFrameSize(l))
		roll := g == nil || l.Index != next ||
			(wend > headerSize && wend+n > s.opts.SegmentSize)
		if roll {
			if g != nil {
				if err := s.flush(g, wend, true); err != nil {
					return err
				}
			}
			var err error
			if g, err = s.createSegment(l.Index); err != nil {
				return s.fail(err)
			}
			wend, next = g.end, l.Index
		}
		s.grow(g, wend, wend+n+int64(sealFrameSize(l.Index)))
		putEntryFrame(g.buf[wend:wend+n], l)
		s.pending = append(s.pending, uint32(wend))
		wend += n
		next++
	}
	return s.flush(g, wend, false)
}

// writable reports why the store cannot be written. Callers hold writeMu.
func (s *Store) writable() error {
	if s.closed {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("wal: an earlier write failed; reopen the store: %w", s.failed)
	}
	return nil
}

// fail makes err sticky and returns it.
func (s *Store) fail(err error) error {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
	s.log.Error("wal: write failed; the store refuses writes until reopened", "error", err)
	return fmt.Errorf("wal: %w", err)
}

// grow makes g.buf at least need bytes long, keeping its first used bytes.
func (s *Store) grow(g *segment, used, need int64) {
	if int64(len(g.buf)) >= need {
		return
	}
	// Grow 4x at a time (up to a full segment) to keep the copying of the
	// first segment's buffer small; later segments reuse it (s.spare).
	c := max(need, min(4*int64(len(g.buf)), s.opts.SegmentSize+2*frameHeaderSize+16), minBufCap)
	nb := make([]byte, c)
	copy(nb, g.buf[:used])
	s.mu.Lock()
	g.buf = nb
	s.mu.Unlock()
}

// flush writes g.buf[g.end:wend] (plus a seal record if seal) with one
// write, makes it durable, and publishes the pending records.
func (s *Store) flush(g *segment, wend int64, seal bool) error {
	from, to := g.end, wend
	lastIdx := g.next() + uint64(len(s.pending)) - 1
	if seal {
		n := int64(sealFrameSize(lastIdx))
		s.grow(g, wend, wend+n)
		putSealFrame(g.buf[wend:wend+n], lastIdx)
		to += n
	}
	if to > from {
		start := from
		if s.opts.FailHook != nil && to-from > 1 {
			mid := from + (to-from)/2
			if _, err := g.f.WriteAt(g.buf[from:mid], from); err != nil {
				return s.fail(err)
			}
			if err := s.opts.FailHook("wal-mid-batch"); err != nil {
				return s.fail(err)
			}
			start = mid
		}
		if _, err := g.f.WriteAt(g.buf[start:to], start); err != nil {
			return s.fail(err)
		}
	}
	if seal {
		// Drop the preallocated zeros: only the newest segment may end in
		// anything but its seal record.
		if err := g.f.Truncate(to); err != nil {
			return s.fail(err)
		}
	}
	if err := s.sync(g.f); err != nil {
		return s.fail(err)
	}
	s.mu.Lock()
	firstNew := g.next()
	g.offs = append(g.offs, s.pending...)
	g.end = wend
	if len(s.pending) > 0 {
		if s.first == 0 {
			s.first = firstNew
		}
		s.last = lastIdx
	}
	var old []byte
	if seal {
		g.sealed = true
		old, g.buf = g.buf, nil
	}
	s.mu.Unlock()
	if old != nil {
		// No reader can still hold it: they use buf only under mu.RLock.
		s.spare = old
	}
	s.pending = s.pending[:0]
	return nil
}

// createSegment creates an empty segment for base atomically (temporary
// file, header, preallocation, sync, rename, directory sync) and appends it
// to s.segs.
func (s *Store) createSegment(base uint64) (*segment, error) {
	path := filepath.Join(s.dir, segmentName(base))
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	buf := s.spare
	s.spare = nil
	if len(buf) < minBufCap {
		buf = make([]byte, minBufCap)
	}
	putHeader(buf[:headerSize], segmentMagic, base)
	_, err = f.WriteAt(buf[:headerSize], 0)
	if err == nil {
		err = preallocate(f, s.opts.SegmentSize)
	}
	if err == nil {
		err = s.sync(f)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = s.syncDir()
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("create segment %s: %w", path, err)
	}
	g := &segment{base: base, path: path, f: f, end: headerSize, buf: buf}
	s.mu.Lock()
	s.segs = append(s.segs, g)
	s.mu.Unlock()
	return g, nil
}

// DeleteRange deletes the entries in [min, max]. Raft uses two shapes and
// both are supported:
//
//   - head (min <= FirstIndex, max < LastIndex), after a snapshot: the new
//     first index is recorded durably, then segments holding only deleted
//     entries are removed. Live data is never rewritten; deleted entries in
//     a kept segment stay on disk but are never returned.
//   - tail (min > FirstIndex, max >= LastIndex), to drop entries that
//     conflict with a new leader: later segments are removed, newest first,
//     and the segment holding min is truncated, all durably.
//
// A range covering the whole log empties it. A range that holds no entry
// is a no-op. Any other range (a hole in the middle) is an error.
func (s *Store) DeleteRange(min, max uint64) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.writable(); err != nil {
		return err
	}
	first, last := s.first, s.last
	if last == 0 || min > max || max < first || min > last {
		return nil
	}
	switch {
	case min <= first && max >= last:
		return s.deleteAll()
	case min <= first:
		return s.deleteHead(max)
	case max >= last:
		return s.deleteTail(min)
	}
	if g := s.find(min); g == nil {
		// min is in a gap: is anything stored up to max?
		i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].base > min })
		if i == len(s.segs) || s.segs[i].base > max {
			return nil
		}
	}
	return fmt.Errorf("wal: DeleteRange(%d, %d): deleting from the middle of the log [%d, %d] is not supported; "+
		"Raft deletes a prefix after a snapshot or a suffix after a conflict", min, max, first, last)
}

// deleteAll empties the log. Callers hold writeMu.
func (s *Store) deleteAll() error {
	floor := s.last + 1
	if s.last == math.MaxUint64 {
		floor = s.last
	}
	if err := s.writeFloor(floor); err != nil {
		return err
	}
	s.mu.Lock()
	drop := s.segs
	s.segs = nil
	s.first, s.last, s.floor = 0, 0, floor
	s.mu.Unlock()
	s.log.Info("wal: deleted all entries", "segments", len(drop))
	return s.removeSegments(drop)
}

// deleteHead deletes every entry up to max (< last). Callers hold writeMu.
func (s *Store) deleteHead(max uint64) error {
	newFirst := max + 1
	if s.find(newFirst) == nil {
		i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].base > max })
		newFirst = s.segs[i].base // exists: max < last
	}
	// The floor is durable before any file goes, so a crash in between
	// leaves files that the next Open removes.
	if err := s.writeFloor(newFirst); err != nil {
		return err
	}
	s.mu.Lock()
	i := 0
	for i < len(s.segs) && s.segs[i].lastIndex() < newFirst {
		i++
	}
	drop := slices.Clone(s.segs[:i])
	s.segs = slices.Clone(s.segs[i:])
	s.first, s.floor = newFirst, newFirst
	s.mu.Unlock()
	s.log.Debug("wal: deleted head", "first_index", newFirst, "segments_removed", len(drop))
	return s.removeSegments(drop)
}

// deleteTail deletes every entry from min (> first) on. Callers hold writeMu.
func (s *Store) deleteTail(min uint64) error {
	k := len(s.segs)
	for k > 0 && s.segs[k-1].base >= min {
		k--
	}
	// k >= 1: segs[0].base <= first < min.
	drop := slices.Clone(s.segs[k:])
	cut := s.segs[k-1]
	var keep int
	if cut.next() > min {
		keep = int(min - cut.base) // >= 1
	} else {
		cut = nil
	}
	s.mu.Lock()
	s.segs = slices.Clone(s.segs[:k])
	if cut != nil {
		cut.end = int64(cut.offs[keep]) // where entry min started
		cut.offs = cut.offs[:keep]
		cut.sealed = false
	}
	s.last = s.segs[k-1].lastIndex()
	s.mu.Unlock()

	// Newest first, each removal durable before the next, so that a crash
	// leaves a prefix of the log, never a hole.
	for i := len(drop) - 1; i >= 0; i-- {
		if err := s.removeSegments(drop[i : i+1]); err != nil {
			return s.fail(err)
		}
	}
	if cut == nil {
		return nil
	}
	if err := cut.f.Truncate(cut.end); err != nil {
		return s.fail(err)
	}
	if err := s.sync(cut.f); err != nil {
		return s.fail(err)
	}
	if cut.buf == nil {
		// The cut segment was sealed; it becomes the active one again.
		buf := make([]byte, max(cut.end, minBufCap))
		if n, err := cut.f.ReadAt(buf[:cut.end], 0); int64(n) != cut.end {
			return s.fail(fmt.Errorf("reload segment %s: %w", cut.path, err))
		}
		s.mu.Lock()
		cut.buf = buf
		s.mu.Unlock()
	}
	if err := preallocate(cut.f, s.opts.SegmentSize); err != nil {
		return s.fail(err)
	}
	s.log.Debug("wal: deleted tail", "last_index", min-1, "segments_removed", len(drop))
	return nil
}

// removeSegments closes and deletes the given segment files, then syncs the
// directory once.
func (s *Store) removeSegments(drop []*segment) error {
	if len(drop) == 0 {
		return nil
	}
	var errs []error
	for _, g := range drop {
		g.f.Close()
		if err := os.Remove(g.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("wal: remove segment: %w", err))
		}
	}
	if err := s.syncDir(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close releases the files and the directory lock. The newest segment's
// preallocated space is given back. Close is idempotent; every other method
// returns ErrClosed afterwards.
func (s *Store) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if n := len(s.segs); n > 0 && s.failed == nil {
		if g := s.segs[n-1]; !g.sealed {
			if err := g.f.Truncate(g.end); err != nil {
				errs = append(errs, fmt.Errorf("wal: close: %w", err))
			} else if err := s.sync(g.f); err != nil {
				errs = append(errs, fmt.Errorf("wal: close: %w", err))
			}
		}
	}
	for _, g := range s.segs {
		if err := g.f.Close(); err != nil {
			errs = append(errs, fmt.Errorf("wal: close: %w", err))
		}
		g.buf = nil
	}
	s.segs, s.spare = nil, nil
	if err := s.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("wal: close: %w", err))
	}
	return errors.Join(errs...)
}

var (
	_ raft.LogStore = (*Store)(nil)
	_ io.Closer     = (*Store)(nil)
)
