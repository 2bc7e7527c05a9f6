package raftfsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const (
	tBigint    = v1.ColumnType_COLUMN_TYPE_BIGINT
	tDouble    = v1.ColumnType_COLUMN_TYPE_DOUBLE
	tVarchar   = v1.ColumnType_COLUMN_TYPE_VARCHAR
	tTimestamp = v1.ColumnType_COLUMN_TYPE_TIMESTAMP
)

// batch builds a RowBatch of n rows with ts and one more column.
func batch(n int, col string, typ v1.ColumnType) *v1.RowBatch {
	b := &v1.RowBatch{RowCount: int64(n), Columns: []*v1.Column{{Name: "ts", Type: tTimestamp}, {Name: col, Type: typ}}}
	ts := &v1.ColumnVector{}
	v := &v1.ColumnVector{}
	for i := 0; i < n; i++ {
		ts.Ints = append(ts.Ints, int64(i))
		switch typ {
		case tBigint:
			v.Ints = append(v.Ints, int64(i))
		case tDouble:
			v.Doubles = append(v.Doubles, float64(i)+0.5)
		case tVarchar:
			v.Strings = append(v.Strings, fmt.Sprint("s", i))
		}
	}
	b.Vectors = []*v1.ColumnVector{ts, v}
	return b
}

func insert(table, reqID string, parts map[string]*v1.RowBatch) *v1.Command {
	c := &v1.InsertCommand{Table: table, RequestId: reqID, Create: &v1.TableSpec{Name: table, Partitioning: v1.Partitioning_PARTITIONING_DAY}}
	for _, p := range sortedKeys(parts) {
		c.Batches = append(c.Batches, &v1.PartitionBatch{Partition: p, Rows: parts[p]})
	}
	return &v1.Command{Cmd: &v1.Command_Insert{Insert: c}}
}

func flushCommit(table string, created uint64, part string, from, upto uint64, rows int64) *v1.Command {
	return &v1.Command{Cmd: &v1.Command_FlushCommit{FlushCommit: &v1.FlushCommitCommand{
		TableCreatedIndex: created,
		File: &v1.DataFile{Key: fmt.Sprintf("data/%s/%d/%s/%d.parquet", table, created, part, upto),
			Table: table, Partition: part, FromIndex: from, UptoIndex: upto, RowCount: rows},
	}}}
}

type harness struct {
	t     *testing.T
	fsm   *FSM
	index uint64
}

func (h *harness) apply(c *v1.Command) *Result {
	h.t.Helper()
	data, err := EncodeCommand(c)
	if err != nil {
		h.t.Fatal(err)
	}
	h.index++
	r, ok := h.fsm.Apply(&raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: data}).(*Result)
	if !ok {
		h.t.Fatalf("Apply returned %T", r)
	}
	return r
}

