package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"connectrpc.com/connect"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const auditHelp = `
Show the audit log: the admin actions the cluster applied (token
creations, revocations and the bootstrap token, table drops and alters,
joins, removes, backups, restores), with who did them, when, and the Raft
index of the entry that did. The log is part of the replicated state, so
every node holds the same one; the newest 10,000 records are kept. Admin
only.

Examples:
  miniodb audit
  miniodb audit --limit 20 --format json
`

// auditCmd is "miniodb audit".
type auditCmd struct {
	client clientFlags
	limit  int
	format string
}

func (a *auditCmd) flags(fs *flag.FlagSet, c *cli) {
	a.client.register(fs, c, 30*time.Second, "give up after this `duration` (0: no limit)")
	fs.IntVar(&a.limit, "limit", 100, "show the newest N records")
	fs.StringVar(&a.format, "format", "text", "text or json")
}

func (a *auditCmd) run(ctx context.Context, c *cli, args []string) error {
	if len(args) > 0 {
		return usageErrorf("audit takes no arguments, got %q", args)
	}
	if err := checkTextJSON(a.format); err != nil {
		return err
	}
	if a.limit <= 0 {
		return usageErrorf("--limit must be positive")
	}
	cl, err := a.client.dial()
	if err != nil {
		return err
	}
	ctx, cancel := a.client.withTimeout(ctx)
	defer cancel()
	resp, err := cl.cluster.Audit(ctx, connect.NewRequest(&miniodbv1.AuditRequest{Limit: int32(a.limit)}))
	if err != nil {
		return err
	}
	if a.format == "json" {
		return writeJSON(c.stdout, resp.Msg)
	}
	var rows [][]string
	for _, e := range resp.Msg.Entries {
		rows = append(rows, []string{microsText(e.UnixMicros), fmt.Sprint(e.RaftIndex), e.Actor, e.Action, e.Target, e.Detail})
	}
	return writePlainTable(c.stdout, []string{"TIME", "INDEX", "WHO", "ACTION", "TARGET", "DETAIL"}, []bool{false, true, false, false, false, false}, rows)
}
