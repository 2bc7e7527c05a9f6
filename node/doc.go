// Package node wires one MinIODB server: configuration, the Raft instance
// (bootstrapped as a one-voter cluster on first start) over the chosen log
// store, the Connect services (Connect JSON, Connect binary and gRPC on one
// port), the plain HTTP conveniences (NDJSON bulk write, CSV/JSON query,
// /healthz, /readyz, /metrics), and the background loops of the leader:
// the flusher and the object garbage collector.
//
// It holds no storage format and no SQL rewriting: rows are parsed by
// package ingest, applied by raftfsm, written to Parquet by parquetio,
// stored through objstore and queried by query. Domain errors become Connect codes in one place:
// handlers return domain errors, and one Connect interceptor
// (errorInterceptor) maps them with apiError, logs an internal error once
// and records every RPC's outcome and latency; the HTTP conveniences call
// apiError themselves.
//
// # Write path
//
// Writes arrive as Write (one request), WriteStream (numbered batches on a
// stream, answered with durable watermarks, stream.go) or NDJSON bodies
// of any length (written in pieces, http.go). A follower forwards small
// writes to the leader coalesced in WriteMany calls (forward.go).
//
// Write parses and types the rows on the leader (ingest), refuses them with
// ResourceExhausted when hot buffers exceed HotBytesLimit, and hands the
// insert to the group commit (commit.go), which applies concurrent small
// writes as one InsertBatch entry and a large one as an Insert entry of
// its own. It answers only after the entry is
// committed (fsync'd by the log store on a quorum) and applied by the FSM;
// the answer carries the entry's Raft index. A request_id is remembered by
// the FSM, so a retried request is applied once.
//
// # Flush
//
// The leader's flusher writes a partition's hot rows with index in (M, N]
// (M the partition's flushed index) to one Parquet object, uploads it, then
// applies FlushCommit. The key names the table incarnation, the partition,
// M, N and the upload (leader term, sequence number), so two uploads never
// share a key and no object is overwritten. A crash between the upload and
// the commit leaves an orphan; the rows are still hot and are flushed
// again. A commit for rows another file holds already is refused unless it
// names that very file (a retried Apply).
//
// # Leader duties and garbage collection
//
// Flushes and sweeps decide from the FSM, so they run only after
// leaderReady: a barrier command once per term, which guarantees the FSM has
// applied everything committed (a new leader, or a node that restarted,
// leads before it has replayed its log). The collector deletes pending
// deletes after DeleteGrace, and an orphan only when the catalog proves it
// superseded: its table incarnation is gone, or the partition's flushed
// index has passed the key's upto index, and no live file or pending delete
// names it (raftfsm.FSM.ObjectUnneeded). Keys it cannot parse are left
// alone.
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
// Followers forward writes, strong reads, DDL and flushes to the leader,
// or answer with the leader's address when a write asks for a redirect.
// Forwarded requests go to the leader's Raft address, which carries both
// Raft and the node-to-node API (peerLayer tells them apart by the first
// byte): a request that arrives there is marked as forwarded in its
// context, so it is never forwarded twice and no client header can fake
// the mark. With peer TLS (PeerCertFile) every connection to that address
// is mutual TLS with the cluster CA; the leader also handshakes with a
// joining node's Raft address before it becomes a voter, so a node without
// a cluster certificate (or one the leader cannot reach) is refused
// instead of counting toward the quorum. Outgoing Raft and node-to-node
// connections are dialed from the IP of the node's Raft address; with one
// loopback IP per node, a test proxy can tell nodes apart and cut links one
// by one (package jepsen does).
//
// # Authentication
//
// auth.go: withAuth (HTTP middleware) authenticates every request's bearer
// token against the catalog's tokens and puts the result in the context;
// authInterceptor authorizes every RPC by needOf, the one table of what
// each procedure needs; the HTTP conveniences use the same rules and the
// query path checks the tables a statement reads. Forwarded requests
// carry the client's token and are checked again by the leader.
//
// # Concurrency
//
// Handlers run concurrently; the FSM and the query engine are safe for
// concurrent use; flushes are serialised by flushMu. Every background
// goroutine stops and is waited for in Close.
package node
