package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/duckdb/duckdb-go/v2"
	"golang.org/x/sync/errgroup"

	"github.com/miniodb/miniodb/objstore"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// Catalog is the read side of the replicated state the engine queries.
// *raftfsm.FSM implements it.
type Catalog interface {
	// Views returns consistent views of the named tables that exist.
	Views(names []string) map[string]raftfsm.TableView
	// Exists reports whether a table exists.
	Exists(name string) bool
	// TableNames lists all tables.
	TableNames() []string
}

// Config configures an Engine.
type Config struct {
	// Dir is the engine's working directory: the file cache and DuckDB's
	// spill directory live below it. Its previous contents are removed.
	Dir string
	// CacheBytes bounds the local file cache (default 4 GiB).
	CacheBytes int64
	// MemoryLimit is DuckDB's memory_limit, e.g. "2GB" (default: DuckDB's).
	MemoryLimit string
	// SpillLimit is DuckDB's max_temp_directory_size, e.g. "10GB"
	// (default: DuckDB's, 90% of the free disk).
	SpillLimit string
	// Threads is DuckDB's thread count (default: DuckDB's, the CPU count).
	Threads int
	// Store holds the Parquet files.
	Store objstore.ObjectStore
	// Catalog is the table state to query.
	Catalog Catalog
	// Logger receives the engine's logs.
	Logger *slog.Logger
	// NoPruning turns file pruning off (for differential tests).
	NoPruning bool
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("query: Config.Dir is empty"))
	}
	if c.Store == nil {
		errs = append(errs, errors.New("query: Config.Store is nil"))
	}
	if c.Catalog == nil {
		errs = append(errs, errors.New("query: Config.Catalog is nil"))
	}
	if c.CacheBytes < 0 {
		errs = append(errs, fmt.Errorf("query: Config.CacheBytes is negative (%d)", c.CacheBytes))
	}
	if c.Threads < 0 {
		errs = append(errs, fmt.Errorf("query: Config.Threads is negative (%d)", c.Threads))
	}
	return errors.Join(errs...)
}

// Engine runs read-only SQL over MinIODB tables with DuckDB. Safe for
// concurrent use.
type Engine struct {
	cfg    Config
	dir    string // absolute working directory (cache and spill below it)
	logger *slog.Logger
	db     *sql.DB
	cache  *Cache

	// viewCache remembers, per DuckDB connection, the definition of the
	// temporary view each table has there, so a query whose files and hot
	// rows did not change since the connection's last query reuses it
	// instead of binding it again.
	viewMu    sync.Mutex
	viewCache map[uint64]map[string]string

	trees  treeCache
	plans  planCache
	blooms bloomCache
	// aggregates are the names of DuckDB's aggregate functions.
	aggregates map[string]bool
}

// maxCachedConns bounds viewCache; past it the cache starts over.
const maxCachedConns = 64

func (e *Engine) cachedView(conn uint64, table string) string {
	e.viewMu.Lock()
	defer e.viewMu.Unlock()
	return e.viewCache[conn][table]
}

func (e *Engine) rememberViews(conn uint64, views map[string]string) {
	e.viewMu.Lock()
	defer e.viewMu.Unlock()
	if e.viewCache == nil || len(e.viewCache) >= maxCachedConns && e.viewCache[conn] == nil {
		e.viewCache = map[uint64]map[string]string{}
	}
	if e.viewCache[conn] == nil {
		e.viewCache[conn] = map[string]string{}
	}
	for t, v := range views {
		e.viewCache[conn][t] = v
	}
}

