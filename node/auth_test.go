package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

func TestResolveAuth(t *testing.T) {
	for _, tc := range []struct {
		auth, http, raft string
		want             bool
	}{
		{"auto", "127.0.0.1:7070", "127.0.0.1:7071", false},
		{"auto", "localhost:7070", "[::1]:7071", false},
		{"auto", "0.0.0.0:7070", "127.0.0.1:7071", true},
		{"auto", ":7070", "127.0.0.1:7071", true},
		{"auto", "127.0.0.1:7070", "10.0.0.5:7071", true},
		{"auto", "db1.internal:7070", "127.0.0.1:7071", true},
		{"", "127.0.0.1:7070", "127.0.0.1:7071", false},
		{"on", "127.0.0.1:7070", "127.0.0.1:7071", true},
		{"off", "0.0.0.0:7070", "0.0.0.0:7071", false},
	} {
		got, err := resolveAuth(Config{Auth: tc.auth, HTTPAddr: tc.http, RaftAddr: tc.raft})
		if err != nil || got != tc.want {
			t.Errorf("auth %q on %s/%s: %v %v, want %v", tc.auth, tc.http, tc.raft, got, err, tc.want)
		}
	}
	if _, err := resolveAuth(Config{Auth: "yes", HTTPAddr: "127.0.0.1:1", RaftAddr: "127.0.0.1:2"}); err == nil {
		t.Error("--auth yes was accepted")
	}
}

// Every procedure of every service has an access rule: a new RPC without
// one fails here before it can be served unchecked (it would be refused).
func TestEveryProcedureHasARule(t *testing.T) {
	services := v1.File_miniodb_v1_api_proto.Services()
	count := 0
	for i := range services.Len() {
		s := services.Get(i)
		for j := range s.Methods().Len() {
			proc := fmt.Sprintf("/%s/%s", s.FullName(), s.Methods().Get(j).Name())
			count++
			if _, ok := needOf(proc); !ok {
				t.Errorf("%s has no access rule in needOf", proc)
			}
		}
	}
	if count < 15 {
		t.Fatalf("found only %d procedures", count)
	}
}

// authClient is a client that sends a token.
type authClient struct {
	*client
	hc    *http.Client
	token string
	auth  miniodbv1connect.AuthServiceClient
}

type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

func newAuthClient(t testing.TB, n *Node, token string) *authClient {
	return newAuthClientFrom(t, n, token, "")
}

// newAuthClientFrom connects from a given loopback IP ("" any), so tests
// can act as several client addresses.
func newAuthClientFrom(t testing.TB, n *Node, token, ip string) *authClient {
	base := "http://" + n.HTTPAddr()
	tr := http.DefaultTransport
	if ip != "" {
		d := sourceDialer(ip + ":0")
		tr = &http.Transport{DialContext: d.DialContext}
		t.Cleanup(tr.(*http.Transport).CloseIdleConnections)
	}
	hc := &http.Client{Transport: bearerTransport{token, tr}}
	return &authClient{
		client: &client{
			t: t, base: base,
			write:  miniodbv1connect.NewWriteServiceClient(hc, base),
			query:  miniodbv1connect.NewQueryServiceClient(hc, base),
			tables: miniodbv1connect.NewTableServiceClient(hc, base),
			clus:   miniodbv1connect.NewClusterServiceClient(hc, base),
		},
		hc: hc, token: token, auth: miniodbv1connect.NewAuthServiceClient(hc, base),
	}
}

