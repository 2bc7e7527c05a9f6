package query

import (
	"context"
	"database/sql"
	"sync"
)

// treeCache remembers the parse trees of recent statement texts. A tree
// is a pure function of the text (DuckDB's parser, json_serialize_sql), and
// analysis only reads it, so a dashboard that sends the same statements
// over and over skips the parse round trip (0.4 ms of a 1.7 ms query,
// BenchmarkQueryFixedCost in package node). Trees of failed parses are not
// kept; the cache holds at most treeCacheEntries trees of texts up to
// treeCacheMaxText bytes, and forgets the oldest first.
type treeCache struct {
	c bounded[map[string]any]
}

const (
	treeCacheEntries = 512
	treeCacheMaxText = 16 << 10
)

// parse returns the tree of text, from the cache or from DuckDB.
func (c *treeCache) parse(ctx context.Context, conn *sql.Conn, text string) (map[string]any, error) {
	if tree, ok := c.c.get(text); ok {
		return tree, nil
	}
	tree, err := parseTree(ctx, conn, text)
	if err != nil || len(text) > treeCacheMaxText {
		return tree, err
	}
	c.c.put(text, tree)
	return tree, nil
}

// planCache remembers distributed plans by statement text and schema
// (plans are immutable once made).
type planCache struct {
	c bounded[*distPlan]
}

func (c *planCache) get(key string) *distPlan {
	p, _ := c.c.get(key)
	return p
}

func (c *planCache) put(key string, p *distPlan) { c.c.put(key, p) }

// bounded is a map of at most treeCacheEntries values that forgets the
// oldest first. Safe for concurrent use.
type bounded[V any] struct {
	mu    sync.Mutex
	vals  map[string]V
	order []string // insertion order, oldest first
}

func (b *bounded[V]) get(key string) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.vals[key]
	return v, ok
}

// put keeps the first value stored under a key.
func (b *bounded[V]) put(key string, v V) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.vals == nil {
		b.vals = map[string]V{}
	}
	if _, ok := b.vals[key]; ok {
		return
	}
	if len(b.order) >= treeCacheEntries {
		delete(b.vals, b.order[0])
		b.order = b.order[1:]
	}
	b.vals[key] = v
	b.order = append(b.order, key)
}
