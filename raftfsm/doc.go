// Package raftfsm is MinIODB's replicated state machine: it owns the tables
// and their schemas, the hot (not yet flushed) row buffers of every table
// partition, the catalog of live Parquet files, the list of objects waiting
// to be deleted and the request-id dedupe window. It implements raft.FSM:
// every node applies the same log entries in the same order and reaches the
// same state.
//
// # Purity
//
// Apply is deterministic. It reads no clock and no randomness and does no
// I/O: everything it needs (row values, ingest time, partition, schema
// types, object keys) was decided by the leader and travels inside the log
// entry. The only I/O of the package is writing and reading snapshots
// through the sink raft hands it. It imports no other MinIODB package except
// the generated proto types and package ingest, the pure home of the schema
// rules (so the leader's validation and Apply's schema merge cannot drift).
//
// # Concurrency
//
// raft calls Apply, Snapshot and Restore from one goroutine; readers (the
// query engine, status, the flusher) call the View methods concurrently.
// State is guarded by one RWMutex. Applied row batches are immutable once
// applied, so views hand out shared pointers to them without copying rows;
// a view is a consistent cut at one applied index. FSMSnapshot.Persist runs
// concurrently with later Apply calls and only reads the immutable batches
// and copied slices captured by Snapshot.
//
// # Format
//
// A log entry is one envelope byte, a CRC-32C of the payload, and the
// payload, a protobuf Command (proto/miniodb/v1/raft.proto):
//
//	+---------+-----------------------+------------------------------+
//	| 0x01    | CRC-32C, 4 bytes (LE) | proto-encoded Command        |
//	+---------+-----------------------+------------------------------+
//
// Envelope versions other than 1 are refused by Apply with an error, never
// skipped silently. A checksum mismatch means this node's copy of the log
// was damaged after the leader wrote it (raft-boltdb keeps no checksums of
// its own; the jepsen suite flips bytes in it): Apply then stops the node
// with a message that says to wipe and re-join it, because applying the
// entry differently from the other replicas would make them diverge
// silently. Rows travel column-oriented (RowBatch): one typed vector
// per column with a NULL bitmap, so an entry of 5,000 rows costs a few
// hundred KB and decodes without per-row objects.
//
// Request ids are remembered per table (the key is table, NUL, id), in a
// window of the last DefaultDedupeWindow ids: a retried write is applied
// once, and two tables may use the same ids. Snapshots hold the keys as
// they are; a snapshot written before ids were scoped holds bare ids,
// which no later request matches (a retry across that upgrade inserts
// again).
//
// A snapshot is the magic "MINIODB-FSM-SNAPSHOT\n" followed by
// length-delimited (uvarint length, protodelim) records: one SnapshotHeader
// (format version first, applied index, dedupe window, pending deletes),
// then for every table one SnapshotTable followed by its SnapshotBatch
// records (the hot rows), then one SnapshotTrailer repeating the table
// count. The records are streamed to the sink one at a time; the whole
// snapshot is never built in memory.
package raftfsm
