package node

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is raft's TCP stream layer with two additions: it advertises
// a configured address (which may be a proxy in front of the listener),
// and it dials from the IP of the node's own Raft address, so that on a
// machine with several loopback or interface addresses a peer (or a test
// proxy) sees which node a connection comes from.
type streamLayer struct {
	net.Listener
	advertise net.Addr
	dialer    *net.Dialer
}

func newStreamLayer(listen, advertise string) (*streamLayer, error) {
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
	return &streamLayer{Listener: ln, advertise: a, dialer: sourceDialer(listen)}, nil
}

// Addr is the advertised address.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a peer's Raft address.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := *s.dialer
	d.Timeout = timeout
	return d.Dial("tcp", string(address))
}

// sourceDialer dials from the host of addr when it names a specific IP.
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

// peerHTTPClient is the client for node-to-node API calls, dialing from
// the same source IP as Raft traffic.
func peerHTTPClient(raftAddr string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         sourceDialer(raftAddr).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}
}
