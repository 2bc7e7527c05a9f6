package raftfsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/miniodb/miniodb/ingest"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Errors returned inside Result.Err. They are decided by Apply and are the
// same on every node.
var (
	// ErrTableNotFound: the command names a table that does not exist.
	ErrTableNotFound = errors.New("raftfsm: table not found")
	// ErrTableExists: CreateTable of a table that exists already.
	ErrTableExists = errors.New("raftfsm: table already exists")
	// ErrStaleFlush: a FlushCommit planned against an older state of the
	// partition (another flush of overlapping rows won); nothing changed.
	ErrStaleFlush = errors.New("raftfsm: stale flush commit")
	// ErrStaleCompaction: a CompactionCommit or Expire names a file that
	// is no longer live (a concurrent merge, a drop, a delete or retention
	// won); nothing changed, and a merged object is an orphan.
	ErrStaleCompaction = errors.New("raftfsm: stale compaction commit")
	// ErrBadCommand: the entry cannot be decoded or is malformed.
	ErrBadCommand = errors.New("raftfsm: bad command")
	// ErrCorruptEntry: the entry's checksum does not match: this node's
	// copy of the log is damaged. Apply stops the node rather than apply a
	// different state than its peers.
	ErrCorruptEntry = errors.New("raftfsm: corrupt log entry")
)

