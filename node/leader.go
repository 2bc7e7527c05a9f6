package node

import (
	"context"
	"fmt"

	"github.com/hashicorp/raft"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// leaderReady returns the current term once this node leads and its state
// machine has applied every entry committed before the term began. Leader
// duties that decide from the FSM (flush plans, orphan sweeps) call it
// first: hashicorp/raft reports Leader before the new term's no-op commits
// and, after a restart, before the FSM has replayed the committed log, and
// a plan made from that state would see committed files as orphans or
// flush rows that are already in files.
//
// The first call in a term applies an empty ForgetObjects command and
// waits for it: the FSM applies entries in order, so once it applied this
// one it applied everything before it. A command, not raft.Barrier:
// Raft's barrier entries never reach the FSM, so every node's applied
// index would stay below the commit index until the next command. Later
// calls in the same term answer at once.
func (n *Node) leaderReady(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, n.notLeader()
	}
	term := n.raft.CurrentTerm()
	if n.readyTerm.Load() == term {
		return term, nil
	}
	if _, err := n.apply(ctx, &v1.Command{Cmd: &v1.Command_ForgetObjects{ForgetObjects: &v1.ForgetObjectsCommand{}}}); err != nil {
		return 0, fmt.Errorf("node: leader barrier: %w", err)
	}
	// The command was appended in some term; if the term moved on, this
	// node may no longer lead, and the next call tries again.
	if n.raft.CurrentTerm() != term || n.raft.State() != raft.Leader {
		return 0, n.notLeader()
	}
	n.readyTerm.Store(term)
	return term, nil
}
