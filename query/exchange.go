package query

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// Exchange runs fragments on the cluster's nodes. The node package
// implements it: this node's own share runs in its engine (RunFragment),
// the others' over FragmentService.
type Exchange interface {
	// Nodes returns the nodes that may run fragments, this node first.
	Nodes() []string
	// Run runs a fragment on node and copies its result, a Parquet file,
	// to w.
	Run(ctx context.Context, node string, req *v1.RunFragmentRequest, w io.Writer) (*v1.FragmentStats, error)
	// Hold keeps the garbage collector from deleting the objects until
	// release is called.
	Hold(keys []string) (release func())
}

// Options are a query's settings.
type Options struct {
	// Check gets the MinIODB tables the statement reads (as the analysis
	// resolved them, CTEs aside) before anything is read; its error fails
	// the query.
	Check func(tables []string) error
	// Execution forces a mode ("" or "auto": distributed when the
	// statement decomposes and reads at least DistributeMinBytes).
	Execution string
	// NoPruning reads every file of the table.
	NoPruning bool
	// Exchange runs fragments on other nodes; nil runs single.
	Exchange Exchange
	// DistributeMinBytes is the data a statement must read (after
	// pruning) before "auto" distributes it.
	DistributeMinBytes int64
	// PlanOnly plans the statement and returns no rows (EXPLAIN): no
	// file is downloaded and no fragment runs.
	PlanOnly bool
	// BroadcastMaxBytes bounds a table joined to a distributed one (its
	// files and hot rows), which every fragment gets whole
	// (0: DefaultBroadcastMaxBytes).
	BroadcastMaxBytes int64
}

// DefaultBroadcastMaxBytes is the largest table a distributed statement
// joins by sending it to every node.
const DefaultBroadcastMaxBytes = 16 << 20

// tablePlan reports the files a relation reads.
func (e *Engine) tablePlan(table string, ref int, view raftfsm.TableView, files []*v1.DataFile) TablePlan {
	tp := TablePlan{Table: table, Ref: ref, FilesTotal: len(view.Files), FilesRead: len(files), AppliedIndex: view.AppliedIndex}
	_, _, tp.BytesTotal = view.FileTotals()
	tp.HotRows, _ = view.HotRows()
	for _, f := range files {
		tp.BytesRead += f.SizeBytes
	}
	return tp
}

