package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTLS makes certificates with "miniodb certs", serves the API over
// HTTPS and peer traffic over mutual TLS, and talks to it with the CLI.
func TestTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dir := filepath.Join(t.TempDir(), "certs")
	if code, out, errOut := runCLI(t, "", "certs", "--dir", dir, "--nodes", "n1"); code != exitOK || !strings.Contains(out, "CA (made)") {
		t.Fatalf("certs: exit %d %s %s", code, out, errOut)
	}
	crt, key, ca := filepath.Join(dir, "n1.crt"), filepath.Join(dir, "n1.key"), filepath.Join(dir, "ca.crt")
	s := startServer(t, filepath.Join(t.TempDir(), "data"),
		"--tls-cert", crt, "--tls-key", key, "--peer-tls-cert", crt, "--peer-tls-key", key, "--peer-tls-ca", ca)
	addr := "https://" + s.httpAddr
	if code, out, errOut := runCLI(t, "", "sql", "--addr", addr, "--ca", ca, "SELECT 40 + 2 AS answer"); code != exitOK || !strings.Contains(out, "42") {
		t.Fatalf("sql with --ca: exit %d %q %q", code, out, errOut)
	}
	code, _, errOut := runCLI(t, "", "sql", "--addr", addr, "SELECT 1")
	if code != exitError || !strings.Contains(errOut, "--ca") {
		t.Fatalf("sql without the CA: exit %d %q", code, errOut)
	}
	if code, out, errOut := runCLI(t, "", "status", "--addr", addr, "--insecure"); code != exitOK || !strings.Contains(out, "Leader") {
		t.Fatalf("status --insecure: exit %d %q %q", code, out, errOut)
	}
	// A second "certs" run keeps the CA: the new node's certificate is
	// signed by the one the running node trusts.
	if code, out, _ := runCLI(t, "", "certs", "--dir", dir, "--nodes", "n2"); code != exitOK || !strings.Contains(out, "CA (kept)") {
		t.Fatalf("certs again: exit %d %s", code, out)
	}
}

