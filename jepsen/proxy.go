//go:build linux

package jepsen

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Net is the controllable network between nodes: one TCP proxy per node
// per service (Raft, node-to-node HTTP) in front of the node's real
// listener. Nodes advertise the proxies' addresses, so every node-to-node
// connection passes through a proxy. A node dials from the IP of its own
// Raft address (127.0.0.(10+i) for node i), so the proxy knows the source
// node of every connection from its source IP, and the destination from
// which proxy accepted it.
//
// A link (src, dst) is either open or cut. A cut link refuses new
// connections (ModeRefuse: accept and close at once, like a RST) or black-
// holes them (ModeDrop: accept, read and discard, answer nothing, like
// dropped packets); in both modes cutting closes the link's established
// connections. Clients of the API do not pass through Net.
type Net struct {
	mu      sync.Mutex
	ipNode  map[string]int // source IP → node index
	cut     map[link]Mode
	conns   map[link]map[net.Conn]struct{}
	holes   map[link]map[net.Conn]struct{} // black-holed connections
	proxies []*proxy
	closed  bool
	wg      sync.WaitGroup
}

// Mode says how a cut link treats connections.
type Mode int

const (
	ModeRefuse Mode = iota // close new connections at once
	ModeDrop               // accept new connections and discard their bytes
)

func (m Mode) String() string {
	if m == ModeDrop {
		return "drop"
	}
	return "refuse"
}

type link struct{ src, dst int }

type proxy struct {
	dst     int
	service string
	ln      net.Listener
	target  string
}

// NewNet returns a network with no proxies; nodes are known by their IP.
func NewNet() *Net {
	return &Net{
		ipNode: map[string]int{},
		cut:    map[link]Mode{},
		conns:  map[link]map[net.Conn]struct{}{},
		holes:  map[link]map[net.Conn]struct{}{},
	}
}

// AddNode registers the source IP of node i.
func (n *Net) AddNode(i int, ip string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ipNode[ip] = i
}

// Listen starts a proxy for node dst's service on listen (host:port, port
// may be 0) forwarding to target, and returns the proxy's address.
func (n *Net) Listen(dst int, service, listen, target string) (string, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("jepsen: proxy for n%d %s: %w", dst+1, service, err)
	}
	p := &proxy{dst: dst, service: service, ln: ln, target: target}
	n.mu.Lock()
	n.proxies = append(n.proxies, p)
	n.mu.Unlock()
	n.wg.Add(1)
	go n.accept(p)
	return ln.Addr().String(), nil
}

func (n *Net) accept(p *proxy) {
	defer n.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		n.wg.Add(1)
		go n.serve(p, c)
	}
}

// source returns the node a connection comes from (-1: not a node).
func (n *Net) source(c net.Conn) int {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return -1
	}
	if i, ok := n.ipNode[host]; ok {
		return i
	}
	return -1
}

func (n *Net) serve(p *proxy, c net.Conn) {
	defer n.wg.Done()
	n.mu.Lock()
	l := link{n.source(c), p.dst}
	mode, cut := n.cut[l]
	if n.closed {
		n.mu.Unlock()
		c.Close()
		return
	}
	if cut {
		if mode == ModeRefuse {
			n.mu.Unlock()
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST rather than FIN
			}
			c.Close()
			return
		}
		addConn(n.holes, l, c)
		n.mu.Unlock()
		io.Copy(io.Discard, c) // until the peer or a heal closes it
		n.mu.Lock()
		delete(n.holes[l], c)
		n.mu.Unlock()
		c.Close()
		return
	}
	addConn(n.conns, l, c)
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.conns[l], c)
		n.mu.Unlock()
		c.Close()
	}()
	up, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return // the node is down: the client sees the connection close
	}
	n.mu.Lock()
	if _, still := n.conns[l][c]; !still { // cut while dialing
		n.mu.Unlock()
		up.Close()
		return
	}
	addConn(n.conns, l, up) // closing it on a cut too
	n.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); closeWrite(up); done <- struct{}{} }()
	go func() { io.Copy(c, up); closeWrite(c); done <- struct{}{} }()
	<-done
	<-done
	n.mu.Lock()
	delete(n.conns[l], up)
	n.mu.Unlock()
	up.Close()
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
		return
	}
	c.Close()
}

func addConn(m map[link]map[net.Conn]struct{}, l link, c net.Conn) {
	if m[l] == nil {
		m[l] = map[net.Conn]struct{}{}
	}
	m[l][c] = struct{}{}
}

// Cut cuts the one-way link src→dst (connections that src opens to dst)
// and closes its established connections.
func (n *Net) Cut(src, dst int, mode Mode) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := link{src, dst}
	n.cut[l] = mode
	for c := range n.conns[l] {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	delete(n.conns, l)
}

// CutBoth cuts a↔b in both directions.
func (n *Net) CutBoth(a, b int, mode Mode) {
	n.Cut(a, b, mode)
	n.Cut(b, a, mode)
}

// Partition cuts every link between the groups (both ways); links within
// a group stay as they are.
func (n *Net) Partition(groups [][]int, mode Mode) {
	for gi, g := range groups {
		for gj, h := range groups {
			if gi == gj {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					n.Cut(a, b, mode)
				}
			}
		}
	}
}

// Heal opens every link and closes the black-holed connections.
func (n *Net) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut = map[link]Mode{}
	for _, set := range n.holes {
		for c := range set {
			c.Close()
		}
	}
}

// Cuts returns the cut links as "n1→n2" strings, for the log.
func (n *Net) Cuts() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for l, m := range n.cut {
		out = append(out, fmt.Sprintf("n%d→n%d(%s)", l.src+1, l.dst+1, m))
	}
	return out
}

// Close stops every proxy and closes every connection.
func (n *Net) Close() {
	n.mu.Lock()
	n.closed = true
	for _, p := range n.proxies {
		p.ln.Close()
	}
	for _, m := range []map[link]map[net.Conn]struct{}{n.conns, n.holes} {
		for _, set := range m {
			for c := range set {
				c.Close()
			}
		}
	}
	n.mu.Unlock()
	n.wg.Wait()
}
