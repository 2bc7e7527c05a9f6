package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/hashicorp/raft"
)

// On-disk constants. The layout is described in doc.go ("Format"); the golden
// file testdata/segment-v1.wal pins it byte for byte.
const (
	// formatVersion is written into every segment header and the first-index
	// file. A store refuses files with any other version.
	formatVersion = 1

	// headerSize is the size of the segment header and of the first-index
	// file: magic (8) | version (4) | value (8) | CRC-32C of the first 20 bytes (4).
	headerSize = 24

	// segmentMagic starts every segment file.
	segmentMagic = "MIODBWAL"

	// floorMagic starts the first-index file.
	floorMagic = "MIODBFIX"

	// frameHeaderSize is length (4) | CRC-32C (4) | type (1).
	frameHeaderSize = 9

	// maxPayload bounds a record's payload. Raft entries are far smaller; the
	// bound only keeps a damaged length field from being taken at face value.
	maxPayload = 1 << 30
)

// Record types (the frame's type byte).
const (
	// recEntry holds one raft.Log.
	recEntry byte = 1
	// recSeal is the last record of every segment except possibly the last
	// one; its payload is the segment's last raft index. A segment without
	// it was still being written when the process stopped.
	recSeal byte = 2
)

// entryHasTime is the only flag bit of an entry payload: AppendedAt follows.
const entryHasTime = 1 << 0

// castagnoli is the CRC-32C table. It is written once at package
// initialisation and only read afterwards.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// putHeader writes a 24-byte header (segment header or first-index file).
func putHeader(b []byte, magic string, v uint64) {
	copy(b[0:8], magic)
	binary.LittleEndian.PutUint32(b[8:12], formatVersion)
	binary.LittleEndian.PutUint64(b[12:20], v)
	binary.LittleEndian.PutUint32(b[20:24], crc32.Checksum(b[:20], castagnoli))
}

// parseHeader checks a 24-byte header and returns its value. The error text
// says what is wrong, for a corruption message.
func parseHeader(b []byte, magic string) (uint64, error) {
	if len(b) < headerSize {
		return 0, fmt.Errorf("header is %d bytes, want %d", len(b), headerSize)
	}
	if string(b[0:8]) != magic {
		return 0, fmt.Errorf("bad magic %q, want %q", b[0:8], magic)
	}
	if got, want := binary.LittleEndian.Uint32(b[20:24]), crc32.Checksum(b[:20], castagnoli); got != want {
		return 0, fmt.Errorf("header CRC mismatch (stored %#08x, computed %#08x)", got, want)
	}
	if v := binary.LittleEndian.Uint32(b[8:12]); v != formatVersion {
		return 0, fmt.Errorf("unsupported format version %d (this build reads version %d)", v, formatVersion)
	}
	return binary.LittleEndian.Uint64(b[12:20]), nil
}

// uvarintLen is the number of bytes binary.PutUvarint writes for v.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// entryPayloadSize is the payload size encodeEntry writes for l.
func entryPayloadSize(l *raft.Log) int {
	n := uvarintLen(l.Index) + uvarintLen(l.Term) + 2 // + log type + flags
	if !l.AppendedAt.IsZero() {
		n += uvarintLen(zigzag(l.AppendedAt.Unix())) + uvarintLen(uint64(l.AppendedAt.Nanosecond()))
	}
	return n + uvarintLen(uint64(len(l.Extensions))) + len(l.Extensions) + len(l.Data)
}

// entryFrameSize is the size of the whole frame holding l.
func entryFrameSize(l *raft.Log) int {
	return frameHeaderSize + entryPayloadSize(l)
}