func TestApply(t *testing.T) {
	h := &harness{t: t, fsm: New(nil)}
	// 1: insert creates the table.
	if r := h.apply(insert("events", "a", map[string]*v1.RowBatch{"2026-01-01": batch(3, "value", tBigint)})); r.Err != nil || r.Rows != 3 {
		t.Fatalf("insert: %+v", r)
	}
	// 2: same request id: duplicate, nothing applied.
	if r := h.apply(insert("events", "a", map[string]*v1.RowBatch{"2026-01-01": batch(3, "value", tBigint)})); !r.Duplicate || r.Index != 1 {
		t.Fatalf("retry: %+v", r)
	}
	// 3: widening BIGINT → DOUBLE.
	if r := h.apply(insert("events", "b", map[string]*v1.RowBatch{"2026-01-02": batch(2, "value", tDouble)})); r.Err != nil {
		t.Fatalf("widen: %v", r.Err)
	}
	v, _ := h.fsm.Table("events")
	if got := v.Spec.Columns[1].Type; got != tDouble {
		t.Fatalf("value column is %v after widening", got)
	}
	// 4: conflict VARCHAR vs DOUBLE: rejected, state unchanged.
	before, _ := h.fsm.Table("events")
	if r := h.apply(insert("events", "c", map[string]*v1.RowBatch{"2026-01-02": batch(2, "value", tVarchar)})); r.Err == nil {
		t.Fatal("conflicting type accepted")
	}
	after, _ := h.fsm.Table("events")
	if rb, _ := before.HotRows(); rb != 5 {
		t.Fatalf("hot rows before: %d", rb)
	}
	if ra, _ := after.HotRows(); ra != 5 {
		t.Fatalf("hot rows after a rejected insert: %d", ra)
	}
	// 5: flush of partition 2026-01-01 up to 1.
	if r := h.apply(flushCommit("events", 1, "2026-01-01", 0, 1, 3)); r.Err != nil || r.Rows != 3 {
		t.Fatalf("flush: %+v", r)
	}
	// 6: the same flush again: a no-op.
	if r := h.apply(flushCommit("events", 1, "2026-01-01", 0, 1, 3)); !r.Duplicate || r.Index != 5 {
		t.Fatalf("repeated flush: %+v", r)
	}
	// 7: another object for the same rows (a lagging leader's upload): not
	// a duplicate of the committed file, rejected (issue 8, item 7).
	other := flushCommit("events", 1, "2026-01-01", 0, 1, 3)
	other.GetFlushCommit().File.Key += ".other"
	if r := h.apply(other); !errors.Is(r.Err, ErrStaleFlush) || r.Duplicate {
		t.Fatalf("flush of another object for committed rows: %+v", r)
	}
	// 8: a flush planned against an older state: rejected.
	h.apply(insert("events", "d", map[string]*v1.RowBatch{"2026-01-01": batch(4, "value", tBigint)})) // index 8
	if r := h.apply(flushCommit("events", 1, "2026-01-01", 0, 8, 4)); !errors.Is(r.Err, ErrStaleFlush) {
		t.Fatalf("stale flush: %+v", r)
	}
	// 10: a flush whose row count disagrees with the buffer: rejected.
	if r := h.apply(flushCommit("events", 1, "2026-01-01", 1, 8, 5)); !errors.Is(r.Err, ErrStaleFlush) {
		t.Fatalf("miscounted flush: %+v", r)
	}
	// 11: a flush for a table incarnation that is gone: rejected.
	if r := h.apply(flushCommit("events", 99, "2026-01-01", 1, 8, 4)); !errors.Is(r.Err, ErrTableNotFound) {
		t.Fatalf("flush of another incarnation: %+v", r)
	}
	v, _ = h.fsm.Table("events")
	if len(v.Files) != 1 || v.Files[0].LiveIndex != 5 {
		t.Fatalf("files: %v", v.Files)
	}
	if rows, _ := v.HotRows(); rows != 6 {
		t.Fatalf("hot rows: %d, want 6", rows)
	}
	// What the collector may delete: nothing the catalog names, no rows
	// that are still hot, but an object for flushed rows that no entry
	// names, and anything of a gone incarnation.
	committed := v.Files[0].Key
	for _, tc := range []struct {
		key     string
		created uint64
		upto    uint64
		want    bool
	}{
		{committed, 1, 1, false},
		{"orphan-flushed", 1, 1, true},
		{"orphan-hot", 1, 8, false},
		{"orphan-old-incarnation", 0, 8, true},
		{"orphan-future-incarnation", 1000, 8, false},
	} {
		if got := h.fsm.ObjectUnneeded(tc.key, "events", tc.created, "2026-01-01", tc.upto); got != tc.want {
			t.Errorf("ObjectUnneeded(%s) = %v, want %v", tc.key, got, tc.want)
		}
	}
	// 12: drop moves the file to pending deletes.
	if r := h.apply(&v1.Command{Cmd: &v1.Command_DropTable{DropTable: &v1.DropTableCommand{Name: "events", UnixMicros: 42}}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if p := h.fsm.PendingDeletes(); len(p) != 1 || p[0].UnixMicros != 42 {
		t.Fatalf("pending deletes: %v", p)
	}
	if r := h.apply(&v1.Command{Cmd: &v1.Command_ForgetObjects{ForgetObjects: &v1.ForgetObjectsCommand{Keys: []string{h.fsm.PendingDeletes()[0].Key}}}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if p := h.fsm.PendingDeletes(); len(p) != 0 {
		t.Fatalf("pending deletes after forget: %v", p)
	}
	if h.fsm.AppliedIndex() != h.index {
		t.Fatalf("applied %d, want %d", h.fsm.AppliedIndex(), h.index)
	}
}

func TestApplyRejectsBadEntries(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"unknown envelope", []byte{0x02, 0x00}},
		{"garbage with a valid checksum", withCRC([]byte{0xff, 0xff, 0xff})},
		{"no command", withCRC(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(nil)
			r := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: tt.data}).(*Result)
			if !errors.Is(r.Err, ErrBadCommand) {
				t.Fatalf("got %v, want ErrBadCommand", r.Err)
			}
		})
	}
	// A batch whose vectors disagree with its row count.
	h := &harness{t: t, fsm: New(nil)}
	b := batch(3, "value", tBigint)
	b.Vectors[1].Ints = b.Vectors[1].Ints[:2]
	if r := h.apply(insert("t", "", map[string]*v1.RowBatch{"p": b})); !errors.Is(r.Err, ErrBadCommand) {
		t.Fatalf("short vector: %v", r.Err)
	}
	if h.fsm.Exists("t") {
		t.Fatal("a rejected insert created its table")
	}
}

