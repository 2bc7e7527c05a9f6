package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

func pgNode(t *testing.T, opts ...func(*Config)) (*Node, string) {
	t.Helper()
	cfg := testConfig(t, t.TempDir())
	cfg.PGAddr = "127.0.0.1:0"
	for _, o := range opts {
		o(&cfg)
	}
	n := mustStartNode(t, cfg)
	t.Cleanup(func() { n.Close() })
	return n, n.PGAddr()
}

func pgConnect(t *testing.T, addr, password string) *pgx.Conn {
	t.Helper()
	u := url.URL{Scheme: "postgres", User: url.UserPassword("someone", password), Host: addr, Path: "anydb", RawQuery: "sslmode=disable"}
	conn, err := pgx.Connect(context.Background(), u.String())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestPostgresProtocol queries through pgx: simple and extended protocol,
// parameters, text and binary results of every mapped type, SQLSTATEs.
func TestPostgresProtocol(t *testing.T) {
	n, addr := pgNode(t)
	ctx := context.Background()
	var rows strings.Builder
	for i := range 20 {
		fmt.Fprintf(&rows, `{"id":"r%d","ts":"2026-01-02T03:04:%02dZ","v":%d,"x":%d.5}`+"\n", i, i, i, i)
	}
	if _, err := n.Write(ctx, WriteInput{Table: "events", Input: ndjson(rows.String())}); err != nil {
		t.Fatal(err)
	}
	conn := pgConnect(t, addr, "")
	if _, err := conn.Exec(ctx, "SET application_name = 'test'"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			var count int64
			var sum float64
			if err := conn.QueryRow(ctx, "SELECT count(*), sum(x) FROM events WHERE v >= $1", mode, 10).Scan(&count, &sum); err != nil {
				t.Fatal(err)
			}
			if count != 10 || sum != 150 {
				t.Fatalf("count %d sum %v", count, sum)
			}
			var id string
			var ts time.Time
			if err := conn.QueryRow(ctx, "SELECT id, ts FROM events WHERE id = $1", mode, "r3").Scan(&id, &ts); err != nil {
				t.Fatal(err)
			}
			if id != "r3" || !ts.Equal(time.Date(2026, 1, 2, 3, 4, 3, 0, time.UTC)) {
				t.Fatalf("id %q ts %v", id, ts)
			}
			// One value of each mapped type.
			var (
				b    bool
				i2   int16
				i4   int32
				i8   int64
				f8   float64
				txt  string
				d    time.Time
				tsz  time.Time
				num  pgtype.Numeric
				js   map[string]any
				list []any
				null *string
				u    pgtype.UUID
				blob []byte
			)
			err := conn.QueryRow(ctx, `SELECT true, 2::SMALLINT, 4::INTEGER, 9007199254740993::BIGINT, 1.25::DOUBLE, 'hé''',
				DATE '2026-01-02', TIMESTAMPTZ '2026-01-02 03:04:05.5+00', 12345678901234567.5::DECIMAL(18,1),
				{'a': 1}, [1, 2], NULL::VARCHAR, '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID, '\x00\x01'::BLOB`, mode).
				Scan(&b, &i2, &i4, &i8, &f8, &txt, &d, &tsz, &num, &js, &list, &null, &u, &blob)
			if err != nil {
				t.Fatal(err)
			}
			nv, _ := num.Value()
			if !b || i2 != 2 || i4 != 4 || i8 != 9007199254740993 || f8 != 1.25 || txt != "hé'" ||
				!d.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) || !tsz.Equal(time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC)) ||
				nv != "12345678901234567.5" || js["a"] != float64(1) || len(list) != 2 || null != nil ||
				fmt.Sprintf("%x", u.Bytes) != "6ba7b8109dad11d180b400c04fd430c8" || string(blob) != "\x00\x01" {
				t.Fatalf("values: %v %v %v %v %v %q %v %v %v %v %v %v %x %q", b, i2, i4, i8, f8, txt, d, tsz, nv, js, list, null, u.Bytes, blob)
			}
		})
	}
	// Errors carry SQLSTATEs.
	_, err := conn.Exec(ctx, "SELECT * FROM nope")
	if c := pgCode(err); c != "42P01" {
		t.Errorf("a missing table: %v (%s)", err, c)
	}
	_, err = conn.Exec(ctx, "SELEC 1")
	if c := pgCode(err); c != "42601" {
		t.Errorf("a syntax error: %v (%s)", err, c)
	}
	_, err = conn.Exec(ctx, "DELETE FROM events")
	if c := pgCode(err); c == "" {
		t.Errorf("a write through postgres: %v", err)
	}
	// Catalog queries are answered from MinIODB's schemas.
	var version, db string
	if err := conn.QueryRow(ctx, "SELECT version(), current_database()").Scan(&version, &db); err != nil || !strings.HasPrefix(version, "PostgreSQL 16") {
		t.Errorf("version(): %v %q %q", err, version, db)
	}
	crs, err := conn.Query(ctx, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position", "events")
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for crs.Next() {
		var name, typ string
		if err := crs.Scan(&name, &typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, name+" "+typ)
	}
	if crs.Err() != nil || strings.Join(cols, ",") != "ts TIMESTAMP,id VARCHAR,v BIGINT,x DOUBLE" {
		t.Errorf("information_schema.columns: %v %v", cols, crs.Err())
	}
	var relname string
	if err := conn.QueryRow(ctx, "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relname OPERATOR(pg_catalog.~) '^(events)$' COLLATE pg_catalog.default").Scan(&relname); err != nil || relname != "events" {
		t.Errorf("pg_class: %v %q", err, relname)
	}
	// A catalog query cannot read table data: its copy has no rows.
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM events, pg_catalog.pg_class"); pgCode(err) != "0A000" {
		t.Errorf("a catalog query reading a table: %v", err)
	}
	// The session goes on after errors.
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("after errors: %v %d", err, one)
	}
	// Rows come in portions when the client asks (a cursor-like fetch).
	rs, err := conn.Query(ctx, "SELECT v FROM events ORDER BY v")
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for rs.Next() {
		k++
	}
	if rs.Err() != nil || k != 20 {
		t.Fatalf("rows: %d %v", k, rs.Err())
	}
}

