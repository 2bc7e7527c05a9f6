package query

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/miniodb/miniodb/objstore"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// specCatalog is a catalog of tables that have columns and no rows: all
// the planner reads.
type specCatalog map[string]*v1.TableSpec

func (c specCatalog) Views(names []string) map[string]raftfsm.TableView {
	out := map[string]raftfsm.TableView{}
	for _, n := range names {
		if s, ok := c[n]; ok {
			out[n] = raftfsm.TableView{Spec: s}
		}
	}
	return out
}

func (c specCatalog) Exists(name string) bool { _, ok := c[name]; return ok }

func (c specCatalog) TableNames() []string {
	var out []string
	for n := range c {
		out = append(out, n)
	}
	return out
}

// TestDistributeData runs testdata/distribute.txt: statements → how they
// are distributed (mode, and why not), the partial statement fragments run
// and the final one the coordinator runs, or the error. Directives:
//
//	plan [execution=gathered]   SQL follows
//
// Tables events and other have the columns of the schema below.
// go test ./query -run TestDistributeData -rewrite regenerates the outputs.
func TestDistributeData(t *testing.T) {
	ctx := context.Background()
	store, err := objstore.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cols := []*v1.Column{
		{Name: "id", Type: v1.ColumnType_COLUMN_TYPE_VARCHAR},
		{Name: "ts", Type: v1.ColumnType_COLUMN_TYPE_TIMESTAMP},
		{Name: "value", Type: v1.ColumnType_COLUMN_TYPE_DOUBLE},
		{Name: "status", Type: v1.ColumnType_COLUMN_TYPE_BIGINT},
		{Name: "region", Type: v1.ColumnType_COLUMN_TYPE_VARCHAR},
		{Name: "ok", Type: v1.ColumnType_COLUMN_TYPE_BOOLEAN},
	}
	cat := specCatalog{"events": {Name: "events", Columns: cols}, "other": {Name: "other", Columns: cols}}
	e, err := Open(ctx, Config{Dir: t.TempDir(), Store: store, Catalog: cat, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	datadriven.RunTest(t, "testdata/distribute.txt", func(t *testing.T, td *datadriven.TestData) string {
		if td.Cmd != "plan" {
			t.Fatalf("%s: unknown directive %q", td.Pos, td.Cmd)
		}
		execution := "distributed"
		if td.HasArg("execution") {
			td.ScanArgs(t, "execution", &execution)
		}
		conn, err := e.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		q := strings.TrimSpace(td.Input)
		root, err := parseTree(ctx, conn, q)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		a, err := analyse(q, root, cat.Exists)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		p, err := e.distribute(ctx, conn, a, q, cat.Views(a.Tables), execution)
		if err != nil {
			return "error: " + err.Error() + "\n"
		}
		var b strings.Builder
		fmt.Fprintf(&b, "mode: %s\n", p.mode)
		if p.reason != "" {
			fmt.Fprintf(&b, "why: %s\n", p.reason)
		}
		if p.partial != "" {
			fmt.Fprintf(&b, "partial: %s\nfinal: %s\n", p.partial, p.final)
		}
		return b.String()
	})
}
