// Package node wires one MinIODB server: configuration, the Raft instance
// (bootstrapped as a one-voter cluster on first start) over the chosen log
// store, the Connect services (Connect JSON, Connect binary and gRPC on one
// port), the plain HTTP conveniences (NDJSON bulk write, CSV/JSON query,
// /healthz, /readyz, /metrics), and the background loops of the leader:
// the flusher and the object garbage collector.
//
// It holds no storage format and no SQL rewriting: rows are parsed by
// package ingest, applied by raftfsm, written to Parquet by parquetio and
// queried by query. Domain errors become Connect codes in one place
// (apiError).
//
// # Write path
//
// Write parses and types the rows on the leader (ingest), refuses them with
// ResourceExhausted when hot buffers exceed HotBytesLimit, and calls
// raft.Apply with one Insert entry. It answers only after the entry is
// committed (fsync'd by the log store on a quorum) and applied by the FSM;
// the answer carries the entry's Raft index. A request_id is remembered by
// the FSM, so a retried request is applied once.
//
// # Flush
//
// The leader's flusher writes a partition's hot rows with index <= N to one
// Parquet object whose key is fixed by (table, table creation index,
// partition, N), uploads it, then applies FlushCommit. A crash between the
// upload and the commit leaves an orphan object that the garbage collector
// deletes after DeleteGrace; the rows are still hot and are flushed again.
//
// # Reads
//
// Query with consistency "strong" confirms leadership with a quorum and
// waits until the FSM has applied the last log index it saw, then runs the
// SQL in the query engine over the state at least that new.
//
// # Cluster
//
// A node started with JoinAddrs (on first start, without Raft state) asks
// a member to add it; any member forwards the Join to the leader, which
// adds the node as a voter and records its API address in the replicated
// member table (raftfsm), so every node can reach every other node's API.
// The leader also publishes its own address when it gains leadership.
// Followers forward writes, strong reads, DDL and flushes to the leader
// (one hop, marked with a header so a request is never forwarded twice),
// or answer with the leader's address when a write asks for a redirect.
// Outgoing Raft and node-to-node API connections are dialed from the IP of
// the node's Raft address; with one loopback IP per node, a test proxy can
// tell nodes apart and cut links one by one (package jepsen does).
//
// # Concurrency
//
// Handlers run concurrently; the FSM and the query engine are safe for
// concurrent use; flushes are serialised by flushMu. Every background
// goroutine stops and is waited for in Close.
package node
