package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const statusHelp = `
Show one node's view of the cluster: its id and Raft state, the leader,
the term and log indexes, the Raft log store, the object store and whether
it answers, the hot-buffer memory against its limit, the catalog size, and
per table the hot (unflushed) rows and bytes and the Parquet files.

The exit code is 0 whenever the node answers, even if it reports a problem
(an unreachable object store is shown as ERROR); use --format json to
check fields from scripts.

Examples:
  miniodb status
  miniodb status --addr node2:7070
  miniodb status --format json | jq .raftState
`

const flushHelp = `
Write the hot (unflushed) rows of one table, or of every table, to Parquet
files in the object store now, instead of waiting for the size or age
thresholds. Answers when the flushes are committed, with the number of
files written and rows flushed.

Examples:
  miniodb flush
  miniodb flush events
`

const tablesHelp = `
Without NAME, list the tables with their column count, rows (hot and
flushed), hot bytes, Parquet files and partitioning. With NAME, show that
table's schema, partitioning, flush policy and counts.

Examples:
  miniodb tables
  miniodb tables events
  miniodb tables --format json events
`

// jsonText renders m as indented JSON with the proto field names in
// camelCase, as Connect JSON writes them, and zero values included.
func jsonText(m proto.Message) (string, error) {
	raw, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return "", err
	}
	// protojson varies its white space on purpose; re-indent for a stable form.
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return "", err
	}
	b.WriteByte('\n')
	return b.String(), nil
}

// writeJSON prints m as jsonText renders it.
func writeJSON(w io.Writer, m proto.Message) error {
	text, err := jsonText(m)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, text)
	return err
}

func checkTextJSON(format string) error {
	if format != "text" && format != "json" {
		return usageErrorf("unknown --format %q: want text or json", format)
	}
	return nil
}

// keyValues prints "key: value" lines with the values aligned.
func keyValues(w io.Writer, kv [][2]string) {
	width := 0
	for _, p := range kv {
		width = max(width, displayWidth(p[0]))
	}
	for _, p := range kv {
		fmt.Fprintf(w, "%s  %s\n", pad(p[0]+":", width+1, alignLeft), p[1])
	}
}

// statusCmd is "miniodb status".
type statusCmd struct {
	client clientFlags
	format string
}

func (s *statusCmd) flags(fs *flag.FlagSet, c *cli) {
	s.client.register(fs, c, 10*time.Second, "give up after this `duration` (0: no limit)")
	fs.StringVar(&s.format, "format", "text", "output `format`: text or json")
}

func (s *statusCmd) run(ctx context.Context, c *cli, args []string) error {
	if err := checkTextJSON(s.format); err != nil {
		return err
	}
	if len(args) > 0 {
		return usageErrorf("status takes no arguments")
	}
	cl, err := s.client.dial()
	if err != nil {
		return err
	}
	ctx, cancel := s.client.withTimeout(ctx)
	defer cancel()
	resp, err := cl.cluster.Status(ctx, connect.NewRequest(&miniodbv1.StatusRequest{}))
	if err != nil {
		return err
	}
	if s.format == "json" {
		return writeJSON(c.stdout, resp.Msg)
	}
	return writeStatus(c.stdout, resp.Msg)
}

