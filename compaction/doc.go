// Package compaction merges a partition's small Parquet files into larger
// sorted ones. It owns the choice of what to merge (Plan, a size-tiered
// strategy under a Policy) and the merge itself (Merge, a streaming k-way
// merge of sorted files). It never touches the object store or the
// catalog: package node downloads the inputs, uploads the output under a
// key no other upload uses, and applies a CompactionCommit through Raft,
// which swaps the inputs for the output only if every input is still live
// (raftfsm). Replaced files go to the pending-delete list and are deleted
// after the grace period, so a query that started before the commit reads
// the file set it started with.
//
// # Why parquet-go, not DuckDB's COPY
//
// Both were measured (docs/benchmarks.md, TestMergeBench). DuckDB's
// COPY (SELECT … ORDER BY ts) TO … is short to write and sorts within a
// memory limit, but it writes a bloom filter only for dictionary-encoded
// columns (never for unique ids unless dictionaries are forced, which
// tripled file size), truncates string statistics, and leaves DOUBLE
// columns with NaN without statistics, which MinIODB's reader refuses.
// Every input is already sorted by ts, so a merge needs no sort: a k-way
// merge that copies runs of rows column by column (whole blocks when the
// inputs' time ranges do not overlap, as successive flushes' do) writes
// the same format as a flush (parquetio.Writer: exact statistics, an id
// bloom filter, MinIODB's footer) in memory bounded by the inputs' count
// times one block, plus one output row group.
//
// # Strategy
//
// Files below the target size are grouped in tiers of 4-fold size, every
// file below target/256 in the lowest tier; a tier with MinFiles files is
// merged smallest first, up to MaxFiles inputs and the target size. Fresh
// files wait out a cooldown first. A row is rewritten about
// log4(target/flush size) times (the write amplification), and a
// partition keeps about MinFiles-1 files per tier outside the cooldown.
// The on-demand command (Options.Full) merges everything below the target
// regardless of tier and age.
//
// # Where merges run
//
// On the leader, one at a time by default (node's --compaction-concurrency),
// on one goroutine: the merge is I/O and copy bound, and keeping it on the
// node that plans it needs no new RPC and no handing-off protocol.
// Followers merging would spare the leader's CPU; that is left for the
// distributed-query work, which adds node-to-node fragment RPCs anyway.
package compaction
