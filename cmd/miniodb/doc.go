// Command miniodb is MinIODB's one binary: it runs a server node and it is
// the command-line client for one.
//
// A server ("miniodb serve") takes JSON rows over Connect RPC, makes them
// durable through Raft, flushes them to Parquet in an object store and
// answers SQL with DuckDB. The client commands talk to a running node over
// the Connect protocol (binary protobuf over plain HTTP), at --addr, which
// defaults to $MINIODB_ADDR or 127.0.0.1:7070:
//
//	serve            run a node (see "miniodb serve --help")
//	bench            measure ingest and query speed on a throw-away node
//	sql [SQL | -]    run read-only SQL; print a table, CSV, JSON or NDJSON
//	write TABLE FILE write rows from NDJSON, a JSON array or CSV
//	tables [NAME]    list tables, or show one table's columns and counts
//	status           the node's Raft state, object store and hot buffers
//	flush [TABLE]    write hot rows to Parquet now
//	version          version and build information
//	help [COMMAND]   usage, for the binary or one command
//
// # Conventions
//
// Every subcommand has its own flag.FlagSet; flags may come before or after
// the positional arguments, and "--" ends the flags. "miniodb CMD --help"
// prints the command's flags and examples on stdout and exits 0. Exit codes:
// 0 success, 1 an error (the server's Connect code and message are printed
// on stderr), 2 a usage error, 130 interrupted.
//
// # sql
//
// The query runs through QueryService.QueryStream, so csv, json and ndjson
// output streams with bounded memory. The table format sizes its columns
// from the whole result, so it holds every row in memory; it never
// truncates. Numbers are right-aligned, NULL prints as NULL, and the footer
// gives the row count and the elapsed time. The other formats write numbers
// in their shortest form, as encoding/json does.
//
// # write
//
// Input is read as a stream (never loaded whole) and cut into batches of at
// most --batch-rows rows and --batch-bytes bytes of NDJSON; a single row
// larger than --batch-bytes travels alone. Each batch is sent as
// WriteRequest.rows_ndjson with request_id "PREFIX-N" (N counts batches from
// 1), so a retried batch is applied at most once by the server. Batches that
// fail with Unavailable, DeadlineExceeded or ResourceExhausted are retried
// with capped exponential back-off and the same request_id. Re-running the
// same input with the same --request-id-prefix and batch limits resends the
// same batches under the same ids, so a load that stopped part way can be
// resumed without duplicates (within the server's dedupe window).
//
// CSV cells become JSON values: an empty cell is left out (NULL), true/false
// become booleans, JSON-style numbers stay numbers with their exact text
// (integers are BIGINT on the server, others DOUBLE), and anything else,
// including integers with leading zeros such as "007", is a string.
//
// This package holds flag parsing, input conversion and output formatting
// only; the server lives in package node.
package main
