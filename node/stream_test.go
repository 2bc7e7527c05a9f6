package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