// assignFragments reports where the files would run.
func assignFragments(nodes []string, files []*v1.DataFile) []FragmentPlan {
	by := map[string]*FragmentPlan{}
	var out []FragmentPlan
	for _, f := range files {
		n := rendezvous(nodes, f.Key)[0]
		if by[n] == nil {
			by[n] = &FragmentPlan{Node: n}
		}
		by[n].Files++
		by[n].Bytes += f.SizeBytes
	}
	for _, n := range nodes {
		if p := by[n]; p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// ErrFragment marks a fragment that failed on its node for a reason
// another node may not have (the node is down, unreachable, or its
// object store is): the engine runs the fragment's files elsewhere.
var ErrFragment = errors.New("query: fragment failed")

// distPlan is a statement's distributed plan, derived from its text and
// the table's schema alone, so it is cached by both.
type distPlan struct {
	mode   Mode
	reason string
	ref    int
	table  string
	// partial runs in fragments over fragmentRel; transport wraps it for
	// the wire (types Parquet does not keep exactly are cast); cols are
	// its columns with DuckDB's types.
	partial   string
	transport string
	cols      []Column
	// final runs on the coordinator over partialsRel.
	final string
	// broadcast are the small tables every fragment gets whole.
	broadcast []string
}

// transportTypes are the types a partial column may have: Parquet keeps
// their values exactly (HUGEINT after a cast to DECIMAL(38,0)).
var transportTypes = regexp.MustCompile(`^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\)|VARCHAR|BLOB|DATE|TIME|TIMESTAMP|TIMESTAMP WITH TIME ZONE|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS|INTERVAL|UUID|JSON)$`)

// travels reports whether a partial column of DuckDB type t keeps its
// values exactly through Parquet: a type of transportTypes, or a list or
// struct of them (top is false inside one, where HUGEINT, which needs a
// cast, is refused).
func travels(t string, top bool) bool {
	if elem, ok := strings.CutSuffix(t, "[]"); ok {
		return travels(elem, false)
	}
	if body, ok := strings.CutPrefix(t, "STRUCT("); ok {
		body, ok = strings.CutSuffix(body, ")")
		if !ok {
			return false
		}
		fields := splitFields(body)
		for _, f := range fields {
			_, typ, ok := cutFieldName(f)
			if !ok || !travels(typ, false) {
				return false
			}
		}
		return len(fields) > 0
	}
	if !top && (t == "HUGEINT" || t == "UHUGEINT") {
		return false
	}
	return transportTypes.MatchString(t)
}

// splitFields splits a STRUCT's field list at its top-level commas.
func splitFields(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted // a doubled quote toggles twice
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// cutFieldName splits `name TYPE` or `"quoted name" TYPE`.
func cutFieldName(f string) (name, typ string, ok bool) {
	if strings.HasPrefix(f, `"`) {
		for i := 1; i < len(f); i++ {
			if f[i] != '"' {
				continue
			}
			if i+1 < len(f) && f[i+1] == '"' {
				i++
				continue
			}
			return f[:i+1], strings.TrimSpace(f[i+1:]), i+1 < len(f)
		}
		return "", "", false
	}
	name, typ, ok = strings.Cut(f, " ")
	return name, strings.TrimSpace(typ), ok
}

// distribute returns the plan for statement a over view, planning (and
// binding, to learn the types) on a cache miss.
func (e *Engine) distribute(ctx context.Context, conn *sql.Conn, a *Analysis, sqlText string, views map[string]raftfsm.TableView, force string) (*distPlan, error) {
	if len(a.Refs) == 0 {
		return &distPlan{mode: ModeSingle, reason: "the statement reads no table"}, nil
	}
	key := force + "\x00" + sqlText
	columns := map[string]map[string]bool{}
	for _, t := range slices.Sorted(slices.Values(a.Tables)) {
		view, ok := views[t]
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrTableNotFound, t)
		}
		key += "\x00" + t + ":" + schemaFingerprint(view.Spec.Columns)
		columns[t] = lowerSet(view.Spec.Columns)
	}
	if p := e.plans.get(key); p != nil {
		return p, nil
	}
	sk := planSkeleton(a, columns, e.isAggregate)
	gatherable := len(a.Refs) == 1 && sk.mode != ModeSingle
	if force == string(ModeGathered) && sk.mode == ModeDistributed && gatherable {
		sk = skeleton{mode: ModeGathered, reason: "gathered on request", ref: 0, columns: referencedColumns(a.Root, columns[a.Refs[0].Table])}
	}
	p, err := e.bindPlan(ctx, conn, a, sqlText, views, sk)
	if err != nil {
		return nil, err
	}
	if p.mode == ModeDistributed && p.reason != "" {
		// The distributed plan did not bind to the statement's types:
		// gather instead (a join runs single).
		reason := p.reason
		if !gatherable {
			p = &distPlan{mode: ModeSingle}
		} else {
			sk = skeleton{mode: ModeGathered, ref: 0, columns: referencedColumns(a.Root, columns[a.Refs[0].Table])}
			if p, err = e.bindPlan(ctx, conn, a, sqlText, views, sk); err != nil {
				return nil, err
			}
		}
		p.reason = reason
	}
	e.plans.put(key, p)
	return p, nil
}

func schemaFingerprint(cols []*v1.Column) string {
	var b strings.Builder
	for _, c := range cols {
		fmt.Fprintf(&b, "%s:%d,", c.Name, c.Type)
	}
	return b.String()
}

// bindPlan turns a skeleton into SQL and checks it with DuckDB over empty
// relations of the same types: the final statement over the partials must
// have the original statement's column names and types, or the plan is not
// used (reason says why; a statement that does not bind at all fails here
// with DuckDB's error, as it would when run).
func (e *Engine) bindPlan(ctx context.Context, conn *sql.Conn, a *Analysis, sqlText string, views map[string]raftfsm.TableView, sk skeleton) (*distPlan, error) {
	p := &distPlan{mode: sk.mode, reason: sk.reason, ref: sk.ref, broadcast: sk.broadcast}
	if sk.mode == ModeSingle {
		return p, nil
	}
	ref := a.Refs[sk.ref]
	p.table = ref.Table
	view := views[ref.Table]
	binding := ref.Alias
	if binding == "" {
		binding = ref.Table
	}
	emptyOf := func(t string) string { return "__miniodb.empty." + t }
	empty := emptyOf(ref.Table)
	for _, t := range a.Tables {
		var sel []string
		for _, c := range views[t].Spec.Columns {
			sel = append(sel, fmt.Sprintf("CAST(NULL AS %s) AS %s", sqlType(c.Type), quoteIdent(c.Name)))
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS SELECT %s WHERE false", quoteIdent(emptyOf(t)), strings.Join(sel, ", "))); err != nil {
			return nil, fmt.Errorf("query: plan: %w", err)
		}
	}
	renamed, err := renameRefs(sqlText, a.Refs, func(r TableRef) string { return emptyOf(r.Table) })
	if err != nil {
		return &distPlan{mode: ModeSingle, reason: err.Error()}, nil
	}
	orig, err := describe(ctx, conn, renamed)
	if err != nil {
		// Running it single reports the statement's own error, if it has
		// one (the renamed reference may be what fails, as in DESCRIBE).
		return &distPlan{mode: ModeSingle, reason: "the statement does not bind over a renamed table: " + e.scrub(err.Error())}, nil
	}

	var partialNames []string
	switch {
	case sk.mode == ModeGathered:
		var cols []string
		for _, c := range view.Spec.Columns {
			if slices.Contains(sk.columns, strings.ToLower(c.Name)) {
				cols = append(cols, quoteIdent(c.Name))
				partialNames = append(partialNames, c.Name)
			}
		}
		if len(cols) == 0 {
			cols = []string{"1 AS __one"}
			partialNames = []string{"__one"}
		}
		p.partial = fmt.Sprintf("SELECT %s FROM %s AS %s", strings.Join(cols, ", "), quoteIdent(fragmentRel), quoteIdent(binding))
		if ref.where != nil && foreignColumn(ref.where, binding, lowerSet(view.Spec.Columns)) == "" {
			w, err := e.deserializeExpr(ctx, conn, ref.where)
			if err != nil {
				return nil, err
			}
			p.partial += " WHERE " + w
		}
		if p.final, err = renameRefs(sqlText, []TableRef{ref}, func(TableRef) string { return partialsRel }); err != nil {
			return nil, fmt.Errorf("query: plan: %w", err)
		}
	case sk.outer != nil:
		// Aggregates: the outer statement's columns get the original's
		// names, so the answer is named as DuckDB names it.
		items := asList(sk.outer["select_list"])
		if len(items) != len(orig) {
			p.reason = "the select list does not map one to one onto the result"
			return p, nil
		}
		for i, it := range items {
			items[i] = withAlias(asMap(it), orig[i].Name)
		}
		for i := 1; i <= sk.keys; i++ {
			partialNames = append(partialNames, fmt.Sprintf("__k%d", i))
		}
		for i := 1; i <= sk.dkeys; i++ {
			partialNames = append(partialNames, fmt.Sprintf("__d%d", i))
		}
		for i := 1; i <= sk.aggs; i++ {
			partialNames = append(partialNames, fmt.Sprintf("__a%d", i))
		}
		stmts, err := e.deserialize(ctx, conn, sk.partial, sk.outer)
		if err != nil {
			return nil, err
		}
		p.partial = stmts[0]
		var keys, inner []string
		for i := 1; i <= sk.keys; i++ {
			keys = append(keys, quoteIdent(fmt.Sprintf("__k%d", i)))
		}
		inner = append(inner, keys...)
		for i, m := range sk.merges {
			inner = append(inner, fmt.Sprintf("%s AS %s", m, quoteIdent(fmt.Sprintf("__m%d", i+1))))
		}
		if len(inner) == 0 {
			inner = []string{"count(*) AS __m0"}
		}
		src := quoteIdent(partialsRel)
		if len(sk.windows) > 0 {
			var ws []string
			for i, w := range sk.windows {
				ws = append(ws, fmt.Sprintf("%s AS %s", w, quoteIdent(fmt.Sprintf("__g%d", i+1))))
			}
			part := ""
			if len(keys) > 0 {
				part = "PARTITION BY " + strings.Join(keys, ", ")
			}
			src = fmt.Sprintf("(SELECT *, %s FROM %s WINDOW __w AS (%s)) AS __src", strings.Join(ws, ", "), src, part)
		}
		merged := fmt.Sprintf("SELECT %s FROM %s", strings.Join(inner, ", "), src)
		if sk.groupBy != "" {
			merged += " GROUP BY " + sk.groupBy
		}
		p.final = fmt.Sprintf("WITH %s AS (%s) %s", quoteIdent(mergedRel), merged, stmts[1])
	default:
		// Rows: the partial's columns are renamed by position (a * has
		// expanded by now), the final selects them under the original
		// names.
		for i := range orig {
			partialNames = append(partialNames, fmt.Sprintf("__c%d", i+1))
		}
		for i := 1; i <= sk.extraOrder; i++ {
			partialNames = append(partialNames, fmt.Sprintf("__o%d", i))
		}
		for _, o := range sk.order {
			var i int
			if _, err := fmt.Sscanf(o, `"__c%d"`, &i); err == nil && i > len(orig) {
				return nil, fmt.Errorf("%w: ORDER BY position %d is not in the select list", ErrInvalidQuery, i)
			}
		}
		stmts, err := e.deserialize(ctx, conn, sk.partial)
		if err != nil {
			return nil, err
		}
		p.partial = stmts[0]
		var out []string
		for i, c := range orig {
			out = append(out, fmt.Sprintf("%s AS %s", quoteIdent(fmt.Sprintf("__c%d", i+1)), quoteIdent(c.Name)))
		}
		final := "SELECT "
		if sk.distinct {
			final += "DISTINCT "
		}
		final += strings.Join(out, ", ") + " FROM " + quoteIdent(partialsRel)
		if len(sk.order) > 0 {
			final += " ORDER BY " + strings.Join(sk.order, ", ")
		}
		if sk.limit >= 0 {
			final += fmt.Sprintf(" LIMIT %d", sk.limit)
		}
		if sk.offset >= 0 {
			final += fmt.Sprintf(" OFFSET %d", sk.offset)
		}
		p.final = final
	}
	// The partial's columns get fixed names (by position: a * expands
	// only when bound), and the partial is bound to learn their types.
	named := make([]string, len(partialNames))
	for i, n := range partialNames {
		named[i] = quoteIdent(n)
	}
	p.partial = fmt.Sprintf("SELECT * FROM (%s) AS __p(%s)", p.partial, strings.Join(named, ", "))
	onEmpty := strings.ReplaceAll(p.partial, quoteIdent(fragmentRel), quoteIdent(empty))
	for _, t := range p.broadcast {
		onEmpty = strings.ReplaceAll(onEmpty, quoteIdent(broadcastRel(t)), quoteIdent(emptyOf(t)))
	}
	bound, err := describe(ctx, conn, onEmpty)
	if err != nil {
		if sk.mode == ModeDistributed {
			p.reason = "the partial statement does not bind: " + e.scrub(err.Error())
			return p, nil
		}
		return nil, fmt.Errorf("query: plan gathered statement: %w", wrapDuckDB(err, e.dir))
	}
	if len(bound) != len(partialNames) {
		p.reason = "the partial statement's columns do not match the plan"
		return p, nil
	}
	var tsel, esel []string
	for _, c := range bound {
		if !travels(c.Type, true) {
			p.reason = fmt.Sprintf("partial column type %s does not travel exactly", c.Type)
			return p, nil
		}
		id := quoteIdent(c.Name)
		switch c.Type {
		case "HUGEINT", "UHUGEINT":
			tsel = append(tsel, fmt.Sprintf("CAST(%s AS DECIMAL(38,0)) AS %s", id, id))
		default:
			tsel = append(tsel, id)
		}
		esel = append(esel, fmt.Sprintf("CAST(NULL AS %s) AS %s", c.Type, id))
	}
	p.cols = bound
	p.transport = fmt.Sprintf("SELECT %s FROM (%s)", strings.Join(tsel, ", "), p.partial)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS SELECT %s WHERE false", quoteIdent(partialsRel), strings.Join(esel, ", "))); err != nil {
		return nil, fmt.Errorf("query: plan: %w", err)
	}
	final, err := describe(ctx, conn, p.final)
	if err != nil {
		if sk.mode == ModeDistributed {
			p.reason = "the final statement does not bind: " + e.scrub(err.Error())
			return p, nil
		}
		return nil, fmt.Errorf("query: plan gathered statement: %w", wrapDuckDB(err, e.dir))
	}
	if !slices.Equal(final, orig) {
		p.reason = fmt.Sprintf("the merged result's columns %v differ from the statement's %v", final, orig)
		if sk.mode != ModeDistributed {
			return nil, fmt.Errorf("query: plan gathered statement: %s", p.reason)
		}
		return p, nil
	}
	return p, nil
}