// Open starts an engine: an in-memory DuckDB locked down to read only the
// cache directory.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = 4 << 30
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	cache, err := newCache(filepath.Join(dir, "cache"), cfg.CacheBytes, cfg.Store)
	if err != nil {
		return nil, err
	}
	spill := filepath.Join(dir, "spill")
	if err := os.RemoveAll(spill); err != nil {
		return nil, fmt.Errorf("query: clear spill dir: %w", err)
	}
	if err := os.MkdirAll(spill, 0o755); err != nil {
		return nil, fmt.Errorf("query: create spill dir: %w", err)
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("query: open duckdb: %w", err)
	}
	db := sql.OpenDB(connector)
	settings := []string{
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		fmt.Sprintf("SET temp_directory = %s", quoteString(spill)),
		fmt.Sprintf("SET allowed_directories = [%s, %s]", quoteString(cache.Dir()+"/"), quoteString(spill+"/")),
		"SET enable_external_access = false",
		// Query semantics must not depend on the host: a TIMESTAMPTZ
		// literal compared with a TIMESTAMP column is converted in the
		// session time zone, which otherwise follows the process TZ.
		"SET TimeZone = 'UTC'",
		// A cached file's path names one download of one immutable
		// object, so its Parquet footer can be kept across queries: a
		// query over a few files otherwise spends most of its time
		// binding read_parquet, which reads every footer again.
		"SET parquet_metadata_cache = true",
	}
	if cfg.MemoryLimit != "" {
		settings = append(settings, fmt.Sprintf("SET memory_limit = %s", quoteString(cfg.MemoryLimit)))
	}
	if cfg.SpillLimit != "" {
		settings = append(settings, fmt.Sprintf("SET max_temp_directory_size = %s", quoteString(cfg.SpillLimit)))
	}
	if cfg.Threads > 0 {
		settings = append(settings, fmt.Sprintf("SET threads = %d", cfg.Threads))
	}
	settings = append(settings,
		"SET lock_configuration = true",
	)
	for _, s := range settings {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.Close()
			return nil, fmt.Errorf("query: configure duckdb (%s): %w", s, err)
		}
	}
	if err := registerHot(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	aggregates := map[string]bool{}
	rows, err := db.QueryContext(ctx, "SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE function_type = 'aggregate'")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("query: list aggregate functions: %w", err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			db.Close()
			return nil, fmt.Errorf("query: list aggregate functions: %w", err)
		}
		aggregates[name] = true
	}
	rows.Close()
	return &Engine{cfg: cfg, dir: dir, logger: logger, db: db, cache: cache, aggregates: aggregates}, nil
}

// Close releases DuckDB and waits for the cache's downloads.
func (e *Engine) Close() error {
	err := e.db.Close()
	e.cache.Close()
	return err
}

// Cache returns the engine's file cache.
func (e *Engine) Cache() *Cache { return e.cache }

// Column describes a result column.
type Column struct {
	Name string
	Type string // DuckDB's type name
}

// Rows is a query's result, read with Next and Values like sql.Rows.
// Close must be called.
type Rows struct {
	Columns []Column
	dir     string // the engine's directory, cut from error messages
	rows    *sql.Rows
	vals    []any
	ptrs    []any
	closeFn func() error
	closed  bool
}

// Next advances to the next row; false at the end or on error (see Err).
func (r *Rows) Next() bool { return r.rows.Next() }

// Values returns the current row's values. The slice is reused by the next
// call to Values.
func (r *Rows) Values() ([]any, error) {
	if err := r.rows.Scan(r.ptrs...); err != nil {
		return nil, fmt.Errorf("query: read row: %w", err)
	}
	return r.vals, nil
}

// Err returns the error that ended iteration, if any.
func (r *Rows) Err() error {
	if err := r.rows.Err(); err != nil {
		return wrapDuckDB(err, r.dir)
	}
	return nil
}

// Close ends the query and releases its files and connection.
func (r *Rows) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.rows.Close()
	return errors.Join(err, r.closeFn())
}

