package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/hashicorp/raft"

	"github.com/miniodb/miniodb/objstore"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// leaderHeader carries the leader's API address on Unavailable answers.
const leaderHeader = "Miniodb-Leader"

// peers holds Connect clients to other members' APIs, by Raft address
// (node-to-node calls go to the Raft address, see peerLayer).
type peers struct {
	mu      sync.Mutex
	http    *http.Client
	clients map[string]*peerClient
}

type peerClient struct {
	write   miniodbv1connect.WriteServiceClient
	query   miniodbv1connect.QueryServiceClient
	tables  miniodbv1connect.TableServiceClient
	cluster miniodbv1connect.ClusterServiceClient
	auth    miniodbv1connect.AuthServiceClient
	peer    miniodbv1connect.PeerServiceClient
	// fragment is served on the Raft address only (peers.http dials it).
	fragment miniodbv1connect.FragmentServiceClient
}

func newPeers(c *http.Client) *peers {
	return &peers{http: c, clients: map[string]*peerClient{}}
}

func (p *peers) get(addr string) *peerClient {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.clients[addr]
	if !ok {
		base := "http://" + addr
		c = &peerClient{
			write:    miniodbv1connect.NewWriteServiceClient(p.http, base),
			query:    miniodbv1connect.NewQueryServiceClient(p.http, base),
			tables:   miniodbv1connect.NewTableServiceClient(p.http, base),
			cluster:  miniodbv1connect.NewClusterServiceClient(p.http, base),
			auth:     miniodbv1connect.NewAuthServiceClient(p.http, base),
			peer:     miniodbv1connect.NewPeerServiceClient(p.http, base),
			fragment: miniodbv1connect.NewFragmentServiceClient(p.http, base),
		}
		p.clients[addr] = c
	}
	return c
}

// isLocalStore reports whether the object store is a directory on this
// machine, which other nodes cannot see unless it is marked shared.
func isLocalStore(s objstore.ObjectStore) bool {
	_, ok := s.(*objstore.DirStore)
	return ok
}