// renameRefs returns sqlText with every table reference renamed to the
// relation rel gives it, each bound under its own name.
func renameRefs(sqlText string, refs []TableRef, rel func(TableRef) string) (string, error) {
	sorted := slices.Clone(refs)
	slices.SortFunc(sorted, func(x, y TableRef) int { return x.Start - y.Start })
	var b strings.Builder
	last := 0
	for _, r := range sorted {
		if r.Start < last {
			return "", fmt.Errorf("table references overlap at byte %d", r.Start)
		}
		text := quoteIdent(rel(r))
		if r.Alias == "" {
			text += " AS " + quoteIdent(r.Table)
		}
		b.WriteString(sqlText[last:r.Start])
		b.WriteString(text)
		last = r.End
	}
	b.WriteString(sqlText[last:])
	return b.String(), nil
}

func lowerSet(cols []*v1.Column) map[string]bool {
	m := map[string]bool{}
	for _, c := range cols {
		m[strings.ToLower(c.Name)] = true
	}
	return m
}

// describe returns the columns statement would produce.
func describe(ctx context.Context, conn *sql.Conn, statement string) ([]Column, error) {
	rows, err := conn.QueryContext(ctx, "DESCRIBE "+statement)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var name, typ string
		var null, key, def, extra sql.NullString
		if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
			return nil, err
		}
		cols = append(cols, Column{Name: name, Type: typ})
	}
	return cols, rows.Err()
}

