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
	mu    sync.Mutex
	trees map[string]map[string]any
	order []string // insertion order, oldest first
}

const (
	treeCacheEntries = 512
	treeCacheMaxText = 16 << 10
)

// parse returns the tree of text, from the cache or from DuckDB.
func (c *treeCache) parse(ctx context.Context, conn *sql.Conn, text string) (map[string]any, error) {
	c.mu.Lock()
	tree, ok := c.trees[text]
	c.mu.Unlock()
	if ok {
		return tree, nil
	}
	tree, err := parseTree(ctx, conn, text)
	if err != nil || len(text) > treeCacheMaxText {
		return tree, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trees == nil {
		c.trees = map[string]map[string]any{}
	}
	if _, ok := c.trees[text]; !ok {
		if len(c.order) >= treeCacheEntries {
			delete(c.trees, c.order[0])
			c.order = c.order[1:]
		}
		c.trees[text] = tree
		c.order = append(c.order, text)
	}
	return tree, nil
}
