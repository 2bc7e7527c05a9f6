package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/miniodb/miniodb/objstore"
)

// FormatVersion is the manifest format this package writes and reads.
const FormatVersion = 1

// ErrChecksum is a file or catalog whose bytes are not what the manifest
// recorded.
var ErrChecksum = errors.New("backup: checksum mismatch")

// ErrNotFound is a destination without the backup asked for.
var ErrNotFound = errors.New("backup: not found")

// File is one object a backup holds.
type File struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Manifest describes one backup.
type Manifest struct {
	Format            int    `json:"format"`
	ID                string `json:"id"`
	CreatedUnixMicros int64  `json:"created_unix_micros"`
	// RaftIndex is the index whose state the catalog holds: every write
	// acknowledged with a raft_index at or below it is in the backup, and
	// nothing after it.
	RaftIndex uint64 `json:"raft_index"`
	NodeID    string `json:"node_id"`
	Catalog   File   `json:"catalog"`
	Files     []File `json:"files"`
	// BytesCopied and BytesReused are the file bytes this backup copied
	// and found in the destination already (from earlier backups).
	BytesCopied int64 `json:"bytes_copied"`
	BytesReused int64 `json:"bytes_reused"`
	// BytesCopiedInStore is the part of BytesCopied the object store
	// copied itself (S3 server-side copy), without the bytes passing
	// through the node.
	BytesCopiedInStore int64 `json:"bytes_copied_in_store"`
}

// FileBytes is the size of the backup's files.
func (m *Manifest) FileBytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Progress is reported while a backup or restore copies.
type Progress struct {
	FilesTotal, FilesDone    int
	BytesCopied, BytesReused int64
	BytesCopiedInStore       int64
}

// tracker counts progress from the copying goroutines and reports it.
type tracker struct {
	mu sync.Mutex
	p  Progress
	fn func(Progress)
}

func newTracker(files int, fn func(Progress)) *tracker {
	return &tracker{p: Progress{FilesTotal: files}, fn: fn}
}

// done records one file: copied (or checked) bytes, or bytes found in the
// destination already.
func (t *tracker) done(copied, reused int64, inStore bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.FilesDone++
	t.p.BytesCopied += copied
	t.p.BytesReused += reused
	if inStore {
		t.p.BytesCopiedInStore += copied
	}
	if t.fn != nil {
		t.fn(t.p)
	}
}

// Source is what a backup copies: the catalog snapshot at RaftIndex
// (written by WriteCatalog) and the files it names, read from Store.
type Source struct {
	Store        objstore.ObjectStore
	WriteCatalog func(io.Writer) error
	Files        []objstore.ObjectInfo // key and size of every file the catalog names
	RaftIndex    uint64
	NodeID       string
}

