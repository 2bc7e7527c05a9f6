package jepsen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// hb builds synthetic histories with explicit times (in ms).
type hb struct {
	events []Event
	ops    int
}

func (b *hb) ev(e Event, ms int64) int {
	e.Index = len(b.events)
	e.Time = ms * 1e6
	b.events = append(b.events, e)
	return e.Op
}

// add records a write of the client's seqs [lo, hi] from t0 to t1 (typ
// "" leaves it without completion).
func (b *hb) add(client, lo, hi int, t0, t1 int64, typ string) {
	var ids []string
	for s := lo; s <= hi; s++ {
		ids = append(ids, rowID(client, s))
	}
	b.ops++
	b.ev(Event{Process: client, Type: Invoke, F: FAdd, Op: b.ops, IDs: ids}, t0)
	if typ != "" {
		b.ev(Event{Process: client, Type: typ, F: FAdd, Op: b.ops, IDs: ids, RequestID: "r"}, t1)
	}
}

func (b *hb) read(process int, f string, t0, t1 int64, node string, ids ...string) {
	b.ops++
	b.ev(Event{Process: process, Type: Invoke, F: f, Op: b.ops}, t0)
	b.ev(Event{Process: process, Type: OK, F: f, Op: b.ops, Node: node, Read: NewReadSet(ids)}, t1)
}

// del records a deleter's write-then-delete of ids.
func (b *hb) del(t0, t1 int64, typ string, ids ...string) {
	b.ops++
	b.ev(Event{Process: 9, Type: Invoke, F: FDelete, Op: b.ops, IDs: ids}, t0)
	b.ev(Event{Process: 9, Type: typ, F: FDelete, Op: b.ops, IDs: ids}, t1)
}

// ups records a deleter's write-then-upsert of ids.
func (b *hb) ups(t0, t1 int64, typ string, ids ...string) {
	b.ops++
	b.ev(Event{Process: 9, Type: Invoke, F: FUpsert, Op: b.ops, IDs: ids}, t0)
	b.ev(Event{Process: 9, Type: typ, F: FUpsert, Op: b.ops, IDs: ids}, t1)
}

// doomed records the final read of the doomed table.
func (b *hb) doomed(ids ...string) {
	b.ops++
	b.ev(Event{Process: ProcFinal, Type: Invoke, F: FReadDoomed, Op: b.ops}, 2e6)
	b.ev(Event{Process: ProcFinal, Type: OK, F: FReadDoomed, Op: b.ops, IDs: ids}, 2e6+1)
}