// putEntryFrame encodes l as a complete frame into b, which must be exactly
// entryFrameSize(l) bytes long.
//
// Payload: uvarint index | uvarint term | u8 log type | u8 flags |
// [zigzag-uvarint AppendedAt seconds | uvarint nanoseconds] | uvarint len(ext) |
// ext | data (the rest of the payload).
func putEntryFrame(b []byte, l *raft.Log) {
	p := b[frameHeaderSize:]
	n := binary.PutUvarint(p, l.Index)
	n += binary.PutUvarint(p[n:], l.Term)
	p[n] = byte(l.Type)
	n++
	if l.AppendedAt.IsZero() {
		p[n] = 0
		n++
	} else {
		p[n] = entryHasTime
		n++
		n += binary.PutUvarint(p[n:], zigzag(l.AppendedAt.Unix()))
		n += binary.PutUvarint(p[n:], uint64(l.AppendedAt.Nanosecond()))
	}
	n += binary.PutUvarint(p[n:], uint64(len(l.Extensions)))
	n += copy(p[n:], l.Extensions)
	n += copy(p[n:], l.Data)
	finishFrame(b[:frameHeaderSize+n], recEntry)
}

// sealFrameSize is the size of the seal frame for a segment ending at last.
func sealFrameSize(last uint64) int {
	return frameHeaderSize + uvarintLen(last)
}

// putSealFrame encodes a seal record into b (exactly sealFrameSize(last) bytes).
func putSealFrame(b []byte, last uint64) {
	n := binary.PutUvarint(b[frameHeaderSize:], last)
	finishFrame(b[:frameHeaderSize+n], recSeal)
}

// finishFrame fills in the length, type and CRC of a frame whose payload is
// already in place.
func finishFrame(b []byte, typ byte) {
	binary.LittleEndian.PutUint32(b[0:4], uint32(len(b)-frameHeaderSize))
	b[8] = typ
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(b[8:], castagnoli))
}

// frame is one record as found in a segment.
type frame struct {
	typ     byte
	payload []byte // aliases the segment bytes
	end     int    // offset just past the frame
}

// Frame read failures. They are not returned to callers as they are: scan
// and readRecord turn them into corruption errors with a file and offset.
var (
	// errShortFrame: the header or the payload runs past the end of the
	// data, or the length field is beyond maxPayload.
	errShortFrame = errors.New("record runs past the end of the data")
	// errFrameCRC: the CRC does not match type and payload.
	errFrameCRC = errors.New("record CRC mismatch")
)

// readFrame parses the frame at off. On errFrameCRC the returned frame's end
// is where the frame claims to end (within data).
func readFrame(data []byte, off int) (frame, error) {
	if off < 0 || len(data)-off < frameHeaderSize {
		return frame{}, errShortFrame
	}
	h := data[off : off+frameHeaderSize]
	n := binary.LittleEndian.Uint32(h[0:4])
	if n > maxPayload || uint64(len(data)-off-frameHeaderSize) < uint64(n) {
		return frame{}, errShortFrame
	}
	end := off + frameHeaderSize + int(n)
	if crc32.Checksum(data[off+8:end], castagnoli) != binary.LittleEndian.Uint32(h[4:8]) {
		return frame{end: end}, errFrameCRC
	}
	return frame{typ: h[8], payload: data[off+frameHeaderSize : end], end: end}, nil
}

// readUvarint decodes a canonical (shortest-form) uvarint. Rejecting longer
// forms keeps decoding and encoding exact inverses.
func readUvarint(p []byte) (uint64, int, error) {
	v, n := binary.Uvarint(p)
	if n <= 0 {
		return 0, 0, errors.New("truncated or overlong varint")
	}
	if n != uvarintLen(v) {
		return 0, 0, errors.New("non-canonical varint")
	}
	return v, n, nil
}

