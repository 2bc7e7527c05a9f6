package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/miniodb/miniodb/compaction"
	"github.com/miniodb/miniodb/ingest"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/query"
	"github.com/miniodb/miniodb/raftfsm"
)

// api implements the Connect services on top of a Node.
type api struct{ n *Node }

// --- WriteService

func (a *api) Write(ctx context.Context, req *connect.Request[v1.WriteRequest]) (*connect.Response[v1.WriteResponse], error) {
	start := time.Now()
	res, err := a.n.WriteRequest(ctx, req.Msg)
	a.n.observeWrite(start, err)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

// WriteRequest serves a write from any node: the leader applies it, a
// follower forwards it to the leader (keeping its request_id) or, when the
// client asked for a redirect, answers with the leader's address.
func (n *Node) WriteRequest(ctx context.Context, m *v1.WriteRequest) (*v1.WriteResponse, error) {
	if n.raft.State() != raft.Leader && m.Redirect && !fromPeer(ctx) {
		return nil, n.redirectError(ctx)
	}
	if p, err := n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		if proto.Size(m) < commitAloneBytes {
			return n.forwardWrite(ctx, m) // coalesced with concurrent ones
		}
		resp, err := p.write.Write(ctx, forwarded(ctx, m))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
	var inputs []ingest.Input
	if len(m.RowsJson) > 0 {
		inputs = append(inputs, ingest.JSONArray(m.RowsJson))
	}
	if len(m.RowsNdjson) > 0 {
		inputs = append(inputs, ingest.NDJSON(m.RowsNdjson))
	}
	if len(m.Rows) > 0 {
		inputs = append(inputs, ingest.Structs(m.Rows))
	}
	if len(m.Records) > 0 {
		inputs = append(inputs, ingest.Records(m.Records))
	}
	if p := authOf(ctx).p; p != nil {
		if err := n.limits.chargeWrite(p.rec, int64(proto.Size(m)), time.Now()); err != nil {
			return nil, err
		}
	}
	switch len(inputs) {
	case 0:
		return nil, fmt.Errorf("%w: no rows: set rows (JSON objects), rows_ndjson or records", ErrInvalid)
	case 1:
	default:
		return nil, fmt.Errorf("%w: set only one of rows, rows_ndjson and records", ErrInvalid)
	}
	res, err := n.Write(ctx, WriteInput{Table: m.Table, RequestID: m.RequestId, Input: inputs[0], UpsertKey: m.UpsertKey})
	if err != nil {
		return nil, err
	}
	return &v1.WriteResponse{RowsWritten: res.Rows, RaftIndex: res.Index, Duplicate: res.Duplicate}, nil
}

func (n *Node) observeWrite(start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = codeOf(err)
	}
	n.metrics.writes.WithLabelValues(outcome).Inc()
	n.metrics.writeSeconds.Observe(time.Since(start).Seconds())
}

// --- QueryService

// maxStreamChunk is how many rows one QueryStream message carries.
const maxStreamChunk = 1024

func (a *api) Query(ctx context.Context, req *connect.Request[v1.QueryRequest]) (*connect.Response[v1.QueryResponse], error) {
	start := time.Now()
	resp := &v1.QueryResponse{}
	var size int64
	err := a.n.Query(ctx, req.Msg, func(cols []*v1.ResultColumn) error {
		resp.Columns = cols
		return nil
	}, func(row *structpb.ListValue) error {
		if len(resp.Rows) >= a.n.cfg.MaxResultRows {
			return fmt.Errorf("%w: the result has more than %d rows (--max-result-rows); add a LIMIT or use QueryStream, which has no limit", ErrTooLarge, a.n.cfg.MaxResultRows)
		}
		size += int64(proto.Size(row))
		if size > a.n.cfg.MaxResultBytes {
			return fmt.Errorf("%w: the result is larger than %d bytes (--max-result-bytes); add a LIMIT or use QueryStream, which has no limit", ErrTooLarge, a.n.cfg.MaxResultBytes)
		}
		resp.Rows = append(resp.Rows, row)
		return nil
	})
	a.n.observeQuery(start, err)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}