func (b *hb) final(ids ...string) {
	b.read(ProcFinal, FRead, 1e6, 1e6+1, "n1", ids...)
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		build func(b *hb)
		kinds []string // anomaly kinds expected (sorted by first appearance)
	}{
		{"clean", func(b *hb) {
			b.add(0, 1, 2, 0, 10, OK)
			b.add(1, 1, 1, 5, 15, OK)
			b.read(9, FRead, 20, 30, "n2", "c0-1", "c0-2", "c1-1")
			b.add(0, 3, 3, 40, 50, Info) // unknown, never seen
			b.add(1, 2, 2, 40, 50, Info) // unknown, seen at the end
			b.add(1, 3, 3, 60, 70, Fail) // certainly failed, absent
			b.read(9, FRead, 45, 46, "n1", "c0-1", "c0-2", "c1-1")
			b.final("c0-1", "c0-2", "c1-1", "c1-2")
		}, nil},
		{"lost", func(b *hb) {
			b.add(0, 1, 2, 0, 10, OK)
			b.final("c0-1")
		}, []string{KindLost, KindNonLinear}},
		{"duplicate at the end", func(b *hb) {
			b.add(0, 1, 1, 0, 10, OK)
			b.final("c0-1", "c0-1")
		}, []string{KindDuplicate}},
		{"unknown row twice", func(b *hb) {
			b.add(0, 1, 1, 0, 10, Info)
			b.final("c0-1", "c0-1")
		}, []string{KindDuplicate}},
		{"phantom", func(b *hb) {
			b.add(0, 1, 1, 0, 10, OK)
			b.final("c0-1", "c0-7", "zzz")
		}, []string{KindPhantom, KindPhantom, KindNonLinear}},
		{"failed write visible", func(b *hb) {
			b.add(0, 1, 1, 0, 10, Fail)
			b.final("c0-1")
		}, []string{KindFailedSeen}},
		{"stale read", func(b *hb) {
			b.add(0, 1, 1, 0, 10, OK)
			b.read(9, FRead, 20, 30, "n2")
			b.final("c0-1")
		}, []string{KindStale, KindNonLinear}},
		{"read from the future", func(b *hb) {
			b.read(9, FRead, 0, 5, "n2", "c0-1")
			b.add(0, 1, 1, 10, 20, OK)
			b.final("c0-1")
		}, []string{KindFuture, KindNonLinear}},
		{"unknown row comes and goes", func(b *hb) {
			// Only porcupine sees this: c0-2 is unknown, so neither
			// its presence nor its absence alone is wrong.
			b.add(0, 1, 1, 0, 10, OK)
			b.add(0, 2, 2, 20, 30, Info)
			b.read(9, FRead, 40, 50, "n2", "c0-1", "c0-2")
			b.read(9, FRead, 60, 70, "n2", "c0-1")
			b.final("c0-1")
		}, []string{KindNonLinear}},
		{"pending add seen by a concurrent read", func(b *hb) {
			b.add(0, 1, 1, 0, 100, OK)
			b.read(9, FRead, 10, 20, "n2", "c0-1")
			b.read(8, FRead, 30, 40, "n1", "c0-1")
			b.final("c0-1")
		}, nil},
		{"replicas diverge", func(b *hb) {
			b.add(0, 1, 2, 0, 10, OK)
			b.final("c0-1", "c0-2")
			b.read(ProcFinal, FReadLocal, 1e6+2, 1e6+3, "n3", "c0-1")
		}, []string{KindDiverged}},
		{"no final read", func(b *hb) {
			b.add(0, 1, 1, 0, 10, OK)
		}, []string{KindNoFinalRead}},
		{"deletes hold", func(b *hb) {
			b.add(0, 1, 1, 0, 10, OK)
			b.del(20, 30, OK, "x9-1", "x9-2")
			b.del(40, 50, Info, "x9-3") // unknown: may be present
			b.final("c0-1")
			b.doomed("x9-3")
		}, nil},
		{"deleted row back", func(b *hb) {
			b.add(0, 1, 1, 0, 10, OK)
			b.del(20, 30, OK, "x9-1", "x9-2")
			b.final("c0-1")
			b.doomed("x9-2")
		}, []string{KindResurrected}},
		{"upserts hold", func(b *hb) {
			b.add(0, 1, 1, 0, 10, OK)
			b.ups(20, 30, OK, "u9-1")
			b.ups(40, 50, Info, "u9-2", "u9-3") // unknown: at most once each
			b.final("c0-1")
			b.doomed("u9-1", "u9-3")
		}, nil},
		{"upserted row twice", func(b *hb) {
			b.add(0, 1, 1, 0, 10, OK)
			b.ups(20, 30, OK, "u9-1", "u9-2")
			b.final("c0-1")
			b.doomed("u9-1", "u9-1", "u9-2")
		}, []string{KindUpsertCount}},
		{"upserted row missing", func(b *hb) {
			b.add(0, 1, 1, 0, 10, OK)
			b.ups(20, 30, OK, "u9-1")
			b.final("c0-1")
			b.doomed()
		}, []string{KindUpsertCount}},
		{"deletes without a final read", func(b *hb) {
			b.add(0, 1, 1, 0, 10, OK)
			b.del(20, 30, OK, "x9-1")
			b.final("c0-1")
		}, []string{KindNoFinalRead}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &hb{}
			tt.build(b)
			rep := Check(b.events, CheckOptions{VisualizeDir: t.TempDir()})
			var kinds []string
			for _, a := range rep.Anomalies {
				kinds = append(kinds, a.Kind)
			}
			if !reflect.DeepEqual(kinds, tt.kinds) {
				t.Errorf("anomalies %v, want %v", kinds, tt.kinds)
				for _, a := range rep.Anomalies {
					t.Logf("%s: %s\n%s", a.Kind, a.Message, Excerpt(b.events, a))
				}
			}
			if rep.Valid != (len(tt.kinds) == 0) {
				t.Errorf("valid = %v with %v", rep.Valid, kinds)
			}
			for _, n := range rep.Notes {
				t.Errorf("note: %s", n)
			}
		})
	}
}

func TestCheckCounts(t *testing.T) {
	b := &hb{}
	b.add(0, 1, 2, 0, 10, OK)
	b.add(0, 3, 3, 20, 30, Info)
	b.add(0, 4, 4, 40, 50, Info)
	b.add(1, 1, 3, 0, 10, Fail)
	b.add(1, 4, 4, 20, 30, OK)
	b.ev(Event{Process: ProcNemesis, Type: Info, F: "fault", Value: "kill-leader: SIGKILL n1"}, 35)
	b.read(9, FRead, 60, 70, "n1", "c0-1", "c0-2", "c0-3", "c1-4")
	b.final("c0-1", "c0-2", "c0-3")
	rep := Check(b.events, CheckOptions{})
	want := Stats{AddOps: 5, AddOK: 2, AddFail: 1, AddInfo: 2, Attempted: 8, Acked: 3, FailedRows: 3, Unknown: 2,
		UnknownPresent: 1, Lost: 1, Reads: 1, ReadsOK: 1, FinalRows: 3, Faults: 1}
	if rep.Stats != want {
		t.Errorf("stats\n%+v, want\n%+v", rep.Stats, want)
	}
	if rep.Counts[KindLost] != 1 {
		t.Errorf("counts %v", rep.Counts)
	}
	ex := Excerpt(b.events, rep.Anomalies[0])
	if !strings.Contains(ex, "kill-leader") || !strings.Contains(ex, "c1-4") {
		t.Errorf("excerpt lacks the fault or the row:\n%s", ex)
	}
}

