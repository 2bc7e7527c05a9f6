package query

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Mode is how a statement runs across the cluster.
type Mode string

// Execution modes.
const (
	// ModeSingle: the coordinator runs the statement alone, reading every
	// file itself (the only mode of a one-node cluster).
	ModeSingle Mode = "single"
	// ModeDistributed: every node runs a partial query (partial aggregates,
	// a per-node top-k, a per-node DISTINCT, or a filtered projection)
	// over its share of the files; the coordinator merges the partials.
	ModeDistributed Mode = "distributed"
	// ModeGathered: every node filters and projects its share of the
	// files; the coordinator runs the whole statement over the rows.
	ModeGathered Mode = "gathered"
)

// Relation names of a distributed plan. A quoted identifier with a dot
// cannot be a MinIODB table name, and the analyser refuses CTEs whose
// names start with __miniodb, so none of these can be user relations.
const (
	fragmentRel = "__miniodb.fragment" // the files a fragment reads (and the coordinator's hot rows)
	partialsRel = "__miniodb.partials" // every fragment's output, on the coordinator
	mergedRel   = "__miniodb.merged"   // partial aggregates merged per group
)

// skeleton is the part of a distributed plan derived from the parse tree
// alone, before DuckDB turns trees back into SQL and binds them.
type skeleton struct {
	mode   Mode
	reason string // why the statement is not distributed (mode != distributed)
	ref    int    // index into Analysis.Refs of the table reference that is distributed
	// broadcast are the small tables the statement joins the distributed
	// one with: every fragment gets all their rows.
	broadcast []string

	// partial is the statement each fragment runs over fragmentRel, as a
	// parse tree (json_deserialize_sql turns it into SQL).
	partial map[string]any
	// outer (aggregates) is the final statement over mergedRel, as a parse
	// tree; merges are the merged aggregates, in partial-column terms.
	outer  map[string]any
	keys   int      // group keys __k1..__kN of the partial
	dkeys  int      // keys added for DISTINCT aggregates, __d1..__dN
	aggs   int      // partial aggregates __a1..__aN
	merges []string // the merged aggregates' SQL, __m1..__mN, over partialsRel
	// groupBy is the merge's GROUP BY clause over the keys: the keys, or
	// the statement's grouping sets ("" for one global group).
	groupBy string
	// windows are columns the merge needs per group before it
	// aggregates (the group means of variances), __g1..__gN.
	windows []string
	// rows (no aggregates): extra ORDER BY columns __o1..__oN after the
	// select list's; order is the final ORDER BY over __c/__o columns;
	// limit and offset the statement's (-1: none); distinct as written.
	extraOrder int
	order      []string
	limit      int64
	offset     int64
	distinct   bool
	// gathered: the table columns the statement may read.
	columns []string
}

// decomposable are the aggregates whose partial results merge exactly,
// by function name: how the partial computes them and how the merge
// combines the partials.
var decomposable = map[string]string{
	"count_star": "count", "count": "count",
	"sum": "same", "min": "same", "max": "same",
	"avg": "avg", "mean": "avg",
	"bool_and": "same", "bool_or": "same",
	"bit_and": "same", "bit_or": "same", "bit_xor": "same",
	"arg_min": "argmin", "argmin": "argmin", "min_by": "argmin",
	"arg_max": "argmax", "argmax": "argmax", "max_by": "argmax",
	"var_pop": "var", "var_samp": "var", "variance": "var",
	"stddev_pop": "var", "stddev_samp": "var", "stddev": "var",
	"list": "list", "array_agg": "list",
	"string_agg": "string_agg", "group_concat": "string_agg", "listagg": "string_agg",
}

// volatile are functions (and the keywords DuckDB parses as column
// references) whose value depends on when or where they run: evaluated on
// several nodes they could give an answer no single evaluation gives.
var volatile = map[string]bool{
	"now": true, "current_timestamp": true, "get_current_timestamp": true, "transaction_timestamp": true,
	"current_date": true, "current_time": true, "today": true, "localtimestamp": true, "localtime": true,
	"get_current_time": true, "random": true, "uuid": true, "gen_random_uuid": true, "uuidv4": true,
	"uuidv7": true, "setseed": true, "nextval": true, "currval": true,
}

// planSkeleton decides how statement a may run across nodes. columns are
// the lower-cased column names of each table; aggregate reports whether a
// function name is an aggregate.
func planSkeleton(a *Analysis, columns map[string]map[string]bool, aggregate func(string) bool) skeleton {
	gathered := func(ref int, reason string) skeleton {
		sk := skeleton{mode: ModeGathered, reason: reason, ref: ref}
		sk.columns = referencedColumns(a.Root, columns[a.Refs[ref].Table])
		return sk
	}
	if len(a.Refs) != 1 {
		return planJoin(a, columns, aggregate)
	}
	ref := a.Refs[0]
	if ref.Start < 0 {
		return skeleton{mode: ModeSingle, reason: "the table reference could not be located in the text"}
	}
	if bad := unsafeAnywhere(a.Root, false); bad != "" {
		return skeleton{mode: ModeSingle, reason: bad}
	}
	cols := columns[ref.Table]
	node, _ := a.Root["node"].(map[string]any)
	if node == nil || node["type"] != "SELECT_NODE" {
		return gathered(0, "the statement is not a plain SELECT")
	}
	from, _ := node["from_table"].(map[string]any)
	if from == nil || from["type"] != "BASE_TABLE" || !strings.EqualFold(asString(from["table_name"]), ref.Table) || ref.where == nil && node["where_clause"] != nil {
		return gathered(0, "the table is not the only FROM item of the outermost SELECT")
	}
	if cm, _ := node["cte_map"].(map[string]any); cm != nil {
		if m, _ := cm["map"].([]any); len(m) > 0 {
			return gathered(0, "the statement declares CTEs")
		}
	}
	if node["qualify"] != nil || node["sample"] != nil || from["sample"] != nil {
		return gathered(0, "QUALIFY or SAMPLE runs on the coordinator")
	}
	if bad := unsafeAnywhere(node["select_list"], true); bad != "" {
		return gathered(0, bad)
	}
	binding := ref.Alias
	if binding == "" {
		binding = ref.Table
	}
	if w, _ := node["where_clause"].(map[string]any); w != nil {
		if c := foreignColumn(w, binding, cols); c != "" {
			return gathered(0, fmt.Sprintf("the WHERE clause names %s, which is not a column of %s", c, ref.Table))
		}
	}
	p := &planner{bindings: map[string]map[string]bool{strings.ToLower(binding): cols}, strip: binding, aggregate: aggregate, node: node,
		from: tableFrom(binding, fragmentRel)}
	var sk skeleton
	var reason string
	if hasAggregate(node, aggregate) || len(asList(node["group_expressions"])) > 0 || node["having"] != nil || node["aggregate_handling"] != "STANDARD_HANDLING" {
		sk, reason = p.aggregates()
	} else {
		sk, reason = p.rows()
	}
	if reason != "" {
		return gathered(0, reason)
	}
	sk.mode = ModeDistributed
	return sk
}

