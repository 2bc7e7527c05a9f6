package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const sqlHelp = `
Run one read-only SQL statement on the server and print the result. The SQL
comes from the arguments (joined with spaces), or from stdin when the
argument is "-" or absent and stdin is not a terminal.

The result streams from the server (QueryService.QueryStream). Formats:
  table   a box table for people (the default): column types under the names,
          numbers right-aligned (a DOUBLE 2 shows as 2.0), NULL shown as
          NULL, control characters escaped, a footer "N rows (T s)".
          It holds the whole result in memory to size the columns and never
          drops rows; for big results use csv or ndjson.
  csv     RFC 4180: a header row, then rows; NULL is an empty field.
  json    one JSON array of objects, one row per line.
  ndjson  one JSON object per line.
csv, json and ndjson write numbers in their shortest form (2, 0.5, 1e+21);
json and ndjson keep a BIGINT beyond 2^53 exact and write NaN and Infinity
as strings. csv, json and ndjson stream with bounded memory.

Consistency: "strong" (the default) reads everything acknowledged before
the query started; "local" answers from this node's state, which may lag.

Execution (strong reads): "auto" (the default) spreads a statement that
reads at least the server's --distribute-min-bytes over the cluster's
nodes when it decomposes; "distributed" does so whatever the size (each
node computes partial results over its share of the files, the leader
merges them), "gathered" has the nodes filter and project while the leader
runs the statement, "single" runs it on the leader alone. --explain prints
how a statement would run (mode and why, files and bytes before and after
pruning, the fragments, the partial and final SQL) without running it;
--analyze runs it and adds what each fragment did. Sending
"EXPLAIN [ANALYZE] SELECT …" does the same.

Errors print the server's code and message on stderr; the exit code is 1.

Examples:
  miniodb sql "SELECT count(*) FROM events"
  miniodb sql --format csv "SELECT * FROM events" > events.csv
  miniodb sql --format ndjson "SELECT * FROM events WHERE ts > now() - INTERVAL 1 HOUR" | jq .
  miniodb sql - < report.sql
  miniodb sql --consistency local --addr node2:7070 "SELECT max(ts) FROM events"
  miniodb sql --explain --execution distributed "SELECT region, avg(value) FROM events GROUP BY region"
`

// sqlCmd is "miniodb sql".
type sqlCmd struct {
	client      clientFlags
	format      string
	consistency string
	maxWidth    int
	execution   string
	pruning     string
	explain     bool
	analyze     bool
}

func (s *sqlCmd) flags(fs *flag.FlagSet, c *cli) {
	s.client.register(fs, c, 0, "give up after this `duration` (0: no limit)")
	fs.StringVar(&s.format, "format", formatTable, "output `format`: table, csv, json or ndjson")
	fs.StringVar(&s.consistency, "consistency", "strong", "read `mode`: strong or local")
	fs.IntVar(&s.maxWidth, "max-width", 0, "table format: cut cells wider than this many `columns` with … (0: never)")
	fs.StringVar(&s.execution, "execution", "auto", "how a strong read runs: `mode` auto, distributed, gathered or single")
	fs.StringVar(&s.pruning, "pruning", "on", "skip files by their column statistics: on or off (for comparisons)")
	fs.BoolVar(&s.explain, "explain", false, "print how the statement would run instead of running it")
	fs.BoolVar(&s.analyze, "analyze", false, "run the statement and print how it ran instead of its rows")
}

// maxSQLBytes bounds SQL read from stdin.
const maxSQLBytes = 16 << 20

// statement returns the SQL to run from the positional arguments or stdin.
func (s *sqlCmd) statement(c *cli, args []string) (string, error) {
	if len(args) > 0 && !(len(args) == 1 && args[0] == "-") {
		return strings.Join(args, " "), nil
	}
	if len(args) == 0 && isTerminal(c.stdin) {
		return "", usageErrorf("no SQL given: pass it as an argument or on stdin")
	}
	b, err := io.ReadAll(io.LimitReader(c.stdin, maxSQLBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading SQL from stdin: %w", err)
	}
	if len(b) > maxSQLBytes {
		return "", fmt.Errorf("SQL on stdin is longer than %s", humanBytes(maxSQLBytes))
	}
	return string(b), nil
}

func (s *sqlCmd) validate() error {
	switch s.format {
	case formatTable, formatCSV, formatJSON, formatNDJSON:
	default:
		return usageErrorf("unknown --format %q: want table, csv, json or ndjson", s.format)
	}
	switch s.consistency {
	case "strong", "local":
	default:
		return usageErrorf("unknown --consistency %q: want strong or local", s.consistency)
	}
	switch s.execution {
	case "auto", "distributed", "gathered", "single":
	default:
		return usageErrorf("unknown --execution %q: want auto, distributed, gathered or single", s.execution)
	}
	switch s.pruning {
	case "on", "off":
	default:
		return usageErrorf("unknown --pruning %q: want on or off", s.pruning)
	}
	if s.explain && s.analyze {
		return usageErrorf("--explain and --analyze exclude each other: --analyze runs the statement, --explain only plans it")
	}
	return nil
}

func (s *sqlCmd) run(ctx context.Context, c *cli, args []string) error {
	if err := s.validate(); err != nil {
		return err
	}
	sql, err := s.statement(c, args)
	if err != nil {
		return err
	}
	if strings.TrimSpace(sql) == "" {
		return usageErrorf("the SQL is empty")
	}
	cl, err := s.client.dial()
	if err != nil {
		return err
	}
	out, err := newResultWriter(s.format, c.stdout, s.maxWidth)
	if err != nil {
		return err
	}
	ctx, cancel := s.client.withTimeout(ctx)
	defer cancel()
	req := &miniodbv1.QueryRequest{Sql: sql, Consistency: s.consistency, Execution: s.execution, Pruning: s.pruning}
	if s.explain || s.analyze {
		resp, err := cl.query.Explain(ctx, connect.NewRequest(&miniodbv1.ExplainRequest{Query: req, Analyze: s.analyze}))
		if err != nil {
			return err
		}
		for _, line := range resp.Msg.Lines {
			fmt.Fprintln(c.stdout, line)
		}
		return nil
	}
	return streamQuery(ctx, cl, req, out)
}

// streamQuery runs req through QueryStream and feeds the result to out.
func streamQuery(ctx context.Context, cl *clients, req *miniodbv1.QueryRequest, out resultWriter) error {
	start := time.Now()
	stream, err := cl.query.QueryStream(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	defer stream.Close()
	haveColumns := false
	for stream.Receive() {
		msg := stream.Msg()
		if !haveColumns && len(msg.GetColumns()) > 0 {
			if err := out.columns(msg.GetColumns()); err != nil {
				return err
			}
			haveColumns = true
		}
		if len(msg.GetRows()) == 0 {
			continue
		}
		if !haveColumns {
			return errors.New("server sent rows before the columns")
		}
		if err := out.rows(msg.GetRows()); err != nil {
			return err
		}
	}
	if err := stream.Err(); err != nil {
		return err
	}
	if !haveColumns {
		if err := out.columns(nil); err != nil {
			return err
		}
	}
	return out.finish(time.Since(start))
}

// isTerminal reports whether r is a terminal (a character device), with the
// standard library only. Anything that is not an *os.File is not one.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
