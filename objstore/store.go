package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotFound is returned (wrapped; test with errors.Is) by Get, GetRange and
// Stat when the key does not exist.
var ErrNotFound = errors.New("objstore: object not found")

// ErrInvalidKey is returned (wrapped) for a key that no store accepts: empty,
// absolute, with an empty, "." or ".." segment, with a NUL byte or a
// backslash, or with a segment that starts with the temporary-file prefix.
var ErrInvalidKey = errors.New("objstore: invalid object key")

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// ObjectStore is a flat namespace of immutable-once-written objects, keyed by
// "/"-separated strings. Implementations are safe for concurrent use. Every
// method that does I/O takes a context and stops when it is cancelled.
//
// Keys are checked with ValidateKey by every method (List checks nothing:
// any prefix, including "", is allowed).
type ObjectStore interface {
	// Put stores the object at key, reading exactly size bytes from r
	// (size < 0: read r to EOF). It creates or overwrites atomically: a
	// concurrent or later Get sees the old object or the complete new one,
	// never a part; after a failed Put the old object (if any) is intact.
	// If r yields a different number of bytes than a non-negative size, Put
	// fails and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64) error

	// Get opens the object for reading. It returns an error wrapping
	// ErrNotFound if the key does not exist. The caller must Close the
	// reader. A read error (connection lost, short body) surfaces from Read.
	Get(ctx context.Context, key string) (io.ReadCloser, error)

	// Stat returns the object's size and modification time, or an error
	// wrapping ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// Delete removes the object. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// List returns every object whose key starts with prefix (a plain string
	// prefix, not necessarily ending in "/"), sorted by key in byte order.
	// The result is a snapshot; objects put or deleted while List runs may
	// or may not appear.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)

	// Ping checks that the store is reachable and its bucket or directory
	// exists. It is meant for health and readiness checks.
	Ping(ctx context.Context) error

	// String describes the store for logs and status output without
	// credentials, e.g. "dir:/var/lib/miniodb/objects" or
	// "s3://bucket/prefix/ at http://127.0.0.1:9000".
	String() string
}

// Copier is implemented by stores that can copy an object from another
// store without the bytes passing through this process (S3 server-side
// copy). Copy reports false, with nothing copied, when it cannot copy from
// that store (another service, other credentials, a file too large for
// one copy request); the caller then streams the object.
type Copier interface {
	Copy(ctx context.Context, src ObjectStore, srcKey, dstKey string, size int64) (bool, error)
}

// RangeGetter is implemented by stores that can read part of an object.
// Both stores of this package implement it; callers detect it at run time.
type RangeGetter interface {
	// GetRange opens length bytes of the object starting at offset. A range
	// reaching past the end of the object is cut at the end. It returns an
	// error wrapping ErrNotFound if the key does not exist.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// TempFilePrefix starts the names of the temporary files that DirStore and
// Download create next to their targets. Keys may not contain a segment
// with this prefix, so List never confuses a temporary file with an object;
// a file cache should skip such files and may delete old ones (left by a
// crash).
const TempFilePrefix = ".miniodb-tmp-"

// ValidateKey reports whether key is acceptable to every ObjectStore. The
// error wraps ErrInvalidKey and says what is wrong.
func ValidateKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return bad("empty")
	case len(key) > 1024:
		return bad("longer than 1024 bytes")
	case strings.HasPrefix(key, "/"):
		return bad("absolute")
	case strings.ContainsRune(key, 0):
		return bad("contains a NUL byte")
	case strings.ContainsRune(key, '\\'):
		return bad("contains a backslash")
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return bad("empty segment")
		case seg == "." || seg == "..":
			return bad(`"." or ".." segment`)
		case strings.HasPrefix(seg, TempFilePrefix):
			return bad("segment starts with the reserved prefix " + TempFilePrefix)
		}
	}
	return nil
}

