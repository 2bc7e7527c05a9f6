// Package objstore owns where MinIODB's data files are kept and what they
// are called: the ObjectStore interface with its two backends, a local
// directory (DirStore, the embedded default) and S3 through minio-go
// (S3Store), OpenStore to build one from a URL, atomic downloads into a
// local file (Download), range reads (NewReaderAt), and the object keys of
// data files (ObjectKey, ParseObjectKey). It knows nothing of Parquet, Raft
// or SQL.
//
// # Usage
//
//	store, err := objstore.OpenStore(ctx, "s3://bucket/prefix?endpoint=127.0.0.1:9000&insecure=true", creds)
//	key := objstore.ObjectKey(objstore.KeyInfo{Table: table, TableCreatedIndex: created,
//		Partition: partition, FromIndex: m, UptoIndex: n, Term: term, Seq: seq})
//	err = store.Put(ctx, key, r, size)
//	err = objstore.Download(ctx, store, key, localPath)
//
// Object keys (version 2):
//
//	data/<table>/<tableCreatedIndex>/<partition>/<from>-<upto>-<term>-<seq>.parquet
//
// tableCreatedIndex is the Raft index that created the table, in decimal
// without leading zeros, so a re-created table never reuses its
// predecessor's keys. from, upto, term and seq are zero-padded to 20
// digits, so keys of one partition sort by row range. A key says which
// rows its file may hold, which lets the garbage collector prove an
// uncommitted object superseded (its rows are flushed into other files)
// without trusting clocks. partition is "" (written "_") for an
// unpartitioned table, otherwise e.g. "2026-01", "2026-01-02" or
// "2026-01-02T13". Table and partition are escaped: every byte other than
// [A-Za-z0-9_-] becomes %XX (upper-case hex), the empty string becomes "_"
// and the string "_" becomes "%5F". ParseObjectKey inverts this and accepts
// only canonical keys. (Version 1 keys, <upto>.parquet, are still read
// through the catalog, which names every live file; the collector leaves
// uncommitted version 1 objects alone.)
//
// # Stores
//
// ObjectStore documents its contract per method: Put creates or overwrites
// atomically, Get and Stat report ErrNotFound, Delete of a missing key
// succeeds, List returns keys sorted in byte order. ValidateKey says which
// keys are accepted (no empty, "." or ".." segments, not absolute). S3 keys
// are the store's prefix plus the key. OpenStore builds a store from a URL
// (file:///path, a plain path, or s3://bucket/prefix?endpoint=host:port&insecure=true&region=r)
// and credentials passed in; this package reads no environment variables.
// The package's tests inject store errors with a FaultyStore (a test file).
//
// # Concurrency and errors
//
// DirStore and S3Store are safe for concurrent use; a DirStore's concurrent
// Puts of one key leave one of the complete objects, and it fsyncs files
// and the directories it creates. Every call that does I/O takes a
// context. Errors start with "objstore: " and wrap their causes; callers
// branch on ErrNotFound and ErrInvalidKey with errors.Is. The package has
// no package-level mutable state.
package objstore
