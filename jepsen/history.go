package jepsen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event types, as in Jepsen: an operation is invoked, then completes as ok
// (it happened), fail (it certainly did not happen) or info (unknown: it
// may or may not have happened, now or later).
const (
	Invoke = "invoke"
	OK     = "ok"
	Fail   = "fail"
	Info   = "info"
)

// Operation functions.
const (
	FAdd       = "add"        // add a batch of ids (one write request)
	FRead      = "read"       // strong read of every id
	FReadLocal = "read-local" // local read of one node's replica, after the run
	// FDelete writes a batch of ids to DoomedTable and then deletes them:
	// ok once the delete is acknowledged.
	FDelete = "delete"
	// FUpsert writes a batch of ids to DoomedTable and then upserts the
	// same ids: ok once the upsert is acknowledged.
	FUpsert = "upsert"
	// FReadDoomed is the final strong read of DoomedTable's ids (in IDs).
	FReadDoomed = "read-doomed"
)

// Process numbers that are not clients.
const (
	ProcNemesis = -1
	ProcFinal   = -2
)

// Event is one line of the history. Times are nanoseconds since the run
// started, from the monotonic clock; events are in time order.
type Event struct {
	Index   int    `json:"index"`
	Time    int64  `json:"time"`
	Process int    `json:"process"`
	Type    string `json:"type"`
	F       string `json:"f"`
	// Op pairs an invocation with its completion (0 for nemesis events).
	Op int `json:"op,omitempty"`
	// Add: the ids of the batch (invoke and completion).
	IDs []string `json:"ids,omitempty"`
	// Read completions: what the read returned.
	Read *ReadSet `json:"read,omitempty"`
	// Nemesis events and notes: what happened.
	Value string `json:"value,omitempty"`
	// Node the read went to; for writes see Attempts.
	Node      string    `json:"node,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	Attempts  []Attempt `json:"attempts,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// Attempt is one HTTP request of a write (retries keep the request id).
type Attempt struct {
	Node      string `json:"node"`
	Start     int64  `json:"start"`
	End       int64  `json:"end"`
	Outcome   string `json:"outcome"`
	RaftIndex uint64 `json:"raft_index,omitempty"`
	Duplicate bool   `json:"duplicate,omitempty"`
	Error     string `json:"error,omitempty"`
}

// History records events in memory and as JSON lines in a file.
type History struct {
	mu     sync.Mutex
	start  time.Time
	events []Event
	ops    int
	f      *os.File
	w      *bufio.Writer
}

// NewHistory starts a history whose times count from now; path may be ""
// (memory only).
func NewHistory(path string) (*History, error) {
	h := &History{start: time.Now()}
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		h.f, h.w = f, bufio.NewWriterSize(f, 1<<20)
	}
	return h, nil
}

// Now returns the time since the run started.
func (h *History) Now() int64 { return int64(time.Since(h.start)) }

func (h *History) add(e Event) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	e.Index = len(h.events)
	e.Time = int64(time.Since(h.start))
	if e.Type == Invoke {
		h.ops++
		e.Op = h.ops
	}
	h.events = append(h.events, e)
	if h.w != nil {
		b, _ := json.Marshal(e)
		h.w.Write(b)
		h.w.WriteByte('\n')
	}
	return e
}

// Invoke records an invocation and returns it (with its Op number).
func (h *History) Invoke(process int, f string, ids []string) Event {
	return h.add(Event{Process: process, Type: Invoke, F: f, IDs: ids})
}

// Complete records the completion of inv; typ is OK, Fail or Info.
func (h *History) Complete(inv Event, typ string, fill func(*Event)) Event {
	e := Event{Process: inv.Process, Type: typ, F: inv.F, Op: inv.Op, IDs: inv.IDs}
	if fill != nil {
		fill(&e)
	}
	return h.add(e)
}

// Note records a nemesis or harness event.
func (h *History) Note(f, value string) {
	h.add(Event{Process: ProcNemesis, Type: Info, F: f, Value: value})
}

// Events returns a copy of the events so far.
func (h *History) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

// Close flushes and closes the file.
func (h *History) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w == nil {
		return nil
	}
	err := h.w.Flush()
	if cerr := h.f.Close(); err == nil {
		err = cerr
	}
	h.w = nil
	return err
}

