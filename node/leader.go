package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// leaderReady returns the current term once this node leads and its state
// machine has applied every entry committed before the term began. Leader
// duties that decide from the FSM (flush plans, orphan sweeps) call it
// first: hashicorp/raft reports Leader before the new term's no-op commits
// and, after a restart, before the FSM has replayed the committed log, and
// a plan made from that state would see committed files as orphans or
// flush rows that are already in files.
//
// The first call in a term issues a Raft barrier; later calls in the same
// term answer at once.
func (n *Node) leaderReady(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, n.notLeader()
	}
	term := n.raft.CurrentTerm()
	if n.readyTerm.Load() == term {
		return term, nil
	}
	timeout := n.cfg.ApplyTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if err := n.raft.Barrier(timeout).Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return 0, fmt.Errorf("%w: %v", n.notLeader(), err)
		}
		return 0, fmt.Errorf("node: leader barrier: %w", err)
	}
	// The barrier is in the log of the term it was issued in; if the term
	// moved on meanwhile, this node may no longer lead.
	if n.raft.CurrentTerm() != term || n.raft.State() != raft.Leader {
		return 0, n.notLeader()
	}
	n.readyTerm.Store(term)
	return term, nil
}
