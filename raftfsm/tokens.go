package raftfsm

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"

	"google.golang.org/protobuf/proto"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// Token roles, from most to least privileged.
const (
	RoleAdmin  = "admin"
	RoleWriter = "writer"
	RoleReader = "reader"
)

var (
	// ErrTokenExists is a CreateToken whose id is taken (ids are random:
	// a retried command, or a bug).
	ErrTokenExists = errors.New("raftfsm: token id exists")
	// ErrTokenNotFound is a RevokeToken of an unknown id.
	ErrTokenNotFound = errors.New("raftfsm: token not found")
	// ErrAuthBootstrapped is a second bootstrap token.
	ErrAuthBootstrapped = errors.New("raftfsm: authentication is bootstrapped already")
)

// ValidateToken checks a token record before it is proposed (and again
// when applied, so a bad entry changes nothing).
func ValidateToken(t *v1.TokenRecord) error {
	switch {
	case t.GetId() == "":
		return fmt.Errorf("%w: token without an id", ErrBadCommand)
	case len(t.SecretSha256) != 32:
		return fmt.Errorf("%w: token %s: secret hash of %d bytes, want 32", ErrBadCommand, t.Id, len(t.SecretSha256))
	}
	switch t.Role {
	case RoleAdmin:
		if len(t.Tables) > 0 {
			return fmt.Errorf("%w: an admin token covers every table; tables %q are for writer and reader tokens", ErrBadCommand, t.Tables)
		}
	case RoleWriter, RoleReader:
	default:
		return fmt.Errorf("%w: role %q: want admin, writer or reader", ErrBadCommand, t.Role)
	}
	for _, p := range t.Tables {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return fmt.Errorf("%w: table pattern %q is not a glob pattern (path.Match: * ? [a-z])", ErrBadCommand, p)
		}
	}
	return nil
}

func (f *FSM) applyCreateToken(index uint64, c *v1.CreateTokenCommand) *Result {
	t := c.GetToken()
	if err := ValidateToken(t); err != nil {
		return &Result{Index: index, Err: err}
	}
	tokens := *f.tokens.Load()
	if old, ok := tokens[t.Id]; ok {
		if proto.Equal(old, t) {
			return &Result{Index: index, Duplicate: true} // a retried Apply
		}
		return &Result{Index: index, Err: fmt.Errorf("%w: %s", ErrTokenExists, t.Id)}
	}
	if c.Bootstrap {
		if f.auth.Load() {
			return &Result{Index: index, Err: ErrAuthBootstrapped}
		}
		if t.Role != RoleAdmin {
			return &Result{Index: index, Err: fmt.Errorf("%w: the bootstrap token must be an admin token", ErrBadCommand)}
		}
		f.auth.Store(true)
	} else if !f.auth.Load() {
		return &Result{Index: index, Err: fmt.Errorf("%w: authentication is not bootstrapped in this cluster", ErrBadCommand)}
	}
	next := maps.Clone(tokens)
	next[t.Id] = proto.Clone(t).(*v1.TokenRecord)
	f.tokens.Store(&next)
	return &Result{Index: index}
}

func (f *FSM) applyRevokeToken(index uint64, c *v1.RevokeTokenCommand) *Result {
	tokens := *f.tokens.Load()
	if _, ok := tokens[c.GetId()]; !ok {
		return &Result{Index: index, Err: fmt.Errorf("%w: %s", ErrTokenNotFound, c.GetId())}
	}
	next := maps.Clone(tokens)
	delete(next, c.Id)
	f.tokens.Store(&next)
	return &Result{Index: index}
}

// Auth reports whether the cluster has authentication on (a bootstrap
// token was applied): from then on every node checks every request.
func (f *FSM) Auth() bool { return f.auth.Load() }

// Token returns a token's record; callers must not modify it. It takes
// no lock: every request with a token asks.
func (f *FSM) Token(id string) (*v1.TokenRecord, bool) {
	t, ok := (*f.tokens.Load())[id]
	return t, ok
}

// Tokens returns every token's record by id; callers must not modify them.
func (f *FSM) Tokens() []*v1.TokenRecord {
	tokens := *f.tokens.Load()
	out := make([]*v1.TokenRecord, 0, len(tokens))
	for _, id := range sortedKeys(tokens) {
		out = append(out, tokens[id])
	}
	return out
}

// AuditLimit is how many audit records the state machine keeps (and
// snapshots); older ones are dropped.
const AuditLimit = 10000

func (f *FSM) recordAudit(index uint64, a *v1.AuditRecord) {
	rec := proto.Clone(a).(*v1.AuditRecord)
	rec.Index = index
	f.audit = append(f.audit, rec)
	if len(f.audit) > AuditLimit {
		f.audit = slices.Clone(f.audit[len(f.audit)-AuditLimit:])
	}
}

// Audit returns the newest limit audit records, oldest first; callers must
// not modify them.
func (f *FSM) Audit(limit int) []*v1.AuditRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Clone(f.audit[max(0, len(f.audit)-limit):])
}
