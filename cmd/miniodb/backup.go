package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/backup"
	"github.com/miniodb/miniodb/node"
	"github.com/miniodb/miniodb/objstore"
	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const backupHelp = `
Back up the cluster to an object store, or list and verify the backups a
destination holds.

  backup --to URL [--keep N]   the leader writes a consistent backup: the
                               catalog and unflushed rows at one Raft index
                               and every Parquet file it names (files an
                               earlier backup there holds are not copied
                               again); writes go on meanwhile. --keep N then
                               removes all but the newest N backups.
  backup list --from URL       the backups there, oldest first
  backup verify --from URL [--backup ID]
                               read every file of a backup (default the
                               newest) and check its checksum

URL is s3://bucket/prefix?endpoint=host:port[&insecure=true] or
file:///dir; for "backup --to" the server opens it (with its own S3
credentials), for list and verify this command does (AWS_ACCESS_KEY_ID/
AWS_SECRET_ACCESS_KEY or MINIO_ROOT_USER/MINIO_ROOT_PASSWORD). Admin only.
Restore with "miniodb restore".

Examples:
  miniodb backup --to 's3://backups/miniodb?endpoint=127.0.0.1:9000&insecure=true' --keep 7
  miniodb backup --to file:///mnt/backups/miniodb
  miniodb backup list --from file:///mnt/backups/miniodb
  miniodb backup verify --from file:///mnt/backups/miniodb
`

// backupCmd is "miniodb backup".
type backupCmd struct {
	client   clientFlags
	to, from string
	id       string
	keep     int
	format   string
}

func (b *backupCmd) flags(fs *flag.FlagSet, c *cli) {
	b.client.register(fs, c, 0, "give up after this `duration` (default: no limit)")
	fs.StringVar(&b.to, "to", "", "backup: destination `URL`")
	fs.StringVar(&b.from, "from", "", "list, verify: the destination `URL` to read")
	fs.StringVar(&b.id, "backup", "", "verify: backup `id` (default: the newest)")
	fs.IntVar(&b.keep, "keep", 0, "backup: then keep only the newest N backups (default: all)")
	fs.StringVar(&b.format, "format", "text", "list: text or json")
}

func (b *backupCmd) run(ctx context.Context, c *cli, args []string) error {
	ctx, cancel := b.client.withTimeout(ctx)
	defer cancel()
	if len(args) == 0 {
		return b.write(ctx, c)
	}
	if len(args) > 1 || (args[0] != "list" && args[0] != "verify") {
		return usageErrorf("backup takes no argument (a backup), or list or verify; got %q", args)
	}
	if b.from == "" {
		return usageErrorf("backup %s needs --from URL", args[0])
	}
	access, secret := s3Credentials()
	store, err := objstore.OpenStore(ctx, b.from, objstore.Credentials{AccessKey: access, SecretKey: secret})
	if err != nil {
		return err
	}
	if args[0] == "list" {
		if err := checkTextJSON(b.format); err != nil {
			return err
		}
		ms, err := backup.List(ctx, store)
		if err != nil {
			return err
		}
		if b.format == "json" {
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(ms)
		}
		var rows [][]string
		for _, m := range ms {
			rows = append(rows, []string{m.ID, microsText(m.CreatedUnixMicros), fmt.Sprint(m.RaftIndex), fmt.Sprint(len(m.Files)),
				humanBytes(m.FileBytes()), humanBytes(m.BytesCopied), humanBytes(m.Catalog.Size)})
		}
		return writePlainTable(c.stdout, []string{"ID", "CREATED", "RAFT INDEX", "FILES", "FILE BYTES", "COPIED", "CATALOG"},
			[]bool{false, false, true, true, true, true, true}, rows)
	}
	m, err := backup.Find(ctx, store, b.id)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := backup.Verify(ctx, store, m, backup.Options{Progress: progressPrinter(c.stderr, "verified")}); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "backup %s is intact: %d files (%s) and the catalog checked in %v\n",
		m.ID, len(m.Files), humanBytes(m.FileBytes()), time.Since(start).Round(time.Millisecond))
	return err
}

