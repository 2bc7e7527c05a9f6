package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"connectrpc.com/connect"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// auditRecord is the record of an admin action for a command's Audit
// field: the FSM keeps it if the command applies, so the audit log holds
// what happened, in log order, on every node.
func (n *Node) auditRecord(ctx context.Context, action, target, detail string) *v1.AuditRecord {
	if _, ok := ctx.Value(authKey{}).(authResult); !ok {
		// Not a request: the node's own action (a scheduled backup).
		return n.nodeAudit(action, target, detail)
	}
	actor := "anonymous"
	if p := authOf(ctx).p; p != nil {
		actor = "token " + p.rec.Id
		if p.peer {
			actor = "node certificate " + p.rec.Id
		}
	}
	return &v1.AuditRecord{UnixMicros: n.now().UnixMicro(), Actor: actor, Action: action, Target: target, Detail: detail}
}

// nodeAudit is the record of the node's own action.
func (n *Node) nodeAudit(action, target, detail string) *v1.AuditRecord {
	return &v1.AuditRecord{UnixMicros: n.now().UnixMicro(), Actor: "node " + n.cfg.NodeID, Action: action, Target: target, Detail: detail}
}

// recordAction applies an audit-only entry (an action that changes
// nothing in the state machine, such as a backup).
func (n *Node) recordAction(ctx context.Context, rec *v1.AuditRecord) error {
	_, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_AuditOnly{AuditOnly: &v1.AuditCommand{}}, Audit: rec})
	return err
}

func (a *api) Audit(ctx context.Context, req *connect.Request[v1.AuditRequest]) (*connect.Response[v1.AuditResponse], error) {
	if p, err := a.n.forwardTarget(ctx); err != nil {
		return nil, err
	} else if p != nil {
		return p.cluster.Audit(ctx, forwarded(ctx, req.Msg))
	}
	limit := int(req.Msg.Limit)
	if limit < 0 {
		return nil, fmt.Errorf("%w: limit must not be negative", ErrInvalid)
	}
	if limit == 0 {
		limit = 100
	}
	resp := &v1.AuditResponse{}
	for _, r := range a.n.fsm.Audit(limit) {
		resp.Entries = append(resp.Entries, &v1.AuditEntry{
			RaftIndex: r.Index, UnixMicros: r.UnixMicros, Actor: r.Actor, Action: r.Action, Target: r.Target, Detail: r.Detail,
		})
	}
	return connect.NewResponse(resp), nil
}

// restoredMarker is the file RestoreDataDir leaves in a data directory; the
// node records the restore in the audit log once it leads, then removes
// the file.
const restoredMarker = "restored.json"

type restoredInfo struct {
	From      string `json:"from"`
	BackupID  string `json:"backup_id"`
	RaftIndex uint64 `json:"raft_index"`
}

func (n *Node) auditRestore(ctx context.Context) error {
	file := filepath.Join(n.cfg.DataDir, restoredMarker)
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var info restoredInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return fmt.Errorf("node: %s: %w", file, err)
	}
	if err := n.recordAction(ctx, n.nodeAudit("restore", info.BackupID, fmt.Sprintf("from %s at raft index %d", info.From, info.RaftIndex))); err != nil {
		return err
	}
	return os.Remove(file)
}
