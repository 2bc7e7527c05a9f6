package jepsen

import (
	"fmt"
	"hash/fnv"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Anomaly kinds. Each is a violation of what MinIODB promises.
const (
	KindLost        = "lost"              // an acknowledged row is missing after the cluster healed
	KindDuplicate   = "duplicate"         // a row is present more than once
	KindPhantom     = "phantom"           // a row no client tried to write
	KindFailedSeen  = "failed-visible"    // a row whose write certainly failed is present
	KindFuture      = "read-from-future"  // a read saw a row written after it completed
	KindStale       = "stale-read"        // a strong read missed a row acknowledged before it began
	KindNonLinear   = "not-linearizable"  // porcupine found no linearization
	KindDiverged    = "replicas-diverged" // final reads through different nodes disagree
	KindNoFinalRead = "no-final-read"     // the healed cluster answered no final strong read
	KindResurrected = "deleted-row-back"  // a row whose delete was acknowledged is present at the end
	KindUpsertCount = "upsert-not-one"    // an upserted id is not exactly once in the final read
)

// Anomaly is one violation, with the history events that show it.
type Anomaly struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Events  []int  `json:"events,omitempty"` // indexes into the history
}

// Stats counts what the history holds.
type Stats struct {
	AddOps, AddOK, AddFail, AddInfo int
	// Rows: attempted, acknowledged, of certainly failed writes, of
	// unknown writes, and how many unknown ones are present at the end.
	Attempted, Acked, FailedRows, Unknown, UnknownPresent int
	Lost, Duplicated                                      int
	Reads, ReadsOK                                        int
	FinalRows                                             int
	Faults                                                int
	// Deletes: operations, acknowledged ones, their rows, and how many of
	// those rows the final read of the doomed table still holds.
	Deletes, DeletesOK, DeletedRows, Resurrected int
	// Upserts: operations and acknowledged ones.
	Upserts, UpsertsOK int
}

// Report is a checker's verdict.
type Report struct {
	Valid        bool
	Stats        Stats
	Linearizable porcupine.CheckResult
	// Anomalies holds up to maxPerKind of each kind, first ones first;
	// Counts has the totals.
	Anomalies []Anomaly
	Counts    map[string]int
	// Notes are remarks that do not fail the run.
	Notes []string
}

const maxPerKind = 20

func (r *Report) anomaly(kind, msg string, events ...int) {
	if r.Counts == nil {
		r.Counts = map[string]int{}
	}
	r.Counts[kind]++
	if r.Counts[kind] <= maxPerKind {
		r.Anomalies = append(r.Anomalies, Anomaly{Kind: kind, Message: msg, Events: events})
	}
	r.Valid = false
}

// op is an invocation with its completion.
type op struct {
	inv, done *Event // done is nil if the operation never completed
	typ       string // OK, Fail or Info (never completed counts as Info)
	client    int    // for adds: the client whose ids they are
	lo, hi    int    // for adds: the sequence numbers
}

func (o *op) call() int64 { return o.inv.Time }

// ret is the completion time; +∞ for an operation that may still happen.
func (o *op) ret() int64 {
	if o.typ == Info || o.done == nil {
		return math.MaxInt64
	}
	return o.done.Time
}

// CheckOptions tune Check.
type CheckOptions struct {
	// LinearizabilityTimeout bounds porcupine per client (0: 60 s). A
	// timeout is reported as a note, not a failure.
	LinearizabilityTimeout time.Duration
	// VisualizeDir, if set, receives porcupine's HTML visualisation of a
	// partition that is not linearizable.
	VisualizeDir string
}