// withCRC wraps payload bytes in a version-1 envelope with a good checksum.
func withCRC(payload []byte) []byte {
	b := make([]byte, envelopeHeader, envelopeHeader+len(payload))
	b[0] = envelopeV1
	b = append(b, payload...)
	binary.LittleEndian.PutUint32(b[1:envelopeHeader], crc32.Checksum(payload, castagnoli))
	return b
}

// TestCorruptEntryStopsTheNode: a flipped bit anywhere in an entry is
// detected, and Apply refuses to go on (it panics) instead of applying a
// different state than the other replicas.
func TestCorruptEntryStopsTheNode(t *testing.T) {
	good, _ := EncodeCommand(insert("t", "r", map[string]*v1.RowBatch{"p": batch(3, "v", tVarchar)}))
	for i := 1; i < len(good); i++ {
		bad := bytes.Clone(good)
		bad[i] ^= 0x08
		if _, err := DecodeCommand(bad); !errors.Is(err, ErrCorruptEntry) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "re-join") {
			t.Fatalf("Apply of a corrupt entry: %v", r)
		}
	}()
	New(nil).Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: bad})
}

type memSink struct {
	bytes.Buffer
	canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.canceled = true; return nil }
func (s *memSink) Close() error  { return nil }

// fingerprint renders the whole state for comparison.
func fingerprint(f *FSM) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var b bytes.Buffer
	fmt.Fprintf(&b, "applied=%d pending=%v requests=%v\n", f.applied, f.pending, f.liveRequests())
	for _, id := range sortedKeys(f.members) {
		fmt.Fprintf(&b, "member %v\n", f.members[id])
	}
	fmt.Fprintf(&b, "auth=%t\n", f.auth.Load())
	tokens := *f.tokens.Load()
	for _, id := range sortedKeys(tokens) {
		fmt.Fprintf(&b, "token %v\n", tokens[id])
	}
	for _, a := range f.audit {
		fmt.Fprintf(&b, "audit %v\n", a)
	}
	for _, name := range f.tableNames() {
		t := f.tables[name]
		fmt.Fprintf(&b, "table %s created=%d spec=%v files=%v\n", name, t.createdIndex, t.spec, t.files)
		for _, pn := range sortedKeys(t.parts) {
			p := t.parts[pn]
			fmt.Fprintf(&b, " part %s upto=%d rows=%d bytes=%d\n", pn, p.flushedUpto, p.rows, p.bytes)
			for _, hb := range p.batches {
				raw, _ := proto.MarshalOptions{Deterministic: true}.Marshal(hb.Rows)
				fmt.Fprintf(&b, "  batch %d %x\n", hb.Index, raw)
			}
		}
	}
	return b.String()
}

