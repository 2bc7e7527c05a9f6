package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/time/rate"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
	"github.com/miniodb/miniodb/raftfsm"
)

// Tokens are "mdb_<id>_<secret>": the id (8 random bytes, hex) is public
// and names the token in lists, logs and revocations; the secret (32
// random bytes, hex) is never stored, only its SHA-256.
const tokenPrefix = "mdb_"

// newToken makes a token and its catalog record.
func newToken(role string, tables []string, now time.Time, expiresIn time.Duration, description, by string) (string, *v1.TokenRecord) {
	var id [8]byte
	var secret [32]byte
	rand.Read(id[:])
	rand.Read(secret[:])
	rec := &v1.TokenRecord{
		Id: hex.EncodeToString(id[:]), Role: role, Tables: tables,
		CreatedUnixMicros: now.UnixMicro(), Description: description, CreatedBy: by,
	}
	if expiresIn > 0 {
		rec.ExpiresUnixMicros = now.Add(expiresIn).UnixMicro()
	}
	s := hex.EncodeToString(secret[:])
	sum := sha256.Sum256([]byte(s))
	rec.SecretSha256 = sum[:]
	return tokenPrefix + rec.Id + "_" + s, rec
}

// parseToken splits a token into its id and secret.
func parseToken(tok string) (id, secret string, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(tok), tokenPrefix)
	if !found {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	return id, secret, ok && id != "" && secret != ""
}

// tokenID returns the id of a token or, given an id, the id itself.
func tokenID(s string) string {
	if id, _, ok := parseToken(s); ok {
		return id
	}
	return strings.TrimSpace(s)
}

// principal is who a request acts for. A nil *principal is a request on a
// node without authentication: everything is allowed.
type principal struct {
	rec   *v1.TokenRecord
	token string // the bearer token, passed on when the request is forwarded
	// peer: a node with a certificate of the cluster CA and no token; it
	// may only join (rec.Id names it, rec.Role is empty).
	peer bool
}

func (p *principal) String() string {
	if p == nil {
		return "anonymous"
	}
	if p.peer {
		return "node certificate " + p.rec.Id
	}
	s := fmt.Sprintf("token %s (%s", p.rec.Id, p.rec.Role)
	if len(p.rec.Tables) > 0 {
		s += " of tables " + strings.Join(p.rec.Tables, ",")
	}
	return s + ")"
}

// covers reports whether the token's table patterns include table; ""
// stands for every table, which only a token without patterns covers.
func (p *principal) covers(table string) bool {
	if len(p.rec.Tables) == 0 {
		return true
	}
	if table == "" {
		return false
	}
	for _, pat := range p.rec.Tables {
		if ok, _ := path.Match(pat, table); ok {
			return true
		}
	}
	return false
}

// allows reports whether the principal may act in role on table ("" for
// every table): admin may do everything, a writer writes and reads its
// tables, a reader reads them.
func (p *principal) allows(role, table string) bool {
	if p == nil || p.rec.Role == raftfsm.RoleAdmin {
		return true
	}
	switch role {
	case raftfsm.RoleWriter:
		return p.rec.Role == raftfsm.RoleWriter && p.covers(table)
	case raftfsm.RoleReader:
		return (p.rec.Role == raftfsm.RoleWriter || p.rec.Role == raftfsm.RoleReader) && p.covers(table)
	}
	return false
}

// authResult is what the HTTP layer found out about a request's token;
// handlers and the interceptor read it from the context.
type authResult struct {
	p   *principal
	err error
}

type authKey struct{}

func authOf(ctx context.Context) authResult {
	r, ok := ctx.Value(authKey{}).(authResult)
	if !ok {
		// A request that did not pass through the HTTP layer (in-process
		// callers) runs as the node itself.
		return authResult{}
	}
	return r
}