// writeStatus prints a StatusResponse for people.
func writeStatus(w io.Writer, st *miniodbv1.StatusResponse) error {
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	leader := "none known (election in progress?)"
	switch {
	case st.GetLeaderId() != "" && st.GetLeaderAddr() != "":
		leader = st.GetLeaderId() + " at " + st.GetLeaderAddr()
	case st.GetLeaderId() != "":
		leader = st.GetLeaderId()
	case st.GetLeaderAddr() != "":
		leader = st.GetLeaderAddr()
	}
	if st.GetLeaderId() != "" && st.GetLeaderId() == st.GetNodeId() {
		leader += " (this node)"
	}
	store := orDash(st.GetObjectStore())
	if st.GetObjectStoreOk() {
		store += " (ok)"
	} else {
		msg := st.GetObjectStoreError()
		if msg == "" {
			msg = "not answering"
		}
		store += " (ERROR: " + msg + ")"
	}
	var hotBytes, hotRows int64
	for _, t := range st.GetTables() {
		hotBytes += t.GetHotBytes()
		hotRows += t.GetHotRows()
	}
	hot := fmt.Sprintf("%s in %s rows", humanBytes(hotBytes), commas(hotRows))
	if lim := st.GetHotBytesLimit(); lim > 0 {
		hot += fmt.Sprintf(" (limit %s, %.0f%% used)", humanBytes(lim), 100*float64(hotBytes)/float64(lim))
	}
	kv := [][2]string{
		{"node id", orDash(st.GetNodeId())},
		{"raft state", orDash(st.GetRaftState())},
		{"leader", leader},
		{"term", strconv.FormatUint(st.GetTerm(), 10)},
		{"applied index", strconv.FormatUint(st.GetAppliedIndex(), 10)},
		{"commit index", strconv.FormatUint(st.GetCommitIndex(), 10)},
		{"last log index", strconv.FormatUint(st.GetLastLogIndex(), 10)},
		{"raft log", orDash(st.GetRaftLog())},
		{"object store", store},
		{"hot buffers", hot},
		{"catalog", plural(st.GetCatalogFiles(), "file", "files")},
		{"compaction", compactionStatus(st)},
	}
	keyValues(w, kv)
	if len(st.GetMembers()) > 0 {
		fmt.Fprintln(w)
		var rows [][]string
		for _, m := range st.GetMembers() {
			role := "follower"
			switch {
			case m.GetLeader():
				role = "leader"
			case !m.GetVoter():
				role = "non-voter"
			}
			rows = append(rows, []string{printable(m.GetNodeId()), role, orDash(m.GetRaftAddr()), orDash(m.GetHttpAddr())})
		}
		if err := writePlainTable(w, []string{"MEMBER", "ROLE", "RAFT ADDRESS", "API ADDRESS"}, []bool{false, false, false, false}, rows); err != nil {
			return err
		}
	}
	if len(st.GetTables()) == 0 {
		_, err := fmt.Fprintln(w, "\nno tables")
		return err
	}
	fmt.Fprintln(w)
	headers := []string{"TABLE", "HOT ROWS", "HOT BYTES", "FILES", "FILE BYTES", "FLUSHED ROWS", "MAX FILES/PARTITION", "MERGES"}
	right := []bool{false, true, true, true, true, true, true, false}
	var rows [][]string
	var total miniodbv1.TableStatus
	for _, t := range st.GetTables() {
		rows = append(rows, []string{printable(t.GetName()), commas(t.GetHotRows()), humanBytes(t.GetHotBytes()),
			commas(t.GetFiles()), humanBytes(t.GetFileBytes()), commas(t.GetFlushedRows()),
			commas(t.GetMaxFilesPerPartition()), mergesText(t)})
		total.HotRows += t.GetHotRows()
		total.HotBytes += t.GetHotBytes()
		total.Files += t.GetFiles()
		total.FileBytes += t.GetFileBytes()
		total.FlushedRows += t.GetFlushedRows()
	}
	if len(rows) > 1 {
		rows = append(rows, []string{"(total)", commas(total.HotRows), humanBytes(total.HotBytes),
			commas(total.Files), humanBytes(total.FileBytes), commas(total.FlushedRows), "", ""})
	}
	return writePlainTable(w, headers, right, rows)
}

func mergesText(t *miniodbv1.TableStatus) string {
	s := fmt.Sprintf("%d running, %d pending", t.GetCompactionsRunning(), t.GetCompactionsPending())
	if n := t.GetTombstones(); n > 0 {
		s += fmt.Sprintf(", %s to purge", plural(n, "delete", "deletes"))
	}
	return s
}

// compactionStatus summarizes merges: what runs, and the write
// amplification of this node's uploads since it started.
func compactionStatus(st *miniodbv1.StatusResponse) string {
	var running, pending int64
	for _, t := range st.GetTables() {
		running += t.GetCompactionsRunning()
		pending += t.GetCompactionsPending()
	}
	s := fmt.Sprintf("%d running, %d pending", running, pending)
	if f := st.GetFlushBytesWritten(); f > 0 {
		m := st.GetCompactionBytesWritten()
		s += fmt.Sprintf("; since start %s flushed, %s merged (write amplification %.2f)",
			humanBytes(f), humanBytes(m), float64(f+m)/float64(f))
	}
	return s
}