// leaderAPI returns the leader's API address, or ErrNotLeader when there is
// no leader or its address is not known. A node that has just joined or
// restarted may not have applied the member table yet, and an election may
// be under way: it waits up to leaderWait for both to settle.
func (n *Node) leaderAPI(ctx context.Context) (string, error) {
	deadline := time.Now().Add(leaderWait)
	for {
		_, id := n.raft.LeaderWithID()
		if id != "" {
			if m, ok := n.fsm.Member(string(id)); ok && m.HttpAddr != "" {
				return m.HttpAddr, nil
			}
		}
		if time.Now().After(deadline) {
			if id == "" {
				return "", fmt.Errorf("%w: the cluster has no leader right now", ErrNotLeader)
			}
			return "", fmt.Errorf("%w: the API address of the leader %s is not known here yet", ErrNotLeader, id)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// leaderWait bounds how long a follower waits to learn where to forward.
const leaderWait = 3 * time.Second

// leaderRaft returns the leader's Raft address, waiting up to leaderWait
// while an election is under way.
func (n *Node) leaderRaft(ctx context.Context) (string, error) {
	deadline := time.Now().Add(leaderWait)
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return string(addr), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%w: the cluster has no leader right now", ErrNotLeader)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// forwardTarget decides where a request that must run on the leader goes:
// nil client means "run it here". A request another node forwarded (it
// arrived on the Raft address) is not forwarded again, so leadership
// moving cannot make a request loop.
func (n *Node) forwardTarget(ctx context.Context) (*peerClient, error) {
	if n.raft.State() == raft.Leader {
		return nil, nil
	}
	if fromPeer(ctx) {
		return nil, n.notLeader()
	}
	addr, err := n.leaderRaft(ctx)
	if err != nil {
		return nil, err
	}
	return n.peers.get(addr), nil
}

// registerSelf publishes this node's API address in the member table once
// it leads (the leader records followers' addresses when they join).
func (n *Node) registerSelf(ctx context.Context) error {
	want := &v1.SetMemberCommand{NodeId: n.cfg.NodeID, HttpAddr: n.advertisedHTTP(), RaftAddr: string(n.transport.LocalAddr())}
	if m, ok := n.fsm.Member(n.cfg.NodeID); ok && m.HttpAddr == want.HttpAddr && m.RaftAddr == want.RaftAddr {
		return nil
	}
	_, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_SetMember{SetMember: want}})
	return err
}

// leaderLoop runs leader-only duties when this node gains leadership.
func (n *Node) leaderLoop() {
	n.whileLeader(250*time.Millisecond, n.cfg.ApplyTimeout, "publishing this node's API address or the bootstrap token failed", func(ctx context.Context) error {
		if err := n.registerSelf(ctx); err != nil {
			return err
		}
		if err := n.bootstrapAuth(ctx); err != nil {
			return err
		}
		return n.auditRestore(ctx)
	})
}

// Join adds a node as a voter (on the leader) or forwards the request to
// the leader.
func (n *Node) Join(ctx context.Context, m *v1.JoinRequest) (*v1.JoinResponse, error) {
	if m.NodeId == "" || m.RaftAddr == "" || m.HttpAddr == "" {
		return nil, fmt.Errorf("%w: join needs node_id, raft_addr and http_addr", ErrInvalid)
	}
	if p, err := n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		resp, err := p.cluster.Join(ctx, forwarded(ctx, m))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
	if isLocalStore(n.store) && !n.cfg.ObjectStoreShared {
		return nil, fmt.Errorf("%w: this cluster keeps its files in a local directory (%s); a cluster of more than one node needs a shared object store (s3://…), or --object-store-shared for a directory every node sees",
			ErrInvalid, n.store)
	}
	if m.ObjectStore != "" && m.ObjectStore != n.store.String() {
		return nil, fmt.Errorf("%w: node %s uses object store %s, the cluster uses %s; every node must use the same one",
			ErrInvalid, m.NodeId, m.ObjectStore, n.store)
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return nil, fmt.Errorf("node: read raft configuration: %w", err)
	}
	changed := true
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == raft.ServerID(m.NodeId) && s.Address == raft.ServerAddress(m.RaftAddr):
			changed = false
		case s.ID == raft.ServerID(m.NodeId) || s.Address == raft.ServerAddress(m.RaftAddr):
			// The same id at a new address, or another id at this address:
			// the old entry goes.
			if err := n.raft.RemoveServer(s.ID, 0, n.cfg.ApplyTimeout).Error(); err != nil {
				return nil, fmt.Errorf("node: remove old entry of %s: %w", s.ID, err)
			}
		}
	}
	if changed {
		if err := n.probePeer(ctx, m.NodeId, m.RaftAddr); err != nil {
			return nil, err
		}
		if err := n.raft.AddVoter(raft.ServerID(m.NodeId), raft.ServerAddress(m.RaftAddr), 0, n.cfg.ApplyTimeout).Error(); err != nil {
			return nil, fmt.Errorf("node: add voter %s: %w", m.NodeId, err)
		}
		n.logger.Info("node joined", "joined_id", m.NodeId, "raft_addr", m.RaftAddr, "http_addr", m.HttpAddr)
	}
	if rec, ok := n.fsm.Member(m.NodeId); !ok || rec.HttpAddr != m.HttpAddr || rec.RaftAddr != m.RaftAddr {
		changed = true
		if _, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_SetMember{SetMember: &v1.SetMemberCommand{
			NodeId: m.NodeId, HttpAddr: m.HttpAddr, RaftAddr: m.RaftAddr,
		}}, Audit: n.auditRecord(ctx, "member.join", m.NodeId, fmt.Sprintf("raft %s, api %s", m.RaftAddr, m.HttpAddr))}); err != nil {
			return nil, err
		}
	}
	return &v1.JoinResponse{LeaderId: n.cfg.NodeID, Changed: changed}, nil
}

// probePeer connects to a joining node's Raft address (with peer TLS, a
// handshake that checks its certificate) before it becomes a voter: a
// voter the leader cannot reach counts toward the quorum all the same, and
// adding one to a one-node cluster would stop it.
func (n *Node) probePeer(ctx context.Context, id, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := n.peer.dial(ctx, addr)
	if errors.Is(err, errPeerHandshake) {
		return connect.NewError(connect.CodeFailedPrecondition,
			fmt.Errorf("node %s at %s has no certificate of this cluster's CA (--peer-tls-*): %w", id, addr, err))
	}
	if err != nil {
		return connect.NewError(connect.CodeUnavailable, fmt.Errorf("the leader cannot reach node %s at its raft address %s: %w", id, addr, err))
	}
	return c.Close()
}