// envelopeV1 is the first byte of every command this version writes; a
// little-endian CRC-32C (Castagnoli) of the payload follows.
const (
	envelopeV1     = 0x01
	envelopeHeader = 5
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DefaultDedupeWindow is how many request ids the FSM remembers. It is part
// of the replicated state's definition: every node must use the same value.
const DefaultDedupeWindow = 100_000

// Result is what Apply returns for an entry (raft.ApplyFuture.Response()).
type Result struct {
	Index     uint64 // the entry's index, or for a duplicate the original's
	Rows      int64  // rows inserted or flushed
	Duplicate bool   // a retried request id or an already committed flush
	Err       error  // a rejection; the state did not change
	// Batch holds one result per insert of an InsertBatch entry, in order;
	// each is what the insert alone would have given.
	Batch []*Result
}

// HotBatch is a batch of applied rows that have not been flushed yet.
// Its rows are immutable.
type HotBatch struct {
	Index uint64 // Raft index of the Insert entry
	Rows  *v1.RowBatch
	Bytes int64
}

type partition struct {
	batches     []HotBatch // ascending Index
	flushedUpto uint64     // rows with index <= flushedUpto are in files
	rows, bytes int64
	// files are the table's live files of this partition, in the order of
	// table.files (an index, so that readers need not scan other
	// partitions' files); replaced, never changed in place.
	files []*v1.DataFile
}

// reindex rebuilds the partitions' file lists from t.files.
func (t *table) reindex() {
	for _, p := range t.parts {
		p.files = nil
	}
	for _, f := range t.files {
		p := t.parts[f.Partition]
		if p == nil {
			p = &partition{}
			t.parts[f.Partition] = p
		}
		p.files = append(p.files, f)
	}
}

// reindexPartitions rebuilds the file lists of the named partitions.
func (t *table) reindexPartitions(names map[string]bool) {
	for name := range names {
		if p := t.parts[name]; p != nil {
			p.files = nil
		}
	}
	for _, f := range t.files {
		if names[f.Partition] {
			p := t.parts[f.Partition]
			if p == nil {
				p = &partition{}
				t.parts[f.Partition] = p
			}
			p.files = append(p.files, f)
		}
	}
}

type table struct {
	spec         *v1.TableSpec
	createdIndex uint64
	files        []*v1.DataFile
	parts        map[string]*partition
	// tombstones are the deletes that may still match rows in files,
	// ascending by index (see Applies).
	tombstones []*v1.Tombstone
	// hotEpoch changes when hot rows are deleted (batches rewritten), so
	// readers that keep copies of hot batches know to start over.
	hotEpoch uint64
}

type requestRecord struct {
	index uint64
	rows  int64
}

// FSM implements raft.FSM. The zero value is not usable; use New.
type FSM struct {
	logger       *slog.Logger
	dedupeLimit  int
	snapshotHook func() error // test fail point inside Persist; nil normally
	applyHook    func()       // test hook at the start of Apply; nil normally

	mu          sync.RWMutex
	applied     uint64
	generation  uint64 // bumped by Restore
	tables      map[string]*table
	requests    map[string]requestRecord
	requestLog  []string // FIFO of request ids, oldest at requestHead
	requestHead int
	pending     []*v1.PendingDelete
	members     map[string]*v1.MemberRecord // node id → addresses
	// tokens maps token id → record. The map is replaced, never changed,
	// so every request's token check reads it without mu (Token).
	tokens    atomic.Pointer[map[string]*v1.TokenRecord]
	audit     []*v1.AuditRecord // the newest AuditLimit records, oldest first
	auth      atomic.Bool       // a bootstrap token was applied (read without mu: every request asks)
	appliedCh chan struct{}     // closed and replaced when applied advances
}

// New returns an empty FSM.
func New(logger *slog.Logger) *FSM {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &FSM{
		logger:      logger,
		dedupeLimit: DefaultDedupeWindow,
		tables:      map[string]*table{},
		requests:    map[string]requestRecord{},
		members:     map[string]*v1.MemberRecord{},
		appliedCh:   make(chan struct{}),
	}
	f.tokens.Store(&map[string]*v1.TokenRecord{})
	return f
}

// SetSnapshotHook installs a function that Persist calls between the
// snapshot's header and its tables (a test fail point). Call it before
// raft starts.
func (f *FSM) SetSnapshotHook(h func() error) { f.snapshotHook = h }

// SetApplyHook installs a function Apply calls before it applies an entry
// (tests use it to make a replica lag). Call it before raft starts.
func (f *FSM) SetApplyHook(h func()) { f.applyHook = h }

// EncodeCommand encodes a command as a log entry: the envelope version,
// a CRC-32C of the payload, and the protobuf payload.
func EncodeCommand(c *v1.Command) ([]byte, error) {
	b := make([]byte, envelopeHeader, envelopeHeader+proto.Size(c))
	b[0] = envelopeV1
	b, err := proto.MarshalOptions{}.MarshalAppend(b, c)
	if err != nil {
		return nil, fmt.Errorf("raftfsm: encode command: %w", err)
	}
	binary.LittleEndian.PutUint32(b[1:envelopeHeader], crc32.Checksum(b[envelopeHeader:], castagnoli))
	return b, nil
}

// DecodeCommand decodes a log entry written by EncodeCommand. A checksum
// mismatch is ErrCorruptEntry: the bytes changed after the leader wrote
// them (a damaged log store, e.g. raft-boltdb keeps no checksums).
func DecodeCommand(b []byte) (*v1.Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty entry", ErrBadCommand)
	}
	if b[0] != envelopeV1 {
		return nil, fmt.Errorf("%w: unknown envelope version %d (this node understands 1; upgrade it)", ErrBadCommand, b[0])
	}
	if len(b) < envelopeHeader {
		return nil, fmt.Errorf("%w: entry of %d bytes is shorter than its header", ErrCorruptEntry, len(b))
	}
	if got, want := crc32.Checksum(b[envelopeHeader:], castagnoli), binary.LittleEndian.Uint32(b[1:envelopeHeader]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorruptEntry, got, want)
	}
	c := &v1.Command{}
	if err := proto.Unmarshal(b[envelopeHeader:], c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if c.Cmd == nil {
		return nil, fmt.Errorf("%w: no command set", ErrBadCommand)
	}
	return c, nil
}

