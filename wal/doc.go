// Package wal owns MinIODB's Raft log: a raft.LogStore (hashicorp/raft
// v1.8) made of segmented, CRC-framed, fsync'd append-only files in one
// directory, the in-memory index from Raft index to file offset, head and
// tail truncation, and the recovery of a torn tail when the log is opened.
// It knows nothing about tables or rows, and it keeps no StableStore data
// (terms and votes live elsewhere, e.g. in raft-boltdb).
//
//	s, err := wal.Open(dir, wal.DefaultOptions())
//	if errors.Is(err, wal.ErrCorrupt) { /* stop: the message says how to recover */ }
//	defer s.Close()
//	r, err := raft.NewRaft(conf, fsm, s, stable, snaps, trans)
//
// # Concurrency
//
// A Store is safe for concurrent use; Raft calls it from its main loop
// (StoreLogs, tail DeleteRange), its snapshot goroutine (head DeleteRange)
// and one replication goroutine per follower (GetLog). The contract:
//
//   - StoreLogs, DeleteRange and Close are serialised with each other.
//   - An entry becomes visible to GetLog, FirstIndex and LastIndex only when
//     it is durable, i.e. when the StoreLogs call that wrote it returns.
//     Readers never wait for an fsync; they wait only for the short moment
//     in which a writer publishes a finished change.
//   - GetLog returns Data and Extensions the caller owns.
//   - After an I/O error in a write, the store refuses writes (reads still
//     work) until it is closed and reopened, because the files' state is then
//     unknown; Open's recovery puts it right.
//   - One Store per directory: Open takes a flock on dir/LOCK.
//
// The store does not implement raft.MonotonicLogStore: it accepts gaps in
// the indexes (Raft leaves one after installing a snapshot) by starting a
// new segment at the gap, so Raft keeps its default behaviour of not
// deleting the whole log after a snapshot restore.
//
// # Format
//
// A directory holds segment files named after the index of their first
// entry, "%020d.wal" (00000000000000000001.wal, ...), so that a lexical
// listing is in log order; an optional "first-index" file; and "LOCK".
// Segment header (24 bytes) and first-index file (the same 24 bytes with
// another magic), little-endian:
//
//	0        8          12                  20         24
//	+--------+----------+-------------------+----------+
//	| magic  | version  | value             | CRC-32C  |
//	| 8 B    | u32 = 1  | u64               | u32      |
//	+--------+----------+-------------------+----------+
//	magic "MIODBWAL": value is the segment's base index (equal to the name)
//	magic "MIODBFIX": value is the first index (entries below it are deleted)
//	CRC-32C (Castagnoli) covers bytes 0-19.
//
// After the header come records, back to back:
//
//	0          4          8      9
//	+----------+----------+------+---------------------------+
//	| length   | CRC-32C  | type | payload (length bytes)    |
//	| u32      | u32      | u8   |                           |
//	+----------+----------+------+---------------------------+
//	CRC-32C covers type and payload.
//	type 1 entry: uvarint index | uvarint term | u8 raft.LogType | u8 flags |
//	              [zigzag-uvarint AppendedAt.Unix() | uvarint nanoseconds, if flags&1] |
//	              uvarint len(Extensions) | Extensions | Data (rest of the payload)
//	type 2 seal:  uvarint last index of the segment
//
// Varints must be in shortest form. Entries in a segment have consecutive
// indexes starting at the base index; a gap in the log means a new segment.
// Every segment but the newest ends with exactly one seal record, so a
// segment that lost its end is detected even though gaps are legal.
//
// # Writing and crash safety
//
// A new segment is written as "<name>.tmp" (header, preallocated to
// SegmentSize with zeros), synced, renamed and the directory synced, so a
// segment file never has a torn header. StoreLogs encodes the whole batch
// into the in-memory copy of the newest segment, writes it with one pwrite,
// and calls fdatasync once before returning: one fsync per batch (group
// commit). When a batch reaches SegmentSize mid-way, the part that fits
// plus a seal record is written, the file truncated to its end and synced
// before the next segment is created; so data that was not yet synced can
// only ever sit at the end of the newest segment.
//
// That is why a torn tail is safe to cut: bytes after the last successful
// fdatasync belong to a StoreLogs call that had not returned, so Raft never
// acknowledged them to anyone (not as a follower's AppendEntries reply, not
// as a leader's commit), and losing them is the same as crashing just
// before the write. Everything up to the last fdatasync is intact unless
// the disk itself lost data, which must not be papered over.
//
// Deletion follows the same rule of "durable before visible to recovery":
// a head truncation writes the first-index file (temporary file, sync,
// rename, directory sync) before removing whole segments, so a crash leaves
// at most some extra segments that Open removes; a tail truncation removes
// later segments newest first, each removal synced, and then truncates and
// syncs the segment holding the cut, so a crash leaves a prefix of the log,
// never a hole.
//
// # Recovery rules (Open)
//
//   - "*.tmp" files are removed: they never reached their rename.
//   - Every segment is read in full and every record's CRC, type, varints
//     and index sequence checked. Segments must not overlap.
//   - In the newest segment, the data may end early: in zero fill
//     (preallocated space, or a torn write that left zeros), or in a torn
//     final record: one that is cut short by the end of the file, or whose
//     CRC fails with nothing but zeros after it, provided no intact entry
//     with the next index follows anywhere later (that would mean a damaged
//     length field, not a torn write). A torn record is cut off (the file is
//     truncated and synced) and logged at Warn level with path and offset.
//     A newest segment left with no entries is removed.
//   - Anything else is corruption: a bad record anywhere before that point,
//     a bad header, a non-newest segment without its seal record, bytes
//     after a seal record, a bad first-index file. Open then fails with an
//     error that wraps ErrCorrupt, names the file and offset, and says to
//     wipe the node's data directory and re-join the cluster. Records are
//     never silently skipped.
//   - Segments wholly below the first index are removed (an interrupted head
//     truncation).
//
// Limit: a record damaged at the very end of the newest segment is
// indistinguishable from a torn write and is cut; a torn write whose pages
// reached the disk out of order (a hole followed by valid records) is
// reported as corruption, which costs a re-join but never loses data
// silently.
package wal
