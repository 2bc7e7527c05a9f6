// Package pgwire serves the PostgreSQL wire protocol (version 3) in front
// of MinIODB's query path, so psql, pgx, JDBC and BI tools can query it.
// The framing is jackc/pgx's pgproto3 and the value encodings its pgtype,
// not code of our own.
//
// What a session can do:
//
//   - TLS when the server has a certificate (SSLRequest); authentication
//     by cleartext password over it when the node checks tokens (the
//     password is a MinIODB token; SCRAM is not offered yet), any user and
//     database otherwise.
//   - The simple query protocol (text results) and the extended one
//     (Parse, Bind, Describe, Execute, Close, Sync, Flush; portals; text
//     or binary results per column). Parameters ($1, $2, …) are
//     substituted into the statement as literals before it reaches the
//     query path, which analyses and locks down the statement text as for
//     any client: a parameter can only ever be a literal.
//   - SET, BEGIN, COMMIT and ROLLBACK are accepted and change nothing
//     (everything is read-only); SHOW of the session's parameters answers.
//   - CancelRequest stops the running query of the session it names.
//
// Type OIDs follow the DuckDB result type: BOOLEAN bool, TINYINT and
// SMALLINT int2, INTEGER int4, BIGINT int8, HUGEINT, UBIGINT and DECIMAL
// numeric, FLOAT float4, DOUBLE float8, VARCHAR text, DATE date, TIME
// time, TIMESTAMP timestamp, TIMESTAMPTZ timestamptz, UUID uuid, BLOB
// bytea, and JSON, LIST, STRUCT, MAP and UNION json (their JSON form);
// INTERVAL and other types are text.
//
// Not yet: the pg_catalog and information_schema queries tools send on
// connect, COPY, SCRAM-SHA-256.
package pgwire