type planner struct {
	// bindings are the columns of each table the statement binds, by the
	// name it binds it under; strip is the binding whose qualifier
	// expression keys drop (the one table's), "" with joins.
	bindings  map[string]map[string]bool
	strip     string
	aggregate func(string) bool
	node      map[string]any
	// from is the partial's FROM item: the fragment's relation under the
	// name the statement bound the table to, joined to the broadcast
	// relations of small tables as the statement joins them.
	from map[string]any
}

// foreign returns the first column reference in e that is not provably a
// column of one of the statement's tables, or "".
func (p *planner) foreign(e map[string]any) string {
	return foreignIn(e, p.bindings)
}

// isColumn reports whether some table of the statement has the column.
func (p *planner) isColumn(name string) bool {
	for _, cols := range p.bindings {
		if cols[name] {
			return true
		}
	}
	return false
}

// fragmentFrom is the FROM item of a partial.
func (p *planner) fragmentFrom() map[string]any { return p.from }

func tableFrom(binding, rel string) map[string]any {
	return map[string]any{
		"type": "BASE_TABLE", "alias": binding, "sample": nil, "schema_name": "", "table_name": rel,
		"column_name_alias": []any{}, "catalog_name": "", "at_clause": nil,
	}
}

// broadcastRel is the relation a small table is broadcast as.
func broadcastRel(table string) string { return "__miniodb.broadcast." + table }

// selectNode returns a copy of the statement's SELECT node with the
// clauses a partial or final statement sets itself cleared.
func (p *planner) selectNode() map[string]any {
	n := map[string]any{}
	for k, v := range p.node {
		n[k] = v
	}
	n["modifiers"] = []any{}
	n["cte_map"] = map[string]any{"map": []any{}}
	n["group_expressions"] = []any{}
	n["group_sets"] = []any{}
	n["having"] = nil
	n["qualify"] = nil
	n["sample"] = nil
	n["aggregate_handling"] = "STANDARD_HANDLING"
	return n
}

