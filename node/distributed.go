package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/query"
)

// fragmentChunk is the size of the pieces a fragment's result travels in.
const fragmentChunk = 512 << 10

// RunFragment serves FragmentService to other nodes: it runs a fragment of
// a distributed query in this node's engine and streams the result.
func (a *api) RunFragment(ctx context.Context, req *connect.Request[v1.RunFragmentRequest], stream *connect.ServerStream[v1.RunFragmentResponse]) error {
	n := a.n
	if !fromPeer(ctx) {
		return connect.NewError(connect.CodePermissionDenied, errors.New("FragmentService is served to other nodes only, on the Raft address"))
	}
	if err := n.cfg.Failpoints.Inject("fragment-run"); err != nil {
		return connect.NewError(connect.CodeUnavailable, err)
	}
	w := &chunkWriter{send: func(b []byte) error {
		return stream.Send(&v1.RunFragmentResponse{Data: b})
	}}
	stats, err := n.engine.RunFragment(ctx, req.Msg, w)
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		if errors.Is(err, query.ErrFragment) {
			return connect.NewError(connect.CodeUnavailable, err)
		}
		return err
	}
	stats.Node = n.cfg.NodeID
	return stream.Send(&v1.RunFragmentResponse{Stats: stats})
}

// chunkWriter sends what is written to it in pieces of fragmentChunk.
type chunkWriter struct {
	buf  []byte
	send func([]byte) error
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := fragmentChunk - len(c.buf)
		k := min(room, len(p))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == fragmentChunk {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	err := c.send(c.buf)
	c.buf = nil
	return err
}

// exchange runs the fragments of this node's distributed queries: its
// own share in its engine, the others' over FragmentService on their Raft
// addresses.
type exchange struct {
	n     *Node
	nodes []string
	addrs map[string]string // node id → Raft address
}

// newExchange lists the voters of the current configuration, this node
// first.
func (n *Node) newExchange() (*exchange, error) {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, fmt.Errorf("node: read the cluster configuration: %w", err)
	}
	ex := &exchange{n: n, nodes: []string{n.cfg.NodeID}, addrs: map[string]string{}}
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage != raft.Voter || string(s.ID) == n.cfg.NodeID {
			continue
		}
		ex.nodes = append(ex.nodes, string(s.ID))
		ex.addrs[string(s.ID)] = string(s.Address)
	}
	return ex, nil
}

func (x *exchange) Nodes() []string { return x.nodes }

func (x *exchange) Hold(keys []string) func() {
	x.n.queryPins.add(keys)
	return func() { x.n.queryPins.remove(keys) }
}

func (x *exchange) Run(ctx context.Context, node string, req *v1.RunFragmentRequest, w io.Writer) (*v1.FragmentStats, error) {
	if node == x.n.cfg.NodeID {
		stats, err := x.n.engine.RunFragment(ctx, req, w)
		if stats != nil {
			stats.Node = node
		}
		return stats, err
	}
	addr, ok := x.addrs[node]
	if !ok {
		return nil, fmt.Errorf("%w: node %s is not a member", query.ErrFragment, node)
	}
	ctx, cancel := context.WithTimeout(ctx, x.n.cfg.FragmentTimeout)
	defer cancel()
	start := time.Now()
	stream, err := x.n.peers.get(addr).fragment.RunFragment(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, x.classify(node, err)
	}
	defer stream.Close()
	var stats *v1.FragmentStats
	for stream.Receive() {
		msg := stream.Msg()
		if len(msg.Data) > 0 {
			if _, err := w.Write(msg.Data); err != nil {
				return nil, fmt.Errorf("node: write the result of fragment on %s: %w", node, err)
			}
		}
		if msg.Stats != nil {
			stats = msg.Stats
		}
	}
	if err := stream.Err(); err != nil {
		return stats, x.classify(node, err)
	}
	if stats == nil {
		// The stream ended without its last message: the node went away.
		return nil, fmt.Errorf("%w: node %s ended the fragment's stream early after %v", query.ErrFragment, node, time.Since(start).Round(time.Millisecond))
	}
	return stats, nil
}

// classify marks the errors another node may not have (the node down or
// unreachable, its object store failing) as ErrFragment, so the engine
// moves the fragment's files; errors of the statement itself fail the
// query.
func (x *exchange) classify(node string, err error) error {
	switch connect.CodeOf(err) {
	case connect.CodeInvalidArgument, connect.CodeCanceled, connect.CodeResourceExhausted, connect.CodePermissionDenied:
		return fmt.Errorf("node: fragment on %s: %w", node, err)
	}
	return fmt.Errorf("%w: node %s: %w", query.ErrFragment, node, err)
}