func (a *api) QueryStream(ctx context.Context, req *connect.Request[v1.QueryRequest], stream *connect.ServerStream[v1.QueryStreamResponse]) error {
	start := time.Now()
	chunk := &v1.QueryStreamResponse{}
	err := a.n.Query(ctx, req.Msg, func(cols []*v1.ResultColumn) error {
		return stream.Send(&v1.QueryStreamResponse{Columns: cols})
	}, func(row *structpb.ListValue) error {
		chunk.Rows = append(chunk.Rows, row)
		if len(chunk.Rows) >= maxStreamChunk {
			if err := stream.Send(chunk); err != nil {
				return err
			}
			chunk = &v1.QueryStreamResponse{}
		}
		return nil
	})
	if err == nil && len(chunk.Rows) > 0 {
		err = stream.Send(chunk)
	}
	a.n.observeQuery(start, err)
	if err != nil {
		return err
	}
	return nil
}

// forwardQuery runs a query on the leader and relays its stream.
func forwardQuery(ctx context.Context, p *peerClient, m *v1.QueryRequest, onColumns func([]*v1.ResultColumn) error, onRow func(*structpb.ListValue) error) error {
	stream, err := p.query.QueryStream(ctx, forwarded(ctx, m))
	if err != nil {
		return err
	}
	defer stream.Close()
	for stream.Receive() {
		msg := stream.Msg()
		if len(msg.Columns) > 0 {
			if err := onColumns(msg.Columns); err != nil {
				return err
			}
		}
		for _, r := range msg.Rows {
			if err := onRow(r); err != nil {
				return err
			}
		}
	}
	return stream.Err()
}

func resultColumns(cols []query.Column) []*v1.ResultColumn {
	out := make([]*v1.ResultColumn, len(cols))
	for i, c := range cols {
		out[i] = &v1.ResultColumn{Name: c.Name, Type: c.Type}
	}
	return out
}

func (n *Node) observeQuery(start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = codeOf(err)
	}
	n.metrics.queries.WithLabelValues(outcome).Inc()
	n.metrics.querySeconds.Observe(time.Since(start).Seconds())
}