// aggregates plans a statement with aggregates or GROUP BY: each fragment
// groups by the keys (plus the arguments of DISTINCT aggregates) and
// computes partial aggregates; the coordinator merges them per key and
// runs the select list, HAVING and the modifiers over the merged groups.
func (p *planner) aggregates() (skeleton, string) {
	node := p.node
	if node["aggregate_handling"] != "STANDARD_HANDLING" {
		return skeleton{}, "GROUP BY ALL runs on the coordinator"
	}
	sets := asList(node["group_sets"])
	groups := asList(node["group_expressions"])
	items := asList(node["select_list"])
	for _, it := range items {
		if m, _ := it.(map[string]any); m == nil || m["class"] == "STAR" {
			return skeleton{}, "* with aggregates runs on the coordinator"
		}
	}
	// Group keys: a positional constant is that select item; a bare name
	// is the table's column if it has one (DuckDB binds GROUP BY names to
	// columns first), else the select item of that alias.
	var keys []map[string]any
	for _, g := range groups {
		e, _ := g.(map[string]any)
		if e == nil {
			return skeleton{}, "unexpected GROUP BY item"
		}
		switch {
		case e["class"] == "CONSTANT":
			i, ok := positional(e)
			if !ok || i < 1 || i > len(items) {
				return skeleton{}, "GROUP BY a constant runs on the coordinator"
			}
			e = withAlias(asMap(items[i-1]), "")
		case e["class"] == "COLUMN_REF" && len(asList(e["column_names"])) == 1 && !p.isColumn(strings.ToLower(asString(asList(e["column_names"])[0]))):
			name := strings.ToLower(asString(asList(e["column_names"])[0]))
			found := false
			for _, it := range items {
				if m := asMap(it); strings.ToLower(asString(m["alias"])) == name {
					e, found = withAlias(m, ""), true
					break
				}
			}
			if !found {
				return skeleton{}, fmt.Sprintf("GROUP BY %s names no column", name)
			}
		}
		if hasAggregate(e, p.aggregate) {
			return skeleton{}, "an aggregate in GROUP BY"
		}
		if c := p.foreign(e); c != "" {
			return skeleton{}, fmt.Sprintf("GROUP BY names %s, which is not a column of the table", c)
		}
		keys = append(keys, e)
	}
	keyIdx := map[string]int{}
	for i, k := range keys {
		keyIdx[exprKey(k, p.strip)] = i
	}

	var partialAggs []map[string]any // partial aggregate expressions, __a1..
	var dkeys []map[string]any       // DISTINCT arguments, __d1..
	dIdx := map[string]int{}
	var merges []string
	mergeIdx := map[string]int{} // exprKey of an original aggregate → its merge
	addPartial := func(f map[string]any, name string) string {
		c := withAlias(f, "")
		c["function_name"] = name
		partialAggs = append(partialAggs, c)
		return quoteIdent(fmt.Sprintf("__a%d", len(partialAggs)))
	}
	var fail string
	var windows []string
	// merge registers the aggregate f and returns its merged column.
	merge := func(f map[string]any) string {
		k := exprKey(f, p.strip)
		if i, ok := mergeIdx[k]; ok {
			return fmt.Sprintf("__m%d", i+1)
		}
		name := strings.ToLower(asString(f["function_name"]))
		kind, ok := decomposable[name]
		orders := asList(asMap(f["order_bys"])["orders"])
		ordered := kind == "list" || kind == "string_agg"
		switch {
		case !ok:
			fail = fmt.Sprintf("aggregate %s() does not decompose exactly", name)
			return ""
		case asBool(f["export_state"]):
			fail = fmt.Sprintf("%s() with EXPORT_STATE runs on the coordinator", name)
			return ""
		case ordered && (len(orders) == 0 || asBool(f["distinct"])):
			// Without ORDER BY the order of the values is whatever order
			// the rows arrive in: no merge could repeat it.
			fail = fmt.Sprintf("%s() without ORDER BY, or with DISTINCT, runs on the coordinator", name)
			return ""
		case !ordered && len(orders) > 0:
			fail = fmt.Sprintf("%s() with ORDER BY runs on the coordinator", name)
			return ""
		}
		var orderExprs []any
		for _, o := range orders {
			orderExprs = append(orderExprs, asMap(o)["expression"])
		}
		for _, c := range append(slices.Clone(asList(f["children"])), orderExprs...) {
			if hasAggregate(c, p.aggregate) || unsafeAnywhere(c, true) != "" {
				fail = "nested aggregate or window function"
				return ""
			}
			if col := p.foreign(asMap(c)); col != "" {
				fail = fmt.Sprintf("%s() reads %s, which is not a column of the table", name, col)
				return ""
			}
		}
		if flt, _ := f["filter"].(map[string]any); flt != nil {
			if col := p.foreign(flt); col != "" {
				fail = fmt.Sprintf("a FILTER names %s, which is not a column of the table", col)
				return ""
			}
		}
		var m string
		if asBool(f["distinct"]) {
			children := asList(f["children"])
			if len(children) != 1 || f["filter"] != nil {
				fail = fmt.Sprintf("%s(DISTINCT …) with a FILTER or several arguments runs on the coordinator", name)
				return ""
			}
			arg := withAlias(asMap(children[0]), "")
			ak := exprKey(arg, p.strip)
			i, ok := dIdx[ak]
			if !ok {
				dkeys = append(dkeys, arg)
				i = len(dkeys) - 1
				dIdx[ak] = i
			}
			d := quoteIdent(fmt.Sprintf("__d%d", i+1))
			switch name {
			case "min", "max":
				m = fmt.Sprintf("%s(%s)", name, d)
			default:
				m = fmt.Sprintf("%s(DISTINCT %s)", name, d)
			}
		} else {
			switch kind {
			case "count":
				m = fmt.Sprintf("CAST(coalesce(sum(%s), 0) AS BIGINT)", addPartial(f, name))
			case "same":
				m = fmt.Sprintf("%s(%s)", name, addPartial(f, name))
			case "avg":
				s := addPartial(f, "sum")
				c := addPartial(f, "count")
				m = fmt.Sprintf("CAST(sum(%s) AS DOUBLE) / sum(%s)", s, c)
			case "argmin", "argmax":
				// arg_min(a, v) skips rows where a or v is NULL: each
				// partial brings its arg_min and the smallest v of the
				// rows it considered, and the merge takes arg_min of those.
				if len(asList(f["children"])) != 2 {
					fail = fmt.Sprintf("%s() with a count runs on the coordinator", name)
					return ""
				}
				fn, pick := "arg_min", "min"
				if kind == "argmax" {
					fn, pick = "arg_max", "max"
				}
				a := addPartial(f, fn)
				v := withAlias(f, "")
				v["function_name"] = pick
				args := asList(f["children"])
				v["children"] = []any{args[1]}
				conds := []any{notNull(args[0]), notNull(args[1])}
				if flt := asMap(f["filter"]); flt != nil {
					conds = append(conds, flt)
				}
				v["filter"] = map[string]any{"class": "CONJUNCTION", "type": "CONJUNCTION_AND", "alias": "", "children": conds}
				partialAggs = append(partialAggs, v)
				vc := quoteIdent(fmt.Sprintf("__a%d", len(partialAggs)))
				m = fmt.Sprintf("%s(%s, %s)", fn, a, vc)
			case "list", "string_agg":
				m = p.orderedList(f, kind, orders, addPartial, &fail)
			case "var":
				// Each partial brings its count, mean and population
				// variance; the merge adds the partials' squared
				// deviations and the spread of their means around the
				// group's mean (Chan et al.), which stays exact to
				// rounding where sums of squares would cancel.
				n := addPartial(f, "count")
				mean := addPartial(f, "avg")
				vp := addPartial(f, "var_pop")
				windows = append(windows, fmt.Sprintf("sum(%s * %s) OVER __w / sum(%s) OVER __w", n, mean, n))
				g := quoteIdent(fmt.Sprintf("__g%d", len(windows)))
				m2 := fmt.Sprintf("(sum(%s * %s) + sum(%s * (%s - %s) * (%s - %s)))", vp, n, n, mean, g, mean, g)
				switch name {
				case "var_pop":
					m = fmt.Sprintf("CASE WHEN sum(%s) = 0 THEN NULL ELSE %s / sum(%s) END", n, m2, n)
				case "stddev_pop":
					m = fmt.Sprintf("CASE WHEN sum(%s) = 0 THEN NULL ELSE sqrt(%s / sum(%s)) END", n, m2, n)
				case "var_samp", "variance":
					m = fmt.Sprintf("CASE WHEN sum(%s) <= 1 THEN NULL ELSE %s / (sum(%s) - 1) END", n, m2, n)
				default:
					m = fmt.Sprintf("CASE WHEN sum(%s) <= 1 THEN NULL ELSE sqrt(%s / (sum(%s) - 1)) END", n, m2, n)
				}
			}
		}
		merges = append(merges, m)
		mergeIdx[k] = len(merges) - 1
		return fmt.Sprintf("__m%d", len(merges))
	}
	// rewrite replaces group keys and aggregates in e by the merged
	// relation's columns.
	// grouping(keys…) is computed where the grouping sets are, in the
	// merge, over the key columns.
	grouping := func(g map[string]any) string {
		k := exprKey(g, p.strip)
		if i, ok := mergeIdx[k]; ok {
			return fmt.Sprintf("__m%d", i+1)
		}
		var args []string
		for _, c := range asList(g["children"]) {
			i, ok := keyIdx[exprKey(asMap(c), p.strip)]
			if !ok {
				fail = "GROUPING() of an expression that is not a GROUP BY key"
				return ""
			}
			args = append(args, quoteIdent(fmt.Sprintf("__k%d", i+1)))
		}
		merges = append(merges, fmt.Sprintf("grouping(%s)", strings.Join(args, ", ")))
		mergeIdx[k] = len(merges) - 1
		return fmt.Sprintf("__m%d", len(merges))
	}
	var rewrite func(v any) any
	rewrite = func(v any) any {
		switch x := v.(type) {
		case []any:
			out := make([]any, len(x))
			for i, c := range x {
				out[i] = rewrite(c)
			}
			return out
		case map[string]any:
			if x["type"] == "GROUPING_FUNCTION" {
				return colRefNode(grouping(x), asString(x["alias"]))
			}
			if _, ok := x["class"]; ok {
				if i, ok := keyIdx[exprKey(x, p.strip)]; ok {
					return colRefNode(fmt.Sprintf("__k%d", i+1), asString(x["alias"]))
				}
				if x["class"] == "FUNCTION" && p.aggregate(strings.ToLower(asString(x["function_name"]))) {
					return colRefNode(merge(x), asString(x["alias"]))
				}
			}
			out := map[string]any{}
			for k, c := range x {
				out[k] = rewrite(c)
			}
			return out
		}
		return v
	}
	outer := p.selectNode()
	outer["from_table"] = map[string]any{
		"type": "BASE_TABLE", "alias": "", "sample": nil, "schema_name": "", "table_name": mergedRel,
		"column_name_alias": []any{}, "catalog_name": "", "at_clause": nil,
	}
	outer["select_list"] = rewrite(node["select_list"])
	outer["where_clause"] = nil
	if h := node["having"]; h != nil {
		outer["where_clause"] = rewrite(h)
	}
	// A bare name in ORDER BY binds to a select alias first (DuckDB's
	// rule): such a term stays as written, whatever key it also names.
	itemAliases := map[string]bool{}
	for _, it := range items {
		if a := asString(asMap(it)["alias"]); a != "" {
			itemAliases[strings.ToLower(a)] = true
		}
	}
	var mods []any
	for _, m := range asList(node["modifiers"]) {
		mod := asMap(m)
		if mod["type"] != "ORDER_MODIFIER" {
			mods = append(mods, rewrite(mod))
			continue
		}
		var orders []any
		for _, o := range asList(mod["orders"]) {
			om := withAlias(asMap(o), "")
			delete(om, "alias")
			e := asMap(om["expression"])
			if names := asList(e["column_names"]); e["class"] == "COLUMN_REF" && len(names) == 1 && itemAliases[strings.ToLower(asString(names[0]))] {
				orders = append(orders, om)
				continue
			}
			om["expression"] = rewrite(e)
			orders = append(orders, om)
		}
		mods = append(mods, map[string]any{"type": "ORDER_MODIFIER", "orders": orders})
	}
	if mods == nil {
		mods = []any{}
	}
	outer["modifiers"] = mods
	if fail != "" {
		return skeleton{}, fail
	}
	// What is left must be merged columns, select aliases (in ORDER BY)
	// or constants: a table column outside aggregates and keys is an
	// error DuckDB reports when it binds the original statement.
	aliases := map[string]bool{}
	for _, it := range asList(outer["select_list"]) {
		if a := asString(asMap(it)["alias"]); a != "" {
			aliases[strings.ToLower(a)] = true
		}
	}
	if c := leftoverColumn(outer["select_list"], nil); c != "" {
		return skeleton{}, fmt.Sprintf("%s is neither a GROUP BY key nor inside an aggregate", c)
	}
	if c := leftoverColumn(outer["where_clause"], nil); c != "" {
		return skeleton{}, fmt.Sprintf("HAVING names %s outside aggregates", c)
	}
	if c := leftoverColumn(outer["modifiers"], aliases); c != "" {
		return skeleton{}, fmt.Sprintf("ORDER BY names %s outside aggregates", c)
	}

	partial := p.selectNode()
	partial["from_table"] = p.fragmentFrom()
	var sel, grp []any
	var set []any
	for i, k := range keys {
		sel = append(sel, withAlias(k, fmt.Sprintf("__k%d", i+1)))
		grp = append(grp, withAlias(k, ""))
		set = append(set, json.Number(strconv.Itoa(len(grp)-1)))
	}
	for i, d := range dkeys {
		sel = append(sel, withAlias(d, fmt.Sprintf("__d%d", i+1)))
		grp = append(grp, withAlias(d, ""))
		set = append(set, json.Number(strconv.Itoa(len(grp)-1)))
	}
	for i, a := range partialAggs {
		sel = append(sel, withAlias(a, fmt.Sprintf("__a%d", i+1)))
	}
	if len(sel) == 0 {
		// GROUP BY nothing and only constants: count the rows anyway so
		// the partial has a column.
		sel = append(sel, withAlias(countStar(), "__a1"))
		partialAggs = append(partialAggs, countStar())
	}
	partial["select_list"] = sel
	if len(grp) > 0 {
		partial["group_expressions"] = grp
		partial["group_sets"] = []any{set}
	}
	// The merge groups by the statement's grouping sets over the keys
	// (the partials are grouped by all keys, the finest of the sets).
	var groupBy string
	if len(keys) > 0 {
		var all []string
		for i := range keys {
			all = append(all, quoteIdent(fmt.Sprintf("__k%d", i+1)))
		}
		groupBy = strings.Join(all, ", ")
		plain := len(sets) == 0 || len(sets) == 1 && len(asList(sets[0])) == len(keys)
		for j, ix := range asList(append(sets, nil)[0]) {
			if n, ok := setIndex(ix); !plain || !ok || n != int64(j) {
				plain = false
				break
			}
		}
		if !plain {
			var sl []string
			for _, s := range sets {
				var ks []string
				for _, ix := range asList(s) {
					n, ok := setIndex(ix)
					if !ok || n < 0 || int(n) >= len(keys) {
						return skeleton{}, "unexpected grouping set"
					}
					ks = append(ks, quoteIdent(fmt.Sprintf("__k%d", n+1)))
				}
				sl = append(sl, "("+strings.Join(ks, ", ")+")")
			}
			groupBy = "GROUPING SETS (" + strings.Join(sl, ", ") + ")"
			if len(windows) > 0 {
				return skeleton{}, "variances with grouping sets run on the coordinator"
			}
		}
	}
	return skeleton{ref: 0, partial: partial, outer: outer, keys: len(keys), dkeys: len(dkeys), aggs: len(partialAggs), merges: merges, groupBy: groupBy, windows: windows}, ""
}