// Check checks a history of the set workload:
//
//   - every acknowledged row is present exactly once at the end (lost,
//     duplicate), read through every node (replicas-diverged);
//   - no read holds a row that no client tried (phantom), a row whose
//     write certainly failed (failed-visible), a row more than once
//     (duplicate), or a row whose write began after the read completed
//     (read-from-future);
//   - every strong read holds every row acknowledged before it began
//     (stale-read);
//   - the adds and strong reads of each client's rows are linearizable as a
//     grow-only set (porcupine; a partition per client, reads projected
//     onto that client's ids).
//
// Rows whose write is unknown (timed out) may be present or not, but at
// most once.
func Check(events []Event, opts CheckOptions) *Report {
	rep := &Report{Valid: true, Counts: map[string]int{}, Linearizable: porcupine.Ok}
	if opts.LinearizabilityTimeout == 0 {
		opts.LinearizabilityTimeout = 60 * time.Second
	}
	ops := pairOps(events)

	// Index the adds by client and sequence number.
	rows := map[int][]*op{} // client → seq → op (index seq)
	var adds, reads, finals []*op
	for _, o := range ops {
		switch o.inv.F {
		case FAdd:
			adds = append(adds, o)
		case FRead, FReadLocal:
			if o.typ == OK && o.done.Read != nil {
				if o.inv.Process == ProcFinal {
					finals = append(finals, o)
				} else {
					reads = append(reads, o)
				}
			}
			if o.inv.Process != ProcFinal {
				rep.Stats.Reads++
				if o.typ == OK {
					rep.Stats.ReadsOK++
				}
			}
		}
	}
	for _, e := range events {
		if e.Process == ProcNemesis && e.F == "fault" {
			rep.Stats.Faults++
		}
	}
	for _, o := range adds {
		rep.Stats.AddOps++
		n := len(o.inv.IDs)
		rep.Stats.Attempted += n
		switch o.typ {
		case OK:
			rep.Stats.AddOK++
			rep.Stats.Acked += n
		case Fail:
			rep.Stats.AddFail++
			rep.Stats.FailedRows += n
		default:
			rep.Stats.AddInfo++
			rep.Stats.Unknown += n
		}
		o.lo, o.hi = math.MaxInt, 0
		for _, id := range o.inv.IDs {
			c, s, ok := parseID(id)
			if !ok {
				rep.Notes = append(rep.Notes, fmt.Sprintf("harness: add op %d has a malformed id %q", o.inv.Op, id))
				continue
			}
			o.client = c
			o.lo, o.hi = min(o.lo, s), max(o.hi, s)
			for len(rows[c]) <= s {
				rows[c] = append(rows[c], nil)
			}
			if rows[c][s] != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("harness: id %s written by two operations", id))
			}
			rows[c][s] = o
		}
		if o.hi-o.lo+1 != n {
			rep.Notes = append(rep.Notes, fmt.Sprintf("harness: add op %d ids are not one contiguous range", o.inv.Op))
		}
	}
	lookup := func(id string) *op {
		c, s, ok := parseID(id)
		if !ok || len(rows[c]) <= s {
			return nil
		}
		return rows[c][s]
	}

	// Per read: phantoms, failed rows, rows from the future, duplicates.
	checkContents := func(o *op, what string) {
		r := o.done.Read
		for _, id := range r.Dups {
			rep.anomaly(KindDuplicate, fmt.Sprintf("%s returned %s more than once", what, id), idxs(o, lookup(id))...)
		}
		for _, id := range r.Extra {
			rep.anomaly(KindPhantom, fmt.Sprintf("%s returned %q, which no client wrote", what, id), idxs(o)...)
		}
		for c, set := range r.Clients {
			for _, sp := range set {
				for s := sp.Lo; s <= sp.Hi; s++ {
					var w *op
					if seqs := rows[c]; s < len(seqs) {
						w = seqs[s]
					}
					id := rowID(c, s)
					switch {
					case w == nil:
						rep.anomaly(KindPhantom, fmt.Sprintf("%s returned %s, which no client wrote", what, id), idxs(o)...)
					case w.typ == Fail:
						rep.anomaly(KindFailedSeen, fmt.Sprintf("%s returned %s, whose write failed for certain (%s)", what, id, w.done.Error), idxs(o, w)...)
					case w.call() > o.done.Time:
						rep.anomaly(KindFuture, fmt.Sprintf("%s (completed at %s) returned %s, whose write began at %s", what, fmtT(o.done.Time), id, fmtT(w.call())), idxs(o, w)...)
					}
				}
			}
		}
	}
	// missing calls f for each acknowledged row (acknowledged before t)
	// absent from the read.
	missing := func(r *ReadSet, before int64, f func(id string, w *op)) {
		for c, seqs := range rows {
			set := r.Clients[c]
			next := 1 // first seq not yet examined
			check := func(lo, hi int) {
				for s := lo; s <= hi && s < len(seqs); s++ {
					if w := seqs[s]; w != nil && w.typ == OK && w.done.Time < before {
						f(rowID(c, s), w)
					}
				}
			}
			for _, sp := range set {
				check(next, sp.Lo-1)
				next = sp.Hi + 1
			}
			check(next, len(seqs)-1)
		}
	}
	for _, o := range reads {
		checkContents(o, fmt.Sprintf("read %d by p%d through %s", o.inv.Op, o.inv.Process, o.done.Node))
		if o.inv.F != FRead {
			continue
		}
		missing(o.done.Read, o.call(), func(id string, w *op) {
			rep.anomaly(KindStale, fmt.Sprintf("strong read %d through %s began at %s and missed %s, acknowledged at %s",
				o.inv.Op, o.done.Node, fmtT(o.call()), id, fmtT(w.done.Time)), idxs(w, o)...)
		})
	}

	// The final reads, after the cluster healed and flushed.
	var final *op
	for _, o := range finals {
		what := fmt.Sprintf("final %s %d through %s", o.inv.F, o.inv.Op, o.done.Node)
		checkContents(o, what)
		if o.inv.F == FRead && final == nil {
			final = o
		}
	}
	if final == nil {
		rep.anomaly(KindNoFinalRead, "no final strong read succeeded after the cluster was healed; acknowledged rows cannot be verified")
	} else {
		r := final.done.Read
		rep.Stats.FinalRows = r.Count
		rep.Stats.Duplicated = len(r.Dups)
		missing(r, math.MaxInt64, func(id string, w *op) {
			rep.Stats.Lost++
			rep.anomaly(KindLost, fmt.Sprintf("%s was acknowledged at %s (request %s) and is missing from the final read through %s",
				id, fmtT(w.done.Time), w.done.RequestID, final.done.Node), idxs(w, final)...)
		})
		for _, o := range adds {
			if o.typ == Info {
				for _, id := range o.inv.IDs {
					if r.Has(id) {
						rep.Stats.UnknownPresent++
					}
				}
			}
		}
		for _, o := range finals {
			if o == final {
				continue
			}
			if d := diffReadSets(r, o.done.Read); d != "" {
				rep.anomaly(KindDiverged, fmt.Sprintf("final %s through %s differs from the final strong read through %s: %s",
					o.inv.F, o.done.Node, final.done.Node, d), idxs(final, o)...)
			}
		}
	}

	checkDeletes(ops, rep)

	// Linearizability, one partition per client.
	strong := []*op{}
	for _, o := range reads {
		if o.inv.F == FRead {
			strong = append(strong, o)
		}
	}
	for _, o := range finals {
		if o.inv.F == FRead {
			strong = append(strong, o)
		}
	}
	// An unknown add none of whose rows the final strong read holds never
	// took effect (the set only grows, and the final read comes after
	// every operation), so it is left out: kept pending until the end, each
	// such add doubles porcupine's search space.
	neverHappened := func(o *op) bool {
		if o.typ != Info || final == nil {
			return false
		}
		for _, id := range o.inv.IDs {
			if final.done.Read.Has(id) {
				return false
			}
		}
		return true
	}
	byClient := map[int][]*op{}
	for _, o := range adds {
		if o.typ != Fail && o.hi >= o.lo && !neverHappened(o) {
			byClient[o.client] = append(byClient[o.client], o)
		}
	}
	var clients []int
	for c := range byClient {
		clients = append(clients, c)
	}
	sort.Ints(clients)
	for _, c := range clients {
		hist := make([]porcupine.Operation, 0, len(byClient[c])+len(strong))
		for _, o := range byClient[c] {
			hist = append(hist, porcupine.Operation{ClientId: 0, Input: setInput{add: true, lo: o.lo, hi: o.hi}, Call: o.call(), Return: o.ret(), Metadata: o.inv.Op})
		}
		for _, o := range strong {
			hist = append(hist, porcupine.Operation{ClientId: 1, Input: setInput{}, Output: o.done.Read.Clients[c], Call: o.call(), Return: o.ret(), Metadata: o.inv.Op})
		}
		res, info := porcupine.CheckOperationsVerbose(setModel, hist, opts.LinearizabilityTimeout)
		switch res {
		case porcupine.Illegal:
			rep.Linearizable = porcupine.Illegal
			msg := fmt.Sprintf("client %d: the adds of its rows and the strong reads are not linearizable as a grow-only set", c)
			if opts.VisualizeDir != "" {
				path := filepath.Join(opts.VisualizeDir, fmt.Sprintf("linearizability-c%d.html", c))
				if err := porcupine.VisualizePath(setModel, info, path); err == nil {
					msg += "; see " + path
				}
			}
			rep.anomaly(KindNonLinear, msg)
		case porcupine.Unknown:
			if rep.Linearizable == porcupine.Ok {
				rep.Linearizable = porcupine.Unknown
			}
			rep.Notes = append(rep.Notes, fmt.Sprintf("linearizability of client %d: porcupine timed out after %v (not a failure)", c, opts.LinearizabilityTimeout))
		}
	}
	return rep
}

