package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/internal/certs"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// clients holds Connect clients for one server. They speak the Connect
// protocol with binary protobuf over plain HTTP/1.1 (unary and server
// streaming both work without HTTP/2).
type clients struct {
	baseURL string
	table   miniodbv1connect.TableServiceClient
	write   miniodbv1connect.WriteServiceClient
	query   miniodbv1connect.QueryServiceClient
	cluster miniodbv1connect.ClusterServiceClient
	auth    miniodbv1connect.AuthServiceClient
}

// bearer adds the API token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func (f *clientFlags) dial() (*clients, error) {
	base, err := baseURL(f.addr)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 32
	if strings.HasPrefix(base, "https://") {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.insecure}
		if f.ca != "" {
			if tc.RootCAs, err = certs.LoadPool(f.ca); err != nil {
				return nil, usageErrorf("--ca: %v", err)
			}
		}
		transport.TLSClientConfig = tc
	}
	var rt http.RoundTripper = transport
	tok := strings.TrimSpace(f.token)
	if tok == "" {
		tok = strings.TrimSpace(f.envToken)
	}
	if tok != "" {
		rt = bearer{token: tok, next: transport}
	}
	hc := &http.Client{Transport: rt}
	return &clients{
		baseURL: base,
		table:   miniodbv1connect.NewTableServiceClient(hc, base),
		write:   miniodbv1connect.NewWriteServiceClient(hc, base),
		query:   miniodbv1connect.NewQueryServiceClient(hc, base),
		cluster: miniodbv1connect.NewClusterServiceClient(hc, base),
		auth:    miniodbv1connect.NewAuthServiceClient(hc, base),
	}, nil
}

// baseURL turns an --addr value into the server's base URL: "host:port",
// "host" (port 7070), ":7070" (localhost) or a full http(s):// URL.
func baseURL(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("--addr is empty")
	}
	if !strings.Contains(addr, "://") {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			// No port: "node1" or "[::1]".
			host, port = strings.Trim(addr, "[]"), "7070"
		}
		if host == "" {
			host = "127.0.0.1"
		}
		addr = "http://" + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("bad --addr %q: %v", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("bad --addr %q: scheme must be http or https", addr)
	}
	if u.Host == "" {
		return "", fmt.Errorf("bad --addr %q: no host", addr)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// describeError renders an error for people: Connect errors as
// "code: message" (what the server said), with a hint when no server
// answers at all.
func describeError(err error) string {
	msg := err.Error()
	var ce *connect.Error
	if errors.As(err, &ce) && ce.Code() == connect.CodeUnavailable && isConnRefused(err) {
		msg += "\n(is a server running there? start one with 'miniodb serve', or point --addr or MINIODB_ADDR at one)"
	}
	if c := connect.CodeOf(err); c == connect.CodeUnauthenticated && !strings.Contains(msg, "--token") {
		msg += "\n(pass a token with --token or MINIODB_TOKEN)"
	}
	if strings.Contains(msg, "certificate signed by unknown authority") {
		msg += "\n(pass the CA that signed the server's certificate with --ca or MINIODB_CA)"
	}
	return msg
}

func isConnRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused")
}

// retryable reports whether a failed write may be sent again with the same
// request_id: the server was unreachable or had no leader, the attempt timed
// out, or the server pushed back because its buffers were full.
func retryable(err error) bool {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeResourceExhausted:
		return true
	}
	return false
}