// deserialize turns SELECT nodes back into SQL with DuckDB's own
// json_deserialize_sql, in one round trip.
func (e *Engine) deserialize(ctx context.Context, conn *sql.Conn, nodes ...map[string]any) ([]string, error) {
	var parts []string
	for _, n := range nodes {
		b, err := json.Marshal(map[string]any{"error": false, "statements": []any{map[string]any{"node": n, "named_param_map": []any{}}}})
		if err != nil {
			return nil, fmt.Errorf("query: plan: %w", err)
		}
		parts = append(parts, "json_deserialize_sql("+quoteString(string(b))+"::JSON)")
	}
	out := make([]string, len(nodes))
	ptrs := make([]any, len(nodes))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := conn.QueryRowContext(ctx, "SELECT "+strings.Join(parts, ", ")).Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("query: plan: %w", err)
	}
	for i, s := range out {
		out[i] = strings.TrimSuffix(strings.TrimSpace(s), ";")
	}
	return out, nil
}

// deserializeExpr returns an expression's SQL.
func (e *Engine) deserializeExpr(ctx context.Context, conn *sql.Conn, expr map[string]any) (string, error) {
	node := map[string]any{
		"type": "SELECT_NODE", "modifiers": []any{}, "cte_map": map[string]any{"map": []any{}},
		"select_list": []any{withAlias(expr, "")}, "from_table": map[string]any{"type": "EMPTY", "alias": "", "sample": nil},
		"where_clause": nil, "group_expressions": []any{}, "group_sets": []any{},
		"aggregate_handling": "STANDARD_HANDLING", "having": nil, "sample": nil, "qualify": nil,
	}
	s, err := e.deserialize(ctx, conn, node)
	if err != nil {
		return "", err
	}
	text, ok := strings.CutPrefix(s[0], "SELECT ")
	if !ok {
		return "", fmt.Errorf("query: plan: unexpected expression text %q", s[0])
	}
	return "(" + text + ")", nil
}