// checkDeletes requires that no row of an acknowledged delete is in the
// final read of the doomed table.
func checkDeletes(ops []*op, rep *Report) {
	var deletes, upserts []*op
	var final *op
	for _, o := range ops {
		switch o.inv.F {
		case FDelete:
			deletes = append(deletes, o)
		case FUpsert:
			upserts = append(upserts, o)
		case FReadDoomed:
			if o.typ == OK && final == nil {
				final = o
			}
		}
	}
	if len(deletes)+len(upserts) == 0 {
		return
	}
	rep.Stats.Deletes, rep.Stats.Upserts = len(deletes), len(upserts)
	if final == nil {
		rep.anomaly(KindNoFinalRead, "no final read of the doomed table succeeded; deletes and upserts cannot be verified")
		return
	}
	present := map[string]bool{}
	count := map[string]int{}
	for _, id := range final.done.IDs {
		present[id] = true
		count[id]++
	}
	// An upserted id is at most once whatever happened (the write and the
	// upsert each leave one row), and exactly once when the write was
	// acknowledged (the upsert's outcome does not matter).
	for _, o := range upserts {
		if o.typ == OK {
			rep.Stats.UpsertsOK++
		}
		for _, id := range o.inv.IDs {
			if n := count[id]; n > 1 || n == 0 && o.typ == OK {
				rep.anomaly(KindUpsertCount, fmt.Sprintf("%s was upserted (%s) and is %d times in the final read of the doomed table", id, o.typ, n), idxs(o, final)...)
			}
		}
	}
	for _, o := range deletes {
		if o.typ != OK {
			continue
		}
		rep.Stats.DeletesOK++
		for _, id := range o.inv.IDs {
			rep.Stats.DeletedRows++
			if present[id] {
				rep.Stats.Resurrected++
				rep.anomaly(KindResurrected, fmt.Sprintf("%s was deleted (acknowledged at %s) and is in the final read of the doomed table", id, fmtT(o.done.Time)), idxs(o, final)...)
			}
		}
	}
}