// Plan describes how a query was (or would be) run.
type Plan struct {
	// Mode is how the statement ran; Reason says why it was not
	// distributed (empty when it was).
	Mode   Mode
	Reason string
	// Distributed and gathered statements: the partial statement each
	// fragment ran, the final one the coordinator ran over the partials,
	// and one report per fragment attempt.
	Partial   string
	Final     string
	Fragments []FragmentPlan
	// Tables has one entry per relation the engine built: a table's
	// unpruned view (Ref -1), read by every reference that has no
	// predicates of its own, and a pruned view per reference that has.
	Tables []TablePlan
	// SQL is the statement DuckDB ran: the user's text with pruned
	// references renamed to their views.
	SQL string
}

// TablePlan says which data of a table one relation reads.
type TablePlan struct {
	Table        string
	Ref          int // index into Analysis.Refs of the pruned reference, or -1
	FilesTotal   int
	FilesRead    int
	BytesRead    int64
	BytesTotal   int64 // of all the table's files, before pruning
	HotRows      int64
	Predicates   []Predicate
	AppliedIndex uint64
}

// prunedViewName is the name of the view of reference i; a quoted
// identifier with a dot cannot collide with a MinIODB table name.
func prunedViewName(i int) string { return fmt.Sprintf("__miniodb.ref%d", i) }

// Query runs one read-only SELECT. The result reflects the catalog at one
// applied index at least as new as any write applied before the call.
func (e *Engine) Query(ctx context.Context, sqlText string) (*Rows, *Plan, error) {
	return e.QueryWith(ctx, sqlText, Options{})
}