// authEnforced reports whether this node checks tokens: it was started
// with authentication on (--auth, or by default when it listens on a
// non-loopback address), or the cluster's catalog has a bootstrap token,
// after which every node checks whatever its flags say.
func (n *Node) authEnforced() bool { return n.authOn || n.fsm.Auth() }

// resolveAuth decides --auth auto: on as soon as the API or Raft address
// is not a loopback address.
func resolveAuth(cfg Config) (bool, error) {
	switch cfg.Auth {
	case "on":
		return true, nil
	case "off":
		return false, nil
	case "", "auto":
		// A name other than localhost, 0.0.0.0, "" or a routable IP.
		return !loopback(cfg.HTTPAddr) || !loopback(cfg.RaftAddr), nil
	}
	return false, fmt.Errorf("node: --auth %q: want auto, on or off", cfg.Auth)
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// prepareBootstrapToken reads (or, for a node that creates a new cluster
// or was given the file, writes) the first admin token. The leader applies
// it while the cluster has none (bootstrapAuth).
func (n *Node) prepareBootstrapToken(dataDir string, newCluster bool) error {
	file := n.cfg.BootstrapTokenFile
	if file == "" {
		if !newCluster {
			file = filepath.Join(dataDir, "bootstrap-token")
			if _, err := os.Stat(file); err != nil {
				return nil // not the node that bootstrapped this cluster
			}
		} else {
			file = filepath.Join(dataDir, "bootstrap-token")
		}
	}
	b, err := os.ReadFile(file)
	switch {
	case err == nil && strings.TrimSpace(string(b)) != "":
		tok := strings.TrimSpace(string(b))
		if _, _, ok := parseToken(tok); !ok {
			return fmt.Errorf("node: %s does not hold a MinIODB token (mdb_…); empty it to have a new one made", file)
		}
		n.bootstrapToken = tok
		return nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("node: read bootstrap token: %w", err)
	}
	tok, _ := newToken(raftfsm.RoleAdmin, nil, time.Now(), 0, "", "")
	if err := writeFileSync(file, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("node: write bootstrap token: %w", err)
	}
	n.bootstrapToken = tok
	n.logger.Info("wrote the first admin token; keep it safe and make other tokens with it (miniodb token create)", "file", file)
	return nil
}

// bootstrapAuth applies the bootstrap token while the cluster has none.
// Only the first one applied counts (the FSM refuses others).
func (n *Node) bootstrapAuth(ctx context.Context) error {
	if n.bootstrapToken == "" || n.fsm.Auth() {
		return nil
	}
	id, secret, _ := parseToken(n.bootstrapToken)
	sum := sha256.Sum256([]byte(secret))
	rec := &v1.TokenRecord{Id: id, SecretSha256: sum[:], Role: raftfsm.RoleAdmin, CreatedUnixMicros: n.now().UnixMicro(), Description: "bootstrap"}
	_, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_CreateToken{CreateToken: &v1.CreateTokenCommand{Token: rec, Bootstrap: true}},
		Audit: n.nodeAudit("token.bootstrap", id, "the first admin token; authentication on")})
	if errors.Is(err, raftfsm.ErrAuthBootstrapped) {
		return nil
	}
	if err == nil {
		n.logger.Info("authentication is on for the cluster", "admin_token_id", id)
	}
	return err
}

func writeFileSync(file string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	tmp := file + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, file); err != nil {
		return err
	}
	// The rename is durable only once the directory is: a token the
	// cluster applied must not vanish from its file in a crash.
	d, err := os.Open(filepath.Dir(file))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// authFailures rate-limits failed authentication per client IP: after a
// burst of failures an IP gets ResourceExhausted for every token it sends
// until its budget refills, so a token cannot be guessed online (it could
// not anyway: 256 random bits) and a scanner cannot flood the log.
type authFailures struct {
	mu  sync.Mutex
	ips map[string]*rate.Limiter
}

const (
	authFailureBurst = 20
	authFailureEvery = 3 * time.Second
	// authFailureIPs bounds the table; beyond it full limiters are kept
	// and refilled ones dropped.
	authFailureIPs = 10000
)