// Remove takes a node out of the cluster.
func (n *Node) Remove(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: remove needs a node id", ErrInvalid)
	}
	if p, err := n.forwardTarget(ctx); err != nil {
		return err
	} else if p != nil {
		_, err := p.cluster.Remove(ctx, forwarded(ctx, &v1.RemoveRequest{NodeId: id}))
		return err
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("node: read raft configuration: %w", err)
	}
	found := false
	for _, s := range cf.Configuration().Servers {
		found = found || s.ID == raft.ServerID(id)
	}
	if !found {
		return fmt.Errorf("%w: node %q is not a member", ErrNotFound, id)
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("node: remove %s: %w", id, err)
	}
	_, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_RemoveMember{RemoveMember: &v1.RemoveMemberCommand{NodeId: id}},
		Audit: n.auditRecord(ctx, "member.remove", id, "")})
	return err
}

// joinCluster asks the given members to add this node, retrying with
// back-off until one accepts or the join timeout passes.
func (n *Node) joinCluster(ctx context.Context) error {
	req := &v1.JoinRequest{
		NodeId:      n.cfg.NodeID,
		RaftAddr:    string(n.transport.LocalAddr()),
		HttpAddr:    n.advertisedHTTP(),
		ObjectStore: n.store.String(),
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.JoinTimeout)
	defer cancel()
	hc, err := n.joinHTTPClient()
	if err != nil {
		return err
	}
	defer hc.CloseIdleConnections()
	backoff := 100 * time.Millisecond
	var errs []string
	for {
		for _, addr := range n.cfg.JoinAddrs {
			base := addr
			if !strings.Contains(base, "://") {
				base = "http://" + base
			}
			jr := connect.NewRequest(req)
			if n.cfg.JoinToken != "" {
				jr.Header().Set("Authorization", "Bearer "+n.cfg.JoinToken)
			}
			resp, err := miniodbv1connect.NewClusterServiceClient(hc, base).Join(ctx, jr)
			if err == nil {
				n.logger.Info("joined the cluster", "via", addr, "leader_id", resp.Msg.LeaderId, "changed", resp.Msg.Changed)
				return nil
			}
			if c := connect.CodeOf(err); c == connect.CodeInvalidArgument || c == connect.CodeFailedPrecondition ||
				c == connect.CodeUnauthenticated || c == connect.CodePermissionDenied {
				return fmt.Errorf("node: join via %s refused: %w", addr, err)
			}
			errs = append(errs, fmt.Sprintf("%s: %v", addr, err))
		}
		select {
		case <-ctx.Done():
			last := errs
			if len(last) > len(n.cfg.JoinAddrs) {
				last = last[len(last)-len(n.cfg.JoinAddrs):]
			}
			return fmt.Errorf("node: could not join the cluster via %s within %v (is a member running and does it have a leader?): %s",
				strings.Join(n.cfg.JoinAddrs, ", "), n.cfg.JoinTimeout, strings.Join(last, "; "))
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 3*time.Second)
	}
}

// joinHTTPClient calls members' public APIs to join: https:// addresses
// are verified against the system's roots and the cluster CA, and the
// node presents its cluster certificate, if it has one.
func (n *Node) joinHTTPClient() (*http.Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if n.cfg.PeerCAFile != "" {
		b, err := os.ReadFile(n.cfg.PeerCAFile)
		if err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		roots.AppendCertsFromPEM(b)
	}
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if n.peer.clientTLS != nil {
		// The node's cluster certificate: a member whose API checks
		// client certificates lets it join without a token.
		tc.GetClientCertificate = n.peer.clientTLS.GetClientCertificate
	}
	return &http.Client{Transport: &http.Transport{
		DialContext:     sourceDialer(n.cfg.RaftAddr).DialContext,
		TLSClientConfig: tc,
	}}, nil
}

// members combines the Raft configuration with the member table.
func (n *Node) members() []*v1.Member {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return nil
	}
	_, leader := n.raft.LeaderWithID()
	var out []*v1.Member
	for _, s := range cf.Configuration().Servers {
		m := &v1.Member{NodeId: string(s.ID), RaftAddr: string(s.Address), Voter: s.Suffrage == raft.Voter, Leader: s.ID == leader}
		if rec, ok := n.fsm.Member(string(s.ID)); ok {
			m.HttpAddr = rec.HttpAddr
		}
		out = append(out, m)
	}
	return out
}

// unavailable wraps an ErrNotLeader with the leader's API address as a
// header, for clients that asked for a redirect.
func (n *Node) redirectError(ctx context.Context) error {
	addr, err := n.leaderAPI(ctx)
	if err != nil {
		return err
	}
	ce := connect.NewError(connect.CodeUnavailable, fmt.Errorf("not the leader: send the request to the leader at %s", addr))
	ce.Meta().Set(leaderHeader, addr)
	return ce
}