// isAggregate reports whether DuckDB knows name as an aggregate function.
func (e *Engine) isAggregate(name string) bool { return e.aggregates[name] }

// rendezvous orders nodes for an object key: highest hash first. Each
// file goes to its first live node, so a node's cache keeps the files it
// read last time, and when a node leaves only its files move.
func rendezvous(nodes []string, key string) []string {
	type scored struct {
		node  string
		score uint64
	}
	s := make([]scored, len(nodes))
	for i, n := range nodes {
		h := fnv.New64a()
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(key))
		s[i] = scored{n, h.Sum64()}
	}
	slices.SortFunc(s, func(a, b scored) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		return strings.Compare(a.node, b.node)
	})
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x.node
	}
	return out
}

// FragmentPlan reports one fragment of a distributed query.
type FragmentPlan struct {
	Node     string
	Files    int
	Bytes    int64
	Stats    *v1.FragmentStats
	Attempts int
	Error    string // set when this attempt failed and the files moved
}

// runFragments runs the plan's partial over files on the exchange's nodes
// and returns the result files (in the engine's spill directory), their
// per-fragment reports, and a cleanup that removes the files.
func (e *Engine) runFragments(ctx context.Context, ex Exchange, p *distPlan, view raftfsm.TableView, files []*v1.DataFile, broadcasts []*v1.Broadcast) ([]string, []FragmentPlan, func(), error) {
	nodes := ex.Nodes()
	var mu sync.Mutex
	var outs []string
	var reports []FragmentPlan
	cleanup := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, o := range outs {
			os.Remove(o)
		}
	}
	failed := map[string]bool{}
	pending := files
	for attempt := 1; len(pending) > 0; attempt++ {
		// Each file goes to the first node in its rendezvous order that
		// has not failed this query; this node never counts as failed
		// (its errors end the query).
		assign := map[string][]*v1.DataFile{}
		var order []string
		for _, f := range pending {
			var target string
			for _, n := range rendezvous(nodes, f.Key) {
				if !failed[n] {
					target = n
					break
				}
			}
			if target == "" {
				target = nodes[0]
			}
			if assign[target] == nil {
				order = append(order, target)
			}
			assign[target] = append(assign[target], f)
		}
		pending = nil
		var wg sync.WaitGroup
		var firstErr error
		for _, node := range order {
			fs := assign[node]
			req := &v1.RunFragmentRequest{Table: view.Spec.Name, Columns: view.Spec.Columns, Files: fs, Tombstones: view.Tombstones, Sql: p.transport, Broadcasts: broadcasts}
			out := filepath.Join(e.dir, "spill", "fragment-"+randomID()+".parquet")
			wg.Go(func() {
				rep := FragmentPlan{Node: node, Files: len(fs), Attempts: attempt}
				for _, f := range fs {
					rep.Bytes += f.SizeBytes
				}
				stats, err := e.fetchFragment(ctx, ex, node, req, out)
				mu.Lock()
				defer mu.Unlock()
				outs = append(outs, out)
				rep.Stats = stats
				if err != nil {
					rep.Error = e.scrub(err.Error())
					if errors.Is(err, ErrFragment) && node != nodes[0] && ctx.Err() == nil {
						failed[node] = true
						pending = append(pending, fs...)
					} else if firstErr == nil {
						firstErr = err
					}
				}
				reports = append(reports, rep)
			})
		}
		wg.Wait()
		if firstErr != nil {
			cleanup()
			return nil, reports, func() {}, firstErr
		}
		if attempt > len(nodes)+1 {
			cleanup()
			return nil, reports, func() {}, fmt.Errorf("query: no node could read the files of a fragment (%d attempts)", attempt)
		}
	}
	var good []string
	mu.Lock()
	for _, o := range outs {
		if st, err := os.Stat(o); err == nil && st.Size() > 0 {
			good = append(good, o)
		}
	}
	mu.Unlock()
	return good, reports, cleanup, nil
}