// TestTokens runs the token commands against a node that checks tokens.
func TestTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dataDir, "--auth", "on")
	b, err := os.ReadFile(filepath.Join(dataDir, "bootstrap-token"))
	if err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(string(b))
	as := func(token string, args ...string) (int, string, string) {
		full := append([]string{args[0], "--addr", s.httpAddr, "--token", token}, args[1:]...)
		return runCLI(t, "", full...)
	}
	if code, out, errOut := as(admin, "token", "whoami"); code != exitOK || !strings.Contains(out, "admin of every table") {
		t.Fatalf("whoami: %d %q %q", code, out, errOut)
	}
	code, out, errOut := as(admin, "token", "create", "--role", "reader", "--tables", "ev*", "--description", "dashboards", "--max-queries", "3")
	reader := strings.TrimSpace(out)
	if code != exitOK || strings.Count(out, "\n") != 1 || !strings.HasPrefix(reader, "mdb_") || !strings.Contains(errOut, "shown only now") {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	file := filepath.Join(t.TempDir(), "rows.ndjson")
	os.WriteFile(file, []byte(`{"id":"a"}`+"\n"+`{"id":"b"}`+"\n"), 0o644)
	if code, out, errOut := as(admin, "write", "events", file); code != exitOK {
		t.Fatalf("write as admin: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := as(reader, "sql", "SELECT count(*) AS n FROM events"); code != exitOK || !strings.Contains(out, "2") {
		t.Fatalf("sql as reader: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := as(reader, "write", "events", file); code != exitError || !strings.Contains(errOut, "permission_denied") || !strings.Contains(errOut, "writer") {
		t.Fatalf("write as reader: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, "", "sql", "--addr", s.httpAddr, "SELECT 1"); code != exitError || !strings.Contains(errOut, "--token") {
		t.Fatalf("sql without a token: %d %q", code, errOut)
	}
	if code, out, _ := as(admin, "token", "list"); code != exitOK || !strings.Contains(out, "dashboards") || !strings.Contains(out, "ev*") || !strings.Contains(out, "3 queries") || strings.Contains(out, reader) {
		t.Fatalf("list: %d %q", code, out)
	}
	// The environment carries the token too; --help never shows it.
	t.Setenv("MINIODB_TOKEN", reader)
	if code, out, _ := runCLI(t, "", "token", "whoami", "--addr", s.httpAddr); code != exitOK || !strings.Contains(out, "reader of ev*") {
		t.Fatalf("whoami from MINIODB_TOKEN: %d %q", code, out)
	}
	if _, out, _ := runCLI(t, "", "sql", "--help"); strings.Contains(out, reader) {
		t.Fatal("--help prints the token")
	}
	if code, out, errOut := as(admin, "token", "revoke", reader); code != exitOK || out != "revoked\n" {
		t.Fatalf("revoke: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := as(reader, "sql", "SELECT 1"); code != exitError || !strings.Contains(errOut, "invalid token") {
		t.Fatalf("sql with a revoked token: %d %q", code, errOut)
	}
	// The audit log has the bootstrap, the creation and the revocation.
	code, out, errOut = as(admin, "audit")
	readerID := strings.SplitN(strings.TrimPrefix(reader, "mdb_"), "_", 2)[0]
	adminID := strings.SplitN(strings.TrimPrefix(admin, "mdb_"), "_", 2)[0]
	for _, want := range [][]string{{"node n1", "token.bootstrap", adminID}, {"token " + adminID, "token.create", readerID, "ev*"}, {"token " + adminID, "token.revoke", readerID}} {
		found := false
		for _, line := range strings.Split(out, "\n") {
			all := true
			for _, w := range want {
				all = all && strings.Contains(line, w)
			}
			found = found || all
		}
		if code != exitOK || !found {
			t.Errorf("audit lacks a line with %q: %d %q %q", want, code, out, errOut)
		}
	}
}

// TestBackupCommands backs up through the CLI, lists and verifies the
// backup, restores it into a new data directory and serves it.
func TestBackupCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	s := startServer(t, filepath.Join(t.TempDir(), "data"))
	file := filepath.Join(t.TempDir(), "rows.ndjson")
	var rows strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&rows, `{"id":"r%d","ts":"2026-01-0%dT00:00:00Z","v":%d}`+"\n", i, 1+i%3, i)
	}
	os.WriteFile(file, []byte(rows.String()), 0o644)
	if out, err := s.cli("write", "events", file); err != nil {
		t.Fatalf("write: %v %s", err, out)
	}
	if out, err := s.cli("flush"); err != nil {
		t.Fatalf("flush: %v %s", err, out)
	}
	if out, err := s.cli("write", "events", file); err != nil { // hot rows too
		t.Fatalf("write: %v %s", err, out)
	}
	dest := "file://" + filepath.Join(t.TempDir(), "backups")
	out, err := s.cli("backup", "--to", dest)
	if err != nil || !strings.Contains(out, "3 files") {
		t.Fatalf("backup: %v %q", err, out)
	}
	if code, out, errOut := runCLI(t, "", "backup", "list", "--from", dest); code != exitOK || strings.Count(out, "\n") != 2 {
		t.Fatalf("backup list: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "", "backup", "verify", "--from", dest); code != exitOK || !strings.Contains(out, "is intact") {
		t.Fatalf("backup verify: %d %q %q", code, out, errOut)
	}
	want, err := s.cli("sql", "--format", "csv", "SELECT count(*), sum(v), count(DISTINCT id) FROM events")
	if err != nil {
		t.Fatal(err)
	}
	r := &server{t: t, dataDir: filepath.Join(t.TempDir(), "restored"), httpAddr: freeAddr(t), raftAddr: freeAddr(t)}
	if code, out, errOut := runCLI(t, "", "restore", "--from", dest, "--data-dir", r.dataDir, "--raft-addr", r.raftAddr); code != exitOK || !strings.Contains(out, "restored backup") {
		t.Fatalf("restore: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "", "restore", "--from", dest, "--data-dir", r.dataDir, "--raft-addr", r.raftAddr); code != exitError || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore into the same directory again: %d %q", code, errOut)
	}
	r.start(true)
	t.Cleanup(r.kill)
	got, err := r.cli("sql", "--format", "csv", "SELECT count(*), sum(v), count(DISTINCT id) FROM events")
	if err != nil || got != want {
		t.Fatalf("restored node: %q %v, source %q", got, err, want)
	}
}