// startAuthNode starts a node that checks tokens and returns it with its
// bootstrap admin token.
func startAuthNode(t *testing.T, opts ...func(*Config)) (*Node, string) {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	cfg.Auth = "on"
	for _, o := range opts {
		o(&cfg)
	}
	n := mustStartNode(t, cfg)
	t.Cleanup(func() { n.Close() })
	waitFor(t, 10*time.Second, "the bootstrap token to apply", n.fsm.Auth)
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, "bootstrap-token"))
	if cfg.BootstrapTokenFile != "" {
		b, err = os.ReadFile(cfg.BootstrapTokenFile)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n, strings.TrimSpace(string(b))
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustToken(t testing.TB, c *authClient, role string, tables ...string) string {
	t.Helper()
	resp, err := c.auth.CreateToken(context.Background(), connect.NewRequest(&v1.CreateTokenRequest{Role: role, Tables: tables}))
	if err != nil {
		t.Fatalf("create %s token: %v", role, err)
	}
	return resp.Msg.Token
}

// TestRoles runs every RPC and HTTP endpoint with every kind of token
// and checks the outcome against a table.
func TestRoles(t *testing.T) {
	n, rootTok := startAuthNode(t)
	root := newAuthClient(t, n, rootTok)
	tokens := map[string]string{
		"admin":  rootTok,
		"writer": mustToken(t, root, "writer", "sensor_*"),
		"reader": mustToken(t, root, "reader", "sensor_*"),
		"none":   "",
		"bad":    "mdb_0000000000000000_" + strings.Repeat("0", 64),
	}
	ctx := context.Background()
	// Tables the calls use: sensor_a (the tokens' pattern) and other.
	for _, tbl := range []string{"sensor_a", "other", "sensor_drop"} {
		if _, err := root.write.Write(ctx, connect.NewRequest(&v1.WriteRequest{Table: tbl, RowsNdjson: []byte(`{"id":"x","ts":"2026-01-01T00:00:00Z"}`)})); err != nil {
			t.Fatal(err)
		}
	}
	backupDest := "file://" + t.TempDir()
	type call func(c *authClient) error
	unary := func(f func(ctx context.Context, c *authClient) error) call {
		return func(c *authClient) error { return f(ctx, c) }
	}
	httpCall := func(method, path, body string) call {
		return func(c *authClient) error {
			req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
			resp, err := c.hc.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			switch resp.StatusCode {
			case 200:
				return nil
			case 401:
				return connect.NewError(connect.CodeUnauthenticated, errors.New(string(b)))
			case 403:
				return connect.NewError(connect.CodePermissionDenied, errors.New(string(b)))
			}
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
		}
	}
	write := func(table string) call {
		return unary(func(ctx context.Context, c *authClient) error {
			_, err := c.write.Write(ctx, connect.NewRequest(&v1.WriteRequest{Table: table, RowsNdjson: []byte(`{"id":"y"}`)}))
			return err
		})
	}
	query := func(sql string) call {
		return unary(func(ctx context.Context, c *authClient) error {
			_, err := c.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: sql}))
			return err
		})
	}
	stream := func(sql string) call {
		return unary(func(ctx context.Context, c *authClient) error {
			s, err := c.query.QueryStream(ctx, connect.NewRequest(&v1.QueryRequest{Sql: sql}))
			if err != nil {
				return err
			}
			for s.Receive() {
			}
			return s.Err()
		})
	}
	const (
		ok   = connect.Code(0)
		deny = connect.CodePermissionDenied
		anon = connect.CodeUnauthenticated
	)
	// want lists the outcome for admin, writer, reader; no token and a
	// bad token are always Unauthenticated (except the open endpoints).
	cases := []struct {
		name string
		call call
		want [3]connect.Code
	}{
		{"Write sensor_a", write("sensor_a"), [3]connect.Code{ok, ok, deny}},
		{"Write other", write("other"), [3]connect.Code{ok, deny, deny}},
		{"Delete sensor_a", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.write.Delete(ctx, connect.NewRequest(&v1.DeleteRequest{Table: "sensor_a", Ids: []string{"nope"}}))
			return err
		}), [3]connect.Code{ok, ok, deny}},
		{"Delete other", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.write.Delete(ctx, connect.NewRequest(&v1.DeleteRequest{Table: "other", Ids: []string{"nope"}}))
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"Query sensor_a", query("SELECT count(*) FROM sensor_a"), [3]connect.Code{ok, ok, ok}},
		{"Query other", query("SELECT count(*) FROM other"), [3]connect.Code{ok, deny, deny}},
		{"Query other in a subquery", query("SELECT (SELECT count(*) FROM other) FROM sensor_a"), [3]connect.Code{ok, deny, deny}},
		{"Query CTE named other", query("WITH other AS (SELECT 1 AS x) SELECT count(*) FROM other, sensor_a"), [3]connect.Code{ok, ok, ok}},
		{"QueryStream sensor_a", stream("SELECT id FROM sensor_a"), [3]connect.Code{ok, ok, ok}},
		{"QueryStream other", stream("SELECT id FROM other"), [3]connect.Code{ok, deny, deny}},
		{"CreateTable sensor_new", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.tables.CreateTable(ctx, connect.NewRequest(&v1.CreateTableRequest{Name: "sensor_new", IfNotExists: true}))
			return err
		}), [3]connect.Code{ok, ok, deny}},
		{"CreateTable other_new", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.tables.CreateTable(ctx, connect.NewRequest(&v1.CreateTableRequest{Name: "other_new", IfNotExists: true}))
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"GetTable sensor_a", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.tables.GetTable(ctx, connect.NewRequest(&v1.GetTableRequest{Name: "sensor_a"}))
			return err
		}), [3]connect.Code{ok, ok, ok}},
		{"GetTable other", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.tables.GetTable(ctx, connect.NewRequest(&v1.GetTableRequest{Name: "other"}))
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"ListTables", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.tables.ListTables(ctx, connect.NewRequest(&v1.ListTablesRequest{}))
			return err
		}), [3]connect.Code{ok, ok, ok}},
		{"AlterTable", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.tables.AlterTable(ctx, connect.NewRequest(&v1.AlterTableRequest{Name: "sensor_a", TtlMs: new(int64(0))}))
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"DropTable", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.tables.DropTable(ctx, connect.NewRequest(&v1.DropTableRequest{Name: "sensor_gone", IfExists: true}))
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"Status", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.clus.Status(ctx, connect.NewRequest(&v1.StatusRequest{}))
			return err
		}), [3]connect.Code{ok, ok, ok}},
		{"Flush sensor_a", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.clus.Flush(ctx, connect.NewRequest(&v1.FlushRequest{Table: "sensor_a"}))
			return err
		}), [3]connect.Code{ok, ok, deny}},
		{"Flush all", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.clus.Flush(ctx, connect.NewRequest(&v1.FlushRequest{}))
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"Compact sensor_a", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.clus.Compact(ctx, connect.NewRequest(&v1.CompactRequest{Table: "sensor_a"}))
			return err
		}), [3]connect.Code{ok, ok, deny}},
		{"Join", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.clus.Join(ctx, connect.NewRequest(&v1.JoinRequest{}))
			if connect.CodeOf(err) == connect.CodeInvalidArgument {
				return nil // past the access check: the request is empty
			}
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"Remove", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.clus.Remove(ctx, connect.NewRequest(&v1.RemoveRequest{NodeId: "nobody"}))
			if connect.CodeOf(err) == connect.CodeNotFound {
				return nil // past the access check
			}
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"CreateToken", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.auth.CreateToken(ctx, connect.NewRequest(&v1.CreateTokenRequest{Role: "reader"}))
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"ListTokens", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.auth.ListTokens(ctx, connect.NewRequest(&v1.ListTokensRequest{}))
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"RevokeToken", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.auth.RevokeToken(ctx, connect.NewRequest(&v1.RevokeTokenRequest{Id: "nope"}))
			if connect.CodeOf(err) == connect.CodeNotFound {
				return nil // past the access check
			}
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"WriteStream sensor_a", unary(func(ctx context.Context, c *authClient) error {
			return writeStreamAs(t, n, c.token, "sensor_a")
		}), [3]connect.Code{ok, ok, deny}},
		{"WriteStream other", unary(func(ctx context.Context, c *authClient) error {
			return writeStreamAs(t, n, c.token, "other")
		}), [3]connect.Code{ok, deny, deny}},
		{"Backup", unary(func(ctx context.Context, c *authClient) error {
			s, err := c.clus.Backup(ctx, connect.NewRequest(&v1.BackupRequest{To: backupDest}))
			if err != nil {
				return err
			}
			for s.Receive() {
			}
			return s.Err()
		}), [3]connect.Code{ok, deny, deny}},
		{"Audit", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.clus.Audit(ctx, connect.NewRequest(&v1.AuditRequest{}))
			return err
		}), [3]connect.Code{ok, deny, deny}},
		{"WhoAmI", unary(func(ctx context.Context, c *authClient) error {
			_, err := c.auth.WhoAmI(ctx, connect.NewRequest(&v1.WhoAmIRequest{}))
			return err
		}), [3]connect.Code{ok, ok, ok}},
		{"NDJSON sensor_a", httpCall("POST", "/v1/tables/sensor_a/rows", `{"id":"z"}`), [3]connect.Code{ok, ok, deny}},
		{"NDJSON other", httpCall("POST", "/v1/tables/other/rows", `{"id":"z"}`), [3]connect.Code{ok, deny, deny}},
		{"HTTP query sensor_a", httpCall("GET", "/v1/query?sql=SELECT+count(*)+FROM+sensor_a", ""), [3]connect.Code{ok, ok, ok}},
		{"HTTP query other", httpCall("GET", "/v1/query?sql=SELECT+count(*)+FROM+other", ""), [3]connect.Code{ok, deny, deny}},
		{"metrics", httpCall("GET", "/metrics", ""), [3]connect.Code{ok, ok, ok}},
	}
	roles := []string{"admin", "writer", "reader", "none", "bad"}
	for k, tc := range cases {
		// Each case from its own address: failed attempts are limited
		// per address, and this table fails on purpose many times.
		ip := fmt.Sprintf("127.0.1.%d", 10+k)
		for i, role := range roles {
			want := anon
			if i < 3 {
				want = tc.want[i]
			}
			err := tc.call(newAuthClientFrom(t, n, tokens[role], ip))
			if got := connect.CodeOf(err); (err == nil) != (want == ok) || (err != nil && got != want) {
				t.Errorf("%s with the %s token: %v, want %v", tc.name, role, err, want)
			}
		}
	}
	// The open endpoints need no token.
	for _, path := range []string{"/healthz", "/readyz"} {
		if err := httpCall("GET", path, "")(newAuthClient(t, n, "")); err != nil {
			t.Errorf("%s without a token: %v", path, err)
		}
	}
	// A refusal names the role that would be needed.
	_, err := newAuthClient(t, n, tokens["reader"]).write.Write(ctx, connect.NewRequest(&v1.WriteRequest{Table: "sensor_a", RowsNdjson: []byte(`{"id":"y"}`)}))
	if err == nil || !strings.Contains(err.Error(), "needs a writer (or admin) token") {
		t.Errorf("reader writing: %v", err)
	}
	// Lists show only the tables a token may read.
	lt, err := newAuthClient(t, n, tokens["reader"]).tables.ListTables(ctx, connect.NewRequest(&v1.ListTablesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range lt.Msg.Tables {
		if !strings.HasPrefix(ti.Name, "sensor_") {
			t.Errorf("a reader of sensor_* sees table %s", ti.Name)
		}
	}
}

// testClock is a settable clock shared by a test's nodes.
type testClock struct{ us atomic.Int64 }

func (c *testClock) now() time.Time          { return time.UnixMicro(c.us.Load()) }
func (c *testClock) advance(d time.Duration) { c.us.Add(d.Microseconds()) }

func TestTokensOnEveryNode(t *testing.T) {
	clock := &testClock{}
	clock.us.Store(time.Now().UnixMicro())
	dir := t.TempDir()
	rootTok, _ := newToken("admin", nil, time.Now(), 0, "", "")
	if err := os.WriteFile(filepath.Join(dir, "root.token"), []byte(rootTok), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startCluster(t, 3, func(i int, cfg *Config) {
		cfg.Auth = "on"
		cfg.testNow = clock.now
		cfg.JoinToken = rootTok
		if i == 0 {
			cfg.BootstrapTokenFile = filepath.Join(dir, "root.token")
		}
	})
	waitFor(t, 10*time.Second, "the bootstrap token", func() bool {
		for _, n := range nodes {
			if !n.fsm.Auth() {
				return false
			}
		}
		return true
	})
	b, err := os.ReadFile(filepath.Join(dir, "root.token"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := followerOf(nodes)
	// A token made through a follower (forwarded), with an expiry.
	resp, err := newAuthClient(t, f, strings.TrimSpace(string(b))).auth.CreateToken(ctx, connect.NewRequest(&v1.CreateTokenRequest{
		Role: "writer", ExpiresInMs: time.Hour.Milliseconds(), Description: "shipper",
	}))
	if err != nil {
		t.Fatal(err)
	}
	tok := resp.Msg.Token
	for _, n := range nodes {
		c := newAuthClient(t, n, tok)
		waitFor(t, 10*time.Second, "the token on "+n.cfg.NodeID, func() bool {
			_, err := c.write.Write(ctx, connect.NewRequest(&v1.WriteRequest{Table: "events", RowsNdjson: []byte(`{"id":"a"}`)}))
			return err == nil
		})
	}
	// Revoked: refused at once by every strong read (the leader checks
	// the token again), and by every node once it applied the revocation.
	root := newAuthClient(t, nodes[0], strings.TrimSpace(string(b)))
	if _, err := root.auth.RevokeToken(ctx, connect.NewRequest(&v1.RevokeTokenRequest{Id: tok})); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		_, err := newAuthClient(t, n, tok).query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT count(*) FROM events"}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("strong read with a revoked token on %s right after the revocation: %v", n.cfg.NodeID, err)
		}
		waitFor(t, 10*time.Second, "the revocation on "+n.cfg.NodeID, func() bool {
			_, ok := n.fsm.Token(tokenID(tok))
			return !ok
		})
		_, err = newAuthClient(t, n, tok).query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT 1", Consistency: "local"}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("local read with a revoked token on %s: %v", n.cfg.NodeID, err)
		}
	}
	// Expiry: a reader token valid for a minute, then the clock moves.
	resp, err = root.auth.CreateToken(ctx, connect.NewRequest(&v1.CreateTokenRequest{Role: "reader", ExpiresInMs: time.Minute.Milliseconds()}))
	if err != nil {
		t.Fatal(err)
	}
	short := resp.Msg.Token
	for _, n := range nodes {
		waitFor(t, 10*time.Second, "the reader token on "+n.cfg.NodeID, func() bool {
			_, ok := n.fsm.Token(tokenID(short))
			return ok
		})
		if _, err := newAuthClient(t, n, short).query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT 1", Consistency: "local"})); err != nil {
			t.Fatalf("fresh reader token on %s: %v", n.cfg.NodeID, err)
		}
	}
	clock.advance(time.Minute)
	for _, n := range nodes {
		_, err := newAuthClient(t, n, short).query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT 1", Consistency: "local"}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), "expired") {
			t.Errorf("expired token on %s: %v", n.cfg.NodeID, err)
		}
	}
	// The last admin token cannot be revoked.
	_, err = root.auth.RevokeToken(ctx, connect.NewRequest(&v1.RevokeTokenRequest{Id: strings.TrimSpace(string(b))}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("revoking the last admin token: %v", err)
	}
}