// Apply applies one committed log entry.
func (f *FSM) Apply(l *raft.Log) any {
	if f.applyHook != nil {
		f.applyHook()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.advance(l.Index)
	if l.Type != raft.LogCommand {
		return &Result{Index: l.Index}
	}
	c, err := DecodeCommand(l.Data)
	if errors.Is(err, ErrCorruptEntry) {
		// Applying anything else would make this replica silently differ
		// from the others. Stop; the operator wipes and re-joins the node.
		f.logger.Error("corrupt log entry: stopping this node", "index", l.Index, "error", err)
		panic(fmt.Sprintf("raftfsm: log entry %d is corrupt (%v): this node's Raft log is damaged; wipe its data directory and re-join the cluster", l.Index, err))
	}
	if err != nil {
		f.logger.Error("cannot decode log entry", "index", l.Index, "error", err)
		return &Result{Index: l.Index, Err: err}
	}
	r := f.applyCommand(l, c)
	if c.Audit != nil {
		if res, ok := r.(*Result); ok && res.Err == nil && !res.Duplicate {
			f.recordAudit(l.Index, c.Audit)
		}
	}
	return r
}

func (f *FSM) applyCommand(l *raft.Log, c *v1.Command) any {
	switch cmd := c.Cmd.(type) {
	case *v1.Command_Insert:
		return f.applyInsert(l.Index, cmd.Insert)
	case *v1.Command_InsertBatch:
		// Coalesced requests, applied in order as if each were an entry:
		// a rejected one changes nothing and does not affect the others.
		r := &Result{Index: l.Index}
		for _, ins := range cmd.InsertBatch.GetInserts() {
			r.Batch = append(r.Batch, f.applyInsert(l.Index, ins))
		}
		return r
	case *v1.Command_FlushCommit:
		return f.applyFlushCommit(l.Index, cmd.FlushCommit)
	case *v1.Command_CompactionCommit:
		return f.applyCompactionCommit(l.Index, cmd.CompactionCommit)
	case *v1.Command_CreateTable:
		return f.applyCreateTable(l.Index, cmd.CreateTable)
	case *v1.Command_AlterTable:
		return f.applyAlterTable(l.Index, cmd.AlterTable)
	case *v1.Command_Expire:
		return f.applyExpire(l.Index, cmd.Expire)
	case *v1.Command_Delete:
		return f.applyDelete(l.Index, cmd.Delete)
	case *v1.Command_DropTable:
		return f.applyDropTable(l.Index, cmd.DropTable)
	case *v1.Command_ForgetObjects:
		return f.applyForgetObjects(l.Index, cmd.ForgetObjects)
	case *v1.Command_SetMember:
		m := cmd.SetMember
		if m.NodeId == "" {
			return &Result{Index: l.Index, Err: fmt.Errorf("%w: member without an id", ErrBadCommand)}
		}
		f.members[m.NodeId] = &v1.MemberRecord{NodeId: m.NodeId, HttpAddr: m.HttpAddr, RaftAddr: m.RaftAddr}
		return &Result{Index: l.Index}
	case *v1.Command_RemoveMember:
		delete(f.members, cmd.RemoveMember.NodeId)
		return &Result{Index: l.Index}
	case *v1.Command_CreateToken:
		return f.applyCreateToken(l.Index, cmd.CreateToken)
	case *v1.Command_RevokeToken:
		return f.applyRevokeToken(l.Index, cmd.RevokeToken)
	case *v1.Command_AuditOnly:
		return &Result{Index: l.Index}
	default:
		return &Result{Index: l.Index, Err: fmt.Errorf("%w: unknown command %T", ErrBadCommand, c.Cmd)}
	}
}

// advance records that index was applied and wakes waiters. Called with mu held.
func (f *FSM) advance(index uint64) {
	if index > f.applied {
		f.applied = index
		close(f.appliedCh)
		f.appliedCh = make(chan struct{})
	}
}

func (f *FSM) newTable(index uint64, spec *v1.TableSpec) *table {
	spec = proto.Clone(spec).(*v1.TableSpec)
	return &table{spec: spec, createdIndex: index, parts: map[string]*partition{}}
}

func (f *FSM) applyCreateTable(index uint64, c *v1.CreateTableCommand) *Result {
	if c.GetSpec().GetName() == "" {
		return &Result{Index: index, Err: fmt.Errorf("%w: create table without a name", ErrBadCommand)}
	}
	name := c.Spec.Name
	if t, ok := f.tables[name]; ok {
		if c.IfNotExists {
			return &Result{Index: t.createdIndex, Duplicate: true}
		}
		return &Result{Index: index, Err: fmt.Errorf("%w: %q", ErrTableExists, name)}
	}
	f.tables[name] = f.newTable(index, c.Spec)
	return &Result{Index: index}
}

func (f *FSM) applyDropTable(index uint64, c *v1.DropTableCommand) *Result {
	t, ok := f.tables[c.Name]
	if !ok {
		if c.IfExists {
			return &Result{Index: index, Duplicate: true}
		}
		return &Result{Index: index, Err: fmt.Errorf("%w: %q", ErrTableNotFound, c.Name)}
	}
	for _, file := range t.files {
		f.pending = append(f.pending, &v1.PendingDelete{Key: file.Key, UnixMicros: c.UnixMicros})
	}
	delete(f.tables, c.Name)
	return &Result{Index: index}
}

func (f *FSM) applyAlterTable(index uint64, c *v1.AlterTableCommand) *Result {
	t, ok := f.tables[c.Name]
	if !ok || (c.TableCreatedIndex != 0 && t.createdIndex != c.TableCreatedIndex) {
		return &Result{Index: index, Err: fmt.Errorf("%w: %q", ErrTableNotFound, c.Name)}
	}
	spec := proto.Clone(t.spec).(*v1.TableSpec)
	if c.Compaction != nil {
		spec.Compaction = proto.Clone(c.Compaction).(*v1.CompactionPolicy)
	}
	if c.TtlMs != nil {
		if *c.TtlMs < 0 {
			return &Result{Index: index, Err: fmt.Errorf("%w: negative ttl", ErrBadCommand)}
		}
		spec.TtlMs = *c.TtlMs
	}
	t.spec = spec // replaced, never mutated: views share specs
	return &Result{Index: index}
}

func (f *FSM) applyForgetObjects(index uint64, c *v1.ForgetObjectsCommand) *Result {
	forget := map[string]bool{}
	for _, k := range c.Keys {
		forget[k] = true
	}
	f.pending = slices.DeleteFunc(f.pending, func(p *v1.PendingDelete) bool { return forget[p.Key] })
	return &Result{Index: index}
}

func (f *FSM) applyInsert(index uint64, c *v1.InsertCommand) *Result {
	// Request ids are scoped per table: two writers that happen to use
	// the same id on different tables both get their rows in.
	reqKey := ""
	if c.RequestId != "" {
		reqKey = requestKey(c.Table, c.RequestId)
		if r, ok := f.requests[reqKey]; ok {
			return &Result{Index: r.index, Rows: r.rows, Duplicate: true}
		}
	}
	t, ok := f.tables[c.Table]
	if !ok {
		if c.Create == nil {
			return &Result{Index: index, Err: fmt.Errorf("%w: %q", ErrTableNotFound, c.Table)}
		}
		if c.Create.Name != c.Table {
			return &Result{Index: index, Err: fmt.Errorf("%w: insert into %q creates %q", ErrBadCommand, c.Table, c.Create.Name)}
		}
		t = f.newTable(index, c.Create)
	}
	// Decide everything before changing anything: a rejected entry leaves
	// the state as it was.
	cols := t.spec.Columns
	var rows int64
	for i, b := range c.Batches {
		if err := checkBatch(b.GetRows()); err != nil {
			return &Result{Index: index, Err: fmt.Errorf("%w: batch %d: %v", ErrBadCommand, i, err)}
		}
		merged, err := ingest.MergeColumns(cols, b.Rows.Columns, t.spec.ExplicitSchema)
		if err != nil {
			return &Result{Index: index, Err: err}
		}
		cols = merged
		rows += b.Rows.RowCount
	}
	if _, ok := f.tables[c.Table]; !ok {
		f.tables[c.Table] = t
	}
	if len(cols) != len(t.spec.Columns) || !columnsEqual(cols, t.spec.Columns) {
		spec := proto.Clone(t.spec).(*v1.TableSpec)
		spec.Columns = cols
		t.spec = spec // specs are replaced, never mutated: views share them
	}
	if c.Upsert {
		// Earlier rows with these ids go first, in this same entry: a
		// reader sees the old rows or the new, never both or neither.
		if ids := upsertIDs(c); len(ids) > 0 {
			t.applyTombstone(index, &v1.Tombstone{Ids: ids})
		}
	}
	for _, b := range c.Batches {
		p := t.parts[b.Partition]
		if p == nil {
			p = &partition{}
			t.parts[b.Partition] = p
		}
		size := ingest.BatchBytes(b.Rows)
		p.batches = append(p.batches, HotBatch{Index: index, Rows: b.Rows, Bytes: size})
		p.rows += b.Rows.RowCount
		p.bytes += size
	}
	if reqKey != "" {
		f.remember(reqKey, requestRecord{index: index, rows: rows})
	}
	return &Result{Index: index, Rows: rows}
}

// requestKey is the dedupe window's key of a request id on a table. The
// NUL byte cannot occur in a table name, so keys of different tables
// never collide.
func requestKey(table, id string) string { return table + "\x00" + id }

func (f *FSM) remember(id string, r requestRecord) {
	f.requests[id] = r
	f.requestLog = append(f.requestLog, id)
	if len(f.requestLog)-f.requestHead > f.dedupeLimit {
		delete(f.requests, f.requestLog[f.requestHead])
		f.requestLog[f.requestHead] = ""
		f.requestHead++
	}
	// Compact once the dead prefix is as long as the window: amortised O(1).
	if f.requestHead >= f.dedupeLimit {
		f.requestLog = slices.Clone(f.requestLog[f.requestHead:])
		f.requestHead = 0
	}
}

// liveRequests returns the remembered request ids, oldest first.
func (f *FSM) liveRequests() []string { return f.requestLog[f.requestHead:] }

// checkBatch verifies that a batch's vectors agree with its columns, so a
// malformed entry is rejected instead of corrupting reads later.
func checkBatch(b *v1.RowBatch) error {
	if b == nil {
		return errors.New("no rows")
	}
	if len(b.Columns) != len(b.Vectors) {
		return fmt.Errorf("%d columns but %d vectors", len(b.Columns), len(b.Vectors))
	}
	n := int(b.RowCount)
	for i, c := range b.Columns {
		v := b.Vectors[i]
		var got int
		switch c.Type {
		case v1.ColumnType_COLUMN_TYPE_BIGINT, v1.ColumnType_COLUMN_TYPE_TIMESTAMP:
			got = len(v.Ints)
		case v1.ColumnType_COLUMN_TYPE_DOUBLE:
			got = len(v.Doubles)
		case v1.ColumnType_COLUMN_TYPE_VARCHAR, v1.ColumnType_COLUMN_TYPE_JSON:
			got = len(v.Strings)
		case v1.ColumnType_COLUMN_TYPE_BOOLEAN:
			got = len(v.Bools)
		default:
			return fmt.Errorf("column %q has type %v", c.Name, c.Type)
		}
		if got != n {
			return fmt.Errorf("column %q has %d values for %d rows", c.Name, got, n)
		}
		if len(v.Nulls) != 0 && len(v.Nulls) != (n+7)/8 {
			return fmt.Errorf("column %q has a NULL bitmap of %d bytes for %d rows", c.Name, len(v.Nulls), n)
		}
	}
	return nil
}

func columnsEqual(a, b []*v1.Column) bool {
	return slices.EqualFunc(a, b, func(x, y *v1.Column) bool { return x.Name == y.Name && x.Type == y.Type })
}

func (f *FSM) applyFlushCommit(index uint64, c *v1.FlushCommitCommand) *Result {
	file := c.GetFile()
	// Without a key the commit only drops rows that all expired.
	expiredOnly := file != nil && file.Key == "" && file.RowCount == 0 && c.ExpiredRows > 0
	if file == nil || (file.Key == "" && !expiredOnly) || c.ExpiredRows < 0 {
		return &Result{Index: index, Err: fmt.Errorf("%w: flush commit without a file", ErrBadCommand)}
	}
	t, ok := f.tables[file.Table]
	if !ok || t.createdIndex != c.TableCreatedIndex {
		// The table was dropped (and maybe re-created) after the flush was
		// planned; the uploaded object is an orphan for the sweeper.
		return &Result{Index: index, Err: fmt.Errorf("%w: %q (created at %d)", ErrTableNotFound, file.Table, c.TableCreatedIndex)}
	}
	p := t.parts[file.Partition]
	if p == nil {
		p = &partition{}
		t.parts[file.Partition] = p
	}
	if file.UptoIndex <= p.flushedUpto {
		// The rows are in a file already. The same commit applied again
		// (a retried Apply whose first attempt committed) is a no-op; a
		// commit of another object for these rows lost the race, and its
		// object must not be taken for the committed one.
		for _, f := range t.files {
			if f.Key == file.Key {
				return &Result{Index: f.LiveIndex, Rows: f.RowCount, Duplicate: true}
			}
		}
		return &Result{Index: index, Err: fmt.Errorf("%w: %s/%s rows up to %d are flushed already; %s is not the file that holds them",
			ErrStaleFlush, file.Table, file.Partition, p.flushedUpto, file.Key)}
	}
	if file.FromIndex != p.flushedUpto {
		return &Result{Index: index, Err: fmt.Errorf("%w: %s/%s planned from index %d, but rows up to %d are flushed already",
			ErrStaleFlush, file.Table, file.Partition, file.FromIndex, p.flushedUpto)}
	}
	var rows, bytes int64
	keep := 0
	for keep < len(p.batches) && p.batches[keep].Index <= file.UptoIndex {
		rows += p.batches[keep].Rows.RowCount
		bytes += p.batches[keep].Bytes
		keep++
	}
	if rows != file.RowCount+c.ExpiredRows {
		return &Result{Index: index, Err: fmt.Errorf("%w: %s/%s flush of (%d, %d] holds %d rows (and %d expired), the buffer has %d",
			ErrStaleFlush, file.Table, file.Partition, file.FromIndex, file.UptoIndex, file.RowCount, c.ExpiredRows, rows)}
	}
	// A new slice, so views holding the old one stay valid.
	p.batches = slices.Clone(p.batches[keep:])
	p.rows -= rows
	p.bytes -= bytes
	p.flushedUpto = file.UptoIndex
	if expiredOnly {
		return &Result{Index: index, Rows: rows}
	}
	live := proto.Clone(file).(*v1.DataFile)
	live.LiveIndex = index
	t.files = append(slices.Clip(t.files), live)
	p.files = append(slices.Clip(p.files), live)
	return &Result{Index: index, Rows: rows}
}

// applyExpire removes files whose rows are all older than the cutoff, as
// their catalog statistics show; all or nothing.
func (f *FSM) applyExpire(index uint64, c *v1.ExpireCommand) *Result {
	t, ok := f.tables[c.Table]
	if !ok || t.createdIndex != c.TableCreatedIndex {
		return &Result{Index: index, Err: fmt.Errorf("%w: %q (created at %d)", ErrTableNotFound, c.Table, c.TableCreatedIndex)}
	}
	expire := make(map[string]bool, len(c.Files))
	for _, key := range c.Files {
		expire[key] = true
	}
	var rows int64
	found := 0
	for _, file := range t.files {
		if !expire[file.Key] {
			continue
		}
		found++
		max, ok := TimeMax(file)
		if !ok || max >= c.CutoffMicros {
			return &Result{Index: index, Err: fmt.Errorf("%w: %s holds rows at or after the cutoff", ErrBadCommand, file.Key)}
		}
		rows += file.RowCount
	}
	if found != len(expire) || len(expire) != len(c.Files) {
		return &Result{Index: index, Err: fmt.Errorf("%w: expire of %s names a file that is not live", ErrStaleCompaction, c.Table)}
	}
	files := make([]*v1.DataFile, 0, len(t.files)-found)
	parts := map[string]bool{}
	for _, file := range t.files {
		if !expire[file.Key] {
			files = append(files, file)
		} else {
			parts[file.Partition] = true
		}
	}
	t.files = files // a new slice: views hold the old one
	t.reindexPartitions(parts)
	for _, key := range c.Files {
		f.pending = append(f.pending, &v1.PendingDelete{Key: key, UnixMicros: c.UnixMicros})
	}
	t.purgeTombstones()
	return &Result{Index: index, Rows: rows}
}

// TimeMax returns the greatest ts of a file's rows from its statistics;
// false when the statistics do not say (no ts statistics, or only NULLs).
func TimeMax(file *v1.DataFile) (int64, bool) {
	for _, s := range file.Stats {
		if s.Name == "ts" {
			if v, ok := s.GetMax().GetValue().(*v1.Scalar_Int); ok && s.NullCount == 0 {
				return v.Int, true
			}
			return 0, false
		}
	}
	return 0, false
}

// applyCompactionCommit swaps a partition's input files for the merged
// output. Everything is checked before anything changes: the commit is
// all or nothing, and of two merges that share an input only the first
// to commit wins.
func (f *FSM) applyCompactionCommit(index uint64, c *v1.CompactionCommitCommand) *Result {
	out := c.GetOutput()
	if out == nil || out.Key == "" || len(c.Inputs) == 0 {
		return &Result{Index: index, Err: fmt.Errorf("%w: compaction commit without inputs or output", ErrBadCommand)}
	}
	if out.Table != c.Table || out.Partition != c.Partition {
		return &Result{Index: index, Err: fmt.Errorf("%w: compaction of %s/%s writes a file of %s/%s",
			ErrBadCommand, c.Table, c.Partition, out.Table, out.Partition)}
	}
	t, ok := f.tables[c.Table]
	if !ok || t.createdIndex != c.TableCreatedIndex {
		return &Result{Index: index, Err: fmt.Errorf("%w: %q (created at %d)", ErrTableNotFound, c.Table, c.TableCreatedIndex)}
	}
	live := map[string]*v1.DataFile{}
	if p := t.parts[c.Partition]; p != nil {
		for _, file := range p.files {
			if file.Key == out.Key {
				// The same commit applied again (a retry whose first
				// attempt committed): a no-op.
				return &Result{Index: file.LiveIndex, Rows: file.RowCount, Duplicate: true}
			}
			live[file.Key] = file
		}
	}
	for _, p := range f.pending {
		if p.Key == out.Key {
			return &Result{Index: index, Err: fmt.Errorf("%w: output %s was a live file before", ErrStaleCompaction, out.Key)}
		}
	}
	inputs := make(map[string]bool, len(c.Inputs))
	var rows int64
	for _, key := range c.Inputs {
		file, ok := live[key]
		if !ok || inputs[key] {
			return &Result{Index: index, Err: fmt.Errorf("%w: %s/%s input %s is not live", ErrStaleCompaction, c.Table, c.Partition, key)}
		}
		inputs[key] = true
		rows += file.RowCount
	}
	if out.RowCount+c.DeletedRows != rows || c.DeletedRows < 0 {
		return &Result{Index: index, Err: fmt.Errorf("%w: merged file %s holds %d rows and left out %d deleted, its inputs %d",
			ErrBadCommand, out.Key, out.RowCount, c.DeletedRows, rows)}
	}
	for _, tomb := range t.tombstones {
		if tomb.Index > c.TombstoneWatermark && slices.ContainsFunc(c.Inputs, func(k string) bool { return Applies(tomb, live[k]) }) {
			// The merge read its inputs before this delete: its file could
			// bring deleted rows back.
			return &Result{Index: index, Err: fmt.Errorf("%w: a delete at index %d came after the merge was planned (at %d)",
				ErrStaleCompaction, tomb.Index, c.TombstoneWatermark)}
		}
	}
	files := make([]*v1.DataFile, 0, len(t.files)-len(inputs)+1)
	for _, file := range t.files {
		if !inputs[file.Key] {
			files = append(files, file)
		}
	}
	merged := proto.Clone(out).(*v1.DataFile)
	merged.LiveIndex = index
	t.files = append(files, merged) // a new slice: views hold the old one
	t.reindexPartitions(map[string]bool{c.Partition: true})
	for _, key := range c.Inputs {
		f.pending = append(f.pending, &v1.PendingDelete{Key: key, UnixMicros: c.UnixMicros})
	}
	t.purgeTombstones()
	return &Result{Index: index, Rows: out.RowCount}
}

// Snapshot captures the state for Persist. It copies slices of pointers to
// immutable data only, so it returns quickly.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.snapshotLocked()
}

