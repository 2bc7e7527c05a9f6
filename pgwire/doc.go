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
//     (everything is read-only); SHOW is not answered yet.
//   - CancelRequest stops the running query of the session it names.
//
// Type OIDs follow the DuckDB result type: BOOLEAN bool, TINYINT and
// SMALLINT int2, INTEGER int4, BIGINT int8, HUGEINT, UBIGINT and DECIMAL
// numeric, FLOAT float4, DOUBLE float8, VARCHAR text, DATE date, TIME
// time, TIMESTAMP timestamp, TIMESTAMPTZ timestamptz, UUID uuid, BLOB
// bytea, and JSON, LIST, STRUCT, MAP and UNION json (their JSON form);
// INTERVAL and other types are text.
//
// Catalog queries (pg_catalog, information_schema, version(),
// current_database()) run in a small DuckDB of the server's own holding
// empty copies of the tables the session may read (catalog.go), so
// DuckDB's PostgreSQL catalog emulation answers them from MinIODB's
// schemas; PostgreSQL-only spellings psql uses are rewritten, and such a
// query may not read a MinIODB table (its copy is empty). psql's \dt and
// information_schema.tables/columns work; psql's \d TABLE asks for
// pg_class columns DuckDB does not have.
//
// Not yet: \d, the other introspection of BI tools, COPY, SCRAM-SHA-256.
package pgwire