// orderedList plans list(x ORDER BY k…) and string_agg(x, sep ORDER BY
// k…): each partial brings, per group, the list of its rows as structs
// {__n1, __o1, …, __v} (a NULL flag and the value of each ORDER BY key,
// then the value), and the merge sorts the flattened lists of all partials
// as a whole and keeps the values. The flags place NULL keys where the
// term's NULLS FIRST/LAST says; all terms must sort in one direction
// (list_sort sorts whole structs). Rows that tie on every key may come out
// in another order than one node's, as they may between two runs of the
// same statement. string_agg skips NULL values, and its separator must be
// a string constant. A group whose partials hold no values is NULL, like
// the aggregate over no rows.
func (p *planner) orderedList(f map[string]any, kind string, orders []any, addPartial func(map[string]any, string) string, fail *string) string {
	name := strings.ToLower(asString(f["function_name"]))
	args := asList(f["children"])
	sep := "','"
	switch {
	case kind == "list" && len(args) == 1, kind == "string_agg" && len(args) == 1:
	case kind == "string_agg" && len(args) == 2:
		c := asMap(args[1])
		v := asMap(c["value"])
		if c["class"] != "CONSTANT" || asBool(v["is_null"]) || asString(asMap(v["type"])["id"]) != "VARCHAR" {
			*fail = fmt.Sprintf("%s() with a separator that is not a string constant", name)
			return ""
		}
		sep = quoteString(asString(v["value"]))
	default:
		*fail = fmt.Sprintf("%s() with %d arguments", name, len(args))
		return ""
	}
	desc := false
	var fields []any
	for i, o := range orders {
		om := asMap(o)
		d := om["type"] == "DESCENDING"
		if i > 0 && d != desc {
			*fail = fmt.Sprintf("%s() ordered in both directions runs on the coordinator", name)
			return ""
		}
		desc = d
		if _, ok := orderSuffix(om); !ok {
			*fail = fmt.Sprintf("%s() with order %v %v", name, om["type"], om["null_order"])
			return ""
		}
		nullsFirst := om["null_order"] == "NULLS FIRST" || om["null_order"] == "NULLS_FIRST"
		e := withAlias(asMap(om["expression"]), "")
		// Sorted ascending, false comes first; descending, true.
		flag := notNull(e)
		if desc == nullsFirst {
			flag = isNull(e)
		}
		fields = append(fields, withAlias(flag, fmt.Sprintf("__n%d", i+1)), withAlias(e, fmt.Sprintf("__o%d", i+1)))
	}
	v := withAlias(asMap(args[0]), "")
	if kind == "string_agg" {
		v = castNode(v, "VARCHAR")
	}
	fields = append(fields, withAlias(v, "__v"))
	part := withAlias(f, "")
	part["children"] = []any{function("struct_pack", fields...)}
	part["order_bys"] = map[string]any{"type": "ORDER_MODIFIER", "orders": []any{}}
	if kind == "string_agg" {
		conds := []any{notNull(asMap(args[0]))}
		if flt := asMap(f["filter"]); flt != nil {
			conds = append(conds, flt)
		}
		part["filter"] = map[string]any{"class": "CONJUNCTION", "type": "CONJUNCTION_AND", "alias": "", "children": conds}
	}
	a := addPartial(part, "list")
	all := fmt.Sprintf("flatten(list(%s))", a)
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	values := fmt.Sprintf("list_transform(list_sort(%s, '%s'), lambda __e: __e.__v)", all, dir)
	if kind == "string_agg" {
		values = fmt.Sprintf("array_to_string(%s, %s)", values, sep)
	}
	return fmt.Sprintf("CASE WHEN len(%s) = 0 THEN NULL ELSE %s END", all, values)
}