// Query runs SQL and hands the result to onColumns and then onRow. With
// consistency "strong" (the default) the leader answers, after making sure
// it leads and has applied every entry it has accepted, so the result
// includes every write acknowledged before the call (linearizable); a
// follower forwards the query to the leader. "local" answers from this
// node's state, refused when the leader has been silent for longer than
// max_staleness_ms.
func (n *Node) Query(ctx context.Context, m *v1.QueryRequest, onColumns func([]*v1.ResultColumn) error, onRow func(*structpb.ListValue) error) error {
	sql := m.Sql
	if strings.TrimSpace(sql) == "" {
		return fmt.Errorf("%w: sql is empty", ErrInvalid)
	}
	switch m.Consistency {
	case "", "strong":
		if p, err := n.forwardTarget(ctx); err != nil {
			return err
		} else if p != nil {
			return forwardQuery(ctx, p, m, onColumns, onRow)
		}
		if err := n.readBarrier(ctx); err != nil {
			return err
		}
	case "local":
		if m.MaxStalenessMs > 0 && n.raft.State() != raft.Leader {
			if err := n.boundStaleness(ctx, time.Duration(m.MaxStalenessMs)*time.Millisecond); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("%w: consistency %q: want strong or local", ErrInvalid, m.Consistency)
	}
	switch m.Execution {
	case "", "auto", "single", "distributed", "gathered":
	default:
		return fmt.Errorf("%w: execution %q: want auto, distributed, gathered or single", ErrInvalid, m.Execution)
	}
	switch m.Pruning {
	case "", "on", "off":
	default:
		return fmt.Errorf("%w: pruning %q: want on or off", ErrInvalid, m.Pruning)
	}
	if p := authOf(ctx).p; p != nil {
		done, err := n.limits.startQuery(p.rec)
		if err != nil {
			return err
		}
		defer done()
	}
	select {
	case n.querySlots <- struct{}{}:
		defer func() { <-n.querySlots }()
	default:
		return fmt.Errorf("%w: %d queries are running on this node, the limit (--max-concurrent-queries); retry later", ErrBackpressure, cap(n.querySlots))
	}
	ctx, cancel := context.WithTimeoutCause(ctx, n.cfg.QueryTimeout, errStatementTimeout)
	defer cancel()
	err := n.runQuery(ctx, m, onColumns, onRow)
	if err != nil && errors.Is(context.Cause(ctx), errStatementTimeout) {
		return fmt.Errorf("%w: the statement ran longer than the timeout of %v (--query-timeout)", context.DeadlineExceeded, n.cfg.QueryTimeout)
	}
	return err
}

// boundStaleness makes a follower's local read at most bound behind the
// leader: the state it answers from must include everything the leader
// had committed when this node last heard from it, and that contact must
// be recent. It waits (within the bound) for the FSM to apply the entries
// it has received but not applied yet; measuring contact alone would let a
// replica whose state machine lags answer from old state.
func (n *Node) boundStaleness(ctx context.Context, bound time.Duration) error {
	contact := n.raft.LastContact()
	commit := n.raft.CommitIndex() // the leader's, as of contact
	if since := time.Since(contact); since > bound {
		return fmt.Errorf("%w: this node last heard from the leader %v ago, more than max_staleness_ms %d",
			ErrStale, since.Round(time.Millisecond), bound.Milliseconds())
	}
	target := n.lastCommandAtOrBelow(commit)
	wctx, cancel := context.WithDeadline(ctx, contact.Add(bound))
	defer cancel()
	if err := n.fsm.WaitApplied(wctx, target); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: this node's state has applied index %d of %d the leader had committed, and did not catch up within max_staleness_ms %d",
			ErrStale, n.fsm.AppliedIndex(), target, bound.Milliseconds())
	}
	return nil
}