// fetchFragment runs one fragment and writes its result to out; a failed
// attempt leaves no file.
func (e *Engine) fetchFragment(ctx context.Context, ex Exchange, node string, req *v1.RunFragmentRequest, out string) (*v1.FragmentStats, error) {
	f, err := os.Create(out)
	if err != nil {
		return nil, fmt.Errorf("query: fragment result file: %w", err)
	}
	stats, err := ex.Run(ctx, node, req, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("query: fragment result file: %w", cerr)
	}
	if err != nil {
		os.Remove(out)
		return stats, err
	}
	return stats, nil
}

func randomID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
	}
	return hex.EncodeToString(b[:])
}

// RunFragment runs a fragment of a distributed query on this node: it
// reads the listed files through the cache, runs the partial statement
// over them and writes the result, a Parquet file, to w.
func (e *Engine) RunFragment(ctx context.Context, req *v1.RunFragmentRequest, w io.Writer) (*v1.FragmentStats, error) {
	start := time.Now()
	stats := &v1.FragmentStats{Files: int64(len(req.Files))}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return stats, fmt.Errorf("query: connection: %w", err)
	}
	defer conn.Close()
	for _, f := range req.Files {
		if e.cache.Has(f.Key) {
			stats.CacheHits++
		}
	}
	// Files larger together than half the cache are read in chunks, each
	// chunk's files pinned only while its partial runs, so the cache
	// stays bounded however much the fragment reads: partials of
	// chunks merge like partials of nodes.
	chunks := chunkFiles(req.Files, e.cfg.CacheBytes/2)
	stats.Chunks = int64(len(chunks))
	for _, b := range req.Broadcasts {
		path := filepath.Join(e.dir, "spill", "broadcast-"+randomID()+".parquet")
		if err := os.WriteFile(path, b.Parquet, 0o600); err != nil {
			return stats, fmt.Errorf("%w: broadcast %s: %w", ErrFragment, b.Table, err)
		}
		defer os.Remove(path)
		var sel []string
		for _, c := range b.Columns {
			sel = append(sel, fmt.Sprintf("CAST(%s AS %s) AS %s", quoteIdent(c.Name), sqlType(c.Type), quoteIdent(c.Name)))
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS SELECT %s FROM read_parquet(%s)",
			quoteIdent(broadcastRel(b.Table)), strings.Join(sel, ", "), quoteString(path))); err != nil {
			return stats, fmt.Errorf("query: broadcast view of %s: %w", b.Table, scrubbed{e.scrub(err.Error()), err})
		}
		defer conn.ExecContext(context.Background(), "DROP VIEW IF EXISTS "+quoteIdent(broadcastRel(b.Table)))
	}
	view := raftfsm.TableView{Spec: &v1.TableSpec{Name: req.Table, Columns: req.Columns}, Files: req.Files, Tombstones: req.Tombstones}
	defer conn.ExecContext(context.Background(), "DROP VIEW IF EXISTS "+quoteIdent(fragmentRel))
	var outs []string
	defer func() {
		for _, o := range outs {
			os.Remove(o)
		}
	}()
	for _, files := range chunks {
		out := filepath.Join(e.dir, "spill", "out-"+randomID()+".parquet")
		outs = append(outs, out)
		rows, bytes, err := e.runChunk(ctx, conn, req, view, files, out)
		stats.BytesRead += bytes
		stats.RowsOut += rows
		if err != nil {
			return stats, err
		}
	}
	out := outs[0]
	if len(outs) > 1 {
		var paths []string
		for _, o := range outs {
			paths = append(paths, quoteString(o))
		}
		out = filepath.Join(e.dir, "spill", "out-"+randomID()+".parquet")
		outs = append(outs, out)
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("COPY (SELECT * FROM read_parquet([%s])) TO %s (FORMAT parquet)", strings.Join(paths, ", "), quoteString(out))); err != nil {
			return stats, fmt.Errorf("query: combine the fragment's chunks: %w", wrapDuckDB(err, e.dir))
		}
	}
	f, err := os.Open(out)
	if err != nil {
		return stats, fmt.Errorf("query: fragment result: %w", err)
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	stats.BytesOut = n
	stats.Micros = time.Since(start).Microseconds()
	if err != nil {
		return stats, fmt.Errorf("%w: send result: %w", ErrFragment, err)
	}
	return stats, nil
}