// QueryWith is Query with options: an access check, pruning, and the
// cluster to distribute the statement over.
func (e *Engine) QueryWith(ctx context.Context, sqlText string, opts Options) (*Rows, *Plan, error) {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("query: connection: %w", err)
	}
	var cleanup []func()
	var plan *Plan
	fail := func(err error) (*Rows, *Plan, error) {
		for _, f := range slices.Backward(cleanup) {
			f()
		}
		conn.Close()
		if err == nil {
			return nil, plan, nil // PlanOnly
		}
		return nil, nil, err
	}
	root, err := e.trees.parse(ctx, conn, sqlText)
	if err != nil {
		return fail(err)
	}
	a, err := analyse(sqlText, root, e.cfg.Catalog.Exists)
	if err != nil {
		return fail(err)
	}
	if opts.Check != nil {
		if err := opts.Check(a.Tables); err != nil {
			return fail(err)
		}
	}
	tables := slices.Sorted(slices.Values(a.Tables))
	// One consistent cut of the tables: their files and hot rows at one
	// applied index. The hot rows are read from these views' batches
	// (miniodb_hot finds them in the context), so no later apply or flush
	// can change what this query sees.
	views := e.cfg.Catalog.Views(tables)
	ctx = withHot(ctx, views)
	connID, err := duckdb.ConnId(conn)
	if err != nil {
		return fail(fmt.Errorf("query: connection id: %w", err))
	}
	plan = &Plan{Mode: ModeSingle}
	auto := opts.Execution == "" || opts.Execution == "auto"
	// A statement over more files than half the cache holds runs through
	// fragments even on one node: they read the files in chunks, pinned
	// one chunk at a time (RunFragment), so the cache stays bounded.
	cacheHalf := e.cfg.CacheBytes / 2
	large := false
	if len(a.Refs) == 1 {
		if v, ok := views[a.Refs[0].Table]; ok {
			_, _, b := v.FileTotals()
			large = b > cacheHalf
		}
	}
	if opts.Exchange != nil && opts.Execution != string(ModeSingle) && !(auto && len(opts.Exchange.Nodes()) < 2 && !large) {
		p, err := e.distribute(ctx, conn, a, sqlText, views, opts.Execution)
		if err != nil {
			return fail(err)
		}
		plan.Reason = p.reason
		if p.mode != ModeSingle {
			files, bytes := e.prunedFiles(ctx, a.Refs[p.ref], views[p.table], opts.NoPruning)
			var preds []Predicate
			if len(files) < len(views[p.table].Files) {
				preds = a.Refs[p.ref].Predicates
			}
			streams := bytes > cacheHalf
			if auto && streams {
				plan.Reason = fmt.Sprintf("the statement reads %d bytes after pruning, more than half the file cache: its files stream through it in chunks", bytes)
			}
			tooLarge := ""
			limit := opts.BroadcastMaxBytes
			if limit == 0 {
				limit = DefaultBroadcastMaxBytes
			}
			for _, t := range p.broadcast {
				v := views[t]
				_, _, fb := v.FileTotals()
				_, hb := v.HotRows()
				if fb+hb > limit {
					tooLarge = fmt.Sprintf("the joined table %s holds %d bytes, more than the %d that are broadcast to every node", t, fb+hb, limit)
				}
			}
			switch {
			case tooLarge != "":
				plan.Reason = tooLarge
			case auto && p.mode != ModeDistributed && !streams:
			case auto && bytes < opts.DistributeMinBytes && !streams:
				plan.Reason = fmt.Sprintf("the statement reads %d bytes after pruning, less than the %d worth distributing", bytes, opts.DistributeMinBytes)
			case opts.PlanOnly:
				plan.Mode, plan.Partial, plan.Final, plan.SQL = p.mode, p.partial, p.final, p.final
				plan.Tables = append(plan.Tables, e.tablePlan(p.table, p.ref, views[p.table], files))
				plan.Tables[0].Predicates = preds
				plan.Fragments = assignFragments(opts.Exchange.Nodes(), files)
				return fail(nil)
			default:
				rows, done, err := e.runDistributed(ctx, conn, plan, p, views, files, opts.Exchange)
				if len(plan.Tables) > 0 {
					plan.Tables[0].Predicates = preds
				}
				if done != nil {
					cleanup = append(cleanup, done)
				}
				if err != nil {
					return fail(err)
				}
				return e.finish(rows, conn, cleanup, plan)
			}
		}
	}
	rels, runSQL, err := e.relations(ctx, a, views, sqlText, opts.NoPruning)
	if err != nil {
		return fail(err)
	}
	plan.SQL = runSQL
	if opts.PlanOnly {
		for _, rel := range rels {
			tp := e.tablePlan(rel.table, rel.ref, views[rel.table], rel.files)
			tp.Predicates = rel.preds
			plan.Tables = append(plan.Tables, tp)
		}
		return fail(nil)
	}
	for _, rel := range rels {
		tp, stmt, release, err := e.viewOf(ctx, rel, views[rel.table])
		if release != nil {
			cleanup = append(cleanup, release)
		}
		if err != nil {
			return fail(err)
		}
		if e.cachedView(connID, rel.name) != stmt {
			if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS %s", quoteIdent(rel.name), stmt)); err != nil {
				return fail(fmt.Errorf("query: create view of %s: %w", rel.table, scrubbed{e.scrub(err.Error()), err}))
			}
			e.rememberViews(connID, map[string]string{rel.name: stmt})
		}
		plan.Tables = append(plan.Tables, tp)
	}
	rows, err := conn.QueryContext(ctx, runSQL)
	if err != nil {
		return fail(wrapDuckDB(err, e.dir))
	}
	return e.finish(rows, conn, cleanup, plan)
}

// finish wraps a running statement's rows; closing them runs cleanup and
// returns the connection.
func (e *Engine) finish(rows *sql.Rows, conn *sql.Conn, cleanup []func(), plan *Plan) (*Rows, *Plan, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		for _, f := range slices.Backward(cleanup) {
			f()
		}
		conn.Close()
		return nil, nil, fmt.Errorf("query: column types: %w", err)
	}
	r := &Rows{rows: rows, dir: e.dir}
	r.vals = make([]any, len(types))
	r.ptrs = make([]any, len(types))
	for i, t := range types {
		r.Columns = append(r.Columns, Column{Name: t.Name(), Type: t.DatabaseTypeName()})
		r.ptrs[i] = &r.vals[i]
	}
	r.closeFn = func() error {
		for _, f := range slices.Backward(cleanup) {
			f()
		}
		return conn.Close()
	}
	return r, plan, nil
}