// lastCommandAtOrBelow returns the index of the last state machine command
// at or below index: no-ops, barriers and configuration entries never
// reach the FSM, so its applied index stops at the command before them.
func (n *Node) lastCommandAtOrBelow(index uint64) uint64 {
	for i := index; i > 0 && index-i < 64; i-- {
		var l raft.Log
		if err := n.logStore.GetLog(i, &l); err != nil {
			return i // compacted into a snapshot, which the FSM restored
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return n.fsm.AppliedIndex()
}

// errStatementTimeout marks the node's own statement timeout, as opposed
// to a deadline the client set.
var errStatementTimeout = errors.New("statement timeout")

func (n *Node) runQuery(ctx context.Context, m *v1.QueryRequest, onColumns func([]*v1.ResultColumn) error, onRow func(*structpb.ListValue) error) error {
	var check func([]string) error
	if p := authOf(ctx).p; p != nil {
		check = func(tables []string) error {
			for _, t := range tables {
				if err := permission(p, raftfsm.RoleReader, t, "read"); err != nil {
					return err
				}
			}
			return nil
		}
	}
	opts := query.Options{Check: check, Execution: m.Execution, NoPruning: m.Pruning == "off", DistributeMinBytes: n.cfg.DistributeMinBytes}
	if n.raft.State() == raft.Leader && (m.Consistency == "" || m.Consistency == "strong") {
		ex, err := n.newExchange()
		if err != nil {
			return err
		}
		opts.Exchange = ex
	}
	if stmt, explain, analyze := query.CutExplain(m.Sql); explain {
		return n.explain(ctx, stmt, analyze, opts, onColumns, onRow)
	}
	rows, _, err := n.engine.QueryWith(ctx, m.Sql, opts)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := onColumns(resultColumns(rows.Columns)); err != nil {
		return err
	}
	types := make([]*sqlType, len(rows.Columns))
	for i, c := range rows.Columns {
		types[i] = parseSQLType(c.Type)
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		lv := &structpb.ListValue{Values: make([]*structpb.Value, len(vals))}
		for i, v := range vals {
			lv.Values[i] = toValue(v, types[i])
		}
		if err := onRow(lv); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// readBarrier implements a linearizable read: confirm leadership with a
// quorum, then make sure every entry in the log at that moment is applied.
// When the last entry is a command the FSM has applied, or a barrier this
// node issued covers it, nothing more is needed; otherwise (a new leader's
// no-op, or writes in flight) a raft Barrier waits for all of them.
func (n *Node) readBarrier(ctx context.Context) error {
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return fmt.Errorf("%w: %w", n.notLeader(), err)
	}
	last := n.raft.LastIndex()
	if n.fsm.AppliedIndex() >= last || n.barrierIndex.Load() >= last {
		return nil
	}
	timeout := n.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return fmt.Errorf("%w: %w", n.notLeader(), err)
		}
		return fmt.Errorf("node: read barrier: %w", err)
	}
	// The barrier entry came after last, so everything up to last+1 (the
	// barrier itself at the earliest) has been applied.
	for {
		cur := n.barrierIndex.Load()
		if cur >= last+1 || n.barrierIndex.CompareAndSwap(cur, last+1) {
			return nil
		}
	}
}

func (a *api) Delete(ctx context.Context, req *connect.Request[v1.DeleteRequest]) (*connect.Response[v1.DeleteResponse], error) {
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		return p.write.Delete(ctx, forwarded(ctx, req.Msg))
	}
	resp, err := a.n.Delete(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}

// --- TableService

func tableInfo(v raftfsm.TableView) *v1.TableInfo {
	hotRows, hotBytes := v.HotRows()
	files, rows, bytes := v.FileTotals()
	var parts int64 // partitions holding rows, in files or hot
	for _, p := range v.Partitions {
		if len(p.Files) > 0 || len(p.Batches) > 0 {
			parts++
		}
	}
	return &v1.TableInfo{
		Compaction:           v.Spec.Compaction,
		MaxFilesPerPartition: maxFilesPerPartition(v),
		Partitions:           parts,
		TtlMs:                v.Spec.TtlMs,
		Tombstones:           int64(len(v.Tombstones)),
		Name:                 v.Spec.Name,
		Columns:              v.Spec.Columns,
		Partitioning:         v.Spec.Partitioning,
		Flush:                v.Spec.Flush,
		ExplicitSchema:       v.Spec.ExplicitSchema,
		HotRows:              hotRows,
		HotBytes:             hotBytes,
		FlushedRows:          rows,
		FileCount:            files,
		FileBytes:            bytes,
		CreatedIndex:         v.CreatedIndex,
	}
}

func (a *api) CreateTable(ctx context.Context, req *connect.Request[v1.CreateTableRequest]) (*connect.Response[v1.CreateTableResponse], error) {
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		return p.tables.CreateTable(ctx, forwarded(ctx, req.Msg))
	}
	info, err := a.n.CreateTable(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.CreateTableResponse{Table: info}), nil
}