// pairOps matches invocations with completions, in invocation order.
func pairOps(events []Event) []*op {
	byOp := map[int]*op{}
	var out []*op
	for i := range events {
		e := &events[i]
		if e.Process == ProcNemesis || e.Op == 0 {
			continue
		}
		if e.Type == Invoke {
			o := &op{inv: e, typ: Info}
			byOp[e.Op] = o
			out = append(out, o)
			continue
		}
		if o := byOp[e.Op]; o != nil {
			o.done, o.typ = e, e.Type
		}
	}
	return out
}

func idxs(ops ...*op) []int {
	var out []int
	for _, o := range ops {
		if o == nil {
			continue
		}
		out = append(out, o.inv.Index)
		if o.done != nil {
			out = append(out, o.done.Index)
		}
	}
	return out
}

// diffReadSets describes how b differs from a ("" if equal as multisets of
// distinct ids and duplicates).
func diffReadSets(a, b *ReadSet) string {
	var only []string
	var missing []string
	for _, id := range a.IDs() {
		if !b.Has(id) {
			missing = append(missing, id)
		}
	}
	for _, id := range b.IDs() {
		if !a.Has(id) {
			only = append(only, id)
		}
	}
	if len(only) == 0 && len(missing) == 0 && strings.Join(a.Dups, ",") == strings.Join(b.Dups, ",") {
		return ""
	}
	return fmt.Sprintf("%d rows vs %d; missing %d %s; extra %d %s; duplicates %v vs %v",
		a.Count, b.Count, len(missing), firstFew(missing), len(only), firstFew(only), a.Dups, b.Dups)
}

