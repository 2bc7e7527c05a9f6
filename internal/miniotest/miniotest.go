// Package miniotest runs a real MinIO server for tests: one process per
// test, listening on loopback with a fresh data directory and random
// credentials, stopped when the test ends. Tests that need it are skipped
// when the binary is not available.
//
// The binary comes from the environment variable MINIODB_MINIO_BIN, which
// `make test` sets from scripts/install-minio.sh (that script builds MinIO
// once into a cache directory and prints its path):
//
//	MINIODB_MINIO_BIN=$(scripts/install-minio.sh) go test ./...
//
// Stop, Kill, Pause, Resume and Restart let outage tests take the server
// away and bring it back on the same address with the same data.
//
// A Server's methods may be called from any goroutine, but not
// concurrently with each other.
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvBinary names the environment variable holding the MinIO binary's path.
const EnvBinary = "MINIODB_MINIO_BIN"

// ReadyTimeout bounds how long Start and Restart wait for the server.
const ReadyTimeout = 60 * time.Second

// stopTimeout is how long Stop waits after SIGTERM before it kills.
const stopTimeout = 10 * time.Second

// Server is one running (or stopped) MinIO server.
type Server struct {
	// Endpoint is host:port of the S3 API, e.g. "127.0.0.1:41234".
	Endpoint  string
	AccessKey string
	SecretKey string
	// DataDir holds the server's objects; it survives Restart.
	DataDir string
	// LogPath is the file that collects the server's output over all runs.
	LogPath string

	t           testing.TB
	bin         string
	consoleAddr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// Start starts a MinIO server for the test and waits until it is ready
// (see waitReady). It
// skips the test if MINIODB_MINIO_BIN is not set and fails it if the server
// does not become ready within ReadyTimeout. The server is stopped when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		t.Skip("MINIODB_MINIO_BIN not set; make test sets it (scripts/install-minio.sh)")
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("miniotest: %s=%q is not a file: %v", EnvBinary, bin, err)
	}
	dir := t.TempDir()
	s := &Server{
		AccessKey:   "miniotest-" + randomHex(t, 6),
		SecretKey:   randomHex(t, 16),
		DataDir:     filepath.Join(dir, "data"),
		LogPath:     filepath.Join(dir, "minio.log"),
		t:           t,
		bin:         bin,
		Endpoint:    freeAddr(t),
		consoleAddr: freeAddr(t),
	}
	if err := os.MkdirAll(s.DataDir, 0o755); err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	t.Cleanup(s.Stop)
	s.start()
	return s
}

// URL returns the store URL for a bucket and key prefix on this server, in
// the form objstore.OpenStore accepts.
func (s *Server) URL(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&insecure=true", bucket, prefix, s.Endpoint)
}

// Running reports whether the server process is running (it may be paused).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

func (s *Server) runningLocked() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Stop stops the server gracefully (SIGTERM, then SIGKILL after 10 s) and
// waits for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // in case it is paused
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// Kill stops the server with SIGKILL, like a crash, and waits for it to
// exit.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
}

// Pause freezes the server with SIGSTOP: connections are accepted by the
// kernel but never answered, as with a hung server. Resume undoes it.
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runningLocked() {
		if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			s.t.Errorf("miniotest: pause: %v", err)
			return
		}
		if err := waitStopped(s.cmd.Process.Pid, 5*time.Second); err != nil {
			s.t.Errorf("miniotest: pause: %v", err)
		}
	}
}

// Resume continues a paused server.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runningLocked() {
		if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			s.t.Errorf("miniotest: resume: %v", err)
		}
	}
}

// Restart stops the server if it runs and starts it again on the same
// address, with the same data and credentials, and waits until it is ready.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// start launches the process and waits for readiness; it fails the test on
// error.
func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runningLocked() {
		s.t.Fatalf("miniotest: start: server already running")
	}
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatalf("miniotest: %v", err)
	}
	fmt.Fprintf(logFile, "\n=== miniotest: starting %s at %s\n", s.bin, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, "server",
		"--address", s.Endpoint,
		"--console-address", s.consoleAddr,
		"--quiet",
		s.DataDir)
	cmd.Env = append(environWithoutMinIO(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		s.t.Fatalf("miniotest: start %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logFile, "=== miniotest: server exited: %v\n", err)
		logFile.Close()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	if err := waitReady(s.Endpoint, exited, ReadyTimeout); err != nil {
		cmd.Process.Kill()
		<-exited
		s.t.Fatalf("miniotest: %v\nserver output (%s):\n%s", err, s.LogPath, s.logTail(40))
	}
}

// LogTail returns the last n lines of the server's output.
func (s *Server) LogTail(n int) string { return s.logTail(n) }

func (s *Server) logTail(n int) string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls the health endpoints until both answer 200, the process
// exits or the timeout passes. /minio/health/ready alone is not enough: it
// answers 200 while the object layer and IAM are still starting, when S3
// calls fail with "Server not initialized yet"; /minio/health/cluster
// answers 200 only once they are up and the drive has write quorum.
func waitReady(addr string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	check := func(path string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s %s", path, resp.Status, resp.Header.Get("X-Minio-Server-Status"))
		}
		return nil
	}
	var last error
	for {
		last = check("/minio/health/ready")
		if last == nil {
			last = check("/minio/health/cluster")
			if last == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("server at %s exited before it was ready (last check: %v)", addr, last)
		case <-ctx.Done():
			return fmt.Errorf("server at %s not ready after %v (last check: %v)", addr, timeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("miniotest: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("miniotest: %v", err)
	}
	return hex.EncodeToString(b)
}

// environWithoutMinIO is the environment minus MINIO_* variables, so a
// developer's MinIO settings cannot leak into test servers.
func environWithoutMinIO() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MINIO_") {
			env = append(env, kv)
		}
	}
	return env
}