// snapshotInto takes a snapshot of from and restores it into to.
func snapshotInto(t *testing.T, from, to *FSM) error {
	t.Helper()
	snap, err := from.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return to.Restore(io.NopCloser(bytes.NewReader(sink.Bytes())))
}

// TestSnapshotRestoreProperty applies random command sequences and checks
// that snapshot+restore reproduces the state exactly, also when more
// entries are applied to both copies afterwards.
func TestSnapshotRestoreProperty(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		h := &harness{t: t, fsm: New(nil)}
		h.fsm.dedupeLimit = 5
		randomCommands(h, rng, 40)
		restored := New(nil)
		restored.dedupeLimit = 5
		if err := snapshotInto(t, h.fsm, restored); err != nil {
			t.Fatalf("seed %d: restore: %v", seed, err)
		}
		if a, b := fingerprint(h.fsm), fingerprint(restored); a != b {
			t.Fatalf("seed %d: restored state differs:\n%s\nvs\n%s", seed, a, b)
		}
		// Both copies must keep evolving identically.
		h2 := &harness{t: t, fsm: restored, index: h.index}
		rng2 := rand.New(rand.NewPCG(seed+100, seed))
		rng3 := rand.New(rand.NewPCG(seed+100, seed))
		randomCommands(h, rng2, 20)
		randomCommands(h2, rng3, 20)
		if a, b := fingerprint(h.fsm), fingerprint(restored); a != b {
			t.Fatalf("seed %d: states diverge after restore", seed)
		}
		for _, f := range []*FSM{h.fsm, restored} {
			if err := checkPartitionIndex(f); err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
		}
	}
}

// checkPartitionIndex checks that every partition's file list holds
// exactly the table's live files of that partition, in table order.
func checkPartitionIndex(f *FSM) error {
	for _, v := range f.Tables() {
		byPart := map[string][]string{}
		for _, file := range v.Files {
			byPart[file.Partition] = append(byPart[file.Partition], file.Key)
		}
		seen := 0
		for _, p := range v.Partitions {
			var keys []string
			for _, file := range p.Files {
				keys = append(keys, file.Key)
			}
			if !slices.Equal(keys, byPart[p.Name]) {
				return fmt.Errorf("table %s partition %s lists %v, the table %v", v.Spec.Name, p.Name, keys, byPart[p.Name])
			}
			seen += len(keys)
		}
		if seen != len(v.Files) {
			return fmt.Errorf("table %s: partitions list %d files, the table %d", v.Spec.Name, seen, len(v.Files))
		}
	}
	return nil
}

