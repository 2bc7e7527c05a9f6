// Package backup writes, lists, verifies, prunes and restores MinIODB
// backups in an object store (any objstore.ObjectStore: a directory or an
// S3 bucket and prefix).
//
// A backup is the catalog at one Raft index (the state machine's snapshot:
// tables, schemas, file list, tombstones, tokens and the hot rows) plus
// every Parquet file that catalog names. Files are immutable and their
// keys never reused, so they are stored once per destination, under
// files/<key>, and shared by every backup that names them: a backup after
// the first copies only the files that are new since (it is incremental
// by key). Layout:
//
//	files/<object key>             the Parquet files, shared
//	backups/<id>/catalog           the catalog snapshot
//	backups/<id>/manifest.json     what the backup holds, with checksums
//
// The manifest is written last: a backup exists once its manifest does,
// so an interrupted backup leaves files that the next one reuses and no
// half backup. Every file and the catalog carry a SHA-256 computed while
// copying; Verify and Restore check them, and Restore refuses a backup
// whose bytes changed.
//
// A file is copied server-side when the destination can copy from the
// source (objstore.Copier: two buckets of one S3 service) and then read
// back once for its checksum; otherwise it streams through this process.
//
// Prune keeps the newest N backups and deletes the files no kept backup
// names. Backups of one destination should come from one cluster.
package backup