// relation is one view the engine builds for a query: a table's files
// (all of them, or those a reference's predicates may match) plus its hot
// rows.
type relation struct {
	name  string // the view's name
	table string
	ref   int // -1 for the unpruned view
	preds []Predicate
	files []*v1.DataFile
}

// relations decides the views a statement needs and rewrites the
// statement to use them. A reference with predicates that rule out some
// files gets a view of its own, and its table name in the text is
// replaced by that view (aliased to the name it was bound under, so
// qualified columns still resolve); every other reference reads the
// table's unpruned view, which is built only if some reference reads it.
func (e *Engine) relations(ctx context.Context, a *Analysis, views map[string]raftfsm.TableView, sqlText string, noPruning bool) ([]relation, string, error) {
	type edit struct {
		start, end int
		text       string
	}
	var rels []relation
	var edits []edit
	needFull := map[string]bool{}
	// A text position the tree names twice (syntax DuckDB expands) cannot
	// be renamed for one reference alone: such references read unpruned.
	at := map[int]int{}
	for _, ref := range a.Refs {
		at[ref.Start]++
	}
	for i, ref := range a.Refs {
		view, ok := views[ref.Table]
		if !ok {
			return nil, "", fmt.Errorf("%w: %q", ErrTableNotFound, ref.Table)
		}
		if e.cfg.NoPruning || noPruning || ref.Start < 0 || at[ref.Start] > 1 || len(ref.Predicates) == 0 {
			needFull[ref.Table] = true
			continue
		}
		types := map[string]v1.ColumnType{}
		for _, c := range view.Spec.Columns {
			types[strings.ToLower(c.Name)] = c.Type
		}
		files := pruneFiles(view, types, ref.Predicates)
		files = e.bloomPrune(ctx, files, idLookups(ref.Predicates, types))
		if len(files) == len(view.Files) {
			needFull[ref.Table] = true // nothing to prune: share the table's view
			continue
		}
		name := prunedViewName(i)
		rels = append(rels, relation{name: name, table: ref.Table, ref: i, preds: ref.Predicates, files: files})
		text := quoteIdent(name)
		if ref.Alias == "" {
			text += " AS " + quoteIdent(ref.Table)
		}
		edits = append(edits, edit{ref.Start, ref.End, text})
	}
	for _, t := range a.Tables {
		if needFull[t] {
			rels = append(rels, relation{name: t, table: t, ref: -1, files: views[t].Files})
		}
	}
	if len(edits) == 0 {
		return rels, sqlText, nil
	}
	slices.SortFunc(edits, func(x, y edit) int { return x.start - y.start })
	var b strings.Builder
	last := 0
	for _, ed := range edits {
		if ed.start < last {
			return nil, "", fmt.Errorf("query: overlapping table references at byte %d", ed.start)
		}
		b.WriteString(sqlText[last:ed.start])
		b.WriteString(ed.text)
		last = ed.end
	}
	b.WriteString(sqlText[last:])
	return rels, b.String(), nil
}