func randomCommands(h *harness, rng *rand.Rand, n int) {
	tables := []string{"a", "b"}
	parts := []string{"p1", "p2"}
	types := []v1.ColumnType{tBigint, tDouble, tVarchar}
	for i := 0; i < n; i++ {
		table := tables[rng.IntN(len(tables))]
		switch rng.IntN(11) {
		case 10:
			// Merge two live files of a partition (or try to).
			v, ok := h.fsm.Table(table)
			if !ok || len(v.Files) < 2 {
				continue
			}
			a, b := v.Files[rng.IntN(len(v.Files))], v.Files[rng.IntN(len(v.Files))]
			if a.Partition != b.Partition || a.Key == b.Key {
				continue
			}
			h.apply(&v1.Command{Cmd: &v1.Command_CompactionCommit{CompactionCommit: &v1.CompactionCommitCommand{
				Table: table, TableCreatedIndex: v.CreatedIndex, Partition: a.Partition, Inputs: []string{a.Key, b.Key}, UnixMicros: int64(i),
				Output: &v1.DataFile{Key: fmt.Sprintf("data/%s/%d/%s/m%d.parquet", table, v.CreatedIndex, a.Partition, i),
					Table: table, Partition: a.Partition, RowCount: a.RowCount + b.RowCount},
			}}})
		case 0, 1, 2, 3, 4, 5:
			h.apply(insert(table, fmt.Sprint("r", rng.IntN(12)), map[string]*v1.RowBatch{
				parts[rng.IntN(2)]: batch(1+rng.IntN(5), "v", types[rng.IntN(3)]),
			}))
		case 6, 7:
			v, ok := h.fsm.Table(table)
			if !ok || len(v.Partitions) == 0 {
				continue
			}
			p := v.Partitions[rng.IntN(len(v.Partitions))]
			if len(p.Batches) == 0 {
				continue
			}
			k := 1 + rng.IntN(len(p.Batches))
			var rows int64
			for _, b := range p.Batches[:k] {
				rows += b.Rows.RowCount
			}
			h.apply(flushCommit(table, v.CreatedIndex, p.Name, p.FlushedUpto, p.Batches[k-1].Index, rows))
		case 8:
			h.apply(&v1.Command{Cmd: &v1.Command_DropTable{DropTable: &v1.DropTableCommand{Name: table, IfExists: true, UnixMicros: int64(i)}}})
		case 9:
			if rng.IntN(2) == 0 {
				h.apply(&v1.Command{Cmd: &v1.Command_SetMember{SetMember: &v1.SetMemberCommand{NodeId: fmt.Sprint("n", rng.IntN(3)), HttpAddr: fmt.Sprint("h:", i)}}})
				continue
			}
			if p := h.fsm.PendingDeletes(); len(p) > 0 {
				h.apply(&v1.Command{Cmd: &v1.Command_ForgetObjects{ForgetObjects: &v1.ForgetObjectsCommand{Keys: []string{p[0].Key}}}})
			}
		}
	}
}

func TestRestoreRejectsDamage(t *testing.T) {
	h := &harness{t: t, fsm: New(nil)}
	h.apply(insert("events", "", map[string]*v1.RowBatch{"p": batch(10, "v", tBigint)}))
	snap, _ := h.fsm.Snapshot()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	good := sink.Bytes()
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte("NOT-A-SNAPSHOT------\n"), good[len(snapshotMagic):]...)},
		{"truncated", good[:len(good)-3]},
		{"header only", good[:len(snapshotMagic)+5]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(nil)
			if err := f.Restore(io.NopCloser(bytes.NewReader(tt.data))); err == nil {
				t.Fatal("damaged snapshot restored without error")
			}
		})
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, c := range []*v1.Command{
		insert("t", "r", map[string]*v1.RowBatch{"p": batch(3, "v", tVarchar)}),
		flushCommit("t", 1, "p", 0, 2, 3),
	} {
		b, _ := EncodeCommand(c)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			return
		}
		b, err := EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := DecodeCommand(b)
		if err != nil || !proto.Equal(c, c2) {
			t.Fatalf("round trip failed: %v", err)
		}
		// Apply must never panic on a decodable command.
		New(nil).Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
	})
}

// TestRequestIDsPerTable: a request id names a request on one table; the
// review found a second table's write with a reused id silently dropped.
func TestRequestIDsPerTable(t *testing.T) {
	h := &harness{t: t, fsm: New(nil)}
	rows := map[string]*v1.RowBatch{"2026-01-01": batch(2, "value", tBigint)}
	if r := h.apply(insert("a", "same", rows)); r.Err != nil || r.Duplicate {
		t.Fatalf("first: %+v", r)
	}
	if r := h.apply(insert("b", "same", rows)); r.Err != nil || r.Duplicate || r.Rows != 2 {
		t.Fatalf("same id, other table: %+v", r)
	}
	if r := h.apply(insert("b", "same", rows)); !r.Duplicate || r.Index != 2 {
		t.Fatalf("retry on the same table: %+v", r)
	}
	for _, table := range []string{"a", "b"} {
		if v, _ := h.fsm.Table(table); v.Partitions[0].Rows != 2 {
			t.Fatalf("table %s has %d rows", table, v.Partitions[0].Rows)
		}
	}
}

