package node

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/miniodb/miniodb/pgwire"
	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/proto/miniodb/v1/miniodbv1connect"
)

// pgBackend is the node as package pgwire sees it: the same tokens, the
// same query path (analysis, lockdown, strong consistency) as Connect.
type pgBackend struct{ n *Node }

func (b pgBackend) NeedsPassword() bool { return b.n.authEnforced() }

// Session returns the context of a session that does not authenticate:
// as an HTTP request on a node that does not check tokens.
func sessionContext(ctx context.Context) context.Context {
	if _, ok := ctx.Value(authKey{}).(authResult); !ok {
		return context.WithValue(ctx, authKey{}, authResult{})
	}
	return ctx
}

func (b pgBackend) Authenticate(ctx context.Context, user, password, remote string) (context.Context, error) {
	ip, _, err := net.SplitHostPort(remote)
	if err != nil {
		ip = remote
	}
	ip = "pg:" + ip
	if wait := b.n.authFails.blocked(ip); wait > 0 {
		return nil, connect.NewError(connect.CodeResourceExhausted, errors.New("too many failed authentication attempts; try again later"))
	}
	res := b.n.checkToken(password, func(reason, id, msg string) authResult {
		b.n.authFails.failed(ip)
		b.n.metrics.authFailures.WithLabelValues(reason).Inc()
		b.n.logger.Warn("authentication failed", "reason", reason, "token_id", id, "remote", ip, "user", user, "protocol", "postgres")
		return authResult{err: connect.NewError(connect.CodeUnauthenticated, errors.New(msg+" (the password is a MinIODB token)"))}
	})
	if res.err != nil {
		return nil, res.err
	}
	return context.WithValue(ctx, authKey{}, res), nil
}

func (b pgBackend) Query(ctx context.Context, sql string, onColumns func([]pgwire.Column) error, onRow func([]*structpb.Value) error) error {
	ctx = sessionContext(ctx)
	if err := b.n.authorize(ctx, miniodbv1connect.QueryServiceQueryProcedure, nil); err != nil {
		return err
	}
	start := time.Now()
	err := b.n.Query(ctx, &v1.QueryRequest{Sql: sql}, func(cols []*v1.ResultColumn) error {
		out := make([]pgwire.Column, len(cols))
		for i, c := range cols {
			out[i] = pgwire.Column{Name: c.Name, Type: c.Type}
		}
		return onColumns(out)
	}, func(row *structpb.ListValue) error {
		return onRow(row.Values)
	})
	b.n.observeQuery(start, err)
	return err
}

// SQLState maps an error to the SQLSTATE a PostgreSQL client expects.
func (b pgBackend) SQLState(err error) (string, string) {
	ce := apiError(b.n.logger, "postgres query", err)
	msg := ce.Message()
	switch ce.Code() {
	case connect.CodeInvalidArgument:
		switch {
		case strings.Contains(msg, "Parser Error"), strings.Contains(msg, "syntax error"):
			return "42601", msg
		case strings.Contains(msg, "Catalog Error"):
			return "42P01", msg
		case strings.Contains(msg, "Conversion Error"), strings.Contains(msg, "Invalid Input Error"):
			return "22000", msg
		case strings.Contains(msg, "Binder Error"):
			return "42703", msg
		}
		return "42000", msg
	case connect.CodeNotFound:
		return "42P01", msg
	case connect.CodePermissionDenied:
		return "42501", msg
	case connect.CodeUnauthenticated:
		return "28P01", msg
	case connect.CodeResourceExhausted:
		return "53000", msg
	case connect.CodeUnavailable:
		return "57P03", msg
	case connect.CodeDeadlineExceeded, connect.CodeCanceled:
		return "57014", msg
	case connect.CodeDataLoss:
		return "XX001", msg
	}
	return "XX000", msg
}

// Tables lists the tables the session may read, for catalog queries.
func (b pgBackend) Tables(ctx context.Context) ([]pgwire.TableSchema, error) {
	ctx = sessionContext(ctx)
	if err := b.n.authorize(ctx, miniodbv1connect.TableServiceListTablesProcedure, nil); err != nil {
		return nil, err
	}
	var out []pgwire.TableSchema
	for _, v := range b.n.fsm.Tables() {
		if !mayRead(ctx, v.Spec.Name) {
			continue
		}
		t := pgwire.TableSchema{Name: v.Spec.Name}
		for _, c := range v.Spec.Columns {
			t.Columns = append(t.Columns, pgwire.Column{Name: c.Name, Type: c.Type.SQLName()})
		}
		out = append(out, t)
	}
	return out, nil
}
