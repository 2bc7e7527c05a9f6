package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"testing"

	"github.com/hashicorp/raft"
)

// FuzzReader feeds arbitrary bytes to the segment reader (scan), as the
// newest segment and as a sealed one. Properties: it never panics; an
// error is always a corruption error; and every record it returns lies
// inside the data, has a CRC that matches, decodes, has the next index, and
// re-encodes to exactly the same bytes. What it leaves out at the end of a
// newest segment is either zeros or judged torn.
//
//	go test -fuzz=FuzzReader ./wal/
func FuzzReader(f *testing.F) {
	for _, seed := range testReaderSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		base := uint64(1)
		if len(data) >= headerSize {
			base = binary.LittleEndian.Uint64(data[12:20])
		}
		for _, last := range []bool{true, false} {
			res, err := scan("fuzz.wal", data, base, last)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("last=%v: error %v is not ErrCorrupt", last, err)
				}
				continue
			}
			testCheckScan(t, data, base, last, res)
		}
	})
}

// testCheckScan verifies a successful scan result independently of scan.
func testCheckScan(t *testing.T, data []byte, base uint64, last bool, res scanResult) {
	t.Helper()
	off := headerSize
	for i, o := range res.offs {
		if int(o) != off {
			t.Fatalf("record %d at %d, want %d (records must be back to back)", i, o, off)
		}
		if off+frameHeaderSize > len(data) {
			t.Fatalf("record %d header past the data", i)
		}
		n := int(binary.LittleEndian.Uint32(data[off:]))
		end := off + frameHeaderSize + n
		if end > len(data) {
			t.Fatalf("record %d payload past the data", i)
		}
		if got, want := binary.LittleEndian.Uint32(data[off+4:]), crc32.Checksum(data[off+8:end], crc32.MakeTable(crc32.Castagnoli)); got != want {
			t.Fatalf("record %d returned with CRC %#x, computed %#x", i, got, want)
		}
		if data[off+8] != recEntry {
			t.Fatalf("record %d has type %d", i, data[off+8])
		}
		var l raft.Log
		if err := decodeEntry(data[off+frameHeaderSize:end], &l, true); err != nil {
			t.Fatalf("record %d does not decode: %v", i, err)
		}
		if l.Index != base+uint64(i) {
			t.Fatalf("record %d has index %d, want %d", i, l.Index, base+uint64(i))
		}
		re := make([]byte, entryFrameSize(&l))
		putEntryFrame(re, &l)
		if !bytes.Equal(re, data[off:end]) {
			t.Fatalf("record %d does not round-trip:\n got %x\nwant %x", i, re, data[off:end])
		}
		off = end
	}
	if res.end != off {
		t.Fatalf("end %d, records end at %d", res.end, off)
	}
	if res.sealed {
		f, err := readFrame(data, res.end)
		if err != nil || f.typ != recSeal || f.end != res.fileEnd || len(res.offs) == 0 {
			t.Fatalf("sealed, but no valid seal record at %d: %v", res.end, err)
		}
	} else if res.fileEnd != res.end {
		t.Fatalf("unsealed with fileEnd %d != end %d", res.fileEnd, res.end)
	}
	if !last && (!res.sealed || res.fileEnd != len(data)) {
		t.Fatalf("sealed segment accepted without ending in its seal record")
	}
	if rest := data[res.fileEnd:]; !res.torn && !allZero(rest) {
		t.Fatalf("%d non-zero bytes after the data left without being judged torn", len(rest))
	}
}

// testReaderSeeds returns segment files: real ones written by a store, cut
// and damaged variants, and odd shapes.
func testReaderSeeds(t testing.TB) [][]byte {
	dir := t.TempDir()
	s, err := Open(dir, Options{SegmentSize: 512, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 12; i += 3 {
		if err := s.StoreLogs(testEntries(i, i+2, int(i*9))); err != nil {
			t.Fatal(err)
		}
	}
	var files [][]byte
	for _, p := range segmentFiles(t, dir) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	s.Close()
	var seeds [][]byte
	for _, b := range files {
		seeds = append(seeds, b, b[:len(b)-1], b[:len(b)/2], append(bytes.Clone(b), make([]byte, 64)...))
		flipped := bytes.Clone(b)
		flipped[len(b)*2/3] ^= 4
		seeds = append(seeds, flipped)
	}
	hdr := make([]byte, headerSize)
	putHeader(hdr, segmentMagic, 1)
	seeds = append(seeds, nil, []byte("MIODBWAL"), hdr, append(bytes.Clone(hdr), 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 1))
	return seeds
}

// FuzzDecodeEntry checks the entry payload codec on its own: decoding
// either fails or yields an entry that encodes back to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	for i := uint64(1); i < 7; i++ {
		l := testEntry(i*1000, int(i*5))
		b := make([]byte, entryFrameSize(l))
		putEntryFrame(b, l)
		f.Add(b[frameHeaderSize:])
	}
	f.Add([]byte{0x80, 0x00, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		var l raft.Log
		if err := decodeEntry(p, &l, true); err != nil {
			return
		}
		b := make([]byte, entryFrameSize(&l))
		putEntryFrame(b, &l)
		if !bytes.Equal(b[frameHeaderSize:], p) {
			t.Fatalf("round trip:\n got %x\nwant %x", b[frameHeaderSize:], p)
		}
	})
}
