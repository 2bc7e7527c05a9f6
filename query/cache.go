package query

import (
	"container/list"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/miniodb/miniodb/parquetio"
)

// Cache keeps downloaded objects in a local directory, bounded in size with
// least-recently-used eviction. Each object is downloaded once however many
// queries ask for it at the same time, and an object in use by a query
// (pinned) is never evicted. Safe for concurrent use.
type Cache struct {
	dir   string
	limit int64
	store parquetio.ObjectStore

	mu      sync.Mutex
	entries map[string]*cacheEntry
	lru     *list.List // of *cacheEntry, most recent at the front; unpinned, ready ones only
	size    int64
}

type cacheEntry struct {
	key   string
	path  string
	size  int64
	pins  int
	ready chan struct{} // closed when the download finished
	err   error
	elem  *list.Element
}

// NewCache returns a cache in dir (created if needed, emptied of earlier
// contents) holding at most limit bytes of unpinned objects.
func NewCache(dir string, limit int64, store parquetio.ObjectStore) (*Cache, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("query: clear cache dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("query: create cache dir: %w", err)
	}
	return &Cache{dir: dir, limit: limit, store: store, entries: map[string]*cacheEntry{}, lru: list.New()}, nil
}

// Dir returns the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Acquire returns the local path of the object key, downloading it if
// needed, and pins it until release is called.
func (c *Cache) Acquire(ctx context.Context, key string, size int64) (path string, release func(), err error) {
	if err := parquetio.ValidateKey(key); err != nil {
		return "", nil, err
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		e.pins++
		if e.elem != nil {
			c.lru.Remove(e.elem)
			e.elem = nil
		}
		c.mu.Unlock()
	} else {
		e = &cacheEntry{key: key, path: filepath.Join(c.dir, filepath.FromSlash(key)), size: size, pins: 1, ready: make(chan struct{})}
		c.entries[key] = e
		c.size += size
		c.mu.Unlock()
		go c.download(e)
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		c.release(e)
		return "", nil, ctx.Err()
	}
	if e.err != nil {
		c.release(e)
		return "", nil, e.err
	}
	var once sync.Once
	return e.path, func() { once.Do(func() { c.release(e) }) }, nil
}

func (c *Cache) download(e *cacheEntry) {
	// The download belongs to the cache, not to the first query that asked:
	// a canceled query must not fail the others waiting for it.
	err := os.MkdirAll(filepath.Dir(e.path), 0o755)
	if err == nil {
		err = parquetio.Download(context.Background(), c.store, e.key, e.path)
	}
	if err != nil {
		err = fmt.Errorf("query: fetch %s: %w", e.key, err)
	}
	c.mu.Lock()
	e.err = err
	if err != nil {
		delete(c.entries, e.key)
		c.size -= e.size
	}
	close(e.ready)
	if err == nil && e.pins == 0 {
		// Every query that asked gave up before it finished.
		e.elem = c.lru.PushFront(e)
		c.evictLocked()
	}
	c.mu.Unlock()
}

func (c *Cache) release(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.pins--
	if e.pins > 0 || e.err != nil || c.entries[e.key] != e {
		return
	}
	select {
	case <-e.ready:
	default:
		return // still downloading; the last pin holder will see it later
	}
	e.elem = c.lru.PushFront(e)
	c.evictLocked()
}

func (c *Cache) evictLocked() {
	for c.size > c.limit {
		back := c.lru.Back()
		if back == nil {
			return
		}
		e := back.Value.(*cacheEntry)
		c.lru.Remove(back)
		delete(c.entries, e.key)
		c.size -= e.size
		os.Remove(e.path)
	}
}

// Drop removes an object from the cache (after it was deleted from the
// store); a pinned object is removed when its last pin is released.
func (c *Cache) Drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || e.pins > 0 {
		return
	}
	if e.elem != nil {
		c.lru.Remove(e.elem)
	}
	delete(c.entries, key)
	c.size -= e.size
	os.Remove(e.path)
}

// Size returns the bytes the cache holds.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