func (f *FSM) snapshotLocked() (raft.FSMSnapshot, error) {
	s := &snapshot{hook: f.snapshotHook, header: &v1.SnapshotHeader{
		Version:      snapshotVersion,
		AppliedIndex: f.applied,
		TableCount:   uint32(len(f.tables)),
	}}
	for _, id := range f.liveRequests() {
		r := f.requests[id]
		s.header.Dedupe = append(s.header.Dedupe, &v1.RequestRecord{RequestId: id, Index: r.index, Rows: r.rows})
	}
	s.pending = slices.Clone(f.pending)
	s.header.PendingChunks = chunks(len(s.pending))
	for _, id := range sortedKeys(f.members) {
		s.header.Members = append(s.header.Members, f.members[id])
	}
	tokens := *f.tokens.Load()
	for _, id := range sortedKeys(tokens) {
		s.header.Tokens = append(s.header.Tokens, tokens[id])
	}
	s.header.Auth = f.auth.Load()
	s.header.Audit = slices.Clone(f.audit)
	for _, name := range f.tableNames() {
		t := f.tables[name]
		st := snapshotTable{files: slices.Clip(t.files), table: &v1.SnapshotTable{
			Spec:         t.spec,
			CreatedIndex: t.createdIndex,
			FileChunks:   chunks(len(t.files)),
			FlushedUpto:  map[string]uint64{},
			Tombstones:   slices.Clip(t.tombstones),
		}}
		for _, pname := range sortedKeys(t.parts) {
			p := t.parts[pname]
			st.table.FlushedUpto[pname] = p.flushedUpto
			for _, b := range p.batches {
				st.batches = append(st.batches, &v1.SnapshotBatch{Index: b.Index, Partition: pname, Rows: b.Rows})
			}
		}
		st.table.BatchCount = uint32(len(st.batches))
		s.tables = append(s.tables, st)
	}
	return s, nil
}

