package main

import (
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