// CreateTable creates a table with an optional explicit schema.
func (n *Node) CreateTable(ctx context.Context, m *v1.CreateTableRequest) (*v1.TableInfo, error) {
	name, err := normalizeTable(m.Name)
	if err != nil {
		return nil, err
	}
	if n.raft.State() != raft.Leader {
		return nil, n.notLeader()
	}
	spec := &v1.TableSpec{Name: name, Partitioning: m.Partitioning, Flush: m.Flush}
	if spec.Partitioning == v1.Partitioning_PARTITIONING_UNSPECIFIED {
		spec.Partitioning = v1.Partitioning_PARTITIONING_DAY
	}
	if f := m.Flush; f != nil && (f.MaxRows < 0 || f.MaxBytes < 0 || f.MaxAgeMs < 0) {
		return nil, fmt.Errorf("%w: flush thresholds must not be negative", ErrInvalid)
	}
	if err := compaction.ValidateTablePolicy(m.Compaction, n.cfg.Compaction); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	spec.Compaction = m.Compaction
	if m.TtlMs < 0 {
		return nil, fmt.Errorf("%w: ttl_ms %d is negative (0 keeps rows forever)", ErrInvalid, m.TtlMs)
	}
	spec.TtlMs = m.TtlMs
	if len(m.Columns) > 0 {
		cols, err := ingest.NormalizeSchema(m.Columns)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		spec.Columns = cols
		spec.ExplicitSchema = true
	}
	if _, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_CreateTable{CreateTable: &v1.CreateTableCommand{
		Spec: spec, IfNotExists: m.IfNotExists,
	}}}); err != nil {
		return nil, err
	}
	v, ok := n.fsm.Table(name)
	if !ok {
		return nil, fmt.Errorf("%w: table %q was dropped right after its creation", ErrNotFound, name)
	}
	return tableInfo(v), nil
}

func (a *api) ListTables(ctx context.Context, req *connect.Request[v1.ListTablesRequest]) (*connect.Response[v1.ListTablesResponse], error) {
	resp := &v1.ListTablesResponse{}
	for _, v := range a.n.fsm.Tables() {
		if mayRead(ctx, v.Spec.Name) {
			resp.Tables = append(resp.Tables, tableInfo(v))
		}
	}
	return connect.NewResponse(resp), nil
}

func (a *api) GetTable(ctx context.Context, req *connect.Request[v1.GetTableRequest]) (*connect.Response[v1.GetTableResponse], error) {
	name, err := normalizeTable(req.Msg.Name)
	if err != nil {
		return nil, err
	}
	v, ok := a.n.fsm.Table(name)
	if !ok {
		return nil, fmt.Errorf("%w: table %q", ErrNotFound, req.Msg.Name)
	}
	return connect.NewResponse(&v1.GetTableResponse{Table: tableInfo(v)}), nil
}

func (a *api) DropTable(ctx context.Context, req *connect.Request[v1.DropTableRequest]) (*connect.Response[v1.DropTableResponse], error) {
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		return p.tables.DropTable(ctx, forwarded(ctx, req.Msg))
	}
	err := a.n.DropTable(ctx, req.Msg.Name, req.Msg.IfExists)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.DropTableResponse{}), nil
}

// DropTable drops a table; its files are deleted after the grace period.
func (n *Node) DropTable(ctx context.Context, table string, ifExists bool) error {
	name, err := normalizeTable(table)
	if err != nil {
		return err
	}
	if n.raft.State() != raft.Leader {
		return n.notLeader()
	}
	_, err = n.apply(ctx, &v1.Command{Cmd: &v1.Command_DropTable{DropTable: &v1.DropTableCommand{
		Name: name, IfExists: ifExists, UnixMicros: time.Now().UnixMicro(),
	}}, Audit: n.auditRecord(ctx, "table.drop", name, "")})
	return err
}

func (a *api) AlterTable(ctx context.Context, req *connect.Request[v1.AlterTableRequest]) (*connect.Response[v1.AlterTableResponse], error) {
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		return p.tables.AlterTable(ctx, forwarded(ctx, req.Msg))
	}
	info, err := a.n.AlterTable(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.AlterTableResponse{Table: info}), nil
}

