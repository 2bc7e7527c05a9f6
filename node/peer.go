package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The Raft address carries two kinds of connection: Raft's own, whose
// first byte is an RPC type (0 to 4 in hashicorp/raft's NetworkTransport),
// and node-to-node API calls, which open with peerAPIByte. Putting both
// behind one listener makes that address the cluster's one trust boundary:
// with peer TLS (Config.PeerCertFile) every connection to it presents a
// certificate of the cluster CA, so a process without one can neither read
// the log nor pose as a node forwarding a request, and a request arriving
// there is known to come from a member (the forwarded marker travels in
// the request's context, set by the listener, not in a header a client
// could send).
const peerAPIByte = 0xf7

// errPeerHandshake: the peer at an address holds no certificate of the
// cluster CA (or refused ours).
var errPeerHandshake = errors.New("peer TLS handshake failed")

// peerHandshakeTimeout bounds a new connection's TLS handshake and first
// byte, so a silent client cannot hold an accept slot.
const peerHandshakeTimeout = 10 * time.Second

// peerLayer is the listener and dialer of the Raft address: raft's
// StreamLayer for Raft connections, and a net.Listener (api) for the
// node-to-node API server.
type peerLayer struct {
	ln        net.Listener
	advertise net.Addr
	dialer    *net.Dialer
	// serverTLS and clientTLS are nil without peer TLS.
	serverTLS, clientTLS *tls.Config

	raftCh chan net.Conn
	api    *chanListener
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup // the accept loop and the connections being sorted
}

func newPeerLayer(listen, advertise string, serverTLS, clientTLS *tls.Config) (*peerLayer, error) {
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, fmt.Errorf("node: raft advertise address %q: %w", advertise, err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("node: raft listen on %s: %w", listen, err)
	}
	var a net.Addr = adv
	if adv.Port == 0 || adv.IP == nil || adv.IP.IsUnspecified() {
		a = ln.Addr() // tests listen on port 0: advertise what we got
	}
	p := &peerLayer{
		ln: ln, advertise: a, dialer: sourceDialer(listen),
		serverTLS: serverTLS, clientTLS: clientTLS,
		raftCh: make(chan net.Conn), done: make(chan struct{}),
	}
	p.api = &chanListener{ch: make(chan net.Conn), closed: make(chan struct{}), addr: a}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

func (p *peerLayer) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		p.wg.Add(1)
		go p.sort(c)
	}
}

// sort completes a connection's handshake, reads its first byte and hands
// it to Raft or to the API server.
func (p *peerLayer) sort(c net.Conn) {
	defer p.wg.Done()
	c.SetDeadline(time.Now().Add(peerHandshakeTimeout))
	if p.serverTLS != nil {
		tc := tls.Server(c, p.serverTLS)
		if err := tc.Handshake(); err != nil {
			// A client without a cluster certificate, or a port scanner.
			c.Close()
			return
		}
		c = tc
	}
	br := bufio.NewReaderSize(c, 4096)
	first, err := br.Peek(1)
	if err != nil {
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	ch := p.raftCh
	if first[0] == peerAPIByte {
		br.Discard(1)
		ch = p.api.ch
	}
	select {
	case ch <- &bufferedConn{Conn: c, r: br}:
	case <-p.api.closed:
		c.Close()
	case <-p.done:
		c.Close()
	}
}

// Accept returns the next Raft connection (raft.StreamLayer).
func (p *peerLayer) Accept() (net.Conn, error) {
	select {
	case c := <-p.raftCh:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

// Close stops the listener and waits for the connections being sorted.
func (p *peerLayer) Close() error {
	var err error
	p.once.Do(func() {
		close(p.done)
		err = p.ln.Close()
		p.wg.Wait()
	})
	return err
}

// Addr is the advertised address.
func (p *peerLayer) Addr() net.Addr { return p.advertise }

// Dial connects to a peer's Raft address for Raft (raft.StreamLayer).
func (p *peerLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.dial(ctx, string(address))
}

func (p *peerLayer) dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := p.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if p.clientTLS == nil {
		return c, nil
	}
	tc := tls.Client(c, p.clientTLS)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w with %s: %w", errPeerHandshake, addr, err)
	}
	return tc, nil
}

// dialAPI connects to a peer's Raft address for an API call.
func (p *peerLayer) dialAPI(ctx context.Context, _, addr string) (net.Conn, error) {
	c, err := p.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{peerAPIByte}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// httpClient is the client for node-to-node API calls.
func (p *peerLayer) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         p.dialAPI,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// bufferedConn is a connection whose first bytes were read into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// chanListener is a net.Listener fed by peerLayer; closing it stops the
// API server's accepts while the socket stays open for Raft.
type chanListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// peerKey marks a request's context as arriving from another node.
type peerKey struct{}

// fromPeer reports whether the request came over the Raft address, that
// is, from another member forwarding it.
func fromPeer(ctx context.Context) bool {
	v, _ := ctx.Value(peerKey{}).(bool)
	return v
}

// sourceDialer dials from the host of addr when it names a specific IP, so
// that on a machine with several loopback or interface addresses a peer
// (or the jepsen suite's proxy) sees which node a connection comes from.
func sourceDialer(addr string) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return d
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}
