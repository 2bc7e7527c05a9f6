// Package parquetio owns MinIODB's data file format: the mapping between
// table schemas and Parquet, writing row batches as sorted,
// zstd-compressed Parquet files (WriteFile), and reading their footers and
// statistics back (ReadStats) or all their rows (ReadBatches). Where the
// files are kept and what they are called is package objstore's. It knows
// nothing of Raft, the catalog or SQL: callers hand it rows and get bytes
// and statistics back. It imports only the generated proto types of this
// project.
//
// # Usage
//
// A flush writes the rows of one table partition in the Raft index range
// (M, N], then uploads the file under a key that names the range and the
// upload (the leader's term and a sequence number it never reused), so no
// two uploads share a key and no object is ever overwritten:
//
//	var buf bytes.Buffer
//	meta, err := parquetio.WriteFile(&buf, schema, batches, parquetio.WriteOptions{})
//	key := objstore.ObjectKey(objstore.KeyInfo{Table: table, TableCreatedIndex: created,
//		Partition: partition, FromIndex: m, UptoIndex: n, Term: term, Seq: seq})
//	err = store.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()))
//	// then propose FlushCommit{key, meta.RowCount, int64(buf.Len()), meta.Stats}
//
// # Format
//
// Parquet files: one optional (nullable) top-level column per schema
// column, in schema order, no nesting:
//
//	BIGINT     INT64 (INT(64, signed))
//	DOUBLE     DOUBLE
//	VARCHAR    BYTE_ARRAY, STRING (UTF8)
//	JSON       BYTE_ARRAY, STRING (UTF8): JSON text; the JSON type is kept in the metadata
//	BOOLEAN    BOOLEAN
//	TIMESTAMP  INT64, TIMESTAMP(isAdjustedToUTC=false, MICROS): DuckDB reads it as TIMESTAMP,
//	           not TIMESTAMP WITH TIME ZONE; values are microseconds since the epoch, UTC
//
// NULLs are encoded with definition levels, never as zero values, so 0, ""
// and false survive as values. Rows are sorted by ts ascending (stable, NULL
// last). Row groups hold at most WriteOptions.RowGroupRows rows (default
// DefaultRowGroupRows); pages are zstd-compressed, data page v2, with
// statistics, and column chunks carry full (untruncated) min/max/null-count
// statistics. TIMESTAMP columns are DELTA_BINARY_PACKED; other columns are
// RLE_DICTIONARY when a sample of 1,024 values has at most a quarter
// distinct, else PLAIN (BOOLEAN is always PLAIN). An optional
// split-block bloom filter is written for WriteOptions.BloomFilterColumns.
//
// Footer key/value metadata:
//
//	miniodb.format  "1": the format version; readers reject newer versions
//	miniodb.schema  the schema as JSON, [{"name":"ts","type":"TIMESTAMP"},...],
//	                type names as in SQL (BIGINT, DOUBLE, VARCHAR, BOOLEAN, TIMESTAMP, JSON)
//	miniodb.nan     only when needed: JSON list of DOUBLE columns holding NaN, which
//	                Parquet statistics omit; ReadStats reports NaN as their maximum
//
// testdata/format_v1.parquet is a golden file of this version; the tests
// keep it readable and the writer's output identical to it.
//
// Readers also accept Parquet files without this metadata whose columns
// map onto these types (INT64 timestamps in other units are converted to
// microseconds).
//
// # Concurrency
//
// WriteFile, ReadStats and ReadBatches share no state and may run
// concurrently; WriteFile does not modify its input batches (it may keep
// referring to their slices while it runs). WriteOptions.Parallelism lets
// one WriteFile encode columns on several goroutines with byte-identical
// output. The package has no package-level mutable state.
//
// # Errors
//
// Errors start with "parquetio: " and wrap their causes. Callers branch on
// ErrCorrupt (a file that is damaged, not Parquet, or uses features
// outside the format above) with errors.Is.
package parquetio
