package node

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/ingest"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestRetention checks the TTL boundary to the microsecond: hot rows
// older than the TTL are dropped when flushed, a row at the cutoff or one
// microsecond inside it stays, and a file leaves the catalog (and then
// the object store) once all its rows are older than the cutoff, not
// while its newest row is at the cutoff.
func TestRetention(t *testing.T) {
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(base.UnixMicro())
	cfg := testConfig(t, t.TempDir())
	cfg.testNow = func() time.Time { return time.UnixMicro(clock.Load()) }
	cfg.RetentionCheck = 50 * time.Millisecond
	cfg.DeleteGrace = MinDeleteGrace
	n := mustStartNode(t, cfg)
	defer n.Close()
	c := newClient(t, n)
	ctx := context.Background()
	if _, err := c.tables.CreateTable(ctx, connect.NewRequest(&v1.CreateTableRequest{
		Name: "events", Partitioning: v1.Partitioning_PARTITIONING_HOUR, TtlMs: time.Hour.Milliseconds(),
	})); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) string { return base.Add(d).Format("2006-01-02T15:04:05.999999Z") }
	write := func(rows ...string) {
		t.Helper()
		var b strings.Builder
		for _, ts := range rows {
			fmt.Fprintf(&b, `{"id":"%s","ts":"%s"}`+"\n", ts, ts)
		}
		if _, err := n.Write(ctx, WriteInput{Table: "events", Input: ingest.NDJSON([]byte(b.String()))}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() string {
		t.Helper()
		return c.sql("SELECT list(id ORDER BY ts) FROM events")
	}
	cutoff := -time.Hour // the cutoff at base
	write(at(cutoff-2*time.Hour), at(cutoff-time.Microsecond), at(cutoff), at(cutoff+time.Microsecond), at(-10*time.Minute), at(0))
	if got := strings.Count(ids(), ","); got != 5 {
		t.Fatalf("hot rows before the flush: %s", ids())
	}
	c.flush("events")
	want := fmt.Sprintf("[[%q,%q,%q,%q]]\n", at(cutoff), at(cutoff+time.Microsecond), at(-10*time.Minute), at(0))
	if got := ids(); got != want {
		t.Fatalf("after the flush:\n%s\nwant\n%s", got, want)
	}
	v, _ := n.fsm.Table("events")
	if len(v.Files) != 2 { // hours -1h and 0; the -3h hour had only an expired row
		t.Fatalf("%d files after the flush", len(v.Files))
	}

	// One hour later the cutoff is base: the -1h file's rows are all
	// older; the file whose newest row is exactly at base stays.
	clock.Store(base.Add(time.Hour).UnixMicro())
	eventually(t, 10*time.Second, "the expired file leaves the catalog", func() error {
		v, _ := n.fsm.Table("events")
		if len(v.Files) != 1 {
			return fmt.Errorf("%d files", len(v.Files))
		}
		return nil
	})
	if got, want := ids(), fmt.Sprintf("[[%q]]\n", at(0)); got != want {
		t.Fatalf("after expiry:\n%s\nwant\n%s", got, want)
	}
	eventually(t, 30*time.Second, "the expired file is deleted", func() error {
		if p := len(n.fsm.PendingDeletes()); p > 0 {
			return fmt.Errorf("%d pending deletes", p)
		}
		return nil
	})

	// TTL off: nothing expires any more.
	zero := int64(0)
	resp, err := c.tables.AlterTable(ctx, connect.NewRequest(&v1.AlterTableRequest{Name: "events", TtlMs: &zero}))
	if err != nil || resp.Msg.Table.TtlMs != 0 {
		t.Fatalf("alter ttl: %v %v", err, resp)
	}
	clock.Store(base.Add(100 * time.Hour).UnixMicro())
	write(at(-50 * time.Hour))
	c.flush("events")
	if got := strings.Count(ids(), ","); got != 1 {
		t.Fatalf("with the TTL off: %s", ids())
	}
	neg := int64(-1)
	if _, err := c.tables.AlterTable(ctx, connect.NewRequest(&v1.AlterTableRequest{Name: "events", TtlMs: &neg})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("negative ttl: %v", err)
	}
}
