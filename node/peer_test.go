package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/internal/certs"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

func followerOf(nodes []*Node) *Node {
	for _, n := range nodes {
		if n.raft.State().String() != "Leader" {
			return n
		}
	}
	return nil
}

// A client cannot make a follower skip forwarding by sending the header
// that once marked forwarded requests: the marker is the connection's
// (it arrived on the Raft address), not the request's.
func TestForwardedMarkerIsNotAHeader(t *testing.T) {
	nodes := startCluster(t, 3)
	f := newClient(t, followerOf(nodes))
	for _, h := range []string{"Miniodb-Forwarded", "Miniodb-Peer"} {
		req, _ := http.NewRequest("POST", f.base+"/miniodb.v1.WriteService/Write",
			strings.NewReader(`{"table":"events","rows":[{"id":"a"}]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(h, "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("write through a follower with %s: %d %s", h, resp.StatusCode, b)
		}
	}
	if got := f.sql("SELECT count(*) FROM events"); got != "[2]\n" {
		t.Fatalf("strong read through the follower: %s", got)
	}
}

// makeCerts writes a cluster CA and node certificates n1..nN into a new
// directory.
func makeCerts(t *testing.T, nodes ...string) *certs.Generated {
	t.Helper()
	g, err := certs.Generate(certs.Options{Dir: t.TempDir(), Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestPeerTLS(t *testing.T) {
	g := makeCerts(t, "n1", "n2", "n3")
	nodes := startCluster(t, 3, func(i int, cfg *Config) {
		files := g.Nodes[cfg.NodeID]
		cfg.PeerCertFile, cfg.PeerKeyFile, cfg.PeerCAFile = files[0], files[1], g.CACert
	})
	// Raft replicates and a follower forwards, both over mutual TLS.
	f := newClient(t, followerOf(nodes))
	if s, b := f.postJSON("/miniodb.v1.WriteService/Write", `{"table":"events","rows":[{"id":"a"},{"id":"b"}]}`); s != 200 {
		t.Fatalf("write through a follower: %d %s", s, b)
	}
	for _, n := range nodes {
		if got := newClient(t, n).sql("SELECT count(*) FROM events"); got != "[2]\n" {
			t.Fatalf("read on %s: %s", n.cfg.NodeID, got)
		}
	}

	// A node whose certificate another CA signed cannot join.
	rogue := makeCerts(t, "n4")
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID = "n4"
	cfg.ObjectStore, cfg.ObjectStoreShared = nodes[0].cfg.ObjectStore, true
	cfg.JoinAddrs = []string{nodes[0].HTTPAddr()}
	cfg.PeerCertFile, cfg.PeerKeyFile, cfg.PeerCAFile = rogue.Nodes["n4"][0], rogue.Nodes["n4"][1], rogue.CACert
	cfg.JoinTimeout = 10 * time.Second
	if n, err := New(context.Background(), cfg); err == nil {
		n.Close()
		t.Fatal("a node with another CA's certificate joined")
	} else if !strings.Contains(err.Error(), "no certificate of this cluster's CA") {
		t.Fatalf("join with another CA's certificate: %v", err)
	}
	// Nor can one without peer TLS at all.
	cfg.NodeID, cfg.DataDir = "n5", t.TempDir()
	cfg.PeerCertFile, cfg.PeerKeyFile, cfg.PeerCAFile = "", "", ""
	if n, err := New(context.Background(), cfg); err == nil {
		n.Close()
		t.Fatal("a node without peer TLS joined")
	} else if !strings.Contains(err.Error(), "no certificate of this cluster's CA") {
		t.Fatalf("join without peer TLS: %v", err)
	}
	if m := nodes[0].members(); len(m) != 3 {
		t.Fatalf("members after the refused joins: %v", m)
	}

	leaderRaft, err := nodes[0].leaderRaft(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Neither plain TCP nor a certificate of another CA gets an answer
	// from the Raft address, for Raft or for the node-to-node API.
	ask := func(c net.Conn) (string, error) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(append([]byte{peerAPIByte}, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"...)); err != nil {
			return "", err
		}
		return bufio.NewReader(c).ReadString('\n')
	}
	plain, err := net.Dial("tcp", leaderRaft)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if line, err := ask(plain); err == nil {
		t.Fatalf("plain TCP on the raft address got %q", line)
	}
	pair, err := tls.LoadX509KeyPair(rogue.Nodes["n4"][0], rogue.Nodes["n4"][1])
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := tls.Dial("tcp", leaderRaft, &tls.Config{Certificates: []tls.Certificate{pair}, InsecureSkipVerify: true})
	if err == nil {
		defer wrong.Close()
		if line, err := ask(wrong); err == nil {
			t.Fatalf("another CA's certificate on the raft address got %q", line)
		}
	}
	// The cluster's own certificate does get an answer: the refusals
	// above are the certificate's doing.
	own, err := tls.LoadX509KeyPair(g.Nodes["n1"][0], g.Nodes["n1"][1])
	if err != nil {
		t.Fatal(err)
	}
	good, err := tls.Dial("tcp", leaderRaft, &tls.Config{Certificates: []tls.Certificate{own}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if line, err := ask(good); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Fatalf("the cluster's certificate on the raft address: %q %v", line, err)
	}
}

// httpsClient trusts the CA file.
func httpsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pool, err := certs.LoadPool(caFile)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
}

func TestAPITLS(t *testing.T) {
	g := makeCerts(t, "n1")
	cfg := testConfig(t, t.TempDir())
	cfg.TLSCertFile, cfg.TLSKeyFile = g.Nodes["n1"][0], g.Nodes["n1"][1]
	n := mustStartNode(t, cfg)
	defer n.Close()
	base := "https://" + n.HTTPAddr()
	hc := httpsClient(t, g.CACert)
	ctx := context.Background()

	// Connect over HTTP/1.1 and HTTP/2, and gRPC (HTTP/2 only).
	serial := func() string {
		resp, err := hc.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("https answered with %s, want HTTP/2", resp.Proto)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	if _, err := miniodbv1connect.NewClusterServiceClient(hc, base, connect.WithGRPC()).Status(ctx, connect.NewRequest(&v1.StatusRequest{})); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}
	h1cfg := hc.Transport.(*http.Transport).TLSClientConfig.Clone()
	h1cfg.NextProtos = []string{"http/1.1"}
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: h1cfg}}
	defer h1.CloseIdleConnections()
	defer hc.CloseIdleConnections()
	if _, err := miniodbv1connect.NewTableServiceClient(h1, base).ListTables(ctx, connect.NewRequest(&v1.ListTablesRequest{})); err != nil {
		t.Fatalf("Connect over HTTP/1.1 and TLS: %v", err)
	}
	// A client that does not trust the CA is refused; plain HTTP gets no
	// answer.
	if _, err := http.Get(base + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("https without the CA: %v", err)
	}
	if resp, err := http.Get("http://" + n.HTTPAddr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP was answered on a TLS port")
		}
	}

	// A renewed certificate is served without a restart.
	renewed, err := certs.Generate(certs.Options{Dir: filepath.Dir(g.CACert), Nodes: []string{"renewed"}})
	if err != nil || !renewed.CAKept {
		t.Fatalf("renew: %v %+v", err, renewed)
	}
	for i, f := range []string{cfg.TLSCertFile, cfg.TLSKeyFile} {
		b, err := os.ReadFile(renewed.Nodes["renewed"][i])
		if err != nil {
			t.Fatal(err)
		}
		// A later modification time than the loaded files', whatever the
		// file system's time resolution.
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(2 * time.Second)
		os.Chtimes(f, later, later)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		hc.CloseIdleConnections()
		if s := serial(); s != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// With peer TLS on the API too, a node with a cluster certificate joins a
// cluster that checks tokens without one; the certificate allows nothing
// else.
func TestJoinWithPeerCertificate(t *testing.T) {
	g := makeCerts(t, "n1", "n2")
	root := t.TempDir()
	tlsFor := func(cfg *Config) {
		files := g.Nodes[cfg.NodeID]
		cfg.PeerCertFile, cfg.PeerKeyFile, cfg.PeerCAFile = files[0], files[1], g.CACert
		cfg.TLSCertFile, cfg.TLSKeyFile = files[0], files[1]
		cfg.Auth = "on"
		cfg.ObjectStore, cfg.ObjectStoreShared = "file://"+filepath.Join(root, "objects"), true
	}
	cfg1 := testConfig(t, t.TempDir())
	tlsFor(&cfg1)
	first := mustStartNode(t, cfg1)
	defer first.Close()
	waitFor(t, 10*time.Second, "the bootstrap token", first.fsm.Auth)

	cfg2 := testConfig(t, t.TempDir())
	cfg2.NodeID = "n2"
	tlsFor(&cfg2)
	cfg2.JoinAddrs = []string{"https://" + first.HTTPAddr()}
	second, err := New(context.Background(), cfg2)
	if err != nil {
		t.Fatalf("join with the cluster certificate: %v", err)
	}
	defer second.Close()
	waitFor(t, 10*time.Second, "n2 to become a member", func() bool { return len(first.members()) == 2 })
	audit := first.fsm.Audit(10)
	if last := audit[len(audit)-1]; last.Action != "member.join" || last.Actor != "node certificate n2" {
		t.Errorf("audit of the join: %v", last)
	}
	// The certificate is no token: a query with it alone is refused.
	pair, err := tls.LoadX509KeyPair(g.Nodes["n2"][0], g.Nodes["n2"][1])
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := certs.LoadPool(g.CACert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}
	defer hc.CloseIdleConnections()
	_, err = miniodbv1connect.NewQueryServiceClient(hc, "https://"+first.HTTPAddr()).Query(context.Background(), connect.NewRequest(&v1.QueryRequest{Sql: "SELECT 1"}))
	if connect.CodeOf(err) != connect.CodePermissionDenied || !strings.Contains(err.Error(), "may only join") {
		t.Errorf("a query with a node certificate and no token: %v", err)
	}
}

// Requests on the Raft address (node-to-node calls) are checked like any
// other: the address marks a request as forwarded, it grants nothing.
func TestPeerPortChecksTokens(t *testing.T) {
	n, admin := startAuthNode(t)
	post := func(token string) int {
		c, err := n.peer.dialAPI(context.Background(), "tcp", string(n.transport.LocalAddr()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		body := `{"table":"events","rows":[{"id":"a"}]}`
		req := "POST /miniodb.v1.WriteService/Write HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
		if token != "" {
			req += "Authorization: Bearer " + token + "\r\n"
		}
		req += fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != 401 {
		t.Errorf("a write on the raft address without a token: HTTP %d", code)
	}
	if code := post(admin); code != 200 {
		t.Errorf("a write on the raft address with the admin token: HTTP %d", code)
	}
}
