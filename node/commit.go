package node

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

// Group commit: concurrent small writes share Raft entries. A write is
// parsed and validated on its own first (a bad row fails only its own
// request), then queued; a few commit workers each take what is queued,
// put it in one InsertBatch entry and apply it. There is no fixed linger:
// a worker takes the first queued write at once and whatever else is
// already waiting, so an idle node adds no latency, and while entries are
// in flight on the other workers the queue fills and the next entry holds
// more. The FSM applies the inserts of an entry in order, each exactly as
// if it were an entry of its own (its own request-id dedupe, its own
// rejection, schema changes in arrival order), and every request is
// answered only after the entry holding it is committed and applied.
//
// hashicorp/raft's own batching was considered and not used: BatchApplyCh
// only buffers the apply channel (so several Apply calls share one append
// and fsync, which raft's leader loop already does for what is queued when
// it wakes) at the price of Apply's timeout guarantee, and BatchingFSM
// hands the FSM several entries at once; both keep one log entry per
// request, with its framing, checksum, decode and FSM lock. One
// InsertBatch entry per batch pays those once, and keeps the per-request
// semantics in the FSM, where replay applies them the same way.
const (
	// commitWorkers bounds the entries of coalesced writes in flight.
	commitWorkers = 4
	// commitMaxRequests and commitMaxBytes bound one entry.
	commitMaxRequests = 1024
	commitMaxBytes    = 4 << 20
	// commitAloneBytes: a write this large (encoded) gains nothing from
	// sharing an entry and is applied on its own, as before.
	commitAloneBytes = 256 << 10
)

type commitRequest struct {
	ins  *v1.InsertCommand
	size int
	done chan commitResult // buffered 1
}

type commitResult struct {
	r   *raftfsm.Result
	err error
}

// commitInsert applies one insert, coalesced with concurrent ones when it
// is small, and returns its own result.
func (n *Node) commitInsert(ctx context.Context, ins *v1.InsertCommand) (*raftfsm.Result, error) {
	size := proto.Size(ins)
	if size >= commitAloneBytes {
		return n.apply(ctx, &v1.Command{Cmd: &v1.Command_Insert{Insert: ins}})
	}
	req := &commitRequest{ins: ins, size: size, done: make(chan commitResult, 1)}
	select {
	case n.commitCh <- req:
	case <-ctx.Done():
		return nil, ctx.Err() // never queued: not written
	case <-n.stop:
		return nil, fmt.Errorf("%w: the node is shutting down", ErrNotLeader)
	}
	// Queued: the write may be applied even if this caller stops waiting,
	// as with any Raft apply that times out; a retry with the same
	// request_id is applied at most once.
	select {
	case res := <-req.done:
		return res.r, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.stop:
		return nil, fmt.Errorf("%w: the node is shutting down", ErrNotLeader)
	}
}

// commitWorker takes queued writes and applies them in shared entries
// until the node stops.
func (n *Node) commitWorker() {
	defer n.wg.Done()
	for {
		if n.cfg.testCommitGate != nil {
			select {
			case <-n.cfg.testCommitGate:
			case <-n.stop:
				return
			}
		}
		var first *commitRequest
		select {
		case <-n.stop:
			return
		case first = <-n.commitCh:
		}
		batch, size := []*commitRequest{first}, first.size
	drain:
		for len(batch) < commitMaxRequests && size < commitMaxBytes {
			select {
			case r := <-n.commitCh:
				batch = append(batch, r)
				size += r.size
			default:
				break drain
			}
		}
		n.commitBatch(batch)
	}
}

// commitBatch applies one entry holding batch and answers each request.
func (n *Node) commitBatch(batch []*commitRequest) {
	ctx, cancel := n.stopContext()
	defer cancel()
	n.metrics.commitBatch.Observe(float64(len(batch)))
	if len(batch) == 1 {
		r, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_Insert{Insert: batch[0].ins}})
		batch[0].done <- commitResult{r, err}
		return
	}
	cmd := &v1.InsertBatchCommand{Inserts: make([]*v1.InsertCommand, len(batch))}
	for i, req := range batch {
		cmd.Inserts[i] = req.ins
	}
	r, err := n.applyRaw(ctx, &v1.Command{Cmd: &v1.Command_InsertBatch{InsertBatch: cmd}})
	if err == nil && r.Err == nil && len(r.Batch) != len(batch) {
		err = fmt.Errorf("node: group commit: %d results for %d inserts", len(r.Batch), len(batch))
	}
	for i, req := range batch {
		switch {
		case err != nil:
			req.done <- commitResult{nil, err}
		case r.Err != nil:
			req.done <- commitResult{nil, fsmError(r.Err)}
		case r.Batch[i].Err != nil:
			req.done <- commitResult{nil, fsmError(r.Batch[i].Err)}
		default:
			req.done <- commitResult{r.Batch[i], nil}
		}
	}
}