// AlterTable changes a table's settings (today its compaction policy).
func (n *Node) AlterTable(ctx context.Context, m *v1.AlterTableRequest) (*v1.TableInfo, error) {
	name, err := normalizeTable(m.Name)
	if err != nil {
		return nil, err
	}
	if n.raft.State() != raft.Leader {
		return nil, n.notLeader()
	}
	if m.Compaction == nil && m.TtlMs == nil {
		return nil, fmt.Errorf("%w: alter table %q: nothing to change (set compaction or ttl_ms)", ErrInvalid, name)
	}
	if m.TtlMs != nil && *m.TtlMs < 0 {
		return nil, fmt.Errorf("%w: ttl_ms %d is negative (0 keeps rows forever)", ErrInvalid, *m.TtlMs)
	}
	if err := compaction.ValidateTablePolicy(m.Compaction, n.cfg.Compaction); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	v, ok := n.fsm.Table(name)
	if !ok {
		return nil, fmt.Errorf("%w: table %q", ErrNotFound, m.Name)
	}
	if _, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_AlterTable{AlterTable: &v1.AlterTableCommand{
		Name: name, TableCreatedIndex: v.CreatedIndex, Compaction: m.Compaction, TtlMs: m.TtlMs,
	}}, Audit: n.auditRecord(ctx, "table.alter", name, alterDetail(m))}); err != nil {
		return nil, err
	}
	v, ok = n.fsm.Table(name)
	if !ok {
		return nil, fmt.Errorf("%w: table %q was dropped right after the change", ErrNotFound, name)
	}
	return tableInfo(v), nil
}

// --- ClusterService

func (a *api) Status(ctx context.Context, req *connect.Request[v1.StatusRequest]) (*connect.Response[v1.StatusResponse], error) {
	return connect.NewResponse(a.n.Status(ctx)), nil
}

// Status reports the node's view of the cluster and its data.
func (n *Node) Status(ctx context.Context) *v1.StatusResponse {
	addr, id := n.raft.LeaderWithID()
	s := &v1.StatusResponse{
		NodeId:        n.cfg.NodeID,
		RaftState:     n.raft.State().String(),
		LeaderId:      string(id),
		LeaderAddr:    string(addr), // the API address below, once known
		Term:          n.raft.CurrentTerm(),
		AppliedIndex:  n.fsm.AppliedIndex(),
		CommitIndex:   n.raft.CommitIndex(),
		LastLogIndex:  n.raft.LastIndex(),
		ObjectStore:   n.store.String(),
		RaftLog:       n.cfg.RaftLog,
		HotBytesLimit: n.cfg.HotBytesLimit,
		Members:       n.members(),

		CompactionBytesWritten: n.compactedBytes.Load(),
		FlushBytesWritten:      n.flushedBytes.Load(),
	}
	if m, ok := n.fsm.Member(string(id)); ok && m.HttpAddr != "" {
		s.LeaderAddr = m.HttpAddr
	}
	if n.raft.State() != raft.Leader {
		if lc := n.raft.LastContact(); !lc.IsZero() {
			s.LastContactMs = time.Since(lc).Milliseconds()
		}
	}
	for _, v := range n.fsm.Tables() {
		hotRows, hotBytes := v.HotRows()
		files, rows, bytes := v.FileTotals()
		s.CatalogFiles += files
		if !mayRead(ctx, v.Spec.Name) {
			continue
		}
		info := tableInfo(v)
		s.Tables = append(s.Tables, &v1.TableStatus{
			Name: v.Spec.Name, HotRows: hotRows, HotBytes: hotBytes,
			Files: files, FileBytes: bytes, FlushedRows: rows,
			MaxFilesPerPartition: info.MaxFilesPerPartition, Partitions: info.Partitions,
			CompactionsPending: n.pendingMerges(v.Spec.Name), CompactionsRunning: n.compacting.runningFor(v.Spec.Name),
			Tombstones: info.Tombstones,
		})
	}
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := n.store.Ping(pingCtx); err != nil {
		s.ObjectStoreError = err.Error()
	} else if err := n.getStoreErr(); err != nil {
		s.ObjectStoreError = "last flush failed: " + err.Error()
	} else {
		s.ObjectStoreOk = true
	}
	return s
}

