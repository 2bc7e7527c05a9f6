package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/internal/miniotest"
	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// cluster is a set of miniodb processes sharing one MinIO server.
type cluster struct {
	t     *testing.T
	minio *miniotest.Server
	nodes []*server
}

func startProcessCluster(t *testing.T, size int, extra ...string) *cluster {
	t.Helper()
	m := miniotest.Start(t)
	t.Setenv("MINIO_ROOT_USER", m.AccessKey)
	t.Setenv("MINIO_ROOT_PASSWORD", m.SecretKey)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	store := fmt.Sprintf("s3://miniodb/cluster?endpoint=%s&insecure=true", m.Endpoint)
	c := &cluster{t: t, minio: m}
	root := t.TempDir()
	for i := 0; i < size; i++ {
		args := append([]string{"--node-id", fmt.Sprint("n", i+1), "--object-store", store}, extra...)
		if i > 0 {
			args = append(args, "--join", c.nodes[0].httpAddr)
		}
		c.nodes = append(c.nodes, startServer(t, filepath.Join(root, fmt.Sprint("n", i+1)), args...))
	}
	c.waitMembers(size)
	return c
}

func (c *cluster) status(s *server) (*miniodbv1.StatusResponse, error) {
	cl := miniodbv1connect.NewClusterServiceClient(http.DefaultClient, "http://"+s.httpAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := cl.Status(ctx, connect.NewRequest(&miniodbv1.StatusRequest{}))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}

// waitMembers waits until every running node reports size members with API
// addresses and one leader.
func (c *cluster) waitMembers(size int) {
	c.t.Helper()
	for _, s := range c.nodes {
		waitUntil(c.t, 30*time.Second, fmt.Sprintf("node %s to see %d members", s.httpAddr, size), func() (bool, string) {
			st, err := c.status(s)
			ok := err == nil && len(st.Members) == size && st.LeaderId != ""
			for _, m := range st.GetMembers() {
				ok = ok && m.HttpAddr != ""
			}
			return ok, fmt.Sprintf("status %v, err %v", st, err)
		})
	}
}

// leader returns the node that leads, as the running nodes see it.
func (c *cluster) leader() *server {
	c.t.Helper()
	var leader *server
	waitUntil(c.t, 30*time.Second, "a leader", func() (bool, string) {
		for _, s := range c.nodes {
			if st, err := c.status(s); err == nil && st.RaftState == "Leader" {
				leader = s
				return true, ""
			}
		}
		return false, "no node leads"
	})
	return leader
}

// ids runs SELECT id FROM events through s and counts each id.
func ids(t *testing.T, s *server, consistency string) map[string]int {
	t.Helper()
	seen, err := tryIDs(s, consistency)
	if err != nil {
		t.Fatal(err)
	}
	return seen
}

func tryIDs(s *server, consistency string) (map[string]int, error) {
	form := url.Values{"sql": {"SELECT id FROM events"}, "consistency": {consistency}}
	status, body, err := s.post("/v1/query?format=json", "application/x-www-form-urlencoded", form.Encode())
	if err != nil || status != 200 {
		return nil, fmt.Errorf("query through %s: %d %v %s", s.httpAddr, status, err, body)
	}
	var rows []struct{ ID string }
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("decode: %v", err)
	}
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.ID]++
	}
	return seen, nil
}

// writers write unique rows through the given nodes until stopped,
// recording what was acknowledged; a failed write is retried through the
// next node with the same request id.
type writers struct {
	mu        sync.Mutex
	acked     map[string]bool
	attempted map[string]bool
	firstOK   map[int]time.Time // writer → first success after mark
	mark      time.Time
	stop      chan struct{}
	wg        sync.WaitGroup
}