// runChunk runs the fragment's partial over files (pinned until it ends)
// into the Parquet file out.
func (e *Engine) runChunk(ctx context.Context, conn *sql.Conn, req *v1.RunFragmentRequest, view raftfsm.TableView, files []*v1.DataFile, out string) (rows, bytes int64, err error) {
	tp, stmt, release, err := e.viewOf(ctx, relation{name: fragmentRel, table: req.Table, ref: -1, files: files}, view)
	if release != nil {
		defer release()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrFragment, err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS %s", quoteIdent(fragmentRel), stmt)); err != nil {
		return 0, tp.BytesRead, fmt.Errorf("query: fragment view: %w", scrubbed{e.scrub(err.Error()), err})
	}
	if err := conn.QueryRowContext(ctx, fmt.Sprintf("COPY (%s) TO %s (FORMAT parquet)", req.Sql, quoteString(out))).Scan(&rows); err != nil {
		return 0, tp.BytesRead, wrapDuckDB(err, e.dir)
	}
	return rows, tp.BytesRead, nil
}

// chunkFiles splits files into runs of at most budget bytes (a file
// larger than the budget is a run of its own); no files is one empty run.
func chunkFiles(files []*v1.DataFile, budget int64) [][]*v1.DataFile {
	var out [][]*v1.DataFile
	var cur []*v1.DataFile
	var size int64
	for _, f := range files {
		if len(cur) > 0 && size+f.SizeBytes > budget {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, f)
		size += f.SizeBytes
	}
	if len(cur) > 0 || len(out) == 0 {
		out = append(out, cur)
	}
	return out
}

// prunedFiles returns the files of view that reference ref may read, and
// their bytes.
func (e *Engine) prunedFiles(ctx context.Context, ref TableRef, view raftfsm.TableView, noPruning bool) ([]*v1.DataFile, int64) {
	files := view.Files
	if !e.cfg.NoPruning && !noPruning && len(ref.Predicates) > 0 {
		types := map[string]v1.ColumnType{}
		for _, c := range view.Spec.Columns {
			types[strings.ToLower(c.Name)] = c.Type
		}
		files = pruneFiles(view, types, ref.Predicates)
		files = e.bloomPrune(ctx, files, idLookups(ref.Predicates, types))
	}
	var bytes int64
	for _, f := range files {
		bytes += f.SizeBytes
	}
	return files, bytes
}

