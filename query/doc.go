// Package query runs read-only SQL over MinIODB tables with DuckDB. It owns
// SQL analysis (with DuckDB's own parser, json_serialize_sql), predicate
// extraction, file pruning by column statistics, the local file cache, the
// scan of the hot rows, and execution. It never changes the
// catalog: it reads the replicated state through the Catalog interface
// (implemented by *raftfsm.FSM, whose immutable views it consumes; that is
// why query imports raftfsm, one way, and never the reverse).
//
// # How a table becomes a relation
//
// For every MinIODB table a statement names, the engine creates a
// temporary view in the query's own connection:
//
//	SELECT CAST(col AS type), … FROM read_parquet([pruned files of schema 1])
//	UNION ALL …                                 (one branch per file schema)
//	UNION ALL
//	SELECT CAST(col AS type), … FROM miniodb_hot('<table>')   (only with hot rows)
//
// Files come from the object store through the Cache (downloaded once,
// pinned while a query reads them, LRU-evicted by size). Files are grouped
// by the schema they were written with (recorded in the catalog), one
// read_parquet per group: a single read_parquet with union_by_name over
// files of different column types loses rows in DuckDB 1.5.6 when a filter
// is pushed into a file whose column was narrower (BIGINT before it widened
// to DOUBLE). Columns a file does not have (it predates them) read as NULL;
// widened columns are cast. A connection keeps its views while their
// definitions do not change.
//
// # Hot rows
//
// Hot rows are held once, in the state machine's batches, and DuckDB reads
// them from there: miniodb_hot is a parallel table function (hot.go) that
// fills DuckDB's chunks straight from the batches of the query's views,
// only the columns the statement reads, conformed to the table's schema.
// A row is queryable the moment it is applied, and costs no memory beyond
// the batch that holds it.
//
// An earlier version kept a DuckDB in-memory mirror of each table's hot
// buffers, appended to by the first query after an Apply (or a background
// sync) and trimmed at each flush. It answered repeated queries over the
// same hot rows faster (a GROUP BY over 2 M hot rows in ~26 ms against
// ~150 ms for the scan), but the first query after a burst of writes paid
// for loading them (1.9 s after 2 M rows), and every hot row was held
// twice, as a batch and in the mirror (peak RSS 787 MiB against 550 MiB
// now). Hot rows are bounded by the flush thresholds, so the scan's cost is
// bounded too; the mirror's was not bounded in time. Arrow record batches
// registered with DuckDB would scan faster still, but need the duckdb_arrow
// build tag on every build.
//
// Consistency: a query takes its views of all its tables at once
// (Catalog.Views: one applied index) and puts them in the context of its
// DuckDB statements; the table function's bind finds its table's view
// there. Batches are immutable, so a later Apply, flush or delete cannot
// change what a running query sees, and the files listed in the same views
// hold exactly the rest of the rows.
//
// # Lockdown
//
// DuckDB runs with enable_external_access=false and allowed_directories
// set to the cache and spill directories, no extension auto-install or
// auto-load, TimeZone='UTC' (query semantics never depend on the host),
// memory and spill limits, and lock_configuration=true. The analyser is the
// first wall: it accepts one SELECT, resolves every table name by scope
// (a CTE binds only where DuckDB binds it), and refuses names that are
// neither a visible CTE nor a MinIODB table (so DuckDB's catalog views, its
// settings and the hot-row function are unreachable), schema-qualified
// names, SHOW of the catalog, table functions other than range,
// generate_series and unnest, and functions that expose settings or the
// internal views' SQL (current_setting, duckdb_*, pragma_*, …).
//
// # Pruning
//
// Pruning is per table reference, and sound by construction: a reference
// gets predicates only from the WHERE of the SELECT whose sole FROM item it
// is (no column alias list, no sample, no CTE of the same name in scope),
// and only conjuncts "column op literal" (=, <, <=, >, >=, BETWEEN) whose
// column is unqualified or qualified by the reference's binding name.
// Literals keep their exact text (json.Number); they are compared with a
// file's min/max the way DuckDB compares them, and where DuckDB's
// conversion is not certain (DECIMAL against BIGINT, a DECIMAL's last bit
// as DOUBLE, DATE literals with a time, time zone offsets on a plain
// TIMESTAMP) every candidate is tried or the predicate is left alone. A
// reference whose predicates rule out files is renamed in the SQL text
// (at the byte range DuckDB's parse tree gives) to a view of its own files;
// every other reference reads the table's unpruned view. The differential
// tests run fixed and randomly generated queries (subqueries, IN, EXISTS,
// CTEs, aliases, self-joins, unions) with and without pruning against DuckDB
// over the same rows.
//
// # Distribution
//
// With an Exchange (the node's cluster), a strong read of one table may
// run on every node: the planner (distribute.go) decides on the parse
// tree whether a statement is distributed (partial aggregates, a per-node
// top-k or DISTINCT, or a filtered projection per fragment, merged on the
// coordinator), gathered (fragments filter and project, the coordinator
// runs the statement) or single. It works on DuckDB's tree and lets DuckDB
// print the partial and final statements (json_deserialize_sql) instead of
// printing SQL itself, so every expression keeps DuckDB's own spelling;
// then it binds them over empty relations of the table's types and uses a
// plan only when the final statement's column names and types equal the
// original's (else it gathers). Plans are cached by text and schema.
//
// Partials travel as Parquet files, written and read by DuckDB itself
// (COPY … TO in the spill directory, read_parquet on the coordinator):
// binary and compressed, exact for every type the planner lets through
// (HUGEINT as DECIMAL(38,0)), no value converted in Go, no new build tag.
// Arrow IPC (duckdb-go's Arrow interface) would need the duckdb_arrow
// build tag on every build and test of the module and an Arrow
// dependency in the query path for the same job.
//
// Files go to nodes by rendezvous hashing on the object key, so a node's
// cache keeps what it read last time and a lost node moves only its own
// files; a fragment that fails with ErrFragment (the node is down or its
// store failing) is run again on each file's next node, and a statement
// error fails the query. The coordinator reads the hot rows itself, from
// the same views as the file list.
package query
