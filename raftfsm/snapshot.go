package raftfsm

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/miniodb/miniodb/ingest"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const (
	snapshotMagic = "MINIODB-FSM-SNAPSHOT\n"
	// snapshotVersion 2 writes files and pending deletes in chunks; 1
	// held each table's files in one record. Restore reads both.
	snapshotVersion = 2
	// maxSnapshotRecord bounds one record (one hot batch, one chunk) so a
	// corrupt length cannot make Restore allocate wildly.
	maxSnapshotRecord = 1 << 30
	// snapshotChunk is how many files or pending deletes one record holds
	// (about 1-2 MB of catalog), so that a catalog of any size snapshots
	// and restores in records of bounded size.
	snapshotChunk = 4096
)

type snapshotTable struct {
	table   *v1.SnapshotTable
	files   []*v1.DataFile
	batches []*v1.SnapshotBatch
}

type snapshot struct {
	header  *v1.SnapshotHeader
	pending []*v1.PendingDelete
	tables  []snapshotTable
	hook    func() error
}

// chunks returns how many records of snapshotChunk items n items take.
func chunks(n int) uint32 { return uint32((n + snapshotChunk - 1) / snapshotChunk) }

// Persist streams the snapshot to the sink, one record at a time.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("raftfsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return err
	}
	put := func(m proto.Message) error {
		_, err := protodelim.MarshalTo(bw, m)
		return err
	}
	if err := put(s.header); err != nil {
		return err
	}
	if s.hook != nil {
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := s.hook(); err != nil {
			return err
		}
	}
	for lo := 0; lo < len(s.pending); lo += snapshotChunk {
		if err := put(&v1.SnapshotPending{PendingDeletes: s.pending[lo:min(lo+snapshotChunk, len(s.pending))]}); err != nil {
			return err
		}
	}
	for _, t := range s.tables {
		if err := put(t.table); err != nil {
			return err
		}
		for lo := 0; lo < len(t.files); lo += snapshotChunk {
			if err := put(&v1.SnapshotFiles{Files: t.files[lo:min(lo+snapshotChunk, len(t.files))]}); err != nil {
				return err
			}
		}
		for _, b := range t.batches {
			if err := put(b); err != nil {
				return err
			}
		}
	}
	if err := put(&v1.SnapshotTrailer{TableCount: uint32(len(s.tables))}); err != nil {
		return err
	}
	return bw.Flush()
}

// Release is a no-op: the snapshot holds only shared immutable data.
func (s *snapshot) Release() {}

type restored struct {
	applied    uint64
	tables     map[string]*table
	requests   map[string]requestRecord
	requestLog []string
	pending    []*v1.PendingDelete
	members    map[string]*v1.MemberRecord
	tokens     map[string]*v1.TokenRecord
	auth       bool
	audit      []*v1.AuditRecord
}

func readSnapshot(r io.Reader) (*restored, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, fmt.Errorf("raftfsm: restore: not a MinIODB snapshot (bad magic)")
	}
	opts := protodelim.UnmarshalOptions{MaxSize: maxSnapshotRecord}
	get := func(what string, m proto.Message) error {
		if err := opts.UnmarshalFrom(br, m); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("raftfsm: restore: read %s: %w", what, err)
		}
		return nil
	}
	h := &v1.SnapshotHeader{}
	if err := get("header", h); err != nil {
		return nil, err
	}
	if h.Version < 1 || h.Version > snapshotVersion {
		return nil, fmt.Errorf("raftfsm: restore: snapshot format version %d, this node reads 1 to %d", h.Version, snapshotVersion)
	}
	st := &restored{
		applied:  h.AppliedIndex,
		tables:   map[string]*table{},
		requests: map[string]requestRecord{},
		pending:  h.PendingDeletes,
		members:  map[string]*v1.MemberRecord{},
		tokens:   map[string]*v1.TokenRecord{},
		auth:     h.Auth,
		audit:    h.Audit,
	}
	for _, m := range h.Members {
		st.members[m.NodeId] = m
	}
	for _, t := range h.Tokens {
		st.tokens[t.Id] = t
	}
	for _, d := range h.Dedupe {
		st.requests[d.RequestId] = requestRecord{index: d.Index, rows: d.Rows}
		st.requestLog = append(st.requestLog, d.RequestId)
	}
	for i := uint32(0); i < h.PendingChunks; i++ {
		sp := &v1.SnapshotPending{}
		if err := get("pending deletes", sp); err != nil {
			return nil, err
		}
		st.pending = append(st.pending, sp.PendingDeletes...)
	}
	for i := uint32(0); i < h.TableCount; i++ {
		ts := &v1.SnapshotTable{}
		if err := get("table", ts); err != nil {
			return nil, err
		}
		t := &table{spec: ts.Spec, createdIndex: ts.CreatedIndex, files: ts.Files, parts: map[string]*partition{}, tombstones: ts.Tombstones}
		for j := uint32(0); j < ts.FileChunks; j++ {
			sf := &v1.SnapshotFiles{}
			if err := get("files", sf); err != nil {
				return nil, err
			}
			t.files = append(t.files, sf.Files...)
		}
		for name, upto := range ts.FlushedUpto {
			t.parts[name] = &partition{flushedUpto: upto}
		}
		for j := uint32(0); j < ts.BatchCount; j++ {
			sb := &v1.SnapshotBatch{}
			if err := get("batch", sb); err != nil {
				return nil, err
			}
			if err := checkBatch(sb.Rows); err != nil {
				return nil, fmt.Errorf("raftfsm: restore: table %q batch %d: %w", ts.Spec.GetName(), j, err)
			}
			p := t.parts[sb.Partition]
			if p == nil {
				p = &partition{}
				t.parts[sb.Partition] = p
			}
			size := ingest.BatchBytes(sb.Rows)
			p.batches = append(p.batches, HotBatch{Index: sb.Index, Rows: sb.Rows, Bytes: size})
			p.rows += sb.Rows.RowCount
			p.bytes += size
		}
		t.reindex()
		st.tables[ts.Spec.GetName()] = t
	}
	tr := &v1.SnapshotTrailer{}
	if err := get("trailer", tr); err != nil {
		return nil, err
	}
	if tr.TableCount != h.TableCount {
		return nil, fmt.Errorf("raftfsm: restore: trailer counts %d tables, header %d", tr.TableCount, h.TableCount)
	}
	return st, nil
}
