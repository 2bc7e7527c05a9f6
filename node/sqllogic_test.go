package node

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/ingest"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// TestSQLLogic runs the files under testdata/sql against a real node, in
// the style of DuckDB's sqllogictest. Directives:
//
//	write TABLE            NDJSON rows follow, up to a blank line
//	write-error TABLE      as write, and the error must contain the text after ----
//	flush                  flush every table
//	restart                close the node and start it again on the same directory
//	query                  SQL follows, then ----, then the expected rows (JSON arrays)
//	query rowsort          as query, rows compared after sorting
//	query-error            SQL follows, then ----, then a fragment of the error
//
// Lines starting with # are comments.
func TestSQLLogic(t *testing.T) {
	files, _ := filepath.Glob("testdata/sql/*.test")
	if len(files) == 0 {
		t.Fatal("no test files")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runLogicFile(t, file) })
	}
}

type logicBlock struct {
	line   int
	cmd    []string
	input  []string
	expect []string
}

func readLogicFile(t *testing.T, file string) []logicBlock {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []logicBlock
	var cur *logicBlock
	inExpect := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		switch {
		case cur == nil && (strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#")):
		case cur == nil:
			blocks = append(blocks, logicBlock{line: ln, cmd: strings.Fields(line)})
			cur = &blocks[len(blocks)-1]
			inExpect = false
		case strings.TrimSpace(line) == "":
			cur = nil
		case line == "----":
			inExpect = true
		case inExpect:
			cur.expect = append(cur.expect, line)
		default:
			cur.input = append(cur.input, line)
		}
	}
	return blocks
}

func runLogicFile(t *testing.T, file string) {
	dir := t.TempDir()
	n := mustStartNode(t, testConfig(t, dir))
	defer func() { n.Close() }()
	c := newClient(t, n)
	ctx := context.Background()
	for _, b := range readLogicFile(t, file) {
		where := file + ":" + itoa(b.line)
		switch b.cmd[0] {
		case "write-error", "query-error":
			if strings.TrimSpace(strings.Join(b.expect, "")) == "" {
				t.Fatalf("%s: %s without the error text it expects: any error would pass", where, b.cmd[0])
			}
		}
		switch b.cmd[0] {
		case "write", "write-error":
			_, err := n.Write(ctx, WriteInput{Table: b.cmd[1], Input: ingest.NDJSON([]byte(strings.Join(b.input, "\n")))})
			if b.cmd[0] == "write" && err != nil {
				t.Fatalf("%s: write: %v", where, err)
			}
			if b.cmd[0] == "write-error" && (err == nil || !strings.Contains(err.Error(), strings.Join(b.expect, "\n"))) {
				t.Fatalf("%s: want error containing %q, got %v", where, strings.Join(b.expect, "\n"), err)
			}
		case "flush":
			c.flush("")
		case "restart":
			if err := n.Close(); err != nil {
				t.Fatalf("%s: close: %v", where, err)
			}
			n = mustStartNode(t, testConfig(t, dir))
			c = newClient(t, n)
		case "query":
			got := strings.Split(strings.TrimSuffix(c.sql(strings.Join(b.input, "\n")), "\n"), "\n")
			if len(got) == 1 && got[0] == "" {
				got = nil
			}
			want := append([]string(nil), b.expect...)
			if len(b.cmd) > 1 && b.cmd[1] == "rowsort" {
				slices.Sort(got)
				slices.Sort(want)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", where, strings.Join(b.input, " "), strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		case "query-error":
			_, err := c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: strings.Join(b.input, "\n")}))
			if err == nil || !strings.Contains(err.Error(), strings.Join(b.expect, "\n")) {
				t.Errorf("%s: want error containing %q, got %v", where, strings.Join(b.expect, "\n"), err)
			}
		default:
			t.Fatalf("%s: unknown directive %q", where, b.cmd[0])
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