func (a *authFailures) limiter(ip string) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ips == nil {
		a.ips = map[string]*rate.Limiter{}
	}
	l, ok := a.ips[ip]
	if !ok {
		if len(a.ips) >= authFailureIPs {
			for k, v := range a.ips {
				if v.Tokens() >= authFailureBurst {
					delete(a.ips, k)
				}
			}
		}
		l = rate.NewLimiter(rate.Every(authFailureEvery), authFailureBurst)
		a.ips[ip] = l
	}
	return l
}

// blocked reports how long an IP must wait, 0 if it may try.
func (a *authFailures) blocked(ip string) time.Duration {
	l := a.limiter(ip)
	if l.Tokens() >= 1 {
		return 0
	}
	r := l.Reserve()
	d := r.Delay()
	r.Cancel()
	return max(d, time.Second)
}

func (a *authFailures) failed(ip string) { a.limiter(ip).Allow() }

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authenticate checks a request's bearer token. It never fails the
// request itself: the result goes into the context, and the interceptor
// or the HTTP handler answers with the error in its protocol's form.
func (n *Node) authenticate(r *http.Request) authResult {
	if !n.authEnforced() {
		return authResult{}
	}
	ip := clientIP(r)
	if fromPeer(r.Context()) {
		ip = "peer:" + ip
	}
	if wait := n.authFails.blocked(ip); wait > 0 {
		return authResult{err: connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("too many failed authentication attempts from %s; try again in %v", ip, wait.Round(time.Second)))}
	}
	fail := func(reason, id string, msg string) authResult {
		n.authFails.failed(ip)
		n.metrics.authFailures.WithLabelValues(reason).Inc()
		n.logger.Warn("authentication failed", "reason", reason, "token_id", id, "remote", ip, "path", r.URL.Path)
		return authResult{err: connect.NewError(connect.CodeUnauthenticated, errors.New(msg))}
	}
	if !n.fsm.Auth() {
		// Unavailable, not Unauthenticated: in the moments after the
		// cluster starts, its leader has not applied the token yet, and
		// a client (a joining node) should retry.
		return authResult{err: connect.NewError(connect.CodeUnavailable, errors.New("this node checks tokens and knows none yet: it is still replaying its log, or the cluster has none (the node that created it writes the first admin token to its --bootstrap-token-file, default <data-dir>/bootstrap-token, and applies it once it leads); retry shortly"))}
	}
	h := r.Header.Get("Authorization")
	if h == "" && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && n.cfg.PeerCAFile != "" {
		// Verified against the cluster CA by the handshake (apiTLS).
		cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
		return authResult{p: &principal{peer: true, rec: &v1.TokenRecord{Id: cn}}}
	}
	if h == "" {
		return fail("missing", "", "this node requires a token: pass --token or set MINIODB_TOKEN (the header is Authorization: Bearer <token>)")
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return fail("malformed", "", "the Authorization header must be \"Bearer <token>\"")
	}
	return n.checkToken(tok, fail)
}

// checkToken authenticates a bearer token; fail records a failure.
func (n *Node) checkToken(tok string, fail func(reason, id, msg string) authResult) authResult {
	id, secret, ok := parseToken(tok)
	if !ok {
		return fail("malformed", "", "that is not a MinIODB token (they look like mdb_<id>_<secret>)")
	}
	rec, ok := n.fsm.Token(id)
	sum := sha256.Sum256([]byte(secret))
	if !ok || subtle.ConstantTimeCompare(sum[:], rec.SecretSha256) != 1 {
		return fail("invalid", id, "invalid token (unknown, revoked or mistyped)")
	}
	if e := rec.ExpiresUnixMicros; e != 0 && n.now().UnixMicro() >= e {
		return fail("expired", id, fmt.Sprintf("token %s expired at %s", id, time.UnixMicro(e).UTC().Format(time.RFC3339)))
	}
	return authResult{p: &principal{rec: rec, token: strings.TrimSpace(tok)}}
}