// A node joins a cluster that checks tokens only with an admin token.
func TestJoinNeedsAnAdminToken(t *testing.T) {
	root := t.TempDir()
	first, admin := startAuthNode(t, func(cfg *Config) {
		cfg.ObjectStore, cfg.ObjectStoreShared = "file://"+filepath.Join(root, "objects"), true
	})
	reader := mustToken(t, newAuthClient(t, first, admin), "reader")
	for _, tc := range []struct{ token, want string }{
		{"", "requires a token"},
		{reader, "needs an admin token"},
	} {
		cfg := testConfig(t, t.TempDir())
		cfg.NodeID, cfg.Auth, cfg.JoinToken = "n2", "on", tc.token
		cfg.ObjectStore, cfg.ObjectStoreShared = first.cfg.ObjectStore, true
		cfg.JoinAddrs = []string{first.HTTPAddr()}
		if n, err := New(context.Background(), cfg); err == nil {
			n.Close()
			t.Fatalf("joined with token %q", tc.token)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("join with token %q: %v, want %q", tc.token, err, tc.want)
		}
	}
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID, cfg.Auth, cfg.JoinToken = "n2", "on", admin
	cfg.ObjectStore, cfg.ObjectStoreShared = first.cfg.ObjectStore, true
	cfg.JoinAddrs = []string{first.HTTPAddr()}
	n, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("join with the admin token: %v", err)
	}
	defer n.Close()
	if got := auditActions(t, newAuthClient(t, first, admin)); !strings.Contains(strings.Join(got, "\n"), "token "+tokenID(admin)+" member.join n2") {
		t.Errorf("the join is not in the audit log: %v", got)
	}
	// The joined node enforces the cluster's tokens.
	waitFor(t, 10*time.Second, "n2 to apply the tokens", func() bool { _, ok := n.fsm.Token(tokenID(reader)); return ok })
	if _, err := newAuthClient(t, n, "").query.Query(context.Background(), connect.NewRequest(&v1.QueryRequest{Sql: "SELECT 1", Consistency: "local"})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("n2 without a token: %v", err)
	}
}