// runDistributed runs plan p: the fragments over files on the exchange's
// nodes, the partial over the hot rows here (exactly the hot rows of
// view, read from its batches), and the final statement over
// all partials. done removes the fragments' results and releases the
// files' hold.
func (e *Engine) runDistributed(ctx context.Context, conn *sql.Conn, plan *Plan, p *distPlan, views map[string]raftfsm.TableView, files []*v1.DataFile, ex Exchange) (*sql.Rows, func(), error) {
	view := views[p.table]
	plan.Mode, plan.Partial, plan.Final, plan.SQL = p.mode, p.partial, p.final, p.final
	plan.Tables = append(plan.Tables, e.tablePlan(p.table, p.ref, view, files))
	keys := make([]string, len(files))
	for i, f := range files {
		keys[i] = f.Key
	}
	release := ex.Hold(keys)
	var releases []func()
	done := func() {
		for _, r := range releases {
			r()
		}
		release()
	}
	// The joined small tables, whole, at the same index as the files and
	// hot rows: a view of each here (the hot partial reads it), and its
	// rows as one Parquet file for the fragments.
	var broadcasts []*v1.Broadcast
	for _, t := range p.broadcast {
		bv := views[t]
		tp, stmt, rel, err := e.viewOf(ctx, relation{name: broadcastRel(t), table: t, ref: -1, files: bv.Files}, bv)
		if rel != nil {
			releases = append(releases, rel)
		}
		if err != nil {
			return nil, done, err
		}
		plan.Tables = append(plan.Tables, tp)
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS %s", quoteIdent(broadcastRel(t)), stmt)); err != nil {
			return nil, done, fmt.Errorf("query: broadcast view of %s: %w", t, scrubbed{e.scrub(err.Error()), err})
		}
		out := filepath.Join(e.dir, "spill", "broadcast-"+randomID()+".parquet")
		_, err = conn.ExecContext(ctx, fmt.Sprintf("COPY (SELECT * FROM %s) TO %s (FORMAT parquet)", quoteIdent(broadcastRel(t)), quoteString(out)))
		var data []byte
		if err == nil {
			data, err = os.ReadFile(out)
		}
		os.Remove(out)
		if err != nil {
			return nil, done, fmt.Errorf("query: broadcast %s: %w", t, wrapDuckDB(err, e.dir))
		}
		broadcasts = append(broadcasts, &v1.Broadcast{Table: t, Columns: bv.Spec.Columns, Parquet: data})
	}
	outs, reports, removeOuts, err := e.runFragments(ctx, ex, p, view, files, broadcasts)
	plan.Fragments = reports
	releases = append(releases, removeOuts)
	if err != nil {
		return nil, done, err
	}
	// The hot rows: the same partial, here, over a view of the hot rows
	// alone.
	_, hot, rel, err := e.viewOf(ctx, relation{name: fragmentRel, table: p.table, ref: -1}, view)
	if rel != nil {
		rel()
	}
	if err != nil {
		return nil, done, err
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS %s", quoteIdent(fragmentRel), hot)); err != nil {
		return nil, done, fmt.Errorf("query: hot rows view: %w", err)
	}
	parts := []string{p.partial}
	if len(outs) > 0 {
		var sel, paths []string
		for _, c := range p.cols {
			sel = append(sel, fmt.Sprintf("CAST(%s AS %s) AS %s", quoteIdent(c.Name), c.Type, quoteIdent(c.Name)))
		}
		for _, o := range outs {
			paths = append(paths, quoteString(o))
		}
		parts = append(parts, fmt.Sprintf("SELECT %s FROM read_parquet([%s])", strings.Join(sel, ", "), strings.Join(paths, ", ")))
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("CREATE OR REPLACE TEMP VIEW %s AS %s", quoteIdent(partialsRel), strings.Join(parts, " UNION ALL "))); err != nil {
		return nil, done, fmt.Errorf("query: partials view: %w", scrubbed{e.scrub(err.Error()), err})
	}
	rows, err := conn.QueryContext(ctx, p.final)
	if err != nil {
		return nil, done, wrapDuckDB(err, e.dir)
	}
	return rows, done, nil
}
