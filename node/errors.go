package node

import (
	"context"
	"errors"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/miniodb/miniodb/parquetio"
	"github.com/miniodb/miniodb/query"
	"github.com/miniodb/miniodb/wal"
)

// apiError maps an error to a Connect error with a message a person can act
// on. It is the only place where domain errors become API codes. Internal
// errors are logged in full and answered with a generic message.
func apiError(logger *slog.Logger, op string, err error) *connect.Error {
	var ce *connect.Error
	switch {
	case errors.As(err, &ce):
		return ce
	case errors.Is(err, ErrInvalid), errors.Is(err, query.ErrInvalidQuery):
		return connect.NewError(connect.CodeInvalidArgument, err)
	case errors.Is(err, ErrNotFound), errors.Is(err, query.ErrTableNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, ErrExists):
		return connect.NewError(connect.CodeAlreadyExists, err)
	case errors.Is(err, ErrBackpressure), errors.Is(err, ErrTooLarge):
		return connect.NewError(connect.CodeResourceExhausted, err)
	case errors.Is(err, ErrNotLeader), errors.Is(err, ErrStale):
		return connect.NewError(connect.CodeUnavailable, err)
	case errors.Is(err, wal.ErrCorrupt), errors.Is(err, parquetio.ErrCorrupt):
		return connect.NewError(connect.CodeDataLoss, err)
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	logger.Error("internal error", "op", op, "error", err)
	return connect.NewError(connect.CodeInternal, errors.New(op+": internal error; the server log has details"))
}