// Failed attempts are limited per client address and logged without the
// token's secret; a bootstrap token given in a file is the one used.
func TestAuthFailures(t *testing.T) {
	logs := &syncBuffer{}
	file := filepath.Join(t.TempDir(), "admin.token")
	given := "mdb_00112233aabbccdd_" + strings.Repeat("ab", 32)
	if err := os.WriteFile(file, []byte(given+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, admin := startAuthNode(t, func(cfg *Config) {
		cfg.BootstrapTokenFile = file
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	if admin != given {
		t.Fatalf("bootstrap token %q, want the file's", admin)
	}
	ctx := context.Background()
	if _, err := newAuthClient(t, n, admin).auth.WhoAmI(ctx, connect.NewRequest(&v1.WhoAmIRequest{})); err != nil {
		t.Fatalf("the file's token: %v", err)
	}
	secret := strings.Repeat("cd", 32)
	wrong := "mdb_00112233aabbccdd_" + secret
	var limited int
	for range authFailureBurst + 10 {
		_, err := newAuthClient(t, n, wrong).clus.Status(ctx, connect.NewRequest(&v1.StatusRequest{}))
		if connect.CodeOf(err) == connect.CodeResourceExhausted {
			limited++
		} else if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("a wrong token: %v", err)
		}
	}
	if limited < 4 {
		t.Errorf("%d of %d failed attempts were rate-limited", limited, authFailureBurst+10)
	}
	// While limited, the address is refused whatever it sends.
	if _, err := newAuthClient(t, n, admin).clus.Status(ctx, connect.NewRequest(&v1.StatusRequest{})); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("a good token from a limited address: %v", err)
	}
	out := logs.String()
	if !strings.Contains(out, "authentication failed") || !strings.Contains(out, "token_id=00112233aabbccdd") {
		t.Errorf("failed attempts are not logged:\n%s", out)
	}
	for _, s := range []string{secret, strings.Repeat("ab", 32)} {
		if strings.Contains(out, s) {
			t.Errorf("the log holds a token secret")
		}
	}
}

func TestTokenLimits(t *testing.T) {
	n, rootTok := startAuthNode(t)
	root := newAuthClient(t, n, rootTok)
	ctx := context.Background()
	resp, err := root.auth.CreateToken(ctx, connect.NewRequest(&v1.CreateTokenRequest{Role: "writer", MaxConcurrentQueries: 1, WriteBytesPerSecond: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	limited := newAuthClient(t, n, resp.Msg.Token)
	// One query streams (and holds its slot while the client does not
	// read); a second one of the same token is refused, another token's
	// is not.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := limited.query.QueryStream(sctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT * FROM range(100000000)"}))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Receive() {
		t.Fatalf("stream: %v", s.Err())
	}
	_, err = limited.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT 1"}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "its limit") {
		t.Errorf("a second query of a token limited to one: %v", err)
	}
	if _, err := root.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT 1"})); err != nil {
		t.Errorf("another token's query: %v", err)
	}
	cancel()
	s.Close()
	waitFor(t, 10*time.Second, "the slot to be released", func() bool {
		_, err := limited.query.Query(ctx, connect.NewRequest(&v1.QueryRequest{Sql: "SELECT 1"}))
		return err == nil
	})
	// 1000 bytes per second: a 2 KB write passes, the next one must wait.
	big := []byte(`{"id":"` + strings.Repeat("x", 2000) + `"}`)
	if _, err := limited.write.Write(ctx, connect.NewRequest(&v1.WriteRequest{Table: "events", RowsNdjson: big})); err != nil {
		t.Fatalf("first write: %v", err)
	}
	_, err = limited.write.Write(ctx, connect.NewRequest(&v1.WriteRequest{Table: "events", RowsNdjson: big}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "1000 bytes per second") {
		t.Errorf("a write over the budget: %v", err)
	}
	if _, err := root.write.Write(ctx, connect.NewRequest(&v1.WriteRequest{Table: "events", RowsNdjson: big})); err != nil {
		t.Errorf("another token's write: %v", err)
	}
}

// auditActions returns "actor action target" of every audit entry.
func auditActions(t *testing.T, c *authClient) []string {
	t.Helper()
	resp, err := c.clus.Audit(context.Background(), connect.NewRequest(&v1.AuditRequest{Limit: 1000}))
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	var out []string
	for _, e := range resp.Msg.Entries {
		out = append(out, e.Actor+" "+e.Action+" "+e.Target)
	}
	return out
}

// TestAudit: admin actions land in the replicated audit log with who did
// them; rejected ones and reads do not.
func TestAudit(t *testing.T) {
	n, rootTok := startAuthNode(t)
	root := newAuthClient(t, n, rootTok)
	ctx := context.Background()
	rootID := "token " + tokenID(rootTok)
	reader := mustToken(t, root, "reader")
	if _, err := root.write.Write(ctx, connect.NewRequest(&v1.WriteRequest{Table: "events", RowsNdjson: []byte(`{"id":"a"}`)})); err != nil {
		t.Fatal(err)
	}
	if _, err := root.tables.AlterTable(ctx, connect.NewRequest(&v1.AlterTableRequest{Name: "events", TtlMs: new(int64(3600000))})); err != nil {
		t.Fatal(err)
	}
	s, err := root.clus.Backup(ctx, connect.NewRequest(&v1.BackupRequest{To: "file://" + t.TempDir()}))
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for s.Receive() {
		id = s.Msg().BackupId
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := root.tables.DropTable(ctx, connect.NewRequest(&v1.DropTableRequest{Name: "events"})); err != nil {
		t.Fatal(err)
	}
	if _, err := root.auth.RevokeToken(ctx, connect.NewRequest(&v1.RevokeTokenRequest{Id: reader})); err != nil {
		t.Fatal(err)
	}
	// Refused: not admin, and a revocation of nothing.
	newAuthClient(t, n, reader).tables.DropTable(ctx, connect.NewRequest(&v1.DropTableRequest{Name: "x", IfExists: true}))
	root.auth.RevokeToken(ctx, connect.NewRequest(&v1.RevokeTokenRequest{Id: "nope"}))
	want := []string{
		"node n1 token.bootstrap " + tokenID(rootTok),
		rootID + " token.create " + tokenID(reader),
		rootID + " table.alter events",
		rootID + " backup " + id,
		rootID + " table.drop events",
		rootID + " token.revoke " + tokenID(reader),
	}
	if got := auditActions(t, root); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The log survives a restart (it is in the snapshot and the log).
	n.Close()
	n2 := mustStartNode(t, n.cfg)
	defer n2.Close()
	// Until it has replayed its log, a restarted node has no tokens and
	// answers Unavailable (and /readyz says so).
	waitFor(t, 10*time.Second, "the restarted node to replay its tokens", n2.fsm.Auth)
	if got := auditActions(t, newAuthClient(t, n2, rootTok)); len(got) != len(want) {
		t.Errorf("after a restart: %v", got)
	}
}

// writeStreamAs writes one batch to table on a stream with the token.
func writeStreamAs(t *testing.T, n *Node, token, table string) error {
	hc := &http.Client{Transport: bearerTransport{token, h2cClient(t).Transport}}
	s := miniodbv1connect.NewWriteServiceClient(hc, "http://"+n.HTTPAddr()).WriteStream(context.Background())
	s.Send(&v1.WriteStreamRequest{Sequence: 1, Batch: &v1.WriteRequest{Table: table, RowsNdjson: []byte(`{"id":"s"}`)}})
	s.CloseRequest()
	defer s.CloseResponse()
	for {
		r, err := s.Receive()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(r.Rejected) > 0 {
			return fmt.Errorf("rejected: %v", r.Rejected)
		}
	}
}
