package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/miniodb/miniodb/ingest"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// Errors the node's operations return; apiError maps them to Connect codes.
var (
	// ErrNotLeader: this node is not the leader and cannot forward.
	ErrNotLeader = errors.New("node: not the leader")
	// ErrBackpressure: hot buffers are full, or too many queries run;
	// retry later.
	ErrBackpressure = errors.New("node: overloaded")
	// ErrTooLarge: a request or its answer exceeds a configured limit;
	// retrying the same request does not help.
	ErrTooLarge = errors.New("node: over a limit")
	// ErrInvalid: bad input from the client.
	ErrInvalid = errors.New("node: invalid request")
	// ErrNotFound: the named table does not exist.
	ErrNotFound = errors.New("node: not found")
	// ErrExists: the table exists already.
	ErrExists = errors.New("node: already exists")
	// ErrStale: a local read would be staler than the client allows.
	ErrStale = errors.New("node: too stale")
)

// WriteInput is one write request's rows in one of the accepted forms.
type WriteInput struct {
	Table     string
	RequestID string
	Input     ingest.Input
	// UpsertKey "id": each row replaces the table's earlier rows with its
	// id. "" appends.
	UpsertKey string
}

// WriteResult is the answer to a write.
type WriteResult struct {
	Rows      int64
	Index     uint64
	Duplicate bool
}

// normalizeTable validates a table name; names are case-insensitive and
// stored in lower case, as DuckDB resolves them.
func normalizeTable(name string) (string, error) {
	if err := ingest.ValidName("table", name); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return strings.ToLower(name), nil
}

