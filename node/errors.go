package node

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/parquetio"
	"github.com/miniodb/miniodb/query"
	"github.com/miniodb/miniodb/wal"
)

// connectError maps an error to a Connect error with a message a person
// can act on, without logging. It is the only place where domain errors
// become API codes; internal is true for an error that is the server's
// fault, whose message is replaced by a generic one.
func connectError(op string, err error) (ce *connect.Error, internal bool) {
	switch {
	case errors.As(err, &ce):
		return ce, false
	case errors.Is(err, ErrInvalid), errors.Is(err, query.ErrInvalidQuery):
		return connect.NewError(connect.CodeInvalidArgument, err), false
	case errors.Is(err, ErrNotFound), errors.Is(err, query.ErrTableNotFound):
		return connect.NewError(connect.CodeNotFound, err), false
	case errors.Is(err, ErrExists):
		return connect.NewError(connect.CodeAlreadyExists, err), false
	case errors.Is(err, ErrBackpressure), errors.Is(err, ErrTooLarge):
		return connect.NewError(connect.CodeResourceExhausted, err), false
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrStale):
		return connect.NewError(connect.CodeUnavailable, err), false
	case errors.Is(err, wal.ErrCorrupt), errors.Is(err, parquetio.ErrCorrupt):
		return connect.NewError(connect.CodeDataLoss, err), false
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err), false
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err), false
	}
	return connect.NewError(connect.CodeInternal, errors.New(op+": internal error; the server log has details")), true
}

// codeOf is the Connect code of an error ("ok" for nil), for metrics.
func codeOf(err error) string {
	if err == nil {
		return "ok"
	}
	ce, _ := connectError("", err)
	return ce.Code().String()
}

// apiError is connectError for a failed request: an internal error is
// logged in full, once, here. Handlers return domain errors and the
// errorInterceptor calls this for every RPC; the HTTP conveniences call it
// themselves.
func apiError(logger *slog.Logger, op string, err error) *connect.Error {
	ce, internal := connectError(op, err)
	if internal {
		logger.Error("internal error", "op", op, "error", err)
	}
	return ce
}

// errorInterceptor turns every RPC's error into a Connect error (apiError)
// and records each RPC's outcome and latency, so handlers only return
// domain errors and nothing is logged or counted twice.
type errorInterceptor struct{ n *Node }

func (i errorInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		start := time.Now()
		resp, err := next(ctx, req)
		return resp, i.done(req.Spec().Procedure, start, err)
	}
}

func (i errorInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i errorInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		start := time.Now()
		return i.done(conn.Spec().Procedure, start, next(ctx, conn))
	}
}

func (i errorInterceptor) done(procedure string, start time.Time, err error) error {
	var out error
	if err != nil {
		out = apiError(i.n.logger, procedure, err)
	}
	i.n.metrics.rpcs.WithLabelValues(procedure, codeOf(err)).Inc()
	i.n.metrics.rpcSeconds.WithLabelValues(procedure).Observe(time.Since(start).Seconds())
	return out
}
