package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// Followers coalesce the small writes they forward, as the leader's group
// commit coalesces what it applies: concurrent writes arriving at a
// follower go to the leader in one WriteMany call (one hop per batch, not
// per request) and the leader applies each as a Write of its own, so its
// group commit puts them in shared entries. No fixed linger: a worker
// sends the first queued write at once, with whatever else is waiting,
// and while its call is in flight the queue fills for the next one. Each
// request keeps its own request id, token check, errors and answer.
const (
	// forwardWorkers bounds the WriteMany calls in flight from a node.
	forwardWorkers = 4
	// forwardMaxRequests and forwardMaxBytes bound one call.
	forwardMaxRequests = 512
	forwardMaxBytes    = 4 << 20
)

type forwardRequest struct {
	m    *v1.WriteRequest
	tok  string
	size int
	done chan forwardResult // buffered 1
}

type forwardResult struct {
	res *v1.WriteResponse
	err error
}

// forwardWrite sends a small write to the leader through the coalescer.
func (n *Node) forwardWrite(ctx context.Context, m *v1.WriteRequest) (*v1.WriteResponse, error) {
	req := &forwardRequest{m: m, size: proto.Size(m), done: make(chan forwardResult, 1)}
	if p := authOf(ctx).p; p != nil {
		req.tok = p.token
	}
	select {
	case n.forwardCh <- req:
	case <-ctx.Done():
		return nil, ctx.Err() // never sent: not written
	case <-n.stop:
		return nil, fmt.Errorf("%w: the node is shutting down", ErrNotLeader)
	}
	// Sent (or about to be): it may be applied even if this caller stops
	// waiting; a retry with the same request_id is applied at most once.
	select {
	case r := <-req.done:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-n.stop:
		return nil, fmt.Errorf("%w: the node is shutting down", ErrNotLeader)
	}
}

// forwardWorker takes queued writes and sends them in shared calls until
// the node stops.
func (n *Node) forwardWorker() {
	defer n.wg.Done()
	for {
		var first *forwardRequest
		select {
		case <-n.stop:
			return
		case first = <-n.forwardCh:
		}
		batch, size := []*forwardRequest{first}, first.size
	drain:
		for len(batch) < forwardMaxRequests && size < forwardMaxBytes {
			select {
			case r := <-n.forwardCh:
				batch = append(batch, r)
				size += r.size
			default:
				break drain
			}
		}
		n.forwardBatch(batch)
	}
}

// forwardBatch sends one WriteMany call and answers each request.
func (n *Node) forwardBatch(batch []*forwardRequest) {
	ctx, cancel := n.stopContext()
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
	defer cancelT()
	n.metrics.forwardBatch.Observe(float64(len(batch)))
	fail := func(err error) {
		for _, r := range batch {
			r.done <- forwardResult{err: err}
		}
	}
	p, err := n.forwardTarget(ctx)
	if err != nil {
		fail(err)
		return
	}
	if p == nil {
		// This node leads now: apply here, each on its own.
		var wg sync.WaitGroup
		for _, r := range batch {
			wg.Go(func() {
				res, err := n.WriteRequest(n.requestContext(ctx, r.tok), r.m)
				r.done <- forwardResult{res, err}
			})
		}
		wg.Wait()
		return
	}
	req := &v1.WriteManyRequest{Writes: make([]*v1.ForwardedWrite, len(batch))}
	for i, r := range batch {
		req.Writes[i] = &v1.ForwardedWrite{Request: r.m, Token: r.tok}
	}
	resp, err := p.peer.WriteMany(ctx, connect.NewRequest(req))
	if err != nil {
		fail(err)
		return
	}
	if len(resp.Msg.Results) != len(batch) {
		fail(fmt.Errorf("node: WriteMany answered %d results for %d writes", len(resp.Msg.Results), len(batch)))
		return
	}
	for i, r := range batch {
		res := resp.Msg.Results[i]
		if res.Code != "" {
			var code connect.Code
			if err := code.UnmarshalText([]byte(res.Code)); err != nil {
				code = connect.CodeUnknown
			}
			r.done <- forwardResult{err: connect.NewError(code, errors.New(res.Message))}
			continue
		}
		r.done <- forwardResult{res: res.Response}
	}
}

// requestContext is ctx carrying the authentication of a forwarded token.
func (n *Node) requestContext(ctx context.Context, tok string) context.Context {
	return context.WithValue(ctx, authKey{}, n.forwardedAuth(tok))
}

// WriteMany applies writes a follower coalesced, each as a Write of its
// own, concurrently.
func (a *api) WriteMany(ctx context.Context, req *connect.Request[v1.WriteManyRequest]) (*connect.Response[v1.WriteManyResponse], error) {
	n := a.n
	out := &v1.WriteManyResponse{Results: make([]*v1.ForwardedWriteResult, len(req.Msg.Writes))}
	var wg sync.WaitGroup
	for i, w := range req.Msg.Writes {
		wg.Go(func() {
			wctx := n.requestContext(ctx, w.Token)
			err := n.authorize(wctx, miniodbv1connect.WriteServiceWriteProcedure, w.GetRequest())
			var res *v1.WriteResponse
			if err == nil {
				res, err = n.WriteRequest(wctx, w.GetRequest())
			}
			if err != nil {
				ce := apiError(n.logger, "write", err)
				out.Results[i] = &v1.ForwardedWriteResult{Code: ce.Code().String(), Message: ce.Message()}
				return
			}
			out.Results[i] = &v1.ForwardedWriteResult{Response: res}
		})
	}
	wg.Wait()
	return connect.NewResponse(out), nil
}
