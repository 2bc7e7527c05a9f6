package main

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const writeHelp = `
Write rows to a table. The table is created on first write, with a schema
inferred from the rows.

Input (FILE, or "-" or nothing for stdin; a .gz file is decompressed):
  ndjson  one JSON object per line (the default; .ndjson, .jsonl, stdin)
  json    one JSON array of objects (.json); a file that starts with "{"
          is read as NDJSON whatever its name
  csv     a header row of field names, then rows (.csv; tsv for .tsv).
          Empty cell → field left out (NULL); true/false → boolean; a
          number → number (integers BIGINT, others DOUBLE); anything else,
          including "007", → string.
The input streams; it is never loaded whole. A malformed row stops the load
with its line number; batches before it have been written already.

Rows go in batches of at most --batch-rows rows and --batch-bytes bytes, up
to --parallel at a time. Each batch carries request_id PREFIX-N (N = 1, 2, …);
the server applies a request id at most once, so a batch retried after a
timeout is not written twice. A batch that fails with Unavailable,
DeadlineExceeded or ResourceExhausted is retried with capped exponential
back-off, up to --retries times. To resume a load that stopped part way,
run it again with the --request-id-prefix it printed and the same file and
batch limits: batches already written are skipped as duplicates.

With --upsert, each row replaces the table's earlier rows with the same
id (rows need an id, and one batch may not repeat an id).

A progress line is shown on stderr when stderr is a terminal; a summary
"wrote N rows to TABLE in X s (R rows/s)" is printed at the end.

Examples:
  miniodb write events rows.ndjson
  miniodb write --table events data.csv
  zcat big.ndjson.gz | miniodb write events -
  miniodb write events big.ndjson.gz --batch-rows 20000 --parallel 4
  miniodb write events rows.ndjson --request-id-prefix load-2026-11-30
  miniodb write --dry-run events rows.csv      # check and count, send nothing
`

// writeCmd is "miniodb write".
type writeCmd struct {
	client     clientFlags
	table      string
	format     string
	batchRows  int
	batchBytes sizeFlag
	prefix     string
	parallel   int
	retries    int
	dryRun     bool
	upsert     bool

	// Back-off between retries; tests shorten it.
	backoffBase, backoffMax time.Duration
}

func (w *writeCmd) flags(fs *flag.FlagSet, c *cli) {
	w.client.register(fs, c, time.Minute, "give up on one attempt to send a batch after this `duration` (0: no limit)")
	fs.StringVar(&w.table, "table", "", "`table` to write to (or give it before FILE)")
	fs.StringVar(&w.format, "format", "", "input `format`: ndjson, json, csv or tsv (default: from the file name, else ndjson)")
	fs.IntVar(&w.batchRows, "batch-rows", 5000, "most `rows` per request")
	w.batchBytes = 4 << 20
	fs.Var(&w.batchBytes, "batch-bytes", "most NDJSON `bytes` per request, e.g. 4MiB, 512KiB, 1MB")
	fs.StringVar(&w.prefix, "request-id-prefix", "", "request ids are `PREFIX`-1, PREFIX-2, …; reuse a prefix to resume a load without duplicates (default: random)")
	fs.IntVar(&w.parallel, "parallel", 2, "`batches` in flight at once")
	fs.IntVar(&w.retries, "retries", 10, "retries of one batch on Unavailable, DeadlineExceeded or ResourceExhausted")
	fs.BoolVar(&w.dryRun, "dry-run", false, "read, check and batch the input, but send nothing")
	fs.BoolVar(&w.upsert, "upsert", false, "each row replaces the earlier rows with its id")
}

// target works out the table and the input from --table and the
// positional arguments: "TABLE FILE", "FILE" with --table, "TABLE" with rows
// on a piped stdin, or nothing with --table and a piped stdin.
func (w *writeCmd) target(c *cli, args []string) (table, input string, err error) {
	table = w.table
	switch len(args) {
	case 0:
		input = "-"
	case 1:
		if table == "" {
			if _, statErr := os.Stat(args[0]); args[0] != "-" && statErr != nil && !isTerminal(c.stdin) {
				return args[0], "-", nil // "cat rows.ndjson | miniodb write events"
			}
			return "", "", usageErrorf("no table given: use 'miniodb write TABLE %s' or --table", args[0])
		}
		input = args[0]
	case 2:
		if table != "" && table != args[0] {
			return "", "", usageErrorf("two tables given: --table %q and %q", table, args[0])
		}
		table, input = args[0], args[1]
	default:
		return "", "", usageErrorf("too many arguments: want [TABLE] FILE")
	}
	if table == "" {
		return "", "", usageErrorf("no table given: use 'miniodb write TABLE FILE' or --table")
	}
	if len(args) == 0 && isTerminal(c.stdin) {
		return "", "", usageErrorf("no input: give a FILE (or \"-\" to type rows) or pipe rows on stdin")
	}
	return table, input, nil
}