const compactHelp = `
Merge the small Parquet files of one table, or of every table, now: every
partition's files below the target size are merged (whatever their age),
up to the table's maximum files per merge. Without --wait the command
answers when one round of merges is committed; with --wait, once nothing
is left to merge. The leader also merges in the background (size tiers,
after a cooldown); this command is for "now".

Queries keep reading while files are merged; replaced files are deleted
after the server's --delete-grace.

Examples:
  miniodb compact --wait
  miniodb compact events
`

// compactCmd is "miniodb compact".
type compactCmd struct {
	client clientFlags
	wait   bool
}

func (k *compactCmd) flags(fs *flag.FlagSet, c *cli) {
	k.client.register(fs, c, 30*time.Minute, "give up after this `duration` (0: no limit)")
	fs.BoolVar(&k.wait, "wait", false, "merge until nothing is left to merge")
}

func (k *compactCmd) run(ctx context.Context, c *cli, args []string) error {
	if len(args) > 1 {
		return usageErrorf("compact takes at most one TABLE")
	}
	req := &miniodbv1.CompactRequest{Wait: k.wait}
	if len(args) == 1 {
		req.Table = args[0]
	}
	cl, err := k.client.dial()
	if err != nil {
		return err
	}
	ctx, cancel := k.client.withTimeout(ctx)
	defer cancel()
	start := time.Now()
	resp, err := cl.cluster.Compact(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.stdout, compactSummary(req.Table, resp.Msg, time.Since(start)))
	return err
}

func compactSummary(table string, r *miniodbv1.CompactResponse, elapsed time.Duration) string {
	what := "all tables"
	if table != "" {
		what = table
	}
	if r.GetMerges() == 0 {
		return fmt.Sprintf("nothing to merge in %s", what)
	}
	return fmt.Sprintf("merged %s in %s (%s, %s → %s) in %s in %.2f s",
		plural(r.GetFilesMerged(), "file", "files"), plural(r.GetMerges(), "merge", "merges"), plural(r.GetRows(), "row", "rows"),
		humanBytes(r.GetBytesRead()), humanBytes(r.GetBytesWritten()), what, elapsed.Seconds())
}

const deleteHelp = `
Delete a table's rows: those with one of the given ids (--id, repeatable
or comma-separated), those in the time range [--start, --end) (RFC 3339;
either end may be left open), or, with both, rows with one of the ids in
the range. Answers once the delete is committed: from then on no query
sees the rows. Unflushed rows are removed at once; flushed rows are hidden
and removed from their files by compaction.

Examples:
  miniodb delete events --id dev-7 --id dev-9
  miniodb delete events --start 2026-01-01T00:00:00Z --end 2026-01-02T00:00:00Z
`

// deleteCmd is "miniodb delete".
type deleteCmd struct {
	client     clientFlags
	ids        listFlag
	start, end string
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func (d *deleteCmd) flags(fs *flag.FlagSet, c *cli) {
	d.client.register(fs, c, time.Minute, "give up after this `duration` (0: no limit)")
	fs.Var(&d.ids, "id", "delete rows with this `id` (repeatable, or comma-separated)")
	fs.StringVar(&d.start, "start", "", "delete rows with ts at or after this `time` (RFC 3339)")
	fs.StringVar(&d.end, "end", "", "delete rows with ts before this `time` (RFC 3339)")
}

func (d *deleteCmd) run(ctx context.Context, c *cli, args []string) error {
	if len(args) != 1 {
		return usageErrorf("delete takes one TABLE")
	}
	if len(d.ids) == 0 && d.start == "" && d.end == "" {
		return usageErrorf("delete needs --id, --start/--end or both (to remove a whole table, drop it)")
	}
	cl, err := d.client.dial()
	if err != nil {
		return err
	}
	ctx, cancel := d.client.withTimeout(ctx)
	defer cancel()
	resp, err := cl.write.Delete(ctx, connect.NewRequest(&miniodbv1.DeleteRequest{Table: args[0], Ids: d.ids, Start: d.start, End: d.end}))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "deleted from %s at index %d (%s removed at once; flushed rows are hidden until compaction rewrites their files)\n",
		args[0], resp.Msg.GetRaftIndex(), plural(resp.Msg.GetHotRowsDeleted(), "unflushed row", "unflushed rows"))
	return err
}