// forwardedAuth authenticates the token a follower forwarded with a
// coalesced write (WriteMany): the follower checked it already, this is
// the leader's own check.
func (n *Node) forwardedAuth(tok string) authResult {
	if !n.authEnforced() {
		return authResult{}
	}
	fail := func(reason, id, msg string) authResult {
		n.metrics.authFailures.WithLabelValues(reason).Inc()
		return authResult{err: connect.NewError(connect.CodeUnauthenticated, errors.New(msg))}
	}
	if tok == "" {
		return fail("missing", "", "this node requires a token: pass --token or set MINIODB_TOKEN (the header is Authorization: Bearer <token>)")
	}
	return n.checkToken(tok, fail)
}

// withAuth authenticates every request except the health endpoints (and
// /metrics when it is public).
func (n *Node) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz", r.URL.Path == "/readyz", r.URL.Path == "/metrics" && n.cfg.MetricsPublic:
			next.ServeHTTP(w, r)
			return
		case (r.URL.Path == miniodbv1connect.PeerServiceWriteManyProcedure || r.URL.Path == miniodbv1connect.FragmentServiceRunFragmentProcedure) && fromPeer(r.Context()):
			// No token of its own: each write inside carries one
			// (authorize, WriteMany); a fragment's coordinator checked
			// the client's access to the table.
			next.ServeHTTP(w, r)
			return
		}
		res := n.authenticate(r)
		if r.URL.Path == "/metrics" && res.err != nil {
			writeHTTPError(w, res.err.(*connect.Error))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey{}, res)))
	})
}

// need is what a procedure requires: a role, on the table the request
// names (table), or checked later (later: the query path checks every
// table a statement reads, WriteStream every batch's table).
type need struct {
	role  string
	table func(msg any) string
	later bool
}

func anyTable(any) string { return "" }

// needOf is the one table of what every procedure needs. A procedure
// missing here is refused (TestEveryProcedureHasARule fails first).
func needOf(procedure string) (need, bool) {
	reader, writer, admin := raftfsm.RoleReader, raftfsm.RoleWriter, raftfsm.RoleAdmin
	switch procedure {
	case miniodbv1connect.WriteServiceWriteProcedure:
		return need{role: writer, table: func(m any) string { return m.(*v1.WriteRequest).GetTable() }}, true
	case miniodbv1connect.WriteServiceDeleteProcedure:
		return need{role: writer, table: func(m any) string { return m.(*v1.DeleteRequest).GetTable() }}, true
	case miniodbv1connect.QueryServiceQueryProcedure, miniodbv1connect.QueryServiceQueryStreamProcedure, miniodbv1connect.QueryServiceExplainProcedure:
		return need{role: reader, later: true}, true
	case miniodbv1connect.PeerServiceWriteManyProcedure, miniodbv1connect.FragmentServiceRunFragmentProcedure:
		return need{later: true}, true // authorize: peers only
	case miniodbv1connect.WriteServiceWriteStreamProcedure:
		return need{role: writer, later: true}, true
	case miniodbv1connect.TableServiceCreateTableProcedure:
		return need{role: writer, table: func(m any) string { return m.(*v1.CreateTableRequest).GetName() }}, true
	case miniodbv1connect.TableServiceGetTableProcedure:
		return need{role: reader, table: func(m any) string { return m.(*v1.GetTableRequest).GetName() }}, true
	case miniodbv1connect.TableServiceListTablesProcedure, miniodbv1connect.ClusterServiceStatusProcedure,
		miniodbv1connect.AuthServiceWhoAmIProcedure:
		// Any valid token; the answer lists only the tables it may read.
		return need{role: reader, table: nil}, true
	case miniodbv1connect.TableServiceDropTableProcedure, miniodbv1connect.TableServiceAlterTableProcedure,
		miniodbv1connect.ClusterServiceJoinProcedure, miniodbv1connect.ClusterServiceRemoveProcedure,
		miniodbv1connect.AuthServiceCreateTokenProcedure, miniodbv1connect.AuthServiceListTokensProcedure,
		miniodbv1connect.AuthServiceRevokeTokenProcedure, miniodbv1connect.ClusterServiceBackupProcedure,
		miniodbv1connect.ClusterServiceAuditProcedure:
		return need{role: admin, table: anyTable}, true
	case miniodbv1connect.ClusterServiceFlushProcedure:
		return need{role: writer, table: func(m any) string { return m.(*v1.FlushRequest).GetTable() }}, true
	case miniodbv1connect.ClusterServiceCompactProcedure:
		return need{role: writer, table: func(m any) string { return m.(*v1.CompactRequest).GetTable() }}, true
	}
	return need{}, false
}

