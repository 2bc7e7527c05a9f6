package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miniodb/miniodb/ingest"
)

// TestGroupCommit queues writes while the commit workers are held, lets
// one worker take them all into one entry, and checks that each request
// got exactly the answer it would have got alone: a type conflict with an
// earlier request of the same entry fails only the later one, the same
// request_id twice is applied once, schema changes take effect in order,
// and every acknowledged row is there.
func TestGroupCommit(t *testing.T) {
	gate := make(chan struct{})
	cfg := testConfig(t, t.TempDir())
	cfg.testCommitGate = gate
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	ctx := context.Background()
	gate <- struct{}{} // the first write creates the table on its own
	if _, err := n.Write(ctx, WriteInput{Table: "g", Input: ingest.NDJSON([]byte(`{"a":1}`))}); err != nil {
		t.Fatal(err)
	}

	writes := []struct {
		id, rows string
		err      string // "" for success
		dup      bool
	}{
		{"w1", `{"x":1}`, "", false},                                  // adds x BIGINT
		{"w2", `{"x":"one"}` + "\n" + `{"x":"two"}`, "column", false}, // valid alone, conflicts after w1
		{"dup", `{"a":10}`, "", false},
		{"dup", `{"a":20}`, "", true},           // the same id in the same entry: applied once
		{"w5", `{"x":2.5,"y":true}`, "", false}, // widens x, adds y
	}
	type answer struct {
		res *WriteResult
		err error
	}
	answers := make([]answer, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := n.Write(ctx, WriteInput{Table: "g", RequestID: w.id, Input: ingest.NDJSON([]byte(w.rows))})
			answers[i] = answer{res, err}
		}()
		// Queue them in order.
		eventually(t, 5*time.Second, "the write is queued", func() error {
			if got := len(n.commitCh); got != i+1 {
				return fmt.Errorf("%d queued", got)
			}
			return nil
		})
	}
	gate <- struct{}{} // one worker takes every queued write: one entry
	wg.Wait()
	close(gate)

	var index uint64
	for i, w := range writes {
		a := answers[i]
		switch {
		case w.err != "":
			if a.err == nil || !strings.Contains(a.err.Error(), w.err) {
				t.Errorf("%s: got %v, want an error with %q", w.id, a.err, w.err)
			}
			continue
		case a.err != nil:
			t.Errorf("%s: %v", w.id, a.err)
			continue
		case a.res.Duplicate != w.dup:
			t.Errorf("%s: duplicate %v, want %v", w.id, a.res.Duplicate, w.dup)
		}
		if index == 0 {
			index = a.res.Index
		} else if a.res.Index != index {
			t.Errorf("%s: index %d, others %d: not one entry", w.id, a.res.Index, index)
		}
	}
	if got := c.sql("SELECT count(*), sum(a), count(x), sum(x), count(y) FROM g"); got != "[4,11,2,3.5,1]\n" {
		t.Fatalf("rows after the coalesced entry: %s", got)
	}
	if got := c.sql("SELECT typeof(x) FROM g LIMIT 1"); got != "[\"DOUBLE\"]\n" {
		t.Fatalf("x after widening: %s", got)
	}
}