// ReadHistory loads a history file written by History.
func ReadHistory(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, len(out)+1, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// rowID is the id of a client's seq-th row.
func rowID(client, seq int) string { return fmt.Sprintf("c%d-%d", client, seq) }

// parseID splits "c<client>-<seq>"; ok is false for anything else.
func parseID(id string) (client, seq int, ok bool) {
	rest, found := strings.CutPrefix(id, "c")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	c, err1 := strconv.Atoi(a)
	s, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || c < 0 || s < 1 || rowID(c, s) != id {
		return 0, 0, false
	}
	return c, s, true
}

// span is an inclusive range of sequence numbers.
type span struct{ Lo, Hi int }

// seqSet is a set of sequence numbers as sorted, disjoint, non-adjacent
// spans. Reads return mostly contiguous prefixes, so sets stay small.
type seqSet []span

// newSeqSet builds a set from numbers in any order and reports the
// numbers that occur more than once.
func newSeqSet(seqs []int) (seqSet, []int) {
	sort.Ints(seqs)
	var s seqSet
	var dups []int
	for i, x := range seqs {
		if i > 0 && seqs[i-1] == x {
			if len(dups) == 0 || dups[len(dups)-1] != x {
				dups = append(dups, x)
			}
			continue
		}
		if n := len(s); n > 0 && s[n-1].Hi+1 == x {
			s[n-1].Hi = x
		} else {
			s = append(s, span{x, x})
		}
	}
	return s, dups
}

func (s seqSet) contains(x int) bool {
	i := sort.Search(len(s), func(i int) bool { return s[i].Hi >= x })
	return i < len(s) && s[i].Lo <= x
}

func (s seqSet) size() int {
	n := 0
	for _, sp := range s {
		n += sp.Hi - sp.Lo + 1
	}
	return n
}

// union returns s ∪ [lo, hi] as a new set.
func (s seqSet) union(lo, hi int) seqSet {
	out := make(seqSet, 0, len(s)+1)
	placed := false
	for _, sp := range s {
		switch {
		case sp.Hi+1 < lo:
			out = append(out, sp)
		case hi+1 < sp.Lo:
			if !placed {
				out = append(out, span{lo, hi})
				placed = true
			}
			out = append(out, sp)
		default: // overlaps or touches: merge into [lo, hi]
			lo, hi = min(lo, sp.Lo), max(hi, sp.Hi)
		}
	}
	if !placed {
		out = append(out, span{lo, hi})
		sort.Slice(out, func(i, j int) bool { return out[i].Lo < out[j].Lo })
	}
	return out
}

func (s seqSet) equal(t seqSet) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

func (s seqSet) String() string {
	var b strings.Builder
	for i, sp := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		if sp.Lo == sp.Hi {
			fmt.Fprint(&b, sp.Lo)
		} else {
			fmt.Fprintf(&b, "%d-%d", sp.Lo, sp.Hi)
		}
	}
	return b.String()
}

func parseSeqSet(str string) (seqSet, error) {
	var s seqSet
	if str == "" {
		return s, nil
	}
	for _, part := range strings.Split(str, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.Atoi(a)
		if err != nil {
			return nil, err
		}
		hi := lo
		if isRange {
			if hi, err = strconv.Atoi(b); err != nil {
				return nil, err
			}
		}
		s = append(s, span{lo, hi})
	}
	return s, nil
}

// ReadSet is what a read returned, kept compact: per client, the set of
// sequence numbers; ids not of the form c<client>-<seq> verbatim; ids that
// came back more than once.
type ReadSet struct {
	Count   int            `json:"count"`
	Clients map[int]seqSet `json:"-"`
	Extra   []string       `json:"extra,omitempty"`
	Dups    []string       `json:"dups,omitempty"`
}

// NewReadSet builds a ReadSet from the ids a read returned.
func NewReadSet(ids []string) *ReadSet {
	r := &ReadSet{Count: len(ids), Clients: map[int]seqSet{}}
	per := map[int][]int{}
	extra := map[string]int{}
	for _, id := range ids {
		c, s, ok := parseID(id)
		if !ok {
			extra[id]++
			continue
		}
		per[c] = append(per[c], s)
	}
	for c, seqs := range per {
		set, dups := newSeqSet(seqs)
		r.Clients[c] = set
		for _, d := range dups {
			r.Dups = append(r.Dups, rowID(c, d))
		}
	}
	for id, n := range extra {
		r.Extra = append(r.Extra, id)
		if n > 1 {
			r.Dups = append(r.Dups, id)
		}
	}
	sort.Strings(r.Extra)
	sort.Strings(r.Dups)
	return r
}

// Has reports whether the read returned id.
func (r *ReadSet) Has(id string) bool {
	c, s, ok := parseID(id)
	if !ok {
		for _, e := range r.Extra {
			if e == id {
				return true
			}
		}
		return false
	}
	return r.Clients[c].contains(s)
}

// Distinct is the number of distinct ids returned.
func (r *ReadSet) Distinct() int {
	n := len(r.Extra)
	for _, s := range r.Clients {
		n += s.size()
	}
	return n
}

// IDs lists every distinct id, clients in order.
func (r *ReadSet) IDs() []string {
	var cs []int
	for c := range r.Clients {
		cs = append(cs, c)
	}
	sort.Ints(cs)
	var out []string
	for _, c := range cs {
		for _, sp := range r.Clients[c] {
			for s := sp.Lo; s <= sp.Hi; s++ {
				out = append(out, rowID(c, s))
			}
		}
	}
	return append(out, r.Extra...)
}

type readSetJSON struct {
	Count   int               `json:"count"`
	Clients map[string]string `json:"clients,omitempty"`
	Extra   []string          `json:"extra,omitempty"`
	Dups    []string          `json:"dups,omitempty"`
}

func (r *ReadSet) MarshalJSON() ([]byte, error) {
	j := readSetJSON{Count: r.Count, Extra: r.Extra, Dups: r.Dups, Clients: map[string]string{}}
	for c, s := range r.Clients {
		j.Clients[fmt.Sprint("c", c)] = s.String()
	}
	return json.Marshal(j)
}

func (r *ReadSet) UnmarshalJSON(b []byte) error {
	var j readSetJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	r.Count, r.Extra, r.Dups, r.Clients = j.Count, j.Extra, j.Dups, map[int]seqSet{}
	for k, v := range j.Clients {
		c, err := strconv.Atoi(strings.TrimPrefix(k, "c"))
		if err != nil {
			return fmt.Errorf("read set: client %q", k)
		}
		if r.Clients[c], err = parseSeqSet(v); err != nil {
			return fmt.Errorf("read set: client %q: %w", k, err)
		}
	}
	return nil
}