func (b *backupCmd) write(ctx context.Context, c *cli) error {
	if b.to == "" {
		return usageErrorf("backup needs --to URL (see miniodb backup --help)")
	}
	if b.keep < 0 {
		return usageErrorf("--keep must not be negative")
	}
	cl, err := b.client.dial()
	if err != nil {
		return err
	}
	s, err := cl.cluster.Backup(ctx, connect.NewRequest(&miniodbv1.BackupRequest{To: b.to, Keep: int32(b.keep)}))
	if err != nil {
		return err
	}
	defer s.Close()
	show := progressPrinter(c.stderr, "copied")
	var last *miniodbv1.BackupResponse
	for s.Receive() {
		last = s.Msg()
		if !last.Done {
			show(backup.Progress{FilesTotal: int(last.FilesTotal), FilesDone: int(last.FilesDone), BytesCopied: last.BytesCopied, BytesReused: last.BytesReused})
		}
	}
	if err := s.Err(); err != nil {
		return err
	}
	if last == nil || !last.Done {
		return fmt.Errorf("the server ended the backup without saying it was done")
	}
	fmt.Fprintf(c.stdout, "backup %s at raft index %d: %d files, %s copied, %s already there, catalog %s\n",
		last.BackupId, last.RaftIndex, last.FilesTotal, humanBytes(last.BytesCopied), humanBytes(last.BytesReused), humanBytes(last.CatalogBytes))
	for _, id := range last.Pruned {
		fmt.Fprintf(c.stdout, "removed backup %s\n", id)
	}
	return nil
}

// progressPrinter reports progress on w at most once a second.
func progressPrinter(w io.Writer, verb string) func(backup.Progress) {
	var last time.Time
	return func(p backup.Progress) {
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "%d of %d files %s (%s; %s already there)\n", p.FilesDone, p.FilesTotal, verb, humanBytes(p.BytesCopied), humanBytes(p.BytesReused))
	}
}

const restoreHelp = `
Make the data directory of a new one-node cluster from a backup: copy the
backup's Parquet files into the new node's object store (checking every
checksum) and write its catalog, unflushed rows included, as the node's
Raft snapshot. Then start the node on that directory with the same
--node-id and --raft-addr; other nodes join it as usual. Every query then
answers as the source cluster did at the backup's Raft index. The data
directory must be empty or missing.

Examples:
  miniodb restore --from file:///mnt/backups/miniodb --data-dir data2
  miniodb serve --data-dir data2
  miniodb restore --from 's3://backups/miniodb?endpoint=127.0.0.1:9000&insecure=true' --backup 20261202T063000.000000Z-00000000000000012345 \
    --data-dir /var/lib/miniodb --node-id n1 --raft-addr 10.0.0.5:7071 --object-store 's3://miniodb-restored?endpoint=127.0.0.1:9000&insecure=true'
`

// restoreCmd is "miniodb restore".
type restoreCmd struct {
	from, id, dataDir, nodeID, raftAddr, objectStore string
}

func (r *restoreCmd) flags(fs *flag.FlagSet, _ *cli) {
	def := node.DefaultConfig()
	fs.StringVar(&r.from, "from", "", "the backup destination `URL`")
	fs.StringVar(&r.id, "backup", "", "backup `id` (default: the newest; miniodb backup list shows them)")
	fs.StringVar(&r.dataDir, "data-dir", def.DataDir, "the new node's data directory (empty or missing)")
	fs.StringVar(&r.nodeID, "node-id", def.NodeID, "the new node's id (start it with the same --node-id)")
	fs.StringVar(&r.raftAddr, "raft-addr", def.RaftAddr, "the new node's Raft address (start it with the same --raft-addr)")
	fs.StringVar(&r.objectStore, "object-store", "", "where the new node keeps its Parquet files (default <data-dir>/objects); start it with the same --object-store")
}

func (r *restoreCmd) run(ctx context.Context, c *cli, args []string) error {
	if len(args) > 0 {
		return usageErrorf("restore takes no arguments, got %q", args)
	}
	if r.from == "" {
		return usageErrorf("restore needs --from URL")
	}
	access, secret := s3Credentials()
	start := time.Now()
	m, err := node.RestoreDataDir(ctx, node.RestoreOptions{
		From: r.from, BackupID: r.id, DataDir: r.dataDir, NodeID: r.nodeID, RaftAddr: r.raftAddr, ObjectStore: r.objectStore,
		Credentials: objstore.Credentials{AccessKey: access, SecretKey: secret}, Progress: progressPrinter(c.stderr, "restored"),
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "restored backup %s (raft index %d, %d files, %s) into %s in %v; start it with: miniodb serve --data-dir %s --node-id %s --raft-addr %s\n",
		m.ID, m.RaftIndex, len(m.Files), humanBytes(m.FileBytes()), r.dataDir, time.Since(start).Round(time.Millisecond), r.dataDir, r.nodeID, r.raftAddr)
	return err
}
