package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hotQueries are the queries timed right after the last acknowledged write,
// while every row is still hot (no flush has run).
var hotQueries = []benchQuery{
	{"count", "SELECT count(*) FROM events"},
	{"group-by", "SELECT region, count(*), avg(value), max(status) FROM events GROUP BY region ORDER BY region"},
}

// benchHot measures the hot rows as a user meets them: a node in its own
// process with its default flush settings (so its RSS is its own, not the
// load generator's), rows ingested, and the first queries timed from the
// moment the last write was acknowledged. It reports the node's peak RSS
// (VmHWM) and its Go heap, so the cost of holding the hot rows shows.
func benchHot(ctx context.Context, dir string, rows, batch, clients, days int, extra []string, stdout io.Writer) error {
	child, err := startChildNode(ctx, filepath.Join(dir, "hot"), "", extra)
	if err != nil {
		return fmt.Errorf("bench --hot: %w", err)
	}
	defer child.stop()
	base, cmd := child.base, child.cmd
	bodies := benchBodies(rows, batch, days)
	elapsed, lats, err := benchIngest(base, bodies, clients, 0)
	if err != nil {
		return err
	}
	acked := time.Now()
	host, _ := os.Hostname()
	fmt.Fprintf(stdout, "# miniodb bench --hot — %s, %s, node in its own process (pid %d), flags %q\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, cmd.Process.Pid, extra)
	fmt.Fprintf(stdout, "Ingest: %d rows in batches of %d from %d clients in %.2f s (%.0f rows/s, p50 %s, p99 %s).\n\n",
		rows, batch, clients, elapsed.Seconds(), float64(rows)/elapsed.Seconds(), pct(lats, 0.5), pct(lats, 0.99))
	fmt.Fprintf(stdout, "| query | run | ms | since last ack ms |\n|---|---|---|---|\n")
	for run := 1; run <= 3; run++ {
		for _, q := range hotQueries {
			t0 := time.Now()
			resp, err := http.PostForm(base+"/v1/query", map[string][]string{"sql": {q.sql}})
			if err != nil {
				return fmt.Errorf("%s: %w", q.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s: %s", q.name, resp.Status, body)
			}
			fmt.Fprintf(stdout, "| %s | %d | %.1f | %.1f |\n", q.name, run, ms(time.Since(t0)), ms(time.Since(acked)))
		}
	}
	status, err := procStatus(cmd.Process.Pid)
	if err != nil {
		return err
	}
	heap, err := metricValue(base, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nNode memory after the queries: peak RSS (VmHWM) %s, RSS %s, Go heap in use %.0f MiB.\n\n",
		status["VmHWM"], status["VmRSS"], heap/(1<<20))
	return nil
}

// childNode is a node the bench runs as a child process of its own
// binary, so that its memory and CPU are its own.
type childNode struct {
	cmd  *exec.Cmd
	base string // http://host:port
	logs bytes.Buffer
	done chan struct{} // closed when the process has exited
}

// startChildNode starts "serve" on loopback ports with its data in dir and
// the extra flags, pinned to the CPUs of cpus (taskset) unless it is
// empty, and waits until it is ready.
func startChildNode(ctx context.Context, dir, cpus string, extra []string) (*childNode, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own binary: %w", err)
	}
	httpAddr, err := loopbackAddr()
	if err != nil {
		return nil, err
	}
	raftAddr, err := loopbackAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{exe, "serve", "--data-dir", dir, "--http-addr", httpAddr, "--raft-addr", raftAddr}, extra...)
	if cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	c := &childNode{base: "http://" + httpAddr, done: make(chan struct{})}
	c.cmd = exec.CommandContext(ctx, args[0], args[1:]...)
	c.cmd.Stdout, c.cmd.Stderr = &c.logs, &c.logs
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node: %w", err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	if err := waitReady(ctx, c.base, 60*time.Second); err != nil {
		c.stop()
		return nil, fmt.Errorf("%w; node output:\n%s", err, c.logs.String())
	}
	return c, nil
}

// stop ends the node (SIGTERM, then SIGKILL after 30 s) and waits for it.
func (c *childNode) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// cpu is the CPU time (user and system) the node's process used so far
// (taskset execs the node, so the pid is the node's).
func (c *childNode) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read the node's CPU time: %w", err)
	}
	// Fields after the command name (which may hold spaces): state is
	// the first, utime and stime the 12th and 13th.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat: %q", b)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}

// loopbackAddr returns a loopback address with a port that was free a moment ago.
func loopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitReady(ctx context.Context, base string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node at %s not ready after %s", base, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// procStatus reads the fields of /proc/<pid>/status.
func procStatus(pid int) (map[string]string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, fmt.Errorf("read the node's memory: %w", err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m, sc.Err()
}

// metricValue reads one unlabelled gauge from the node's /metrics.
func metricValue(base, name string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("metric %s not found", name)
}