// rows plans a statement without aggregates: each fragment runs the select
// list (and, with a LIMIT, the ORDER BY and a LIMIT of limit+offset rows;
// with DISTINCT, the DISTINCT) over its files; the coordinator applies
// DISTINCT, ORDER BY, LIMIT and OFFSET to the union of the fragments.
func (p *planner) rows() (skeleton, string) {
	node := p.node
	items := asList(node["select_list"])
	sk := skeleton{limit: -1, offset: -1}
	var orders []any
	for _, m := range asList(node["modifiers"]) {
		mod := asMap(m)
		switch mod["type"] {
		case "ORDER_MODIFIER":
			orders = asList(mod["orders"])
		case "DISTINCT_MODIFIER":
			if len(asList(mod["distinct_on_targets"])) > 0 {
				return sk, "DISTINCT ON runs on the coordinator"
			}
			sk.distinct = true
		case "LIMIT_MODIFIER":
			var ok bool
			if mod["limit"] != nil {
				if sk.limit, ok = nonNegative(asMap(mod["limit"])); !ok {
					return sk, "LIMIT is not a constant"
				}
			}
			if mod["offset"] != nil {
				if sk.offset, ok = nonNegative(asMap(mod["offset"])); !ok {
					return sk, "OFFSET is not a constant"
				}
			}
		default:
			return sk, fmt.Sprintf("%s runs on the coordinator", asString(mod["type"]))
		}
	}
	aliases := map[string]int{}
	itemKeys := map[string]int{}
	for i, it := range items {
		m := asMap(it)
		if m["class"] == "STAR" {
			continue
		}
		if a := strings.ToLower(asString(m["alias"])); a != "" {
			if _, dup := aliases[a]; !dup {
				aliases[a] = i
			}
		}
		if k := exprKey(m, p.strip); itemKeys[k] == 0 {
			itemKeys[k] = i + 1
		}
		if c := p.foreign(m); c != "" {
			return sk, fmt.Sprintf("the select list names %s, which is not a column of the table", c)
		}
	}
	// The final ORDER BY refers to the partial's columns: a position or a
	// select alias is that item (DuckDB binds a bare ORDER BY name to a
	// select alias first), an expression equal to an item is that item,
	// and any other expression becomes an extra column of the partial.
	var extra []any
	for _, o := range orders {
		om := asMap(o)
		e := asMap(om["expression"])
		col := ""
		switch {
		case e["class"] == "CONSTANT":
			i, ok := positional(e)
			if !ok || i < 1 {
				return sk, "ORDER BY a constant runs on the coordinator"
			}
			col = fmt.Sprintf("__c%d", i) // checked against the bound columns later
		case e["class"] == "STAR":
			return sk, "ORDER BY ALL runs on the coordinator"
		case e["class"] == "COLUMN_REF" && len(asList(e["column_names"])) == 1:
			if i, ok := aliases[strings.ToLower(asString(asList(e["column_names"])[0]))]; ok {
				col = fmt.Sprintf("__c%d", i+1)
			}
		}
		if col == "" {
			if i := itemKeys[exprKey(e, p.strip)]; i > 0 && noStarBefore(items, i-1) {
				col = fmt.Sprintf("__c%d", i)
			}
		}
		if col == "" {
			if sk.distinct {
				return sk, "DISTINCT with ORDER BY an expression that is not selected"
			}
			if c := p.foreign(e); c != "" {
				return sk, fmt.Sprintf("ORDER BY names %s, which is not a column of the table", c)
			}
			for a := range aliases {
				if mentions(e, a) {
					return sk, fmt.Sprintf("ORDER BY expression mentions the select alias %s", a)
				}
			}
			extra = append(extra, withAlias(e, fmt.Sprintf("__o%d", len(extra)+1)))
			col = fmt.Sprintf("__o%d", len(extra))
		}
		suffix, ok := orderSuffix(om)
		if !ok {
			return sk, fmt.Sprintf("ORDER BY with order %v %v", om["type"], om["null_order"])
		}
		sk.order = append(sk.order, quoteIdent(col)+suffix)
	}
	// Positions after a * are not known until the statement is bound: an
	// ORDER BY position is only safe when no * precedes the item.
	for _, o := range orders {
		if e := asMap(asMap(o)["expression"]); e["class"] == "CONSTANT" {
			i, _ := positional(e)
			if !noStarBefore(items, i-1) {
				return sk, "ORDER BY position after *"
			}
		}
	}
	partial := p.selectNode()
	partial["from_table"] = p.fragmentFrom()
	partial["select_list"] = append(slices.Clone(items), extra...)
	mods := []any{}
	if sk.distinct {
		mods = append(mods, map[string]any{"type": "DISTINCT_MODIFIER", "distinct_on_targets": []any{}})
	}
	if sk.limit >= 0 {
		if len(orders) > 0 {
			mods = append(mods, map[string]any{"type": "ORDER_MODIFIER", "orders": orders})
		}
		n := sk.limit + max(sk.offset, 0)
		mods = append(mods, map[string]any{"type": "LIMIT_MODIFIER", "limit": intConstant(n), "offset": nil})
	}
	partial["modifiers"] = mods
	sk.partial = partial
	sk.extraOrder = len(extra)
	return sk, ""
}