// BackupSnapshot is a snapshot with what a backup needs besides it: the
// index it holds and the live files it names, taken under the same lock.
type BackupSnapshot struct {
	raft.FSMSnapshot
	Index uint64
	Files []*v1.DataFile
}

// Write writes the snapshot in the format Restore reads.
func (b *BackupSnapshot) Write(w io.Writer) error {
	return b.FSMSnapshot.(*snapshot).write(w)
}

// Backup takes a snapshot for a backup.
func (f *FSM) Backup() *BackupSnapshot {
	f.mu.RLock()
	defer f.mu.RUnlock()
	snap, _ := f.snapshotLocked()
	snap.(*snapshot).hook = nil // the fail point is for Raft's snapshots
	b := &BackupSnapshot{FSMSnapshot: snap, Index: f.applied}
	for _, st := range snap.(*snapshot).tables {
		b.Files = append(b.Files, st.files...)
	}
	return b
}

// Restore replaces the state with a snapshot written by Persist.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st, err := readSnapshot(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tables = st.tables
	f.requests = st.requests
	f.requestLog = st.requestLog
	f.requestHead = 0
	f.pending = st.pending
	f.members = st.members
	f.tokens.Store(&st.tokens)
	f.auth.Store(st.auth)
	f.audit = st.audit
	f.generation++
	// A restore may move applied backwards (raft restores the latest
	// snapshot on start); waiters only care about progress.
	f.applied = st.applied
	close(f.appliedCh)
	f.appliedCh = make(chan struct{})
	f.logger.Info("restored snapshot", "index", st.applied, "tables", len(st.tables))
	return nil
}

func (f *FSM) tableNames() []string {
	return sortedKeys(f.tables)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
