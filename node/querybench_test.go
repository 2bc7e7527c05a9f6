package node

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/ingest"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// BenchmarkQueryFixedCost measures a query whose DuckDB work is nearly
// nothing (count(*) of one flushed file, answered from its footer), so
// that what is left is MinIODB's own cost per query.
func BenchmarkQueryFixedCost(b *testing.B) {
	n := mustStartNode(b, testConfig(b, b.TempDir()))
	defer n.Close()
	c := newClient(b, n)
	var sb strings.Builder
	for k := range 20000 {
		fmt.Fprintf(&sb, `{"id":"r%d","ts":"2026-01-01T00:00:00Z","v":%d}`+"\n", k, k)
	}
	if _, err := n.Write(context.Background(), WriteInput{Table: "events", Input: ingest.NDJSON([]byte(sb.String()))}); err != nil {
		b.Fatal(err)
	}
	c.flush("events")
	req := &v1.QueryRequest{Sql: "SELECT count(*) FROM events"}
	b.ResetTimer()
	for range b.N {
		if _, err := c.query.Query(context.Background(), connect.NewRequest(req)); err != nil {
			b.Fatal(err)
		}
	}
}
