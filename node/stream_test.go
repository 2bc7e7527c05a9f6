package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// h2cClient speaks HTTP/2 without TLS, as bidirectional streams need.
func h2cClient(t *testing.T) *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// streamBatches sends batches 1..len(bodies) on one stream and returns
// the last answer and the rejected batches.
func streamBatches(t *testing.T, n *Node, streamID string, bodies []string) (*v1.WriteStreamResponse, []*v1.RejectedBatch, error) {
	t.Helper()
	c := miniodbv1connect.NewWriteServiceClient(h2cClient(t), "http://"+n.HTTPAddr())
	s := c.WriteStream(context.Background())
	for i, b := range bodies {
		if err := s.Send(&v1.WriteStreamRequest{Sequence: uint64(i + 1), StreamId: streamID, Batch: &v1.WriteRequest{Table: "events", RowsNdjson: []byte(b)}}); err != nil {
			break // the server ended the stream; Receive says why
		}
	}
	if err := s.CloseRequest(); err != nil {
		return nil, nil, err
	}
	var last *v1.WriteStreamResponse
	var rejected []*v1.RejectedBatch
	for {
		r, err := s.Receive()
		if err != nil {
			s.CloseResponse()
			if errors.Is(err, io.EOF) {
				return last, rejected, nil
			}
			return last, rejected, err
		}
		last = r
		rejected = append(rejected, r.Rejected...)
	}
}

func batchBodies(batches, rows int, prefix string) []string {
	var out []string
	for b := range batches {
		body := ""
		for r := range rows {
			body += fmt.Sprintf(`{"id":"%s-%d-%d","v":%d}`+"\n", prefix, b, r, r)
		}
		out = append(out, body)
	}
	return out
}

func TestWriteStream(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, n := range []*Node{nodes[0], followerOf(nodes)} {
		t.Run(n.cfg.NodeID, func(t *testing.T) {
			prefix := n.cfg.NodeID
			bodies := batchBodies(100, 10, prefix)
			bodies[49] = `{"id":"bad","v":"not a number"}` + "\n" // rejected on its own
			last, rejected, err := streamBatches(t, n, "s-"+prefix, bodies)
			if err != nil {
				t.Fatal(err)
			}
			if last.DurableThrough != 100 || last.RowsWritten != 990 || last.RaftIndex == 0 {
				t.Fatalf("last answer: %v", last)
			}
			if len(rejected) != 1 || rejected[0].Sequence != 50 || rejected[0].Code != "invalid_argument" {
				t.Fatalf("rejected: %v", rejected)
			}
			q := fmt.Sprintf("SELECT count(*) FROM events WHERE id LIKE '%s-%%'", prefix)
			if got := newClient(t, n).sql(q); got != "[990]\n" {
				t.Fatalf("rows written: %s", got)
			}
			// A reconnect that sends the first ten batches again writes
			// nothing new.
			if _, _, err := streamBatches(t, n, "s-"+prefix, bodies[:10]); err != nil {
				t.Fatal(err)
			}
			if got := newClient(t, n).sql(q); got != "[990]\n" {
				t.Fatalf("after sending batches again: %s", got)
			}
		})
	}
	// Sequence numbers must grow by one.
	c := miniodbv1connect.NewWriteServiceClient(h2cClient(t), "http://"+nodes[0].HTTPAddr())
	s := c.WriteStream(context.Background())
	s.Send(&v1.WriteStreamRequest{Sequence: 2, Batch: &v1.WriteRequest{Table: "events", RowsNdjson: []byte(`{"id":"x"}`)}})
	s.CloseRequest()
	if _, err := s.Receive(); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("a stream starting at 2: %v", err)
	}
	s.CloseResponse()
}

// A follower sends concurrent small writes to the leader in shared
// WriteMany calls; each keeps its own answer, request id and errors.
func TestFollowerCoalescesWrites(t *testing.T) {
	nodes := startCluster(t, 3)
	f := followerOf(nodes)
	c := newClient(t, f)
	const writers = 200
	type answer struct {
		status int
		body   string
	}
	// Seed the schema first so "v" is BIGINT when the bad row arrives.
	if s, b := c.postJSON("/miniodb.v1.WriteService/Write", `{"table":"events","rows":[{"id":"seed","v":1}]}`); s != 200 {
		t.Fatalf("seed: %d %s", s, b)
	}
	answers := make([]answer, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			row := fmt.Sprintf(`{"id":"c%d","v":%d}`, i, i)
			if i == 7 {
				row = `{"id":"bad","v":"x"}` // a type conflict: fails alone
			}
			id := fmt.Sprintf("req-%d", i)
			if i == 9 {
				id = "req-8" // the same request id as another write
			}
			s, b := c.postJSON("/miniodb.v1.WriteService/Write", fmt.Sprintf(`{"table":"events","requestId":%q,"rows":[%s]}`, id, row))
			answers[i] = answer{s, b}
		})
	}
	wg.Wait()
	failed := 0
	for i, a := range answers {
		if i == 7 {
			if a.status != 400 || !strings.Contains(a.body, "invalid_argument") {
				t.Errorf("the bad write: %d %s", a.status, a.body)
			}
			continue
		}
		if a.status != 200 {
			failed++
			t.Errorf("write %d: %d %s", i, a.status, a.body)
		}
	}
	// Writes 8 and 9 share a request id: one of them is applied.
	want := fmt.Sprintf("[%d]\n", 1+writers-2)
	if got := c.sql("SELECT count(*) FROM events"); got != want {
		t.Errorf("rows: %s, want %s", got, want)
	}
	if got := c.sql("SELECT count(*) FROM events WHERE id IN ('c8', 'c9')"); got != "[1]\n" {
		t.Errorf("writes with one request id: %s", got)
	}
	// Fewer calls than writes went to the leader.
	calls := metricValue(t, c, "miniodb_forward_batch_writes_count")
	if k, err := strconv.Atoi(calls); err != nil || k >= writers {
		t.Errorf("WriteMany calls: %q for %d writes", calls, writers)
	}
	t.Logf("%d writes through the follower in %s WriteMany calls", writers, calls)
}
