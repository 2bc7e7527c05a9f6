package query

import (
	"container/list"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/miniodb/miniodb/objstore"
)

// Cache keeps downloaded objects in a local directory, bounded in size with
// least-recently-used eviction. Each object is downloaded once however many
// queries ask for it at the same time, and an object in use by a query
// (pinned) is never evicted. Safe for concurrent use.
type Cache struct {
	dir   string
	limit int64
	store objstore.ObjectStore

	mu      sync.Mutex
	entries map[string]*cacheEntry
	lru     *list.List // of *cacheEntry, most recent at the front; unpinned, ready ones only
	size    int64
	seq     uint64 // numbers downloads

	downloads sync.WaitGroup // running downloads; Close waits for them
}

type cacheEntry struct {
	key   string
	path  string
	size  int64
	pins  int
	ready chan struct{} // closed when the download finished
	err   error
	elem  *list.Element
	// dropped: the object is gone from the store; the file is removed when
	// the last pin is released. A dropped entry is no longer in entries.
	dropped bool
}

// newCache returns a cache in dir (created if needed, emptied of earlier
// contents) holding at most limit bytes of unpinned objects.
func newCache(dir string, limit int64, store objstore.ObjectStore) (*Cache, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("query: clear cache dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("query: create cache dir: %w", err)
	}
	return &Cache{dir: dir, limit: limit, store: store, entries: map[string]*cacheEntry{}, lru: list.New()}, nil
}

// Close waits for the downloads that are still running (queries that
// asked for them may have given up). Call it once nothing acquires any more.
func (c *Cache) Close() {
	c.downloads.Wait()
}

// Dir returns the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Acquire returns the local path of the object key, downloading it if
// needed, and pins it until release is called.
func (c *Cache) Acquire(ctx context.Context, key string, size int64) (path string, release func(), err error) {
	if err := objstore.ValidateKey(key); err != nil {
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
		// Each download gets its own path, so removing a dropped entry's
		// file can never remove a later download of the same key.
		c.seq++
		path := filepath.Join(c.dir, filepath.FromSlash(key)) + "~" + strconv.FormatUint(c.seq, 10)
		e = &cacheEntry{key: key, path: path, size: size, pins: 1, ready: make(chan struct{})}
		c.entries[key] = e
		c.size += size
		c.mu.Unlock()
		c.downloads.Go(func() { c.download(e) })
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
		err = objstore.Download(context.Background(), c.store, e.key, e.path)
	}
	if err != nil {
		err = fmt.Errorf("query: fetch %s: %w", e.key, err)
	}
	c.mu.Lock()
	e.err = err
	if err != nil {
		if !e.dropped {
			delete(c.entries, e.key)
		}
		c.size -= e.size
		e.dropped = false // nothing left to remove
	}
	close(e.ready)
	if e.dropped && e.pins == 0 {
		c.removeLocked(e)
		c.mu.Unlock()
		return
	}
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
	if e.pins == 0 && e.dropped {
		select {
		case <-e.ready:
			c.removeLocked(e)
		default: // still downloading: download removes it
		}
		return
	}
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

// Has reports whether the cache holds (or is fetching) key.
func (c *Cache) Has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[key]
	return ok
}

// Drop removes an object from the cache (after it was deleted from the
// store); a pinned object is removed when its last pin is released, and a
// later Acquire of the key downloads it again.
func (c *Cache) Drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return
	}
	delete(c.entries, key)
	if e.elem != nil {
		c.lru.Remove(e.elem)
		e.elem = nil
	}
	if e.pins > 0 {
		e.dropped = true
		return
	}
	select {
	case <-e.ready:
		c.size -= e.size
		os.Remove(e.path)
	default:
		e.dropped = true // the download finishes, then removes it
	}
}

// Retain drops every cached object for which keep is false: on a node
// that does not collect garbage itself (a follower), objects the catalog
// no longer names were deleted by the leader. keep is called with the
// cache locked, after the set of entries to check is fixed.
func (c *Cache) Retain(keep func(key string) bool) {
	c.mu.Lock()
	var drop []string
	for k := range c.entries {
		if !keep(k) {
			drop = append(drop, k)
		}
	}
	c.mu.Unlock()
	for _, k := range drop {
		c.Drop(k)
	}
}

// removeLocked deletes a dropped entry's file once nothing reads it.
func (c *Cache) removeLocked(e *cacheEntry) {
	e.dropped = false
	c.size -= e.size
	os.Remove(e.path)
}

// Size returns the bytes the cache holds.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
