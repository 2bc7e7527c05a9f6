package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets end-to-end tests run this test binary as the real miniodb
// binary (same main, same flags) without a second slow DuckDB link.
func TestMain(m *testing.M) {
	if os.Getenv("MINIODB_TEST_EXEC_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// waitUntil polls cond every 20 ms until it holds, or fails the test after
// d with what and cond's last explanation. Tests synchronise with it,
// never with a fixed sleep.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", d, what, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// server is a miniodb serve process.
type server struct {
	t        *testing.T
	cmd      *exec.Cmd
	dataDir  string
	httpAddr string
	raftAddr string
	args     []string
	log      *os.File
	done     chan struct{}
}

func startServer(t *testing.T, dataDir string, extra ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: dataDir, httpAddr: freeAddr(t), raftAddr: freeAddr(t), args: extra}
	s.start(true)
	t.Cleanup(func() { s.kill() })
	return s
}

// start runs the process (again, on the same addresses) and, if wait is
// set, waits until /readyz answers 200.
func (s *server) start(wait bool) {
	t := s.t
	t.Helper()
	s.done = make(chan struct{})
	args := append([]string{"serve", "--data-dir", s.dataDir, "--http-addr", s.httpAddr,
		"--raft-addr", s.raftAddr, "--query-threads", "2", "--query-memory-limit", "1GB"}, s.args...)
	s.cmd = exec.Command(os.Args[0], args...)
	s.cmd.Env = append(os.Environ(), "MINIODB_TEST_EXEC_MAIN=1")
	var err error
	s.log, err = os.OpenFile(filepath.Join(s.dataDir+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := s.done
	go func() { s.cmd.Wait(); close(done) }()
	if wait {
		s.waitReady()
	}
}

func (s *server) waitReady() {
	t := s.t
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	base, hc := "http://"+s.httpAddr, http.DefaultClient
	if slices.Contains(s.args, "--tls-cert") {
		// Readiness only: the tests of TLS check the certificate.
		base = "https://" + s.httpAddr
		hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		defer hc.CloseIdleConnections()
	}
	for {
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-s.done:
			t.Fatalf("server exited early; log:\n%s", s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready after 60s; log:\n%s", s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (s *server) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.log.Close()
}

func (s *server) post(path, contentType, body string) (int, []byte, error) {
	resp, err := http.Post("http://"+s.httpAddr+path, contentType, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// cli runs a miniodb client command in-process against the server.
func (s *server) cli(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	full := append([]string{args[0], "--addr", s.httpAddr}, args[1:]...)
	code := run(context.Background(), full, strings.NewReader(""), &out, &errOut)
	if code != 0 {
		return out.String(), fmt.Errorf("miniodb %v: exit %d: %s", args, code, errOut.String())
	}
	return out.String(), nil
}

// TestKillRestartLosesNoAcknowledgedRow writes from concurrent clients,
// flushes part of the data, kills the server with SIGKILL mid-write,
// restarts it, and finds every acknowledged row exactly once.
func TestKillRestartLosesNoAcknowledgedRow(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, raftLog := range []string{"bolt", "wal"} {
		t.Run(raftLog, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			s := startServer(t, dataDir, "--raft-log", raftLog)
			w := startWriters([]*server{s}, 4)
			w.waitAcked(t, 200)
			if out, err := s.cli("flush"); err != nil {
				t.Fatalf("flush: %v (%s)", err, out)
			}
			w.waitAcked(t, w.ackedCount()+200) // rows after the flush, hot at the kill
			s.kill()
			w.halt()
			if len(w.acked) < 200 {
				t.Fatalf("only %d rows acknowledged before the kill", len(w.acked))
			}
			s.start(true)
			w.check(t, ids(t, s, "strong"))
			// The flushed part survived as files.
			out, err := s.cli("status", "--format", "json")
			if err != nil || !strings.Contains(out, "events") {
				t.Fatalf("status: %v %s", err, out)
			}
		})
	}
}

// TestCLITour runs the README's tour through the real binary's commands.
func TestCLITour(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dataDir)
	defer s.kill()
	file := filepath.Join(t.TempDir(), "rows.ndjson")
	var rows strings.Builder
	for i := 0; i < 12000; i++ {
		fmt.Fprintf(&rows, `{"id":"dev-%d","ts":"2026-01-0%dT00:00:00Z","value":%d.5,"region":"%s"}`+"\n", i%7, 1+i%3, i, []string{"eu", "us"}[i%2])
	}
	if err := os.WriteFile(file, []byte(rows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := s.cli("write", "events", file); err != nil {
		t.Fatalf("write: %v %s", err, out)
	}
	out, err := s.cli("sql", "--format", "csv", "SELECT region, count(*) AS n, sum(value) AS s FROM events GROUP BY region ORDER BY region")
	if err != nil {
		t.Fatal(err)
	}
	if want := "region,n,s\neu,6000,35997000\nus,6000,36003000\n"; out != want {
		t.Fatalf("sql csv:\n%s\nwant\n%s", out, want)
	}
	// Three days of rows: three partitions, one file each.
	if out, err := s.cli("flush"); err != nil || !regexp.MustCompile(`^flushed 12,?000 rows from all tables into 3 Parquet files in [0-9.]+ s\n$`).MatchString(out) {
		t.Fatalf("flush: %v %q", err, out)
	}
	out, err = s.cli("sql", "SELECT count(*) FROM events")
	if err != nil || !strings.Contains(out, "12000") {
		t.Fatalf("sql table: %v\n%s", err, out)
	}
	if out, err := s.cli("tables", "events"); err != nil || !strings.Contains(out, "region") {
		t.Fatalf("tables: %v\n%s", err, out)
	}
	// A second write and flush make two files per partition; compact
	// merges them back into one, and the answer stays the same.
	if out, err := s.cli("write", "events", file); err != nil {
		t.Fatalf("write: %v %s", err, out)
	}
	if out, err := s.cli("flush"); err != nil {
		t.Fatalf("flush: %v %s", err, out)
	}
	if out, err := s.cli("compact", "--wait"); err != nil || !regexp.MustCompile(`^merged 6 files in 3 merges \(24,000 rows, .+\) in all tables in [0-9.]+ s\n$`).MatchString(out) {
		t.Fatalf("compact: %v %q", err, out)
	}
	if out, err := s.cli("compact", "events"); err != nil || out != "nothing to merge in events\n" {
		t.Fatalf("compact again: %v %q", err, out)
	}
	if out, err := s.cli("tables"); err != nil || !regexp.MustCompile(`events +4 +24,000 +0 +0 B +3 +[0-9.]+ \S+ +1 +day`).MatchString(out) {
		t.Fatalf("tables after compaction: %v\n%s", err, out)
	}
	out, err = s.cli("sql", "--format", "csv", "SELECT region, count(*) AS n, sum(value) AS s FROM events GROUP BY region ORDER BY region")
	if want := "region,n,s\neu,12000,71994000\nus,12000,72006000\n"; err != nil || out != want {
		t.Fatalf("sql after compaction: %v\n%s\nwant\n%s", err, out, want)
	}
	// Delete one device's rows; upsert two devices to one row each.
	if out, err := s.cli("delete", "events", "--id", "dev-3"); err != nil || !strings.Contains(out, "deleted from events at index") {
		t.Fatalf("delete: %v %q", err, out)
	}
	up := filepath.Join(t.TempDir(), "up.ndjson")
	if err := os.WriteFile(up, []byte(`{"id":"dev-1","ts":"2026-01-01T00:00:00Z","value":0.5,"region":"eu"}`+"\n"+
		`{"id":"dev-2","ts":"2026-01-02T00:00:00Z","value":1.5,"region":"us"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := s.cli("write", "--upsert", "events", up); err != nil {
		t.Fatalf("write --upsert: %v %s", err, out)
	}
	out, err = s.cli("sql", "--format", "csv", "SELECT id, count(*) AS n FROM events GROUP BY id ORDER BY id")
	if want := "id,n\ndev-0,3430\ndev-1,1\ndev-2,1\ndev-4,3428\ndev-5,3428\ndev-6,3428\n"; err != nil || out != want {
		t.Fatalf("after delete and upsert: %v\n%s\nwant\n%s", err, out, want)
	}
	if _, err := s.cli("sql", "SELECT * FROM read_csv('/etc/passwd')"); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("read_csv was not refused: %v", err)
	}
}