// viewOf returns the definition of the temporary view that stands for a
// relation: its files (downloaded and pinned until release) plus the
// table's hot rows.
func (e *Engine) viewOf(ctx context.Context, rel relation, view raftfsm.TableView) (TablePlan, string, func(), error) {
	tp := TablePlan{Table: rel.table, Ref: rel.ref, FilesTotal: len(view.Files), Predicates: rel.preds, AppliedIndex: view.AppliedIndex}
	_, _, tp.BytesTotal = view.FileTotals()
	tp.HotRows, _ = view.HotRows()
	files := rel.files
	tp.FilesRead = len(files)
	var releases []func()
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	// Files are read in groups of one schema, each group with its own
	// read_parquet, and the groups are combined with UNION ALL. One
	// read_parquet over files whose column types differ (union_by_name)
	// would be simpler, but DuckDB 1.5.6 then pushes a filter such as
	// "n > 1.5" into a file where n is BIGINT as "n > 2" and loses rows
	// (TestSQLLogic/schema_evolution.test shows it).
	// Files are also grouped by the deletes that apply to them (a suffix
	// of the table's tombstones, see raftfsm.Applies): a group's rows
	// that a tombstone matches are filtered out.
	type group struct {
		columns    map[string]bool
		idVarchar  bool
		tombstones []*v1.Tombstone
		paths      []string
	}
	var groups []*group
	byKey := map[string]*group{}
	var parts []string
	paths, rels, err := e.acquireAll(ctx, files)
	releases = rels
	if err != nil {
		return tp, "", release, err
	}
	for i, f := range files {
		path := paths[i]
		tp.BytesRead += f.SizeBytes
		first := len(view.Tombstones)
		for i, t := range view.Tombstones {
			if raftfsm.Applies(t, f) {
				first = i
				break
			}
		}
		key := fmt.Sprintf("%s/%d", schemaKey(f), first)
		g := byKey[key]
		if g == nil {
			g = &group{columns: map[string]bool{}, tombstones: view.Tombstones[first:]}
			if len(f.Columns) > 0 {
				for _, c := range f.Columns {
					g.columns[c.Name] = true
					g.idVarchar = g.idVarchar || c.Name == "id" && c.Type == v1.ColumnType_COLUMN_TYPE_VARCHAR
				}
			} else {
				for _, s := range f.Stats {
					g.columns[s.Name] = true
				}
				// Files of early versions name no types; ids were VARCHAR.
				g.idVarchar = g.columns["id"]
			}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.paths = append(g.paths, quoteString(path))
	}
	for _, g := range groups {
		var sel []string
		for _, c := range view.Spec.Columns {
			src := "NULL"
			if g.columns[c.Name] {
				src = quoteIdent(c.Name)
			}
			sel = append(sel, fmt.Sprintf("CAST(%s AS %s) AS %s", src, sqlType(c.Type), quoteIdent(c.Name)))
		}
		part := fmt.Sprintf("SELECT %s FROM read_parquet([%s])", strings.Join(sel, ", "), strings.Join(g.paths, ", "))
		if w := tombstoneFilter(g.tombstones, g.idVarchar, g.columns["ts"]); w != "" {
			part += " WHERE " + w
		}
		parts = append(parts, part)
	}
	// The hot rows join the union only when the view has some: read
	// from the query's views by miniodb_hot (see hot.go).
	switch {
	case tp.HotRows > 0:
		var sel []string
		for _, c := range view.Spec.Columns {
			sel = append(sel, fmt.Sprintf("CAST(%s AS %s) AS %s", quoteIdent(c.Name), sqlType(c.Type), quoteIdent(c.Name)))
		}
		parts = append(parts, fmt.Sprintf("SELECT %s FROM %s(%s)", strings.Join(sel, ", "), hotFunction, quoteString(rel.table)))
	case len(parts) == 0:
		// No rows at all: an empty relation with the table's columns.
		var sel []string
		for _, c := range view.Spec.Columns {
			sel = append(sel, fmt.Sprintf("CAST(NULL AS %s) AS %s", sqlType(c.Type), quoteIdent(c.Name)))
		}
		parts = append(parts, fmt.Sprintf("SELECT %s WHERE false", strings.Join(sel, ", ")))
	}
	return tp, strings.Join(parts, " UNION ALL "), release, nil
}

// tombstoneFilter returns the condition that keeps the rows no tombstone
// matches, over a file's own columns, or "" when none can match.
// coalesce: a NULL id never matches, and must not make NOT drop the row.
func tombstoneFilter(ts []*v1.Tombstone, hasID, hasTS bool) string {
	var matches []string
	for _, t := range ts {
		var conj []string
		if len(t.Ids) > 0 {
			if !hasID {
				continue // no VARCHAR id in these files: nothing matches
			}
			ids := make([]string, len(t.Ids))
			for i, id := range t.Ids {
				ids[i] = quoteString(id)
			}
			conj = append(conj, fmt.Sprintf(`"id" IN (%s)`, strings.Join(ids, ", ")))
		}
		if t.HasRange {
			if !hasTS {
				continue
			}
			conj = append(conj, fmt.Sprintf(`"ts" >= make_timestamp(%d) AND "ts" < make_timestamp(%d)`, t.FromMicros, t.ToMicros))
		}
		matches = append(matches, "("+strings.Join(conj, " AND ")+")")
	}
	if len(matches) == 0 {
		return ""
	}
	return "NOT coalesce(" + strings.Join(matches, " OR ") + ", false)"
}

// wrapDuckDB marks DuckDB's errors about the statement as invalid queries.
// The engine's directory is cut from messages: user SQL never sees the
// server's paths.
func wrapDuckDB(err error, dir string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var de *duckdb.Error
	if errors.As(err, &de) {
		switch de.Type {
		case duckdb.ErrorTypeParser, duckdb.ErrorTypeBinder, duckdb.ErrorTypeCatalog,
			duckdb.ErrorTypeConversion, duckdb.ErrorTypeInvalidInput, duckdb.ErrorTypeOutOfRange,
			duckdb.ErrorTypeDivideByZero, duckdb.ErrorTypeMismatchType, duckdb.ErrorTypeNotImplemented,
			duckdb.ErrorTypeInvalidType, duckdb.ErrorTypePermission, duckdb.ErrorTypeSyntax,
			duckdb.ErrorTypeExpression, duckdb.ErrorTypeParameterNotResolved, duckdb.ErrorTypeMissingExtension,
			duckdb.ErrorTypeAutoLoad:
			return fmt.Errorf("%w: %s", ErrInvalidQuery, scrubPath(de.Msg, dir))
		}
	}
	return fmt.Errorf("query: %w", err)
}

// scrubPath cuts the engine's directory from a message.
func scrubPath(msg, dir string) string {
	if dir == "" {
		return msg
	}
	return strings.ReplaceAll(strings.ReplaceAll(msg, dir+string(filepath.Separator), ""), dir, "")
}

func (e *Engine) scrub(msg string) string { return scrubPath(msg, e.dir) }

// scrubbed is an error whose message had paths cut; errors.Is and As still
// see the original.
type scrubbed struct {
	msg string
	err error
}

func (s scrubbed) Error() string { return s.msg }
func (s scrubbed) Unwrap() error { return s.err }

// schemaKey identifies the schema a file was written with; files without
// a recorded schema each get their own group.
func schemaKey(f *v1.DataFile) string {
	if len(f.Columns) == 0 {
		return "file:" + f.Key
	}
	var b strings.Builder
	for _, c := range f.Columns {
		fmt.Fprintf(&b, "%s:%d,", c.Name, c.Type)
	}
	return b.String()
}

// fetchParallelism bounds the downloads one query runs at once: a cold
// query over thousands of small files waits for round trips, not for
// bandwidth, when it fetches them one after another.
const fetchParallelism = 16

// acquireAll pins files in the cache, fetching missing ones in parallel,
// and returns their local paths in order and the releases of those it
// pinned (all of them unless err is set).
func (e *Engine) acquireAll(ctx context.Context, files []*v1.DataFile) ([]string, []func(), error) {
	paths := make([]string, len(files))
	rels := make([]func(), len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchParallelism)
	for i, f := range files {
		g.Go(func() error {
			path, rel, err := e.cache.Acquire(gctx, f.Key, f.SizeBytes)
			if err != nil {
				return err
			}
			paths[i], rels[i] = path, rel
			return nil
		})
	}
	err := g.Wait()
	var pinned []func()
	for _, r := range rels {
		if r != nil {
			pinned = append(pinned, r)
		}
	}
	return paths, pinned, err
}