// Options tune Write and Restore.
type Options struct {
	// Parallelism is how many files are copied at once (default 4).
	Parallelism int
	// Progress, if set, is called after each file (from one goroutine
	// at a time).
	Progress func(Progress)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Parallelism <= 0 {
		o.Parallelism = 4
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func fileKey(key string) string      { return "files/" + key }
func manifestKey(id string) string   { return "backups/" + id + "/manifest.json" }
func catalogKey(id string) string    { return "backups/" + id + "/catalog" }
func idOf(manifestKey string) string { return path.Base(path.Dir(manifestKey)) }
func isManifest(key string) bool {
	return strings.HasPrefix(key, "backups/") && strings.HasSuffix(key, "/manifest.json")
}
func newHash() hash.Hash               { return sha256.New() }
func hexSum(h hash.Hash) string        { return hex.EncodeToString(h.Sum(nil)) }
func sameFile(a File, size int64) bool { return a.Size == size && a.SHA256 != "" }

// Write makes a backup of src in dest and returns its manifest.
func Write(ctx context.Context, dest objstore.ObjectStore, src Source, opts Options) (*Manifest, error) {
	opts.defaults()
	now := opts.Now().UTC()
	m := &Manifest{
		Format: FormatVersion, CreatedUnixMicros: now.UnixMicro(), RaftIndex: src.RaftIndex, NodeID: src.NodeID,
		ID: fmt.Sprintf("%s-%020d", now.Format("20060102T150405.000000Z"), src.RaftIndex),
	}
	// Files that earlier backups hold already, with their checksums.
	known, err := knownFiles(ctx, dest)
	if err != nil {
		return nil, err
	}
	files := slices.Clone(src.Files)
	sort.Slice(files, func(i, j int) bool { return files[i].Key < files[j].Key })
	m.Files = make([]File, len(files))
	track := newTracker(len(files), opts.Progress)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallelism)
	for i, f := range files {
		if k, ok := known[f.Key]; ok && sameFile(k, f.Size) {
			m.Files[i] = k
			track.done(0, f.Size, false)
			continue
		}
		g.Go(func() error {
			sum, inStore, err := copyObject(gctx, src.Store, f.Key, dest, fileKey(f.Key), f.Size)
			if err != nil {
				return fmt.Errorf("backup: copy %s: %w", f.Key, err)
			}
			m.Files[i] = File{Key: f.Key, Size: f.Size, SHA256: sum}
			track.done(f.Size, 0, inStore)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m.BytesCopied, m.BytesReused, m.BytesCopiedInStore = track.p.BytesCopied, track.p.BytesReused, track.p.BytesCopiedInStore
	// The catalog: spooled to a temporary file, so its size is known and
	// its checksum computed before it is uploaded.
	cat, err := spool(src.WriteCatalog)
	if err != nil {
		return nil, fmt.Errorf("backup: catalog: %w", err)
	}
	defer os.Remove(cat.path)
	f, err := os.Open(cat.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := dest.Put(ctx, catalogKey(m.ID), f, cat.size); err != nil {
		return nil, fmt.Errorf("backup: upload catalog: %w", err)
	}
	m.Catalog = File{Key: catalogKey(m.ID), Size: cat.size, SHA256: cat.sum}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := dest.Put(ctx, manifestKey(m.ID), bytes.NewReader(b), int64(len(b))); err != nil {
		return nil, fmt.Errorf("backup: upload manifest: %w", err)
	}
	return m, nil
}

type spooled struct {
	path string
	size int64
	sum  string
}

func spool(write func(io.Writer) error) (spooled, error) {
	f, err := os.CreateTemp("", "miniodb-backup-catalog-*")
	if err != nil {
		return spooled{}, err
	}
	h := newHash()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	err = write(cw)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return spooled{}, err
	}
	return spooled{path: f.Name(), size: cw.n, sum: hexSum(h)}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// copyObject copies one object from src to dst and returns its SHA-256:
// server-side when dst can copy from src (the checksum is then read from
// the copy), else streamed through this process.
func copyObject(ctx context.Context, src objstore.ObjectStore, srcKey string, dst objstore.ObjectStore, dstKey string, size int64) (sum string, inStore bool, err error) {
	if c, ok := dst.(objstore.Copier); ok {
		copied, err := c.Copy(ctx, src, srcKey, dstKey, size)
		if err != nil {
			return "", false, err
		}
		if copied {
			sum, err := readSum(ctx, dst, dstKey, size)
			return sum, true, err
		}
	}
	rc, err := src.Get(ctx, srcKey)
	if err != nil {
		return "", false, err
	}
	defer rc.Close()
	h := newHash()
	if err := dst.Put(ctx, dstKey, io.TeeReader(rc, h), size); err != nil {
		return "", false, err
	}
	return hexSum(h), false, nil
}

// readSum reads an object and returns its SHA-256, checking its size.
func readSum(ctx context.Context, store objstore.ObjectStore, key string, size int64) (string, error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := newHash()
	n, err := io.Copy(h, rc)
	if err != nil {
		return "", err
	}
	if n != size {
		return "", fmt.Errorf("%s holds %d bytes after the copy, want %d", key, n, size)
	}
	return hexSum(h), nil
}

// knownFiles returns the files the destination's backups hold (by key),
// each checked to still exist with its recorded size.
func knownFiles(ctx context.Context, dest objstore.ObjectStore) (map[string]File, error) {
	ms, err := List(ctx, dest)
	if err != nil {
		return nil, err
	}
	present, err := dest.List(ctx, "files/")
	if err != nil {
		return nil, fmt.Errorf("backup: list files: %w", err)
	}
	size := map[string]int64{}
	for _, o := range present {
		size[strings.TrimPrefix(o.Key, "files/")] = o.Size
	}
	out := map[string]File{}
	for _, m := range ms {
		for _, f := range m.Files {
			if s, ok := size[f.Key]; ok && s == f.Size {
				out[f.Key] = f
			}
		}
	}
	return out, nil
}

// List returns the destination's backups, oldest first.
func List(ctx context.Context, dest objstore.ObjectStore) ([]*Manifest, error) {
	objs, err := dest.List(ctx, "backups/")
	if err != nil {
		return nil, fmt.Errorf("backup: list: %w", err)
	}
	var out []*Manifest
	for _, o := range objs {
		if !isManifest(o.Key) {
			continue
		}
		m, err := readManifest(ctx, dest, idOf(o.Key))
		if errors.Is(err, ErrNotFound) {
			continue // pruned since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func readManifest(ctx context.Context, dest objstore.ObjectStore, id string) (*Manifest, error) {
	rc, err := dest.Get(ctx, manifestKey(id))
	if errors.Is(err, objstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: no backup %q in %s", ErrNotFound, id, dest)
	}
	if err != nil {
		return nil, fmt.Errorf("backup: read manifest %s: %w", id, err)
	}
	defer rc.Close()
	m := &Manifest{}
	if err := json.NewDecoder(rc).Decode(m); err != nil {
		return nil, fmt.Errorf("backup: manifest %s: %w", id, err)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("backup: manifest %s has format %d, this version reads %d", id, m.Format, FormatVersion)
	}
	return m, nil
}

// Find returns the backup with the id, or the newest when id is "".
func Find(ctx context.Context, dest objstore.ObjectStore, id string) (*Manifest, error) {
	if id != "" {
		return readManifest(ctx, dest, id)
	}
	ms, err := List(ctx, dest)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: %s holds no backup", ErrNotFound, dest)
	}
	return ms[len(ms)-1], nil
}

// Verify reads every file of the backup and its catalog and checks their
// sizes and checksums.
func Verify(ctx context.Context, dest objstore.ObjectStore, m *Manifest, opts Options) error {
	opts.defaults()
	if err := checkObject(ctx, dest, m.Catalog.Key, m.Catalog, io.Discard); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallelism)
	track := newTracker(len(m.Files), opts.Progress)
	for _, f := range m.Files {
		g.Go(func() error {
			if err := checkObject(gctx, dest, fileKey(f.Key), f, io.Discard); err != nil {
				return err
			}
			track.done(f.Size, 0, false)
			return nil
		})
	}
	return g.Wait()
}

// checkObject reads an object into w and checks it against f.
func checkObject(ctx context.Context, store objstore.ObjectStore, key string, f File, w io.Writer) error {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("backup: %s: %w", key, err)
	}
	defer rc.Close()
	h := newHash()
	n, err := io.Copy(io.MultiWriter(w, h), rc)
	if err != nil {
		return fmt.Errorf("backup: read %s: %w", key, err)
	}
	if n != f.Size || hexSum(h) != f.SHA256 {
		return fmt.Errorf("%w: %s holds %d bytes with SHA-256 %s, the manifest says %d bytes with %s", ErrChecksum, key, n, hexSum(h), f.Size, f.SHA256)
	}
	return nil
}

// Restore copies the backup's files into target, checking each checksum,
// and then streams the catalog to w. What w received counts only if
// Restore returns nil: a catalog whose checksum does not match is
// detected at its end (the caller discards w, e.g. cancels a snapshot
// sink). Nothing is written to w unless every file matched.
func Restore(ctx context.Context, dest objstore.ObjectStore, m *Manifest, target objstore.ObjectStore, w io.Writer, opts Options) error {
	opts.defaults()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallelism)
	track := newTracker(len(m.Files), opts.Progress)
	for _, f := range m.Files {
		g.Go(func() error {
			sum, inStore, err := copyObject(gctx, dest, fileKey(f.Key), target, f.Key, f.Size)
			if err != nil {
				return fmt.Errorf("backup: restore %s: %w", f.Key, err)
			}
			if sum != f.SHA256 {
				target.Delete(context.WithoutCancel(gctx), f.Key)
				return fmt.Errorf("%w: %s has SHA-256 %s, the manifest says %s", ErrChecksum, fileKey(f.Key), sum, f.SHA256)
			}
			track.done(f.Size, 0, inStore)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return checkObject(ctx, dest, m.Catalog.Key, m.Catalog, w)
}

// PruneGrace: Prune leaves a file no backup names alone until it is this
// old, because a backup still running (on another node, say) may have
// copied it and not written its manifest yet.
const PruneGrace = 24 * time.Hour

// Prune keeps the newest keep backups, deletes the others' manifests and
// catalogs, and then the files no kept backup names (older than
// PruneGrace). It returns the ids it removed.
func Prune(ctx context.Context, dest objstore.ObjectStore, keep int, now time.Time) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("backup: keep must be at least 1, got %d", keep)
	}
	ms, err := List(ctx, dest)
	if err != nil {
		return nil, err
	}
	cut := max(0, len(ms)-keep)
	old, kept := ms[:cut], ms[cut:]
	var removed []string
	for _, m := range old {
		// The manifest first: from then on the backup does not exist.
		if err := dest.Delete(ctx, manifestKey(m.ID)); err != nil {
			return removed, fmt.Errorf("backup: prune %s: %w", m.ID, err)
		}
		if err := dest.Delete(ctx, catalogKey(m.ID)); err != nil {
			return removed, fmt.Errorf("backup: prune %s: %w", m.ID, err)
		}
		removed = append(removed, m.ID)
	}
	live := map[string]bool{}
	for _, m := range kept {
		for _, f := range m.Files {
			live[f.Key] = true
		}
	}
	present, err := dest.List(ctx, "files/")
	if err != nil {
		return removed, fmt.Errorf("backup: list files: %w", err)
	}
	for _, o := range present {
		if !live[strings.TrimPrefix(o.Key, "files/")] && o.ModTime.Before(now.Add(-PruneGrace)) {
			if err := dest.Delete(ctx, o.Key); err != nil {
				return removed, fmt.Errorf("backup: prune %s: %w", o.Key, err)
			}
		}
	}
	return removed, nil
}