func (a *api) Flush(ctx context.Context, req *connect.Request[v1.FlushRequest]) (*connect.Response[v1.FlushResponse], error) {
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		return p.cluster.Flush(ctx, forwarded(ctx, req.Msg))
	}
	res, err := a.n.Flush(ctx, req.Msg.Table, true)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.FlushResponse{FilesWritten: res.Files, RowsFlushed: res.Rows}), nil
}

func (a *api) Compact(ctx context.Context, req *connect.Request[v1.CompactRequest]) (*connect.Response[v1.CompactResponse], error) {
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		return p.cluster.Compact(ctx, forwarded(ctx, req.Msg))
	}
	res, err := a.n.Compact(ctx, req.Msg.Table, req.Msg.Wait)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.CompactResponse{
		Merges: res.Merges, FilesMerged: res.FilesMerged, BytesRead: res.BytesRead, BytesWritten: res.BytesWritten, Rows: res.Rows,
	}), nil
}

func (a *api) Join(ctx context.Context, req *connect.Request[v1.JoinRequest]) (*connect.Response[v1.JoinResponse], error) {
	resp, err := a.n.Join(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}

func (a *api) Remove(ctx context.Context, req *connect.Request[v1.RemoveRequest]) (*connect.Response[v1.RemoveResponse], error) {
	if err := a.n.Remove(ctx, req.Msg.NodeId); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.RemoveResponse{}), nil
}

func alterDetail(m *v1.AlterTableRequest) string {
	d := ""
	if m.TtlMs != nil {
		d = fmt.Sprintf("ttl_ms=%d", *m.TtlMs)
	}
	if c := m.Compaction; c != nil {
		d = strings.TrimSpace(fmt.Sprintf("%s compaction={target=%d min=%d max=%d cooldown_ms=%d disabled=%t}", d, c.TargetFileBytes, c.MinFiles, c.MaxFiles, c.CooldownMs, c.Disabled))
	}
	return d
}

// explain answers EXPLAIN [ANALYZE] with one VARCHAR column "plan", a
// line per row. EXPLAIN plans the statement without running it (an id
// lookup still reads bloom filters to prune); EXPLAIN ANALYZE runs it,
// counts its rows and reports what each fragment did.
func (n *Node) explain(ctx context.Context, stmt string, analyze bool, opts query.Options, onColumns func([]*v1.ResultColumn) error, onRow func(*structpb.ListValue) error) error {
	start := time.Now()
	opts.PlanOnly = !analyze
	rows, plan, err := n.engine.QueryWith(ctx, stmt, opts)
	if err != nil {
		return err
	}
	var count int64
	if rows != nil {
		for rows.Next() {
			count++
		}
		err := rows.Err()
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if err := onColumns([]*v1.ResultColumn{{Name: "plan", Type: "VARCHAR"}}); err != nil {
		return err
	}
	for _, line := range plan.Explain(analyze, count, time.Since(start)) {
		if err := onRow(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue(line)}}); err != nil {
			return err
		}
	}
	return nil
}

func (a *api) Explain(ctx context.Context, req *connect.Request[v1.ExplainRequest]) (*connect.Response[v1.ExplainResponse], error) {
	m := req.Msg.GetQuery()
	if m == nil {
		return nil, fmt.Errorf("%w: query is missing", ErrInvalid)
	}
	q := proto.Clone(m).(*v1.QueryRequest)
	if _, explain, _ := query.CutExplain(q.Sql); !explain {
		if req.Msg.Analyze {
			q.Sql = "EXPLAIN ANALYZE " + q.Sql
		} else {
			q.Sql = "EXPLAIN " + q.Sql
		}
	}
	resp := &v1.ExplainResponse{}
	err := a.n.Query(ctx, q, func([]*v1.ResultColumn) error { return nil }, func(row *structpb.ListValue) error {
		line := row.Values[0].GetStringValue()
		if mode, ok := strings.CutPrefix(line, "mode: "); ok {
			resp.Mode = mode
		}
		resp.Lines = append(resp.Lines, line)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}