// decodeEntry decodes an entry payload into out. If copyBytes is false,
// Data and Extensions alias p; otherwise they are copied into one new
// allocation. Every field of out is overwritten.
func decodeEntry(p []byte, out *raft.Log, copyBytes bool) error {
	index, n, err := readUvarint(p)
	if err != nil {
		return fmt.Errorf("index: %w", err)
	}
	term, m, err := readUvarint(p[n:])
	if err != nil {
		return fmt.Errorf("term: %w", err)
	}
	n += m
	if len(p)-n < 2 {
		return errors.New("payload ends before type and flags")
	}
	typ, flags := p[n], p[n+1]
	n += 2
	if flags&^entryHasTime != 0 {
		return fmt.Errorf("unknown flags %#02x", flags)
	}
	var at time.Time
	if flags&entryHasTime != 0 {
		sec, m, err := readUvarint(p[n:])
		if err != nil {
			return fmt.Errorf("appended-at seconds: %w", err)
		}
		n += m
		nsec, m, err := readUvarint(p[n:])
		if err != nil {
			return fmt.Errorf("appended-at nanoseconds: %w", err)
		}
		n += m
		if nsec >= 1e9 {
			return fmt.Errorf("appended-at nanoseconds %d out of range", nsec)
		}
		at = time.Unix(unzigzag(sec), int64(nsec))
		if at.IsZero() {
			// The zero time is encoded by the absent flag, never as a value.
			return errors.New("appended-at holds the zero time")
		}
	}
	extLen, m, err := readUvarint(p[n:])
	if err != nil {
		return fmt.Errorf("extensions length: %w", err)
	}
	n += m
	if uint64(len(p)-n) < extLen {
		return fmt.Errorf("extensions length %d exceeds the %d bytes left", extLen, len(p)-n)
	}
	ext := p[n : n+int(extLen)]
	data := p[n+int(extLen):]
	if copyBytes && len(ext)+len(data) > 0 {
		buf := make([]byte, len(ext)+len(data))
		copy(buf, ext)
		copy(buf[len(ext):], data)
		ext, data = buf[:len(ext):len(ext)], buf[len(ext):]
	}
	if len(ext) == 0 {
		ext = nil
	}
	if len(data) == 0 {
		data = nil
	}
	*out = raft.Log{
		Index:      index,
		Term:       term,
		Type:       raft.LogType(typ),
		Data:       data,
		Extensions: ext,
		AppendedAt: at,
	}
	return nil
}

// entryIndex returns just the index of an entry payload.
func entryIndex(p []byte) (uint64, error) {
	v, _, err := readUvarint(p)
	return v, err
}

// decodeSeal returns the last index a seal payload names.
func decodeSeal(p []byte) (uint64, error) {
	v, n, err := readUvarint(p)
	if err != nil {
		return 0, err
	}
	if n != len(p) {
		return 0, fmt.Errorf("%d trailing bytes", len(p)-n)
	}
	return v, nil
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b) != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// scanResult is what scan found in one segment file.
type scanResult struct {
	offs   []uint32 // offset of each entry record; entry i has index base+i
	end    int      // offset just past the last entry record
	sealed bool     // a seal record follows end
	// fileEnd is where the file's valid content ends: end, plus the seal
	// record if sealed. Anything after it in a last segment was a torn tail
	// or zero fill and is cut by the caller.
	fileEnd int
	// torn is true if non-zero bytes after fileEnd were judged a torn
	// final write (as opposed to zero fill).
	torn bool
}

// corruptError marks damage found in a file. errors.Is(err, ErrCorrupt)
// holds for it.
type corruptError struct {
	path   string
	off    int64
	reason string
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("wal: corrupt log: %s at offset %d: %s; the Raft log on this node is damaged "+
		"and cannot be trusted: wipe the node's data directory and re-join the cluster", e.path, e.off, e.reason)
}

func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