func startWriters(nodes []*server, n int) *writers {
	w := &writers{acked: map[string]bool{}, attempted: map[string]bool{}, firstOK: map[int]time.Time{}, stop: make(chan struct{})}
	for k := 0; k < n; k++ {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			target := k
			for b := 0; ; b++ {
				select {
				case <-w.stop:
					return
				default:
				}
				var body strings.Builder
				var batch []string
				for i := 0; i < 20; i++ {
					id := fmt.Sprintf("w%d-b%d-r%d", k, b, i)
					batch = append(batch, id)
					fmt.Fprintf(&body, `{"id":%q,"v":%d}`+"\n", id, i)
				}
				w.mu.Lock()
				for _, id := range batch {
					w.attempted[id] = true
				}
				w.mu.Unlock()
				reqID := fmt.Sprintf("w%d-b%d", k, b)
				for try := 0; ; try++ {
					s := nodes[target%len(nodes)]
					status, _, err := s.post("/v1/tables/events/rows?request_id="+reqID, "application/x-ndjson", body.String())
					if err == nil && status == 200 {
						w.mu.Lock()
						for _, id := range batch {
							w.acked[id] = true
						}
						if !w.mark.IsZero() && w.firstOK[k].IsZero() {
							w.firstOK[k] = time.Now()
						}
						w.mu.Unlock()
						break
					}
					target++
					select {
					case <-w.stop:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
		}()
	}
	return w
}

func (w *writers) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitAcked waits until at least n rows are acknowledged.
func (w *writers) waitAcked(t *testing.T, n int) {
	t.Helper()
	waitUntil(t, 60*time.Second, fmt.Sprintf("%d acknowledged rows", n), func() (bool, string) {
		got := w.ackedCount()
		return got >= n, fmt.Sprintf("%d acknowledged", got)
	})
}

func (w *writers) halt() {
	close(w.stop)
	w.wg.Wait()
}

// check compares what the cluster holds with what was acknowledged.
func (w *writers) check(t *testing.T, seen map[string]int) {
	t.Helper()
	var lost, dup, phantom int
	for id := range w.acked {
		if seen[id] == 0 {
			lost++
		}
	}
	for id, k := range seen {
		if k > 1 {
			dup++
		}
		if !w.attempted[id] {
			phantom++
		}
	}
	t.Logf("acknowledged %d, attempted %d, present %d", len(w.acked), len(w.attempted), len(seen))
	if lost+dup+phantom > 0 {
		t.Fatalf("lost %d, duplicated %d, phantom %d rows", lost, dup, phantom)
	}
}

func TestClusterLeaderKill(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startProcessCluster(t, 3, "--flush-age", "1s")
	w := startWriters(c.nodes, 3)
	w.waitAcked(t, 300)
	old := c.leader()
	w.mu.Lock()
	w.mark = time.Now()
	w.mu.Unlock()
	old.kill()
	killedAt := time.Now()
	var rest []*server
	for _, s := range c.nodes {
		if s != old {
			rest = append(rest, s)
		}
	}
	// A new leader within seconds, writes resume.
	waitUntil(t, 15*time.Second, "a write to succeed after the leader kill", func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.firstOK) > 0, "none yet"
	})
	w.mu.Lock()
	var first time.Time
	for _, at := range w.firstOK {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	w.mu.Unlock()
	t.Logf("write unavailability after the leader kill: %.2fs", first.Sub(killedAt).Seconds())
	w.waitAcked(t, w.ackedCount()+300) // writes go on under the new leader
	w.halt()
	// The new leader flushes what the old one left hot.
	waitUntil(t, 20*time.Second, "the new leader to flush the hot rows", func() (bool, string) {
		st, err := c.status(rest[0])
		var hot, files int64
		for _, tb := range st.GetTables() {
			hot += tb.HotRows
			files += tb.Files
		}
		return err == nil && hot == 0 && files > 0, fmt.Sprintf("%d hot rows, %d files, err %v", hot, files, err)
	})
	// Every acknowledged row, exactly once, through each surviving node.
	for _, s := range rest {
		w.check(t, ids(t, s, "strong"))
	}
	// The old leader comes back as a follower and catches up.
	old.start(true)
	want := len(ids(t, rest[0], "strong"))
	waitUntil(t, 30*time.Second, "the restarted node to catch up", func() (bool, string) {
		got, err := tryIDs(old, "local")
		return err == nil && len(got) == want, fmt.Sprintf("%d rows (%v), want %d", len(got), err, want)
	})
}

func TestClusterFollowerCatchUpBySnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startProcessCluster(t, 3, "--snapshot-threshold", "50", "--trailing-logs", "10", "--snapshot-interval", "200ms")
	leader := c.leader()
	var follower *server
	for _, s := range c.nodes {
		if s != leader {
			follower = s
		}
	}
	follower.kill()
	// 100k rows in 100 writes while the follower is down; part flushed.
	for b := 0; b < 100; b++ {
		var body strings.Builder
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(&body, `{"id":"b%d-r%d","v":%d}`+"\n", b, i, i)
		}
		if status, resp, err := leader.post("/v1/tables/events/rows", "application/x-ndjson", body.String()); err != nil || status != 200 {
			t.Fatalf("write %d: %d %v %s", b, status, err, resp)
		}
		if b == 50 {
			leader.waitSnapshot(t) // a snapshot truncates the log
			if out, err := leader.cli("flush"); err != nil {
				t.Fatalf("flush: %v %s", err, out)
			}
		}
	}
	leader.waitSnapshot(t) // and another one after the last writes
	start := time.Now()
	follower.start(true)
	waitUntil(t, 60*time.Second, "the follower to catch up", func() (bool, string) {
		form := url.Values{"sql": {"SELECT count(*) AS n FROM events"}, "consistency": {"local"}}
		status, body, err := follower.post("/v1/query?format=json", "application/x-www-form-urlencoded", form.Encode())
		return err == nil && status == 200 && strings.Contains(string(body), `"n":100000`),
			fmt.Sprintf("%d %v %s\nlog:\n%s", status, err, body, follower.logTail())
	})
	t.Logf("follower caught up with 100k rows in %.2fs", time.Since(start).Seconds())
	if log, _ := os.ReadFile(follower.log.Name()); !strings.Contains(string(log), "Installed remote snapshot") {
		t.Fatalf("the follower caught up without installing a snapshot; log %s:\n%s", follower.log.Name(), log)
	}
}

func TestClusterObjectStoreOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := startProcessCluster(t, 3, "--flush-age", "300ms", "--hot-bytes-limit", "4MiB")
	leader := c.leader()
	w := startWriters(c.nodes, 2)
	w.waitAcked(t, 200)
	c.minio.Stop()
	// Writes go on while hot memory lasts, then are refused with a reason.
	deadline := time.Now().Add(20 * time.Second)
	var refused string
	for refused == "" && time.Now().Before(deadline) {
		var body strings.Builder
		for i := 0; i < 2000; i++ {
			fmt.Fprintf(&body, `{"id":"fill-%d-%d","pad":"%s"}`+"\n", time.Now().UnixNano(), i, strings.Repeat("x", 100))
		}
		status, resp, err := leader.post("/v1/tables/filler/rows", "application/x-ndjson", body.String())
		if err == nil && status == 429 && strings.Contains(string(resp), "resource_exhausted") {
			refused = string(resp)
		}
	}
	if refused == "" {
		t.Fatal("writes were not refused while the object store was down and hot memory full")
	}
	if !strings.Contains(refused, "object store") {
		t.Fatalf("the refusal does not say why: %s", refused)
	}
	st, err := c.status(leader)
	if err != nil || st.ObjectStoreOk {
		t.Fatalf("status during the outage: %v %v", err, st)
	}
	// The outage lasts a while longer (fault timing, not synchronisation).
	time.Sleep(time.Second)
	c.minio.Restart()
	// Flushes resume: hot rows drain, writes are accepted again.
	waitUntil(t, 60*time.Second, "flushes to resume", func() (bool, string) {
		st, err := c.status(leader)
		var hot int64
		for _, tb := range st.GetTables() {
			hot += tb.HotRows
		}
		return err == nil && st.ObjectStoreOk && hot < 1000, fmt.Sprintf("%d hot rows, err %v, status %v", hot, err, st)
	})
	w.halt()
	for _, s := range c.nodes {
		w.check(t, ids(t, s, "strong"))
	}
}

// waitSnapshot waits until the server's newest Raft snapshot is within 50
// entries (the tests' --snapshot-threshold) of its applied index: the log
// before it is truncated, so a follower that was down must install it.
func (s *server) waitSnapshot(t *testing.T) {
	t.Helper()
	st, err := (&cluster{t: t}).status(s)
	if err != nil {
		t.Fatal(err)
	}
	want := st.AppliedIndex
	if want > 50 {
		want -= 50
	}
	waitUntil(t, 30*time.Second, fmt.Sprintf("a snapshot at index %d or later", want), func() (bool, string) {
		metas, _ := filepath.Glob(filepath.Join(s.dataDir, "raft", "snapshots", "*", "meta.json"))
		var newest uint64
		for _, m := range metas {
			b, err := os.ReadFile(m)
			var meta struct{ Index uint64 }
			if err == nil && json.Unmarshal(b, &meta) == nil {
				newest = max(newest, meta.Index)
			}
		}
		return newest >= want, fmt.Sprintf("newest snapshot at %d", newest)
	})
}
