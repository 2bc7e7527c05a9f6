//go:build linux

package jepsen

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// EnvMinIOBinary names the variable holding the MinIO server binary
// (scripts/install-minio.sh prints it; the Makefile sets it).
const EnvMinIOBinary = "MINIODB_MINIO_BIN"

// minio is the MinIO server every node shares. Kill and Start take it away
// and bring it back on the same address with the same data.
type minio struct {
	bin, dir, log        string
	endpoint, console    string
	accessKey, secretKey string
	mu                   sync.Mutex
	p                    *proc
	expect               bool // the harness ended the current life
	closed               bool
	restarts             int
	// onUnexpected is told when the server exits without the harness
	// having asked (something else on the machine stopped it); the server
	// is then restarted, a bounded number of times.
	onUnexpected func(how string)
}

func newMinIO(bin, runDir string) (*minio, error) {
	m := &minio{
		bin:       bin,
		dir:       filepath.Join(runDir, "minio-data"),
		log:       filepath.Join(runDir, "minio.log"),
		accessKey: "jepsen",
		secretKey: "jepsen-secret-key",
	}
	var err error
	if m.endpoint, err = freePort("127.0.0.1"); err != nil {
		return nil, err
	}
	if m.console, err = freePort("127.0.0.1"); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(m.dir, 0o755); err != nil {
		return nil, err
	}
	return m, nil
}

// Start starts the server and waits until it serves S3 calls.
func (m *minio) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.p != nil && m.p.running() {
		return nil
	}
	env := environ("MINIO_ROOT_USER="+m.accessKey, "MINIO_ROOT_PASSWORD="+m.secretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off")
	p, err := startProc(m.bin, []string{"server", "--address", m.endpoint, "--console-address", m.console, m.dir}, env, m.log, "start minio")
	if err != nil {
		return err
	}
	m.p, m.expect = p, false
	if err := waitMinIOReady(m.endpoint, p.exited, 60*time.Second); err != nil {
		m.expect = true
		p.kill()
		return fmt.Errorf("jepsen: minio: %w\n%s", err, tail(m.log, 20))
	}
	go m.watch(p)
	return nil
}

func (m *minio) watch(p *proc) {
	<-p.exited
	m.mu.Lock()
	unexpected := m.p == p && !m.expect && !m.closed && m.restarts < 5
	if unexpected {
		m.restarts++
	}
	m.mu.Unlock()
	if !unexpected {
		return
	}
	if m.onUnexpected != nil {
		m.onUnexpected(describeExit(p.state, p.err))
	}
	time.Sleep(time.Second)
	m.Start()
}

// Kill stops the server with SIGKILL.
func (m *minio) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.p != nil {
		m.expect = true
		m.p.kill()
	}
}

// Close kills the server for good.
func (m *minio) Close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.Kill()
}

// Running reports whether the server process runs.
func (m *minio) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.p != nil && m.p.running()
}

func (m *minio) storeURL() string {
	return fmt.Sprintf("s3://jepsen/objects?endpoint=%s&insecure=true", m.endpoint)
}

// waitMinIOReady polls /minio/health/ready and /minio/health/cluster (the
// latter answers 200 only once IAM and the object layer are up).
func waitMinIOReady(addr string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	check := func(path string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return nil
	}
	var last error
	for {
		if last = check("/minio/health/ready"); last == nil {
			if last = check("/minio/health/cluster"); last == nil {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before it was ready (last check: %v)", last)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v (last check: %v)", timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
