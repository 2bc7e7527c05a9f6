package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// DirStore is an ObjectStore in a local directory: the embedded default for
// a single node. A key's "/"-separated segments map to subdirectories.
//
// Put writes a temporary file next to the target, fsyncs it, renames it over
// the target and fsyncs the directory, so a crash leaves either the old or
// the new object. Temporary files (names starting with ".miniodb-tmp-") are
// never listed; ones left by a crash are harmless and may be deleted by hand.
// Empty directories are left in place.
type DirStore struct {
	root string
}

var _ ObjectStore = (*DirStore)(nil)
var _ RangeGetter = (*DirStore)(nil)

// NewDirStore opens (creating it if needed) the directory dir as an object
// store.
func NewDirStore(dir string) (*DirStore, error) {
	if dir == "" {
		return nil, errors.New("objstore: dir store: empty directory path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: dir store %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: dir store: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("objstore: dir store: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("objstore: dir store: %s is not a directory", abs)
	}
	return &DirStore{root: abs}, nil
}

// Dir returns the store's absolute directory.
func (s *DirStore) Dir() string { return s.root }

func (s *DirStore) String() string { return "dir:" + s.root }

func (s *DirStore) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Put implements ObjectStore.
func (s *DirStore) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	dir := filepath.Dir(p)
	if err := s.mkdirAllSync(dir); err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	f, err := os.CreateTemp(dir, TempFilePrefix+"put-*")
	if err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	src := io.Reader(&ctxReader{ctx: ctx, r: r})
	if size >= 0 {
		// Read one byte more than promised to detect a longer reader.
		src = io.LimitReader(src, size+1)
	}
	n, err := io.Copy(f, src)
	if err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("objstore: put %q: reader gave %d bytes, want %d", key, n, size)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("objstore: put %q: sync: %w", key, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	if err = os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	if err = syncDir(dir); err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	return nil
}

// Get implements ObjectStore.
func (s *DirStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	f, err := s.open(ctx, key)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// GetRange implements RangeGetter.
func (s *DirStore) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("objstore: get %q: negative range %d+%d", key, offset, length)
	}
	f, err := s.open(ctx, key)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, offset, length), f}, nil
}

func (s *DirStore) open(ctx context.Context, key string) (*os.File, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("objstore: get %q: %w", key, err)
	}
	f, err := os.Open(p)
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
		}
		return nil, fmt.Errorf("objstore: get %q: %w", key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("objstore: get %q: %w", key, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return f, nil
}

// Stat implements ObjectStore.
func (s *DirStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	p, err := s.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("objstore: stat %q: %w", key, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		if isNotExist(err) {
			return ObjectInfo{}, fmt.Errorf("%w: %q", ErrNotFound, key)
		}
		return ObjectInfo{}, fmt.Errorf("objstore: stat %q: %w", key, err)
	}
	if !st.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return ObjectInfo{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete implements ObjectStore.
func (s *DirStore) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	st, err := os.Lstat(p)
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	if st.IsDir() {
		// A directory is a key prefix, not an object.
		return nil
	}
	if err := os.Remove(p); err != nil && !isNotExist(err) {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	return nil
}

// List implements ObjectStore.
func (s *DirStore) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	// Walk only the deepest directory that prefix fully names.
	if !prefixCanMatch(prefix) {
		return nil, nil
	}
	start := s.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	var out []ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && isNotExist(err) {
				return fs.SkipAll
			}
			if isNotExist(err) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), TempFilePrefix) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if isNotExist(err) {
				return nil
			}
			return err
		}
		out = append(out, ObjectInfo{Key: key, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Ping implements ObjectStore: the directory must exist.
func (s *DirStore) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: ping %s: %w", s, err)
	}
	st, err := os.Stat(s.root)
	if err != nil {
		return fmt.Errorf("objstore: ping %s: %w", s, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("objstore: ping %s: not a directory", s)
	}
	return nil
}

// isNotExist also treats ENOTDIR (a path component is a file) as missing.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// mkdirAllSync creates dir and its missing parents below the root and
// syncs the parent of every directory it creates, as the wal does: an
// object renamed into a directory whose own entry never reached the disk
// could vanish in a crash after Put returned.
func (s *DirStore) mkdirAllSync(dir string) error {
	var created []string
	for d := dir; len(d) > len(s.root); d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}