func firstFew(ids []string) string {
	if len(ids) > 5 {
		return fmt.Sprintf("%v…", ids[:5])
	}
	return fmt.Sprint(ids)
}

func fmtT(ns int64) string {
	if ns == math.MaxInt64 {
		return "∞"
	}
	return fmt.Sprintf("%.3fs", float64(ns)/1e9)
}

// setInput is an operation on one client's grow-only set of sequence
// numbers: add [lo, hi], or read (the output is the seqSet read).
type setInput struct {
	add    bool
	lo, hi int
}

var setModel = porcupine.Model{
	Init: func() any { return seqSet(nil) },
	Step: func(state, input, output any) (bool, any) {
		s := state.(seqSet)
		in := input.(setInput)
		if in.add {
			return true, s.union(in.lo, in.hi)
		}
		got, _ := output.(seqSet)
		return s.equal(got), s
	},
	Equal: func(a, b any) bool { return a.(seqSet).equal(b.(seqSet)) },
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		for _, sp := range state.(seqSet) {
			fmt.Fprintf(h, "%d-%d,", sp.Lo, sp.Hi)
		}
		return h.Sum64()
	},
	DescribeOperation: func(input, output any) string {
		in := input.(setInput)
		if in.add {
			return fmt.Sprintf("add [%d..%d]", in.lo, in.hi)
		}
		got, _ := output.(seqSet)
		return fmt.Sprintf("read → {%s}", got)
	},
	DescribeState: func(state any) string { return "{" + state.(seqSet).String() + "}" },
}

// Excerpt formats the events of an anomaly with the nemesis events around
// them, one per line.
func Excerpt(events []Event, a Anomaly) string {
	if len(a.Events) == 0 {
		return ""
	}
	want := map[int]bool{}
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, i := range a.Events {
		if i >= 0 && i < len(events) {
			want[i] = true
			lo, hi = min(lo, events[i].Time), max(hi, events[i].Time)
		}
	}
	var b strings.Builder
	for i, e := range events {
		if want[i] || (e.Process == ProcNemesis && e.Time >= lo-5e9 && e.Time <= hi+1e9) {
			b.WriteString("  " + FormatEvent(e) + "\n")
		}
	}
	return b.String()
}

// FormatEvent renders one event on one line.
func FormatEvent(e Event) string {
	var b strings.Builder
	proc := fmt.Sprint("p", e.Process)
	switch e.Process {
	case ProcNemesis:
		proc = "nemesis"
	case ProcFinal:
		proc = "final"
	}
	fmt.Fprintf(&b, "#%d %s %s %s %s", e.Index, fmtT(e.Time), proc, e.Type, e.F)
	if e.Op != 0 {
		fmt.Fprintf(&b, " op=%d", e.Op)
	}
	if len(e.IDs) > 0 {
		fmt.Fprintf(&b, " %s", firstFew(e.IDs))
	}
	if e.Value != "" {
		fmt.Fprintf(&b, " %s", e.Value)
	}
	if e.Node != "" {
		fmt.Fprintf(&b, " via %s", e.Node)
	}
	if e.Read != nil {
		fmt.Fprintf(&b, " → %d rows", e.Read.Count)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " request_id=%s", e.RequestID)
	}
	for _, at := range e.Attempts {
		fmt.Fprintf(&b, " [%s %s→%s %s", at.Node, fmtT(at.Start), fmtT(at.End), at.Outcome)
		if at.RaftIndex != 0 {
			fmt.Fprintf(&b, " index=%d", at.RaftIndex)
		}
		if at.Duplicate {
			b.WriteString(" duplicate")
		}
		if at.Error != "" {
			fmt.Fprintf(&b, " %q", trunc(at.Error, 120))
		}
		b.WriteString("]")
	}
	if e.Error != "" {
		fmt.Fprintf(&b, " error=%q", trunc(e.Error, 160))
	}
	return b.String()
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// severity orders anomaly kinds for the summary: the worst comes first.
var severity = []string{KindLost, KindDuplicate, KindPhantom, KindFailedSeen, KindDiverged, KindStale, KindFuture, KindNonLinear, KindNoFinalRead}

// firstAnomaly returns the first anomaly of the most severe kind found.
func firstAnomaly(as []Anomaly) Anomaly {
	for _, k := range severity {
		for _, a := range as {
			if a.Kind == k {
				return a
			}
		}
	}
	return as[0]
}