// noStarBefore reports whether no * item comes before item i, so that the
// select list's position i+1 is item i.
func noStarBefore(items []any, i int) bool {
	for j := 0; j <= i && j < len(items); j++ {
		if asMap(items[j])["class"] == "STAR" {
			return false
		}
	}
	return i < len(items)
}

// orderSuffix is the direction and NULL placement of one ORDER BY term as
// SQL (DuckDB's serializer spells them "DESCENDING", "NULLS FIRST"), or
// false for a value it does not know: a term whose order cannot be
// repeated exactly must not be planned across nodes.
func orderSuffix(o map[string]any) (string, bool) {
	s := ""
	switch o["type"] {
	case "DESCENDING":
		s = " DESC"
	case "ASCENDING":
		s = " ASC"
	case "ORDER_DEFAULT":
	default:
		return "", false
	}
	switch o["null_order"] {
	case "NULLS FIRST", "NULLS_FIRST":
		s += " NULLS FIRST"
	case "NULLS LAST", "NULLS_LAST":
		s += " NULLS LAST"
	case "ORDER_DEFAULT":
	default:
		return "", false
	}
	return s, true
}

// unsafeAnywhere returns why v may not run in fragments: a subquery, a
// window function (inSelect: windows are fine for gathered plans outside
// the select list, which is where they can appear), or a volatile function.
func unsafeAnywhere(v any, windows bool) string {
	reason := ""
	walk(v, func(m map[string]any) bool {
		switch {
		case m["class"] == "SUBQUERY":
			reason = "subqueries run on the coordinator"
		case windows && m["class"] == "WINDOW":
			reason = "window functions run on the coordinator"
		case m["class"] == "FUNCTION" && volatile[strings.ToLower(asString(m["function_name"]))]:
			reason = fmt.Sprintf("%s() depends on when it runs", asString(m["function_name"]))
		case m["class"] == "COLUMN_REF" && len(asList(m["column_names"])) == 1 && volatile[strings.ToLower(asString(asList(m["column_names"])[0]))]:
			reason = fmt.Sprintf("%s depends on when it runs", asString(asList(m["column_names"])[0]))
		}
		return reason == ""
	})
	return reason
}

// hasAggregate reports whether v calls an aggregate function.
func hasAggregate(v any, aggregate func(string) bool) bool {
	found := false
	walk(v, func(m map[string]any) bool {
		if m["class"] == "FUNCTION" && aggregate(strings.ToLower(asString(m["function_name"]))) {
			found = true
		}
		return !found
	})
	return found
}

// foreignColumn returns the first column reference in e that is not
// provably a column of the table (bound as binding, with columns cols),
// or "".
func foreignColumn(e map[string]any, binding string, cols map[string]bool) string {
	return foreignIn(e, map[string]map[string]bool{strings.ToLower(binding): cols})
}

// foreignIn is foreignColumn over several tables, by binding: a bare
// name must be a column of one of them, a qualified one of its table.
func foreignIn(e map[string]any, bindings map[string]map[string]bool) string {
	bad := ""
	walk(e, func(m map[string]any) bool {
		if m["class"] == "LAMBDA" {
			bad = "a lambda"
			return false
		}
		if m["class"] != "COLUMN_REF" {
			return true
		}
		names := asList(m["column_names"])
		one := false
		if len(names) == 1 {
			for _, cols := range bindings {
				one = one || cols[strings.ToLower(asString(names[0]))]
			}
		}
		switch {
		case one:
		case len(names) == 2 && bindings[strings.ToLower(asString(names[0]))][strings.ToLower(asString(names[1]))]:
		default:
			parts := make([]string, len(names))
			for i, n := range names {
				parts[i] = asString(n)
			}
			bad = strings.Join(parts, ".")
		}
		return bad == ""
	})
	return bad
}