func TestSeqSet(t *testing.T) {
	s, dups := newSeqSet([]int{5, 1, 2, 3, 3, 9, 8, 5, 5})
	if got := s.String(); got != "1-3,5,8-9" {
		t.Errorf("set %s", got)
	}
	if !reflect.DeepEqual(dups, []int{3, 5}) {
		t.Errorf("dups %v", dups)
	}
	for x, want := range map[int]bool{0: false, 1: true, 3: true, 4: false, 5: true, 6: false, 8: true, 9: true, 10: false} {
		if s.contains(x) != want {
			t.Errorf("contains(%d) = %v", x, !want)
		}
	}
	for _, tt := range []struct {
		lo, hi int
		want   string
	}{
		{4, 4, "1-5,8-9"},
		{6, 7, "1-3,5-9"},
		{11, 12, "1-3,5,8-9,11-12"},
		{0, 20, "0-20"},
		{10, 10, "1-3,5,8-10"},
		{2, 2, "1-3,5,8-9"},
	} {
		if got := s.union(tt.lo, tt.hi).String(); got != tt.want {
			t.Errorf("union(%d,%d) = %s, want %s", tt.lo, tt.hi, got, tt.want)
		}
	}
	if s.String() != "1-3,5,8-9" {
		t.Errorf("union changed its receiver: %s", s)
	}
	var empty seqSet
	if got := empty.union(3, 4).String(); got != "3-4" {
		t.Errorf("empty union %s", got)
	}
}

func TestParseID(t *testing.T) {
	for id, ok := range map[string]bool{"c0-1": true, "c12-345": true, "c1-0": false, "c01-1": false, "c1-01": false, "x1-1": false, "c1": false, "c-1-1": false} {
		if _, _, got := parseID(id); got != ok {
			t.Errorf("parseID(%q) ok = %v", id, got)
		}
	}
}

func TestReadSetJSON(t *testing.T) {
	r := NewReadSet([]string{"c0-1", "c0-2", "c1-5", "c0-2", "odd", "c0-4"})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back ReadSet
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, r) {
		t.Errorf("round trip %s:\n%+v\n%+v", b, back, *r)
	}
	if r.Distinct() != 5 || r.Count != 6 || !reflect.DeepEqual(r.Dups, []string{"c0-2"}) {
		t.Errorf("distinct %d count %d dups %v", r.Distinct(), r.Count, r.Dups)
	}
	if !r.Has("odd") || !r.Has("c1-5") || r.Has("c0-3") {
		t.Error("Has")
	}
}

func TestHistoryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	h, err := NewHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	inv := h.Invoke(0, FAdd, []string{"c0-1"})
	h.Complete(inv, OK, func(e *Event) { e.Attempts = []Attempt{{Node: "n1", Outcome: "ok"}} })
	r := h.Invoke(1, FRead, nil)
	h.Complete(r, OK, func(e *Event) { e.Read = NewReadSet([]string{"c0-1"}) })
	h.Note("fault", "x")
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, h.Events()) {
		t.Errorf("file and memory differ:\n%+v\n%+v", got, h.Events())
	}
}

// TestCheckFile re-checks a recorded history: JEPSEN_HISTORY=path/history.jsonl.
func TestCheckFile(t *testing.T) {
	path := os.Getenv("JEPSEN_HISTORY")
	if path == "" {
		t.Skip("set JEPSEN_HISTORY to a history.jsonl to check it")
	}
	events, err := ReadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep := Check(events, CheckOptions{VisualizeDir: filepath.Dir(path)})
	t.Logf("checked %d events in %v: valid %v, linearizable %s, stats %+v, counts %v", len(events), time.Since(start), rep.Valid, rep.Linearizable, rep.Stats, rep.Counts)
	for _, n := range rep.Notes {
		t.Logf("note: %s", n)
	}
	if !rep.Valid {
		a := firstAnomaly(rep.Anomalies)
		t.Errorf("%s: %s\n%s", a.Kind, a.Message, Excerpt(events, a))
	}
}
