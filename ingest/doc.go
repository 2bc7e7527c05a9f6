// Package ingest owns MinIODB's schema rules and the encoding of written
// rows from JSON into typed, column-oriented batches. It is pure: no I/O, no
// clock (the caller passes now), no randomness, so the same request and
// table always give the same batches. The Raft leader calls Parse before
// raft.Apply and puts the batches in the InsertCommand; raftfsm's Apply calls
// MergeColumns, the one schema-merge rule, to grow the table's schema from
// the batches' columns on every node alike. It imports only the generated
// proto types and protobuf's structpb.
//
// # Input
//
// One write request is one Input: a JSON array of objects (JSONArray, e.g.
// the raw `rows` of a Connect JSON request), NDJSON (one object per line,
// blank lines skipped, "\r\n" accepted), protobuf Structs, or upstream
// MinIODB's Records ({id, timestamp, payload} → the row {id, ts, payload's
// fields...}; a payload field named id or ts is an error). The same rows
// give the same Result in every form, with two differences that come from
// protobuf, not from this package: a Struct number is a float64, so it is
// BIGINT when integral within ±2^53 and DOUBLE otherwise (1.0 is BIGINT
// there, DOUBLE in JSON text; 2^60 is DOUBLE there, BIGINT in JSON text); and
// the JSON text of a nested value is canonical for Structs (keys sorted,
// encoding/json's number and string format) but the compacted text as sent
// for JSONArray and NDJSON (key order, number text and string escapes kept).
//
// The JSON forms are read by a strict scanner (RFC 8259; valid UTF-8; no
// lone surrogates; no duplicate keys in any object, nested ones included)
// straight into column builders, without encoding/json or maps of values.
//
// # Rules
//
//   - Every row has ts TIMESTAMP: the ts field (an RFC 3339 string, or
//     "2006-01-02 15:04:05[.ffffff]" as UTC; see ParseTimestamp), or now
//     when the row has none. ts null, a number, a boolean, an object, an
//     array or a bad string is an error. ts is the first column of a new
//     table; a new id column is VARCHAR.
//   - Types from JSON: string → VARCHAR, true/false → BOOLEAN, a number
//     without fraction or exponent that fits int64 → BIGINT, any other
//     number → DOUBLE, object or array → JSON (its compact text), null →
//     NULL, a missing field → NULL. An integer literal beyond int64 is an
//     error unless its column is DOUBLE (or JSON): it is never rounded into
//     a new or BIGINT column silently.
//   - A field seen only as null in a request, and not in the table, has no
//     type yet: no column is made for it until a non-null value comes.
//   - The first non-null value types a new column; later values must fit:
//     BIGINT widens to DOUBLE for a non-integral number (in the request and
//     then in the table, through MergeColumns), an integer is stored in a
//     DOUBLE column as the nearest double, any value goes into a JSON
//     column as its JSON text, an RFC 3339 string into a TIMESTAMP column.
//     Anything else is an error naming the 1-based row, the field, the
//     column's type and the value:
//     `row 2: field "value": column is DOUBLE, got string "x"`.
//   - A JSON column stores the JSON text of any non-null value (a string as
//     its quoted text); JSON null is SQL NULL there as everywhere.
//   - Explicit schemas: a field not in the schema and a widening are errors.
//   - Names: tables and columns match [A-Za-z_][A-Za-z0-9_]*, at most 63
//     bytes, not starting with _miniodb, and column names are unique
//     ignoring case (DuckDB's identifiers are case-insensitive).
//   - A request is accepted whole or rejected whole; limits (Options) are
//     errors, never truncation.
//   - Rows are split into one batch per partition of their ts (PartitionOf),
//     partitions in ascending order, rows in input order. A batch holds the
//     request's columns that have a non-null value: table columns in table
//     order, then new ones (ts, id, then by name — a Struct has no field
//     order, so name order is the one order every form shares).
//
// MergeColumns is idempotent (merging a batch into the schema it produced
// changes nothing), so the FSM may merge every partition batch of one
// insert in turn; the batches of one Result all carry the same columns.
//
// # Errors
//
// Every error about the input is an ErrInvalid (errors.Is), most are a
// *RowError. Their messages are meant for the client (the node sends them
// as InvalidArgument), so unlike the rest of MinIODB they carry no
// "ingest:" prefix; messages that only a caller bug can cause do.
//
// # Concurrency
//
// All functions are safe for concurrent use; Parse keeps no state between
// calls. A Result's strings point into buffers owned by the Result.
package ingest