// leftoverColumn returns a column reference in v other than the merged
// relation's columns (__k, __m) and, when aliases is set, select aliases.
func leftoverColumn(v any, aliases map[string]bool) string {
	bad := ""
	walk(v, func(m map[string]any) bool {
		if m["class"] != "COLUMN_REF" {
			return true
		}
		names := asList(m["column_names"])
		if len(names) == 1 {
			n := asString(names[0])
			if strings.HasPrefix(n, "__k") || strings.HasPrefix(n, "__m") || aliases[strings.ToLower(n)] {
				return true
			}
		}
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = asString(n)
		}
		bad = strings.Join(parts, ".")
		return false
	})
	return bad
}

// mentions reports whether e references the bare name.
func mentions(e map[string]any, name string) bool {
	found := false
	walk(e, func(m map[string]any) bool {
		if m["class"] == "COLUMN_REF" {
			names := asList(m["column_names"])
			if len(names) > 0 && strings.EqualFold(asString(names[len(names)-1]), name) {
				found = true
			}
		}
		return !found
	})
	return found
}

// referencedColumns returns the table columns the statement may read:
// every column named anywhere in it, or all of them under a *.
func referencedColumns(root map[string]any, cols map[string]bool) []string {
	used := map[string]bool{}
	all := false
	walk(root, func(m map[string]any) bool {
		switch m["class"] {
		case "STAR":
			all = true
		case "COLUMN_REF":
			for _, n := range asList(m["column_names"]) {
				if c := strings.ToLower(asString(n)); cols[c] {
					used[c] = true
				}
			}
		}
		return true
	})
	if m, _ := root["node"].(map[string]any); m != nil && m["aggregate_handling"] != "STANDARD_HANDLING" {
		all = true
	}
	var out []string
	for c := range cols {
		if all || used[c] {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// walk calls fn for every object in v, depth first; fn returns false to
// stop the walk.
func walk(v any, fn func(map[string]any) bool) bool {
	switch x := v.(type) {
	case []any:
		for _, c := range x {
			if !walk(c, fn) {
				return false
			}
		}
	case map[string]any:
		if !fn(x) {
			return false
		}
		for _, k := range fields(x) {
			if !walk(x[k], fn) {
				return false
			}
		}
	}
	return true
}

// exprKey is a canonical form of an expression for equality: without
// aliases and text positions, with names lower-cased and the table's
// binding dropped from qualified column references.
func exprKey(e map[string]any, binding string) string {
	var norm func(v any) any
	norm = func(v any) any {
		switch x := v.(type) {
		case []any:
			out := make([]any, len(x))
			for i, c := range x {
				out[i] = norm(c)
			}
			return out
		case map[string]any:
			out := map[string]any{}
			for k, c := range x {
				switch k {
				case "alias", "query_location":
					continue
				case "function_name":
					out[k] = strings.ToLower(asString(c))
					continue
				}
				out[k] = norm(c)
			}
			if x["class"] == "COLUMN_REF" {
				names := asList(x["column_names"])
				if len(names) == 2 && strings.EqualFold(asString(names[0]), binding) {
					names = names[1:]
				}
				lower := make([]any, len(names))
				for i, n := range names {
					lower[i] = strings.ToLower(asString(n))
				}
				out["column_names"] = lower
			}
			return out
		}
		return v
	}
	b, _ := json.Marshal(norm(e))
	return string(b)
}

// withAlias returns a shallow copy of e with its alias set.
func withAlias(e map[string]any, alias string) map[string]any {
	c := make(map[string]any, len(e))
	for k, v := range e {
		c[k] = v
	}
	c["alias"] = alias
	return c
}

func colRefNode(name, alias string) map[string]any {
	return map[string]any{"class": "COLUMN_REF", "type": "COLUMN_REF", "alias": alias, "column_names": []any{name}}
}

func notNull(e any) map[string]any {
	return map[string]any{"class": "OPERATOR", "type": "OPERATOR_IS_NOT_NULL", "alias": "", "children": []any{e}}
}

// castNode is CAST(e AS t) for a type without parameters.
func castNode(e any, t string) map[string]any {
	return map[string]any{"class": "CAST", "type": "OPERATOR_CAST", "alias": "", "child": e,
		"cast_type": map[string]any{"id": t, "type_info": nil}, "try_cast": false}
}

func isNull(e any) map[string]any {
	return map[string]any{"class": "OPERATOR", "type": "OPERATOR_IS_NULL", "alias": "", "children": []any{e}}
}

// function is a call of a scalar function.
func function(name string, children ...any) map[string]any {
	return map[string]any{
		"class": "FUNCTION", "type": "FUNCTION", "alias": "", "function_name": name, "schema": "",
		"children": children, "filter": nil, "order_bys": map[string]any{"type": "ORDER_MODIFIER", "orders": []any{}},
		"distinct": false, "is_operator": false, "export_state": false, "catalog": "",
	}
}

func countStar() map[string]any {
	return map[string]any{
		"class": "FUNCTION", "type": "FUNCTION", "alias": "", "function_name": "count_star", "schema": "",
		"children": []any{}, "filter": nil, "order_bys": map[string]any{"type": "ORDER_MODIFIER", "orders": []any{}},
		"distinct": false, "is_operator": false, "export_state": false, "catalog": "",
	}
}

func intConstant(n int64) map[string]any {
	return map[string]any{
		"class": "CONSTANT", "type": "VALUE_CONSTANT", "alias": "",
		"value": map[string]any{"type": map[string]any{"id": "BIGINT", "type_info": nil}, "is_null": false, "value": json.Number(strconv.FormatInt(n, 10))},
	}
}

// positional reads an integer constant (GROUP BY 1, ORDER BY 2).
func positional(e map[string]any) (int, bool) {
	n, ok := nonNegative(e)
	return int(n), ok && n > 0
}

// nonNegative reads a non-negative integer constant.
func nonNegative(e map[string]any) (int64, bool) {
	if e["class"] != "CONSTANT" {
		return 0, false
	}
	v := asMap(e["value"])
	switch asString(asMap(v["type"])["id"]) {
	case "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "UINTEGER", "UBIGINT", "USMALLINT", "UTINYINT":
	default:
		return 0, false
	}
	if asBool(v["is_null"]) {
		return 0, false
	}
	num, ok := v["value"].(json.Number)
	if !ok {
		return 0, false
	}
	i, err := num.Int64()
	return i, err == nil && i >= 0
}

// setIndex reads an index of a grouping set.
func setIndex(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asBool(v any) bool {
	b, _ := v.(bool)
	return b
}

// planJoin plans a statement whose outermost FROM joins one table (the
// leftmost, the one distributed) with others that are broadcast whole to
// every fragment: inner joins, and left joins that keep the distributed
// side, with ON conditions, so that every row of the join comes from one
// row of the distributed table and is produced where that row is read.
// Whether the others are small enough is decided when the query runs.
func planJoin(a *Analysis, columns map[string]map[string]bool, aggregate func(string) bool) skeleton {
	single := func(reason string) skeleton { return skeleton{mode: ModeSingle, reason: reason} }
	if bad := unsafeAnywhere(a.Root, false); bad != "" {
		return single(bad)
	}
	node, _ := a.Root["node"].(map[string]any)
	if node == nil || node["type"] != "SELECT_NODE" {
		return single("the statement is not a plain SELECT")
	}
	from := asMap(node["from_table"])
	if from["type"] != "JOIN" {
		return single(fmt.Sprintf("the statement reads %d table references outside one join", len(a.Refs)))
	}
	if cm := asMap(node["cte_map"]); len(asList(cm["map"])) > 0 {
		return single("the statement declares CTEs")
	}
	if node["qualify"] != nil || node["sample"] != nil {
		return single("QUALIFY or SAMPLE runs on the coordinator")
	}
	if bad := unsafeAnywhere(node["select_list"], true); bad != "" {
		return single(bad)
	}
	type table struct {
		name, binding string
		ref           map[string]any
	}
	var tables []table
	var conditions []map[string]any
	// The left spine of the join: each step joins one table on the right.
	var rebuild func(t map[string]any) (map[string]any, string)
	rebuild = func(t map[string]any) (map[string]any, string) {
		switch t["type"] {
		case "BASE_TABLE":
			if t["sample"] != nil || len(asList(t["column_name_alias"])) > 0 {
				return nil, "a joined table with a sample or column aliases"
			}
			name := strings.ToLower(asString(t["table_name"]))
			binding := strings.ToLower(asString(t["alias"]))
			if binding == "" {
				binding = name
			}
			tables = append(tables, table{name: name, binding: binding, ref: t})
			if len(tables) == 1 {
				return tableFrom(binding, fragmentRel), ""
			}
			return tableFrom(binding, broadcastRel(name)), ""
		case "JOIN":
			jt := asString(t["join_type"])
			switch {
			case jt != "INNER" && jt != "LEFT":
				return nil, fmt.Sprintf("a %s join runs on the coordinator (only inner joins and left joins that keep the distributed table are distributed)", jt)
			case t["ref_type"] != "REGULAR":
				return nil, fmt.Sprintf("a %s join runs on the coordinator", asString(t["ref_type"]))
			case len(asList(t["using_columns"])) > 0:
				return nil, "a join with USING runs on the coordinator"
			case t["condition"] == nil:
				return nil, "a join without ON runs on the coordinator"
			case t["sample"] != nil || asString(t["alias"]) != "":
				return nil, "a sampled or aliased join runs on the coordinator"
			}
			if asMap(t["right"])["type"] != "BASE_TABLE" {
				return nil, "a join whose right side is not a table runs on the coordinator"
			}
			left, reason := rebuild(asMap(t["left"]))
			if reason != "" {
				return nil, reason
			}
			right, reason := rebuild(asMap(t["right"]))
			if reason != "" {
				return nil, reason
			}
			conditions = append(conditions, asMap(t["condition"]))
			out := map[string]any{}
			for k, v := range t {
				out[k] = v
			}
			out["left"], out["right"] = left, right
			return out, ""
		}
		return nil, "a join of something other than tables runs on the coordinator"
	}
	rewritten, reason := rebuild(from)
	if reason != "" {
		return single(reason)
	}
	if len(tables) != len(a.Refs) {
		return single("the statement reads tables outside its join")
	}
	bindings := map[string]map[string]bool{}
	var broadcast []string
	for i, t := range tables {
		if _, dup := bindings[t.binding]; dup {
			return single(fmt.Sprintf("the name %s is bound twice", t.binding))
		}
		cols, ok := columns[t.name]
		if !ok {
			return single(fmt.Sprintf("%s is not a MinIODB table", t.name))
		}
		bindings[t.binding] = cols
		if i > 0 && !slices.Contains(broadcast, t.name) {
			broadcast = append(broadcast, t.name)
		}
	}
	ref := -1
	for i, r := range a.Refs {
		b := r.Alias
		if b == "" {
			b = r.Table
		}
		if r.Table == tables[0].name && strings.EqualFold(b, tables[0].binding) {
			ref = i
		}
		if r.Start < 0 {
			return single("a table reference could not be located in the text")
		}
	}
	if ref < 0 {
		return single("the distributed table's reference was not found")
	}
	for _, c := range conditions {
		if col := foreignIn(c, bindings); col != "" {
			return single(fmt.Sprintf("a join condition names %s, which is not a column of the joined tables", col))
		}
	}
	if w := asMap(node["where_clause"]); w != nil {
		if col := foreignIn(w, bindings); col != "" {
			return single(fmt.Sprintf("the WHERE clause names %s, which is not a column of the joined tables", col))
		}
	}
	p := &planner{bindings: bindings, aggregate: aggregate, node: node, from: rewritten}
	var sk skeleton
	if hasAggregate(node, aggregate) || len(asList(node["group_expressions"])) > 0 || node["having"] != nil || node["aggregate_handling"] != "STANDARD_HANDLING" {
		sk, reason = p.aggregates()
	} else {
		sk, reason = p.rows()
	}
	if reason != "" {
		return single(reason)
	}
	sk.mode, sk.ref, sk.broadcast = ModeDistributed, ref, broadcast
	return sk
}