// flushCmd is "miniodb flush".
type flushCmd struct {
	client clientFlags
}

func (f *flushCmd) flags(fs *flag.FlagSet, c *cli) {
	f.client.register(fs, c, 5*time.Minute, "give up after this `duration` (0: no limit)")
}

func (f *flushCmd) run(ctx context.Context, c *cli, args []string) error {
	if len(args) > 1 {
		return usageErrorf("flush takes at most one TABLE")
	}
	req := &miniodbv1.FlushRequest{}
	if len(args) == 1 {
		req.Table = args[0]
	}
	cl, err := f.client.dial()
	if err != nil {
		return err
	}
	ctx, cancel := f.client.withTimeout(ctx)
	defer cancel()
	start := time.Now()
	resp, err := cl.cluster.Flush(ctx, connect.NewRequest(req))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.stdout, flushSummary(req.Table, resp.Msg, time.Since(start)))
	return err
}

func flushSummary(table string, r *miniodbv1.FlushResponse, elapsed time.Duration) string {
	what := "all tables"
	if table != "" {
		what = table
	}
	if r.GetFilesWritten() == 0 && r.GetRowsFlushed() == 0 {
		return fmt.Sprintf("nothing to flush in %s (no hot rows)", what)
	}
	return fmt.Sprintf("flushed %s from %s into %s in %.2f s",
		plural(r.GetRowsFlushed(), "row", "rows"), what, plural(r.GetFilesWritten(), "Parquet file", "Parquet files"), elapsed.Seconds())
}

// tablesCmd is "miniodb tables".
type tablesCmd struct {
	client clientFlags
	format string
}

func (t *tablesCmd) flags(fs *flag.FlagSet, c *cli) {
	t.client.register(fs, c, 10*time.Second, "give up after this `duration` (0: no limit)")
	fs.StringVar(&t.format, "format", "text", "output `format`: text or json")
}

func (t *tablesCmd) run(ctx context.Context, c *cli, args []string) error {
	if err := checkTextJSON(t.format); err != nil {
		return err
	}
	if len(args) > 1 {
		return usageErrorf("tables takes at most one NAME")
	}
	cl, err := t.client.dial()
	if err != nil {
		return err
	}
	ctx, cancel := t.client.withTimeout(ctx)
	defer cancel()
	var msg proto.Message
	if len(args) == 1 {
		resp, err := cl.table.GetTable(ctx, connect.NewRequest(&miniodbv1.GetTableRequest{Name: args[0]}))
		if err != nil {
			return err
		}
		if t.format == "text" {
			return writeTableInfo(c.stdout, resp.Msg.GetTable())
		}
		msg = resp.Msg
	} else {
		resp, err := cl.table.ListTables(ctx, connect.NewRequest(&miniodbv1.ListTablesRequest{}))
		if err != nil {
			return err
		}
		if t.format == "text" {
			return writeTableList(c.stdout, resp.Msg.GetTables())
		}
		msg = resp.Msg
	}
	return writeJSON(c.stdout, msg)
}

// enumName shortens a proto enum name: COLUMN_TYPE_BIGINT → BIGINT.
func enumName(full, prefix string) string {
	return strings.TrimPrefix(full, prefix)
}

func partitioningText(p miniodbv1.Partitioning) string {
	if p == miniodbv1.Partitioning_PARTITIONING_UNSPECIFIED {
		return "day"
	}
	return strings.ToLower(enumName(p.String(), "PARTITIONING_"))
}

func writeTableList(w io.Writer, tables []*miniodbv1.TableInfo) error {
	if len(tables) == 0 {
		_, err := fmt.Fprintln(w, "no tables (write rows to create one: miniodb write TABLE FILE)")
		return err
	}
	headers := []string{"NAME", "COLUMNS", "ROWS", "HOT ROWS", "HOT BYTES", "FILES", "FILE BYTES", "MAX FILES/PARTITION", "PARTITIONING"}
	right := []bool{false, true, true, true, true, true, true, true, false}
	var rows [][]string
	for _, t := range tables {
		rows = append(rows, []string{
			printable(t.GetName()),
			strconv.Itoa(len(t.GetColumns())),
			commas(t.GetHotRows() + t.GetFlushedRows()),
			commas(t.GetHotRows()),
			humanBytes(t.GetHotBytes()),
			commas(t.GetFileCount()),
			humanBytes(t.GetFileBytes()),
			commas(t.GetMaxFilesPerPartition()),
			partitioningText(t.GetPartitioning()),
		})
	}
	return writePlainTable(w, headers, right, rows)
}