// TestPostgresCancel: a client that gives up cancels the running query.
func TestPostgresCancel(t *testing.T) {
	node, addr := pgNode(t)
	conn := pgConnect(t, addr, "")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	var n int64
	err := conn.QueryRow(ctx, "SELECT count(*) FROM range(1000000000) a, range(1000) b").Scan(&n)
	if !errors.Is(err, context.DeadlineExceeded) && pgCode(err) != "57014" {
		t.Fatalf("an endless query given 300 ms: %v (%d)", err, n)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancellation took %v", d)
	}
	// The server stopped the query too (its slot is free), not only the
	// client its wait.
	waitFor(t, 10*time.Second, "the cancelled query to end on the server", func() bool { return len(node.querySlots) == 0 })
}

// TestPostgresTokens: a node that checks tokens takes one as password.
func TestPostgresTokens(t *testing.T) {
	n, root := startAuthNode(t, func(cfg *Config) { cfg.PGAddr = "127.0.0.1:0" })
	reader := mustToken(t, newAuthClient(t, n, root), "reader", "sensor_*")
	ctx := context.Background()
	if _, err := n.Write(ctx, WriteInput{Table: "sensor_a", Input: ndjson(`{"id":"a"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Write(ctx, WriteInput{Table: "other", Input: ndjson(`{"id":"b"}`)}); err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword("x", "mdb_0000000000000000_"+strings.Repeat("0", 64)), Host: n.PGAddr(), RawQuery: "sslmode=disable"}
	if _, err := pgx.Connect(ctx, u.String()); pgCode(err) != "28P01" {
		t.Errorf("a wrong token: %v", err)
	}
	conn := pgConnect(t, n.PGAddr(), reader)
	var c int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM sensor_a").Scan(&c); err != nil || c != 1 {
		t.Errorf("a reader's table: %v %d", err, c)
	}
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM other"); pgCode(err) != "42501" {
		t.Errorf("another table: %v", err)
	}
	// The catalog shows a reader only the tables it may read.
	var names string
	if err := conn.QueryRow(ctx, "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables").Scan(&names); err != nil || names != "sensor_a" {
		t.Errorf("tables a reader of sensor_* sees: %v %q", err, names)
	}
}

// TestPostgresTLS: with an API certificate the PostgreSQL port speaks TLS.
func TestPostgresTLS(t *testing.T) {
	g := makeCerts(t, "n1")
	_, addr := pgNode(t, func(cfg *Config) { cfg.TLSCertFile, cfg.TLSKeyFile = g.Nodes["n1"][0], g.Nodes["n1"][1] })
	_, port, _ := strings.Cut(addr, ":")
	dsn := fmt.Sprintf("postgres://x@localhost:%s/db?sslmode=verify-full&sslrootcert=%s", port, url.QueryEscape(g.CACert))
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect over TLS: %v", err)
	}
	defer conn.Close(context.Background())
	var one int
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("query over TLS: %v", err)
	}
	if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
		t.Fatalf("the connection is %T, not TLS", conn.PgConn().Conn())
	}
}

// TestPsql runs the real psql against the PostgreSQL port (make test sets
// MINIODB_PSQL_BIN through scripts/install-psql.sh).
func TestPsql(t *testing.T) {
	psql := os.Getenv("MINIODB_PSQL_BIN")
	if psql == "" {
		t.Skip("MINIODB_PSQL_BIN not set; make test sets it (scripts/install-psql.sh)")
	}
	n, addr := pgNode(t)
	if _, err := n.Write(context.Background(), WriteInput{Table: "events", Input: ndjson(`{"id":"a","v":1}` + "\n" + `{"id":"b","v":2}`)}); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	run := func(args ...string) (string, error) {
		cmd := exec.Command(psql, append([]string{"-X", "-h", host, "-p", port, "-U", "anyone", "-d", "anydb", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose"}, args...)...)
		cmd.Env = append(os.Environ(), "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=10")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("-At", "-c", "SELECT id, v FROM events ORDER BY id")
	if err != nil || out != "a|1\nb|2\n" {
		t.Fatalf("psql -c: %v %q", err, out)
	}
	// Several statements in one query string, answered in turn.
	out, err = run("-At", "-c", "SET application_name = 'test'; SELECT count(*) FROM events; SELECT 'done'")
	if err != nil || !strings.HasSuffix(out, "done\n") {
		t.Fatalf("psql, several statements: %v %q", err, out)
	}
	// A table for people, with the column names.
	out, err = run("-c", "SELECT count(*) AS n, sum(v) AS total FROM events")
	if err != nil || !strings.Contains(out, " n | total") || !strings.Contains(out, "(1 row)") {
		t.Fatalf("psql table: %v %q", err, out)
	}
	// \dt lists the tables from MinIODB's catalog.
	out, err = run("-c", `\dt`)
	if err != nil || !strings.Contains(out, "events") || !strings.Contains(out, "table") {
		t.Fatalf(`psql \dt: %v %q`, err, out)
	}
	// Errors with their SQLSTATE, and a non-zero exit.
	out, err = run("-c", "SELECT * FROM nope")
	if err == nil || !strings.Contains(out, "42P01") {
		t.Fatalf("psql error: %v %q", err, out)
	}
}

// Sessions run at once, each encoding its own results (make test runs
// this under the race detector).
func TestPostgresConcurrentSessions(t *testing.T) {
	n, addr := pgNode(t)
	ctx := context.Background()
	if _, err := n.Write(ctx, WriteInput{Table: "events", Input: ndjson(`{"id":"a","v":1,"x":1.5}`)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		conn := pgConnect(t, addr, "")
		wg.Go(func() {
			for range 20 {
				var v int64
				var x float64
				var ts time.Time
				if err := conn.QueryRow(ctx, "SELECT v, x, ts FROM events WHERE id = $1", "a").Scan(&v, &x, &ts); err != nil || v != 1 || x != 1.5 {
					errs <- fmt.Errorf("%v %d %v", err, v, x)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