// Write validates and encodes rows on the leader and applies them through
// Raft. It returns once the entry is committed on a quorum and applied.
func (n *Node) Write(ctx context.Context, in WriteInput) (*WriteResult, error) {
	table, err := normalizeTable(in.Table)
	if err != nil {
		return nil, err
	}
	if n.raft.State() != raft.Leader {
		return nil, n.notLeader()
	}
	if len(in.RequestID) > 256 {
		return nil, fmt.Errorf("%w: request_id is %d bytes, at most 256", ErrInvalid, len(in.RequestID))
	}
	if in.UpsertKey != "" && in.UpsertKey != "id" {
		return nil, fmt.Errorf("%w: upsert_key %q: only \"id\" is supported", ErrInvalid, in.UpsertKey)
	}
	if hot, limit := n.fsm.HotBytes(), n.cfg.HotBytesLimit; hot >= limit {
		if n.getStoreErr() == nil {
			// Say why if the store is the reason (a stuck upload may not
			// have failed yet).
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			if err := n.store.Ping(pctx); err != nil {
				n.setStoreErr(err)
			}
			cancel()
		}
		return nil, fmt.Errorf("%w: hot rows hold %d bytes, the limit is %d: flushes are behind%s; retry later",
			ErrBackpressure, hot, limit, n.storeErrorSuffix())
	}
	t := ingest.Table{Name: table}
	var create *v1.TableSpec
	if view, ok := n.fsm.Table(table); ok {
		t.Columns = view.Spec.Columns
		t.Explicit = view.Spec.ExplicitSchema
		t.Partitioning = view.Spec.Partitioning
	} else {
		t.Partitioning = v1.Partitioning_PARTITIONING_DAY
		create = &v1.TableSpec{Name: table, Partitioning: t.Partitioning}
	}
	opts := ingest.DefaultOptions()
	opts.MaxRows = n.cfg.MaxRowsPerWrite
	res, err := ingest.Parse(t, in.Input, time.Now(), opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if limit := n.cfg.MaxPartitionsPerWrite; len(res.Batches) > limit {
		// Every partition becomes a file at the next flush: one request
		// spread over years of days would make the table slow for good.
		return nil, fmt.Errorf("%w: the write's rows fall into %d partitions of table %s (%s to %s, partitioned by %s), more than the limit of %d; split the write by time or raise --max-partitions-per-write",
			ErrTooLarge, len(res.Batches), table, res.Batches[0].Partition, res.Batches[len(res.Batches)-1].Partition,
			partitioningName(t.Partitioning), limit)
	}
	if in.UpsertKey != "" {
		if err := checkUpsertIDs(res.Batches); err != nil {
			return nil, err
		}
	}
	ins := &v1.InsertCommand{
		Table:     table,
		RequestId: in.RequestID,
		Batches:   res.Batches,
		Create:    create,
		Upsert:    in.UpsertKey != "",
	}
	cmd := &v1.Command{Cmd: &v1.Command_Insert{Insert: ins}}
	if n.cfg.UnsafeAckBeforeCommit {
		// Test-only: acknowledge before Raft commits (see Config).
		data, err := raftfsm.EncodeCommand(cmd)
		if err != nil {
			return nil, err
		}
		n.raft.Apply(data, n.cfg.ApplyTimeout)
		return &WriteResult{Rows: int64(res.Rows)}, nil
	}
	r, err := n.commitInsert(ctx, ins)
	if err != nil {
		return nil, err
	}
	n.metrics.writeRows.Add(float64(r.Rows))
	return &WriteResult{Rows: r.Rows, Index: r.Index, Duplicate: r.Duplicate}, nil
}

// apply runs a command through Raft and returns the FSM's result. A
// rejection by the FSM comes back as an error.
func (n *Node) apply(ctx context.Context, cmd *v1.Command) (*raftfsm.Result, error) {
	r, err := n.applyRaw(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if r.Err != nil {
		return nil, fsmError(r.Err)
	}
	return r, nil
}

// applyRaw is apply without turning the FSM's rejection into an error.
func (n *Node) applyRaw(ctx context.Context, cmd *v1.Command) (*raftfsm.Result, error) {
	data, err := raftfsm.EncodeCommand(cmd)
	if err != nil {
		return nil, err
	}
	timeout := n.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
		if timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	f := n.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return nil, fmt.Errorf("%w: %w", n.notLeader(), err)
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, fmt.Errorf("node: raft apply: %w", context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("node: raft apply: %w", err)
	}
	r, ok := f.Response().(*raftfsm.Result)
	if !ok {
		return nil, fmt.Errorf("node: raft apply: unexpected response %T", f.Response())
	}
	return r, nil
}

// checkUpsertIDs refuses an upsert whose rows lack an id or repeat one:
// which of two rows of one request would replace the other is not defined.
func checkUpsertIDs(batches []*v1.PartitionBatch) error {
	seen := map[string]bool{}
	for _, pb := range batches {
		b := pb.GetRows()
		k := -1
		for i, c := range b.GetColumns() {
			if c.Name == "id" {
				k = i
				if c.Type != v1.ColumnType_COLUMN_TYPE_VARCHAR {
					return fmt.Errorf("%w: upsert by id needs a VARCHAR id, the rows' id is %s", ErrInvalid, ingest.TypeName(c.Type))
				}
			}
		}
		if k < 0 {
			return fmt.Errorf("%w: upsert by id: the rows have no id", ErrInvalid)
		}
		v := b.Vectors[k]
		for i, id := range v.Strings {
			if ingest.IsNull(v, i) {
				return fmt.Errorf("%w: upsert by id: a row has no id", ErrInvalid)
			}
			if seen[id] {
				return fmt.Errorf("%w: upsert by id: id %q appears twice in the request", ErrInvalid, id)
			}
			seen[id] = true
		}
	}
	return nil
}

// Delete removes a table's rows that match ids and/or the time range
// [start, end) (RFC 3339, either may be empty: open). It returns once the
// delete is committed and applied.
func (n *Node) Delete(ctx context.Context, m *v1.DeleteRequest) (*v1.DeleteResponse, error) {
	table, err := normalizeTable(m.Table)
	if err != nil {
		return nil, err
	}
	if n.raft.State() != raft.Leader {
		return nil, n.notLeader()
	}
	v, ok := n.fsm.Table(table)
	if !ok {
		return nil, fmt.Errorf("%w: table %q", ErrNotFound, m.Table)
	}
	t := &v1.Tombstone{Ids: m.Ids}
	if m.Start != "" || m.End != "" {
		t.HasRange, t.FromMicros, t.ToMicros = true, math.MinInt64, math.MaxInt64
		if m.Start != "" {
			if t.FromMicros, err = ingest.ParseTimestamp(m.Start); err != nil {
				return nil, fmt.Errorf("%w: start: %w", ErrInvalid, err)
			}
		}
		if m.End != "" {
			if t.ToMicros, err = ingest.ParseTimestamp(m.End); err != nil {
				return nil, fmt.Errorf("%w: end: %w", ErrInvalid, err)
			}
		}
		if t.FromMicros >= t.ToMicros {
			return nil, fmt.Errorf("%w: the range [%s, %s) is empty", ErrInvalid, m.Start, m.End)
		}
	}
	if len(t.Ids) == 0 && !t.HasRange {
		return nil, fmt.Errorf("%w: a delete needs ids, a time range (start, end) or both; to remove a whole table, drop it", ErrInvalid)
	}
	r, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_Delete{Delete: &v1.DeleteCommand{
		Table: table, TableCreatedIndex: v.CreatedIndex, Match: t,
	}}})
	if err != nil {
		return nil, err
	}
	return &v1.DeleteResponse{RaftIndex: r.Index, HotRowsDeleted: r.Rows}, nil
}

// fsmError classifies an FSM rejection for the API.
func fsmError(err error) error {
	switch {
	case errors.Is(err, raftfsm.ErrTableNotFound), errors.Is(err, raftfsm.ErrTokenNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, raftfsm.ErrBadCommand):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case errors.Is(err, raftfsm.ErrTableExists):
		return fmt.Errorf("%w: %w", ErrExists, err)
	case errors.Is(err, ingest.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}

func (n *Node) notLeader() error {
	addr, id := n.raft.LeaderWithID()
	if addr == "" {
		return fmt.Errorf("%w: the cluster has no leader right now", ErrNotLeader)
	}
	return fmt.Errorf("%w: the leader is %s at %s", ErrNotLeader, id, addr)
}

func (n *Node) setStoreErr(err error) {
	n.storeMu.Lock()
	n.storeErr = err
	n.storeMu.Unlock()
}

func (n *Node) getStoreErr() error {
	n.storeMu.Lock()
	defer n.storeMu.Unlock()
	return n.storeErr
}

func (n *Node) storeErrorSuffix() string {
	if err := n.getStoreErr(); err != nil {
		return fmt.Sprintf(" (the object store fails: %v)", err)
	}
	return ""
}

func partitioningName(p v1.Partitioning) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PARTITIONING_"))
}
