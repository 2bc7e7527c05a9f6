package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"github.com/miniodb/miniodb/raftfsm"
)

func tokenInfo(r *v1.TokenRecord) *v1.TokenInfo {
	return &v1.TokenInfo{
		Id: r.Id, Role: r.Role, Tables: slices.Clone(r.Tables),
		CreatedUnixMicros: r.CreatedUnixMicros, ExpiresUnixMicros: r.ExpiresUnixMicros,
		Description: r.Description, CreatedBy: r.CreatedBy,
		MaxConcurrentQueries: r.MaxConcurrentQueries, WriteBytesPerSecond: r.WriteBytesPerSecond,
	}
}

func (a *api) CreateToken(ctx context.Context, req *connect.Request[v1.CreateTokenRequest]) (*connect.Response[v1.CreateTokenResponse], error) {
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		return p.auth.CreateToken(ctx, forwarded(ctx, req.Msg))
	}
	resp, err := a.n.CreateToken(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(resp), nil
}

// errAuthOff answers token management on a cluster without tokens.
func errAuthOff() error {
	return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
		"this cluster runs without authentication, so it has no tokens: start its nodes with --auth on (a node on a non-loopback address has it on by default)"))
}

// CreateToken makes a token on the leader.
func (n *Node) CreateToken(ctx context.Context, m *v1.CreateTokenRequest) (*v1.CreateTokenResponse, error) {
	if !n.fsm.Auth() {
		return nil, errAuthOff()
	}
	if m.ExpiresInMs < 0 {
		return nil, fmt.Errorf("%w: expires_in_ms must not be negative, got %d", ErrInvalid, m.ExpiresInMs)
	}
	by := ""
	if p := authOf(ctx).p; p != nil {
		by = p.rec.Id
	}
	if m.MaxConcurrentQueries < 0 || m.WriteBytesPerSecond < 0 {
		return nil, fmt.Errorf("%w: limits must not be negative", ErrInvalid)
	}
	tok, rec := newToken(m.Role, m.Tables, n.now(), time.Duration(m.ExpiresInMs)*time.Millisecond, m.Description, by)
	rec.MaxConcurrentQueries, rec.WriteBytesPerSecond = m.MaxConcurrentQueries, m.WriteBytesPerSecond
	if err := raftfsm.ValidateToken(rec); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	detail := "role " + rec.Role + ", every table"
	if len(rec.Tables) > 0 {
		detail = "role " + rec.Role + ", tables " + strings.Join(rec.Tables, ",")
	}
	if _, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_CreateToken{CreateToken: &v1.CreateTokenCommand{Token: rec}},
		Audit: n.auditRecord(ctx, "token.create", rec.Id, detail)}); err != nil {
		return nil, err
	}
	n.logger.Info("token created", "token_id", rec.Id, "role", rec.Role, "tables", rec.Tables, "by", by)
	return &v1.CreateTokenResponse{Token: tok, Info: tokenInfo(rec)}, nil
}

func (a *api) ListTokens(ctx context.Context, req *connect.Request[v1.ListTokensRequest]) (*connect.Response[v1.ListTokensResponse], error) {
	// From the leader, so a token made a moment ago is listed.
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		return p.auth.ListTokens(ctx, forwarded(ctx, req.Msg))
	}
	if !a.n.fsm.Auth() {
		return nil, errAuthOff()
	}
	resp := &v1.ListTokensResponse{}
	for _, r := range a.n.fsm.Tokens() {
		resp.Tokens = append(resp.Tokens, tokenInfo(r))
	}
	return connect.NewResponse(resp), nil
}

func (a *api) RevokeToken(ctx context.Context, req *connect.Request[v1.RevokeTokenRequest]) (*connect.Response[v1.RevokeTokenResponse], error) {
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		return p.auth.RevokeToken(ctx, forwarded(ctx, req.Msg))
	}
	if err := a.n.RevokeToken(ctx, tokenID(req.Msg.Id)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&v1.RevokeTokenResponse{}), nil
}

// RevokeToken removes a token on the leader. The last admin token is
// kept: without it nobody could manage tokens again.
func (n *Node) RevokeToken(ctx context.Context, id string) error {
	if !n.fsm.Auth() {
		return errAuthOff()
	}
	rec, ok := n.fsm.Token(id)
	if !ok {
		return fmt.Errorf("%w: no token %q (miniodb token list shows them)", ErrNotFound, id)
	}
	if rec.Role == raftfsm.RoleAdmin {
		admins := 0
		for _, t := range n.fsm.Tokens() {
			if t.Role == raftfsm.RoleAdmin && (t.ExpiresUnixMicros == 0 || t.ExpiresUnixMicros > n.now().UnixMicro()) {
				admins++
			}
		}
		if admins <= 1 {
			return connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("token %s is the last admin token that has not expired; create another admin token before revoking it", id))
		}
	}
	if _, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_RevokeToken{RevokeToken: &v1.RevokeTokenCommand{Id: id}},
		Audit: n.auditRecord(ctx, "token.revoke", id, "")}); err != nil {
		return err
	}
	by := ""
	if p := authOf(ctx).p; p != nil {
		by = p.rec.Id
	}
	n.logger.Info("token revoked", "token_id", id, "by", by)
	return nil
}

func (a *api) WhoAmI(ctx context.Context, req *connect.Request[v1.WhoAmIRequest]) (*connect.Response[v1.WhoAmIResponse], error) {
	resp := &v1.WhoAmIResponse{Auth: a.n.authEnforced()}
	if p := authOf(ctx).p; p != nil {
		resp.Token = tokenInfo(p.rec)
	}
	return connect.NewResponse(resp), nil
}