func deletesText(n int64) string {
	if n == 0 {
		return "none pending"
	}
	return plural(n, "delete", "deletes") + " still in files (hidden from queries until compaction rewrites them)"
}

func retentionText(ttlMs int64) string {
	if ttlMs <= 0 {
		return "rows are kept forever"
	}
	return "rows older than " + (time.Duration(ttlMs) * time.Millisecond).String() + " are removed"
}

func compactionPolicyText(p *miniodbv1.CompactionPolicy) string {
	if p.GetDisabled() {
		return "off for this table"
	}
	var parts []string
	if p.GetTargetFileBytes() > 0 {
		parts = append(parts, "target "+humanBytes(p.GetTargetFileBytes()))
	}
	if p.GetMinFiles() > 0 {
		parts = append(parts, fmt.Sprintf("at least %d files per merge", p.GetMinFiles()))
	}
	if p.GetMaxFiles() > 0 {
		parts = append(parts, fmt.Sprintf("at most %d files per merge", p.GetMaxFiles()))
	}
	if p.GetCooldownMs() > 0 {
		parts = append(parts, "cooldown "+(time.Duration(p.GetCooldownMs())*time.Millisecond).String())
	}
	if len(parts) == 0 {
		return "server defaults"
	}
	return strings.Join(parts, ", ") + " (server defaults for the rest)"
}

func writeTableInfo(w io.Writer, t *miniodbv1.TableInfo) error {
	schema := "inferred from rows (grows as new fields arrive)"
	if t.GetExplicitSchema() {
		schema = "explicit"
	}
	flush := "server defaults"
	if f := t.GetFlush(); f != nil && (f.GetMaxRows() > 0 || f.GetMaxBytes() > 0 || f.GetMaxAgeMs() > 0) {
		var parts []string
		if f.GetMaxRows() > 0 {
			parts = append(parts, commas(f.GetMaxRows())+" rows")
		}
		if f.GetMaxBytes() > 0 {
			parts = append(parts, humanBytes(f.GetMaxBytes()))
		}
		if f.GetMaxAgeMs() > 0 {
			parts = append(parts, (time.Duration(f.GetMaxAgeMs()) * time.Millisecond).String())
		}
		flush = "at " + strings.Join(parts, " or ") + " (server defaults for the rest)"
	}
	keyValues(w, [][2]string{
		{"table", printable(t.GetName())},
		{"rows", fmt.Sprintf("%s (%s hot, %s flushed)", commas(t.GetHotRows()+t.GetFlushedRows()), commas(t.GetHotRows()), commas(t.GetFlushedRows()))},
		{"hot bytes", humanBytes(t.GetHotBytes())},
		{"files", fmt.Sprintf("%s (%s) in %s, at most %s in one",
			commas(t.GetFileCount()), humanBytes(t.GetFileBytes()), plural(t.GetPartitions(), "partition", "partitions"), commas(t.GetMaxFilesPerPartition()))},
		{"partitioning", partitioningText(t.GetPartitioning())},
		{"schema", schema},
		{"flush", flush},
		{"compaction", compactionPolicyText(t.GetCompaction())},
		{"retention", retentionText(t.GetTtlMs())},
		{"deletes", deletesText(t.GetTombstones())},
		{"created at index", strconv.FormatUint(t.GetCreatedIndex(), 10)},
	})
	fmt.Fprintln(w)
	var rows [][]string
	for _, col := range t.GetColumns() {
		rows = append(rows, []string{printable(col.GetName()), enumName(col.GetType().String(), "COLUMN_TYPE_")})
	}
	return writePlainTable(w, []string{"COLUMN", "TYPE"}, []bool{false, false}, rows)
}
