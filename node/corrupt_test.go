package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miniodb/miniodb/wal"
)

// TestCorruptLogRefusesToStart: a node whose wal has a damaged record
// before its tail does not start, and says how to recover (no panic, no
// silent skip).
func TestCorruptLogRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	n := mustStartNode(t, testConfig(t, dir))
	c := newClient(t, n)
	for i := 0; i < 5; i++ {
		c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"t","rows":[{"x":1,"pad":"`+strings.Repeat("p", 200)+`"}]}`)
	}
	n.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "raft", "wal", "*.wal"))
	if len(segs) == 0 {
		t.Fatal("no wal segment")
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[200] ^= 0x40 // inside an early record
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), testConfig(t, dir))
	if !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), "re-join") {
		t.Fatalf("start on a damaged log: %v", err)
	}
}
