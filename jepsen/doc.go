// Package jepsen owns MinIODB's fault-injection suite: it starts real
// miniodb processes and a real MinIO server on loopback, drives concurrent
// clients over HTTP, injects faults (kills, fail-point crashes, pauses,
// network partitions, object-store outages, power loss, damaged Raft
// logs), records a history, heals the cluster and checks the history:
// no acknowledged row lost, none duplicated, none invented, strong reads
// linearizable. It is its own Go module, in the manner of hashicorp/raft's
// fuzzy/, so that its dependencies (porcupine) never reach MinIODB's users,
// and it imports no package of the main module: it talks to nodes over
// HTTP only, as a user would. Nothing in MinIODB may import it.
//
// # Running
//
//	make jepsen-short   # the unit tests, TestShort and TestUnsafe, about 70 s
//	make jepsen         # TestMatrix (every nemesis alone and mixed, 3 and 5 nodes) and TestUnsafe
//
// or by hand, from this directory:
//
//	MINIODB_MINIO_BIN=$(../scripts/install-minio.sh) go test -count=1 -run TestShort -v .
//	MINIODB_MINIO_BIN=... JEPSEN_MATRIX=1 JEPSEN_DURATION=60s go test -count=1 -timeout 120m -run 'TestMatrix/corrupt-wal-5n' -v .
//	JEPSEN_HISTORY=/tmp/…/history.jsonl go test -run TestCheckFile -v .   # re-check a recorded history
//
// Environment: MINIODB_MINIO_BIN (the MinIO server; tests skip without
// it), MINIODB_BIN (a prebuilt miniodb; otherwise `go build ./cmd/miniodb`
// runs once per test process), JEPSEN_MATRIX=1, JEPSEN_DURATION (faulty
// period of a matrix run, default 30s), JEPSEN_SEED (the nemesis schedule
// and client choices; printed by every run), JEPSEN_DIR (where runs write;
// default a new directory under $TMPDIR), JEPSEN_KEEP_DATA=1 (keep node
// data and objects of passing runs too).
//
// Every run writes into one directory, named in its summary: harness.log,
// n1.log … (every life of every node, with the harness's start and exit
// lines), minio.log, history.jsonl (one event a line), summary.txt and
// report.json, and linearizability-c<k>.html (porcupine's visualisation)
// when a client's partition is not linearizable.
//
// # Harness
//
// Node i (1-based) gets the loopback address 127.0.0.(10+i) for all its
// listeners. In front of its Raft and API listeners sit two TCP proxies
// (Net) on the same IP; the node advertises the proxies, so every
// node-to-node connection (Raft, forwarding, joins) passes through one.
// miniodb dials from the IP of its --raft-addr, so a proxy knows the source
// node of a connection from its source IP; the destination is the proxy's
// node. A link src→dst can be cut in "refuse" mode (connections reset) or
// "drop" mode (accepted, bytes discarded: timeouts); cutting closes the
// link's established connections, healing closes the black-holed ones.
// Clients talk to the nodes' real API listeners directly. Processes run
// with Pdeathsig=SIGKILL and are killed when a run ends, pass or fail.
// A node that exits without the harness asking is recorded; one that
// crashed at its fail point is restarted without fail points; others are
// restarted (at most five times) and listed in the summary.
//
// # Nemeses
//
// Faults come one at a time: a quiet pause, inject, hold, heal (durations
// drawn from the seeded RNG); at the end of the faulty period everything
// is healed, clients run a few seconds more, then the harness waits for a
// healthy cluster, flushes and reads every id through every node.
//
//   - kill-leader, kill-random: SIGKILL, restart after the hold.
//   - fp-flush-after-upload, fp-flush-after-commit: the followers are
//     restarted one by one with MINIODB_FAILPOINTS=<point>=crash for that
//     life, the leader is killed and kept down until an armed node leads,
//     which then crashes in its next flush; crashed nodes come back without
//     fail points (and a next armed leader may crash too). Heal restarts
//     whatever is still armed.
//   - fp-compaction-before-upload, fp-compaction-after-upload,
//     fp-compaction-after-commit, fp-gc-mid-delete: the same, for the
//     leader's next merge or collection (runs with NodeOptions.Compaction,
//     which merges every 200 ms, so the points fire).
//   - fp-snapshot-mid-write, fp-wal-mid-batch (needs --raft-log wal): a
//     random node is restarted with the point armed (crash, @N for the wal).
//   - pause-leader, pause-random: SIGSTOP, SIGCONT after the hold.
//   - partition-leader (the leader alone), partition-halves (a random
//     minority and majority), partition-bridge (two sides that only a
//     bridge node connects), each in refuse or drop mode.
//   - minio-kill: SIGKILL MinIO, restart it on the same address and data.
//   - power-loss: SIGKILL every node at once, restart all.
//   - corrupt-truncate, corrupt-flip: SIGKILL one node and, while it is
//     down, cut its Raft log inside one of its last records or flip a bit
//     in one of them (wal: the newest segment under data/raft/wal, found
//     by parsing the record frames, since segments are preallocated; bolt:
//     the end of data/raft/log.db, or a bit past its meta pages). On
//     restart a torn tail may be cut off; a node that refuses to start (or
//     exits soon after) is a valid outcome: it is removed with
//     ClusterService/Remove, wiped and started afresh with --join.
//
// # Workload and checkers
//
// Writer k adds batches of 1–4 new rows with ids c<k>-<seq> (one
// request each, request_id c<k>-r<n>) through random nodes; a try that
// fails is retried (up to three tries) through another random node with
// the same request_id. An operation is ok if a try succeeded, fail if every
// try certainly did not take effect (no connection, or refused before
// Raft: invalid, not found, back-pressure), and info (unknown) otherwise.
// Readers make strong reads of every id through random nodes. Events are
// recorded with monotonic times (Check's doc lists the properties).
// Linearizability is checked with porcupine on a grow-only-set model, one
// partition per writer: that writer's adds plus every strong read projected
// onto its ids (sets stay small as runs of sequence numbers). An unknown
// add whose rows the final read lacks is dropped from the porcupine
// history (it never happened), which keeps the search polynomial.
//
// Deleters (WorkloadOptions.Deleters) write batches of rows x<p>-<seq> to
// DoomedTable and delete them once the write is acknowledged; after the
// run one strong read of DoomedTable must hold no row of an acknowledged
// delete (deleted-row-back), so a merge that raced a delete and brought
// its rows back fails the run. Every other deleter operation upserts its
// rows instead (the same ids again with upsert_key=id, in another hour):
// an upserted id must be there at most once, and exactly once when its
// first write was acknowledged (upsert-not-one).
//
// A run fails when a checker finds an anomaly; its summary prints the
// counts and the first anomaly of the worst kind with a history excerpt.
// TestUnsafe runs with MINIODB_UNSAFE_ACK_BEFORE_COMMIT=1, killing and
// isolating the leader in turn under 32 busy writers, and must fail with
// lost rows, which shows the suite can fail.
package jepsen