func TestDedupeWindowSlides(t *testing.T) {
	h := &harness{t: t, fsm: New(nil)}
	h.fsm.dedupeLimit = 3
	for i := 0; i < 10; i++ {
		if r := h.apply(insert("t", fmt.Sprint("r", i), map[string]*v1.RowBatch{"p": batch(1, "v", tBigint)})); r.Duplicate {
			t.Fatalf("r%d: first use reported as a duplicate", i)
		}
	}
	for i := 7; i < 10; i++ {
		if r := h.apply(insert("t", fmt.Sprint("r", i), map[string]*v1.RowBatch{"p": batch(1, "v", tBigint)})); !r.Duplicate {
			t.Fatalf("r%d: a retry inside the window was applied again", i)
		}
	}
	if r := h.apply(insert("t", "r6", map[string]*v1.RowBatch{"p": batch(1, "v", tBigint)})); r.Duplicate {
		t.Fatal("r6 left the window but was still remembered")
	}
	if got := len(h.fsm.requests); got != 3 {
		t.Fatalf("the window holds %d ids, want 3", got)
	}
}

// TestInsertBatchIsSequence: an InsertBatch entry gives each insert the
// result it would have had as an entry of its own, and the same state
// (up to Raft indexes): dedupe, rejections and schema changes in order.
func TestInsertBatchIsSequence(t *testing.T) {
	inserts := []*v1.Command{
		insert("a", "r1", map[string]*v1.RowBatch{"2026-01-01": batch(2, "v", tBigint)}),
		insert("a", "r2", map[string]*v1.RowBatch{"2026-01-01": batch(1, "v", tVarchar)}), // conflicts with r1
		insert("a", "r1", map[string]*v1.RowBatch{"2026-01-02": batch(5, "v", tBigint)}),  // a retry of r1
		insert("a", "r3", map[string]*v1.RowBatch{"2026-01-02": batch(3, "v", tDouble)}),  // widens v
		insert("b", "r1", map[string]*v1.RowBatch{"2026-01-01": batch(1, "w", tVarchar)}), // same id, other table
	}
	seq := &harness{t: t, fsm: New(nil)}
	var want []string
	for _, c := range inserts {
		r := seq.apply(c)
		want = append(want, fmt.Sprintf("rows=%d dup=%v err=%v", r.Rows, r.Duplicate, r.Err != nil))
	}
	bat := &harness{t: t, fsm: New(nil)}
	cmd := &v1.InsertBatchCommand{}
	for _, c := range inserts {
		cmd.Inserts = append(cmd.Inserts, c.GetInsert())
	}
	r := bat.apply(&v1.Command{Cmd: &v1.Command_InsertBatch{InsertBatch: cmd}})
	if r.Err != nil || len(r.Batch) != len(inserts) {
		t.Fatalf("batch: %+v", r)
	}
	for i, br := range r.Batch {
		if got := fmt.Sprintf("rows=%d dup=%v err=%v", br.Rows, br.Duplicate, br.Err != nil); got != want[i] {
			t.Errorf("insert %d: %s in a batch, %s alone", i, got, want[i])
		}
	}
	shape := func(f *FSM) string {
		var b strings.Builder
		for _, v := range f.Tables() {
			rows, _ := v.HotRows()
			fmt.Fprintf(&b, "%s %v %d\n", v.Spec.Name, v.Spec.Columns, rows)
		}
		return b.String()
	}
	if a, b := shape(seq.fsm), shape(bat.fsm); a != b {
		t.Fatalf("state differs:\nalone:\n%s\nbatched:\n%s", a, b)
	}
}
