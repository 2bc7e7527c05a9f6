package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// streamInFlight bounds the batches of one stream being written at once:
// enough to keep the group commit fed, few enough to bound memory.
const streamInFlight = 16

// streamState is what a WriteStream has written so far.
type streamState struct {
	mu       sync.Mutex
	done     map[uint64]bool // finished batches above through
	through  uint64
	rows     int64
	index    uint64
	rejected []*v1.RejectedBatch
	fatal    error // a batch that must be sent again: ends the stream
	changed  chan struct{}
}

func (s *streamState) finish(seq uint64, res *v1.WriteResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.rows += res.RowsWritten
		s.index = max(s.index, res.RaftIndex)
	case retryableWrite(err):
		if s.fatal == nil {
			s.fatal = fmt.Errorf("batch %d: %w", seq, err)
		}
	default:
		ce, _ := connectError("write", err)
		s.rejected = append(s.rejected, &v1.RejectedBatch{Sequence: seq, Code: ce.Code().String(), Message: ce.Message()})
	}
	if s.fatal == nil {
		s.done[seq] = true
		for s.done[s.through+1] {
			delete(s.done, s.through+1)
			s.through++
		}
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *streamState) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

// answer returns the response to send, if anything changed since sent.
func (s *streamState) answer(sent uint64) (*v1.WriteStreamResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fatal != nil {
		return nil, s.fatal
	}
	if s.through == sent && len(s.rejected) == 0 {
		return nil, nil
	}
	r := &v1.WriteStreamResponse{DurableThrough: s.through, RowsWritten: s.rows, RaftIndex: s.index, Rejected: s.rejected}
	s.rejected = nil
	return r, nil
}

// retryableWrite: the batch was not written and may be sent again later.
// An internal error counts too: whether the batch was written is not
// known, and a resend with the stream's id is applied at most once.
func retryableWrite(err error) bool {
	ce, internal := connectError("write", err)
	switch ce.Code() {
	case connect.CodeUnavailable, connect.CodeResourceExhausted, connect.CodeDeadlineExceeded, connect.CodeCanceled, connect.CodeAborted,
		connect.CodeInternal, connect.CodeUnknown:
		return true
	}
	return internal
}

func (a *api) WriteStream(ctx context.Context, stream *connect.BidiStream[v1.WriteStreamRequest, v1.WriteStreamResponse]) error {
	n := a.n
	st := &streamState{done: map[uint64]bool{}, changed: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := make(chan struct{}, streamInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()

	// The sender: one goroutine answers as the watermark moves; it ends
	// when the receiver is done and every batch finished (closed), or on
	// the first error.
	recvDone := make(chan struct{})
	sendErr := make(chan error, 1)
	wg.Go(func() {
		var sent uint64
		final := false
		for {
			select {
			case <-st.changed:
			case <-recvDone:
				final = true
			case <-ctx.Done():
				sendErr <- ctx.Err()
				return
			}
			resp, err := st.answer(sent)
			if err != nil {
				sendErr <- err
				return
			}
			if resp != nil {
				if err := stream.Send(resp); err != nil {
					sendErr <- err
					return
				}
				sent = resp.DurableThrough
			}
			if final {
				sendErr <- nil
				return
			}
		}
	})

	var writers sync.WaitGroup
	next := uint64(1)
	var recvErr error
	for {
		msg, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			recvErr = err
			break
		}
		if err := st.failed(); err != nil {
			// A batch must be sent again: end the stream (the producer
			// sees the error now, on this send, or when it closes).
			recvErr = err
			break
		}
		if msg.Sequence != next {
			recvErr = fmt.Errorf("%w: batch sequence %d, want %d (sequence numbers start at 1 and grow by one)", ErrInvalid, msg.Sequence, next)
			break
		}
		next++
		if err := n.authorize(ctx, miniodbv1connect.WriteServiceWriteProcedure, msg.GetBatch()); err != nil {
			recvErr = err
			break
		}
		req := proto.Clone(msg.GetBatch()).(*v1.WriteRequest)
		if req == nil {
			req = &v1.WriteRequest{}
		}
		req.RequestId, req.Redirect = "", false
		if msg.StreamId != "" {
			req.RequestId = fmt.Sprintf("%s:%d", msg.StreamId, msg.Sequence)
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			recvErr = ctx.Err()
		}
		if recvErr != nil {
			break
		}
		seq := msg.Sequence
		writers.Go(func() {
			defer func() { <-slots }()
			res, err := n.WriteRequest(ctx, req)
			st.finish(seq, res, err)
		})
	}
	writers.Wait()
	close(recvDone)
	if err := <-sendErr; err != nil {
		return err
	}
	return recvErr
}