func (w *writeCmd) validate() error {
	var errs []string
	if w.batchRows < 1 {
		errs = append(errs, fmt.Sprintf("--batch-rows must be at least 1, not %d", w.batchRows))
	}
	if w.batchBytes < 1 {
		errs = append(errs, fmt.Sprintf("--batch-bytes must be at least 1, not %d", w.batchBytes))
	}
	if w.parallel < 1 {
		errs = append(errs, fmt.Sprintf("--parallel must be at least 1, not %d", w.parallel))
	}
	if w.retries < 0 {
		errs = append(errs, fmt.Sprintf("--retries must not be negative, not %d", w.retries))
	}
	switch w.format {
	case "", inputNDJSON, inputJSON, inputCSV, inputTSV:
	default:
		errs = append(errs, fmt.Sprintf("unknown --format %q: want ndjson, json, csv or tsv", w.format))
	}
	if len(errs) > 0 {
		return usageErrorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// countingReader counts the bytes read through it, for progress.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// openInput opens FILE or stdin, decompressing .gz. size is the file's size
// (of the compressed bytes for .gz), or -1 when unknown.
func openInput(c *cli, input string) (r io.Reader, counter *countingReader, name string, size int64, closeFn func(), err error) {
	size, name = -1, input
	var raw io.Reader = c.stdin
	closeFn = func() {}
	if input == "-" {
		name = "stdin"
	} else {
		f, err := os.Open(input)
		if err != nil {
			return nil, nil, "", 0, nil, err
		}
		closeFn = func() { f.Close() }
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		raw = f
	}
	counter = &countingReader{r: raw}
	r = counter
	if strings.HasSuffix(strings.ToLower(input), ".gz") {
		zr, err := gzip.NewReader(counter)
		if err != nil {
			closeFn()
			return nil, nil, "", 0, nil, fmt.Errorf("%s: %w", name, err)
		}
		r = zr
	}
	return r, counter, name, size, closeFn, nil
}

// randomPrefix returns a fresh request id prefix for one run.
func randomPrefix() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "w" + hex.EncodeToString(b)
}

// writeStats counts what the server acknowledged.
type writeStats struct {
	rows      atomic.Int64 // rows in acknowledged batches (new or duplicate)
	bytes     atomic.Int64 // NDJSON bytes in acknowledged batches
	batches   atomic.Int64
	dupRows   atomic.Int64 // rows in batches the server had applied before
	dupBatch  atomic.Int64
	retried   atomic.Int64 // attempts that were retried
	inputRead func() int64 // input bytes read so far
	inputSize int64        // -1 when unknown
}

func (w *writeCmd) run(ctx context.Context, c *cli, args []string) error {
	if err := w.validate(); err != nil {
		return err
	}
	table, input, err := w.target(c, args)
	if err != nil {
		return err
	}
	format := w.format
	if format == "" {
		format = detectFormat(input)
	}
	r, counter, name, size, closeInput, err := openInput(c, input)
	if err != nil {
		return err
	}
	defer closeInput()
	src, err := newRowSource(r, name, format)
	if err != nil {
		return err
	}
	prefix := w.prefix
	if prefix == "" {
		prefix = randomPrefix()
	}
	stats := &writeStats{inputRead: counter.n.Load, inputSize: size}
	start := time.Now()

	if w.dryRun {
		err := readBatches(ctx, src, w.batchRows, int(w.batchBytes), func(b batch) error {
			stats.rows.Add(int64(b.rows))
			stats.bytes.Add(int64(len(b.data)))
			stats.batches.Add(1)
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w\n(checked %d rows in %d batches before the error)", err, stats.rows.Load(), stats.batches.Load())
		}
		fmt.Fprintf(c.stdout, "checked %d rows in %d batches (%s of NDJSON) from %s; nothing sent\n",
			stats.rows.Load(), stats.batches.Load(), humanBytes(stats.bytes.Load()), name)
		return nil
	}

	cl, err := w.client.dial()
	if err != nil {
		return err
	}
	var stopProgress func()
	if isTerminal(c.stderr) {
		stopProgress = startProgress(c.stderr, table, stats, start)
	}
	err = w.send(ctx, cl, table, prefix, src, stats)
	if stopProgress != nil {
		stopProgress()
	}
	elapsed := time.Since(start)
	if err != nil {
		if stats.batches.Load() == 0 {
			return fmt.Errorf("%w\nnothing was written", err)
		}
		return fmt.Errorf("%w\n%d rows in %d batches were written before the error; to resume without duplicates, run the same command with --request-id-prefix %s",
			err, stats.rows.Load(), stats.batches.Load(), prefix)
	}
	fmt.Fprintln(c.stdout, summary(table, stats, elapsed))
	return nil
}

// summary is the final line: "wrote N rows to T in X s (R rows/s)".
func summary(table string, st *writeStats, elapsed time.Duration) string {
	rows := st.rows.Load()
	secs := elapsed.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(rows) / secs
	}
	noun := "rows"
	if rows == 1 {
		noun = "row"
	}
	s := fmt.Sprintf("wrote %d %s to %s in %.2f s (%.0f rows/s)", rows, noun, table, secs, rate)
	if d := st.dupRows.Load(); d > 0 {
		s += fmt.Sprintf("; %d of them in %d batches had been written before (same request id) and were not written again", d, st.dupBatch.Load())
	}
	return s
}

// send reads batches from src and sends up to --parallel of them at once.
// The first failure stops the reading; batches in flight finish.
func (w *writeCmd) send(ctx context.Context, cl *clients, table, prefix string, src rowSource, st *writeStats) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	queue := make(chan batch, w.parallel)
	var wg sync.WaitGroup
	for range w.parallel {
		wg.Go(func() {
			for b := range queue {
				if ctx.Err() != nil {
					continue // drain after a failure
				}
				if err := w.sendBatch(ctx, cl, table, prefix, b, st); err != nil {
					cancel(err)
				}
			}
		})
	}
	readErr := readBatches(ctx, src, w.batchRows, int(w.batchBytes), func(b batch) error {
		select {
		case queue <- b:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(queue)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return cause // a send failed (or the caller gave up): report that first
	}
	return readErr
}

// sendBatch sends one batch, retrying with the same request id while the
// failure is one a retry may cure.
func (w *writeCmd) sendBatch(ctx context.Context, cl *clients, table, prefix string, b batch, st *writeStats) error {
	req := &miniodbv1.WriteRequest{
		Table:      table,
		RowsNdjson: b.data,
		RequestId:  fmt.Sprintf("%s-%d", prefix, b.seq),
	}
	if w.upsert {
		req.UpsertKey = "id"
	}
	base, capDelay := w.backoffBase, w.backoffMax
	if base <= 0 {
		base = 200 * time.Millisecond
	}
	if capDelay <= 0 {
		capDelay = 10 * time.Second
	}
	delay := base
	for attempt := 0; ; attempt++ {
		actx, cancel := w.client.withTimeout(ctx)
		resp, err := cl.write.Write(actx, connect.NewRequest(req))
		cancel()
		if err == nil {
			st.rows.Add(int64(b.rows))
			st.bytes.Add(int64(len(b.data)))
			st.batches.Add(1)
			if resp.Msg.GetDuplicate() {
				st.dupRows.Add(int64(b.rows))
				st.dupBatch.Add(1)
			}
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if !retryable(err) || attempt >= w.retries {
			where := fmt.Sprintf("rows %d-%d", b.first, b.last)
			if attempt > 0 {
				where += fmt.Sprintf(", after %d attempts", attempt+1)
			}
			return fmt.Errorf("batch %d (request id %s, %s): %w", b.seq, req.RequestId, where, err)
		}
		st.retried.Add(1)
		// Full jitter in [delay/2, delay], doubling up to the cap.
		sleep := delay/2 + time.Duration(mathrand.Int64N(int64(delay/2)+1))
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
		delay = min(delay*2, capDelay)
	}
}

// startProgress redraws a progress line on the terminal w every 200 ms
// until the returned function is called, which clears the line.
func startProgress(w io.Writer, table string, st *writeStats, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
				fmt.Fprint(w, "\r"+progressLine(table, st, time.Since(start))+"\x1b[K")
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// progressLine is one redraw of the progress display.
func progressLine(table string, st *writeStats, elapsed time.Duration) string {
	rows := st.rows.Load()
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(rows) / s
	}
	line := fmt.Sprintf("%s: %s rows  %s  %s rows/s", table, commas(rows), humanBytes(st.bytes.Load()), commas(int64(rate)))
	if r := st.retried.Load(); r > 0 {
		line += fmt.Sprintf("  %d retries", r)
	}
	if st.inputSize > 0 {
		frac := min(float64(st.inputRead())/float64(st.inputSize), 1)
		const width = 24
		filled := int(frac * width)
		line += fmt.Sprintf("  [%s%s] %3.0f%%", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100)
	}
	return line
}