// prefixCanMatch reports whether any valid key can start with prefix: its
// complete segments (those followed by "/") must be valid key segments, and
// it must not contain characters no key may hold.
func prefixCanMatch(prefix string) bool {
	if strings.ContainsAny(prefix, "\\\x00") || strings.HasPrefix(prefix, "/") {
		return false
	}
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return true
	}
	return ValidateKey(prefix[:i]) == nil
}

// exactReader passes on exactly size bytes of r and fails the read that
// would deliver the last byte if r holds more, or a read at the end if r
// holds less, so that an upload of the wrong length fails before the
// object is complete.
type exactReader struct {
	r         io.Reader
	remaining int64
	size      int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.remaining == 0 {
		return 0, e.checkEnd()
	}
	if int64(len(p)) > e.remaining {
		p = p[:e.remaining]
	}
	n, err := e.r.Read(p)
	e.remaining -= int64(n)
	if e.remaining == 0 {
		if err := e.checkEnd(); err != io.EOF {
			return 0, err
		}
		return n, nil
	}
	if err == io.EOF {
		return n, fmt.Errorf("reader ended %d bytes before the %d promised: %w", e.remaining, e.size, io.ErrUnexpectedEOF)
	}
	return n, err
}

// checkEnd returns io.EOF if r is exhausted, or an error if it holds more.
func (e *exactReader) checkEnd() error {
	var one [1]byte
	if m, _ := io.ReadFull(e.r, one[:]); m > 0 {
		return fmt.Errorf("reader holds more than the %d bytes promised", e.size)
	}
	return io.EOF
}

// Download copies the object at key to localPath atomically: it writes a
// temporary file in localPath's directory, fsyncs it, renames it to
// localPath and fsyncs the directory. localPath's directory must exist. On
// error nothing is left behind and an existing file at localPath is
// untouched. The error wraps ErrNotFound if the object does not exist.
func Download(ctx context.Context, store ObjectStore, key, localPath string) (err error) {
	rc, err := store.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	dir := filepath.Dir(localPath)
	f, err := os.CreateTemp(dir, TempFilePrefix+"download-*")
	if err != nil {
		return fmt.Errorf("objstore: download %q: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, &ctxReader{ctx: ctx, r: rc}); err != nil {
		return fmt.Errorf("objstore: download %q: %w", key, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("objstore: download %q: sync: %w", key, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("objstore: download %q: %w", key, err)
	}
	if err = os.Rename(f.Name(), localPath); err != nil {
		return fmt.Errorf("objstore: download %q: %w", key, err)
	}
	if err = syncDir(dir); err != nil {
		return fmt.Errorf("objstore: download %q: %w", key, err)
	}
	return nil
}

// NewReaderAt returns an io.ReaderAt over the object at key, which has the given
// size (from Stat or List). With a RangeGetter store each ReadAt is one range
// request, so ReadStats(NewReaderAt(...), size) reads only the footer. Other
// stores fall back to reading from the start of the object on each call.
// The reads use ctx; the reader must not be used after ctx is done.
func NewReaderAt(ctx context.Context, store ObjectStore, key string, size int64) io.ReaderAt {
	return &objectReaderAt{ctx: ctx, store: store, key: key, size: size}
}

type objectReaderAt struct {
	ctx   context.Context
	store ObjectStore
	key   string
	size  int64
}

func (o *objectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("objstore: read %q: negative offset", o.key)
	}
	if off >= o.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), o.size-off)
	var rc io.ReadCloser
	var err error
	if rg, ok := o.store.(RangeGetter); ok {
		rc, err = rg.GetRange(o.ctx, o.key, off, want)
	} else {
		rc, err = o.store.Get(o.ctx, o.key)
		if err == nil {
			if _, err = io.CopyN(io.Discard, rc, off); err != nil {
				rc.Close()
				err = fmt.Errorf("objstore: read %q at %d: %w", o.key, off, err)
			}
		}
	}
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p[:want])
	if err != nil {
		return n, fmt.Errorf("objstore: read %q at %d: %w", o.key, off, err)
	}
	if want < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// ctxReader stops a copy when its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncDir fsyncs a directory so that a rename or create inside it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