// authorize checks a request against its procedure's need; msg is nil for
// a streaming request (checked by the query path).
func (n *Node) authorize(ctx context.Context, procedure string, msg any) error {
	if procedure == miniodbv1connect.FragmentServiceRunFragmentProcedure {
		if !fromPeer(ctx) {
			return connect.NewError(connect.CodePermissionDenied, errors.New("FragmentService is served to other nodes only, on the Raft address"))
		}
		return nil
	}
	if procedure == miniodbv1connect.PeerServiceWriteManyProcedure {
		// Node to node: the Raft address is the credential; each write
		// inside carries its client's token, checked one by one.
		if !fromPeer(ctx) {
			return connect.NewError(connect.CodePermissionDenied, errors.New("WriteMany is served to other nodes only, on the Raft address"))
		}
		return nil
	}
	res := authOf(ctx)
	if res.err != nil {
		return res.err
	}
	nd, ok := needOf(procedure)
	if !ok {
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s has no access rule", procedure))
	}
	if res.p != nil && res.p.peer {
		if procedure == miniodbv1connect.ClusterServiceJoinProcedure {
			return nil
		}
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s may only join the cluster; other requests need a token", res.p))
	}
	if res.p == nil || nd.later || nd.table == nil {
		return nil
	}
	table := "" // a streaming request: its messages come later
	if msg != nil {
		table = nd.table(msg)
	}
	return permission(res.p, nd.role, table, verbOf(nd.role))
}

func verbOf(role string) string {
	switch role {
	case raftfsm.RoleWriter:
		return "write"
	case raftfsm.RoleReader:
		return "read"
	}
	return "do this to"
}

// permission is nil if p may act in role on table, else PermissionDenied
// naming what would be needed.
func permission(p *principal, role, table, verb string) error {
	if p.allows(role, table) {
		return nil
	}
	what := "table " + table
	if table == "" {
		what = "every table"
	}
	if role == raftfsm.RoleAdmin {
		return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s may not do this: it needs an admin token", p))
	}
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("%s may not %s %s: it needs a %s (or admin) token for it", p, verb, what, role))
}

// mayRead filters table lists to what the request's token may read.
func mayRead(ctx context.Context, table string) bool {
	return authOf(ctx).p.allows(raftfsm.RoleReader, table)
}

// authInterceptor authorizes every RPC (needOf) before its handler runs.
type authInterceptor struct{ n *Node }

func (i authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := i.n.authorize(ctx, req.Spec().Procedure, req.Any()); err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

func (i authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if err := i.n.authorize(ctx, conn.Spec().Procedure, nil); err != nil {
			return err
		}
		return next(ctx, conn)
	}
}

// forwarded is the request a follower sends the leader for m: it carries
// the client's token, which the leader checks again (so a revocation the
// leader applied counts at once, whatever this node has applied).
func forwarded[T any](ctx context.Context, m *T) *connect.Request[T] {
	r := connect.NewRequest(m)
	if p := authOf(ctx).p; p != nil {
		r.Header().Set("Authorization", "Bearer "+p.token)
	}
	return r
}