// scan validates a whole segment file held in data and indexes its records.
// base is the base index taken from the file name. last says whether this is
// the newest segment: only there may a torn final record or a zero-filled
// tail end the data; anywhere else every byte must belong to a valid record
// and the file must end with a seal record.
//
// scan never modifies data.
func scan(path string, data []byte, base uint64, last bool) (scanResult, error) {
	var res scanResult
	bad := func(off int, format string, args ...any) error {
		return &corruptError{path: path, off: int64(off), reason: fmt.Sprintf(format, args...)}
	}
	hb, err := parseHeader(data, segmentMagic)
	if err != nil {
		return res, bad(0, "segment header: %v", err)
	}
	if hb == 0 {
		return res, bad(0, "segment header names base index 0, which Raft never uses")
	}
	if hb != base {
		return res, bad(0, "segment header names base index %d but the file name says %d", hb, base)
	}
	next := base
	off := headerSize
	for off < len(data) {
		f, ferr := readFrame(data, off)
		if ferr == nil {
			switch f.typ {
			case recEntry:
				idx, err := entryIndex(f.payload)
				if err != nil {
					return res, bad(off, "entry index: %v", err)
				}
				var l raft.Log
				if err := decodeEntry(f.payload, &l, false); err != nil {
					return res, bad(off, "entry %d: %v", idx, err)
				}
				if idx != next {
					return res, bad(off, "entry has index %d, want %d", idx, next)
				}
				if off > math.MaxUint32 {
					return res, bad(off, "record offset beyond 4 GiB")
				}
				res.offs = append(res.offs, uint32(off))
				next++
				off = f.end
				continue
			case recSeal:
				sl, err := decodeSeal(f.payload)
				if err != nil {
					return res, bad(off, "seal record: %v", err)
				}
				if len(res.offs) == 0 || sl != next-1 {
					return res, bad(off, "seal record names last index %d but the segment holds [%d, %d)", sl, base, next)
				}
				res.sealed, res.end, res.fileEnd = true, off, f.end
				if f.end == len(data) || (last && allZero(data[f.end:])) {
					return res, nil
				}
				return res, bad(f.end, "%d bytes after the seal record", len(data)-f.end)
			default:
				return res, bad(off, "unknown record type %d", f.typ)
			}
		}
		// A bad frame at off.
		if !last {
			return res, bad(off, "%v", ferr)
		}
		if allZero(data[off:]) {
			break // zero fill: preallocated space or a torn write that left zeros
		}
		tornShape := ferr == errShortFrame || (ferr == errFrameCRC && allZero(data[f.end:]))
		if !tornShape {
			return res, bad(off, "%v, and valid-looking data follows it", ferr)
		}
		if laterEntry(data, off, next+1) {
			return res, bad(off, "%v, but entry %d is intact after it", ferr, next+1)
		}
		res.torn = true
		break
	}
	res.end, res.fileEnd = off, off
	if !last {
		return res, bad(off, "segment is not sealed but a newer segment exists: its final records are missing")
	}
	return res, nil
}

// laterEntry reports whether an intact entry record with the given index
// starts anywhere after off. It tells a torn final write (nothing valid
// after the damage) from a damaged length field in the middle of the data.
//
// Candidates are found by searching for the entry's type byte and index
// varint, and confirmed by CRC. The CRC work is bounded by a few times the
// data size; data crafted to exceed it (many fake headers) is answered
// "yes", which makes Open refuse the log rather than cut it.
func laterEntry(data []byte, off int, index uint64) bool {
	var pat [1 + binary.MaxVarintLen64]byte
	pat[0] = recEntry
	p := pat[:1+binary.PutUvarint(pat[1:], index)]
	budget := 4*len(data) + 1<<20
	from := off + 1 + 8 // the type byte of a frame starting after off
	for from < len(data) {
		i := bytes.Index(data[from:], p)
		if i < 0 {
			return false
		}
		start := from + i - 8
		if n := binary.LittleEndian.Uint32(data[start:]); uint64(n) <= uint64(len(data)-start-frameHeaderSize) {
			if budget -= int(n); budget < 0 {
				return true
			}
			if f, err := readFrame(data, start); err == nil && f.typ == recEntry {
				var l raft.Log
				if decodeEntry(f.payload, &l, false) == nil && l.Index == index {
					return true
				}
			}
		}
		from += i + 1
	}
	return false
}
