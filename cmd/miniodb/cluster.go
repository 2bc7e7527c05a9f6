package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"connectrpc.com/connect"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const joinHelp = `
Add a node to the cluster as a voter. Any member (--addr) accepts the
request and forwards it to the leader. The node must be running with the
same object store (start it with "miniodb serve --join ADDR" to join on its
own). Joining again with the same id and addresses changes nothing; the
same id with new addresses replaces the old entry.

Examples:
  miniodb join --addr 127.0.0.1:7080 --node-id n3 --raft-addr 127.0.0.1:7091 --http-addr 127.0.0.1:7090
`

const removeHelp = `
Take a node out of the cluster (its Raft vote and its API address).

Examples:
  miniodb remove --addr 127.0.0.1:7070 n3
`

// joinCmd is "miniodb join".
type joinCmd struct {
	client                   clientFlags
	nodeID, raftAddr, apiAdr string
}

func (j *joinCmd) flags(fs *flag.FlagSet, c *cli) {
	j.client.register(fs, c, time.Minute, "give up after this `duration` (0: no limit)")
	fs.StringVar(&j.nodeID, "node-id", "", "`id` of the node to add")
	fs.StringVar(&j.raftAddr, "raft-addr", "", "the node's Raft `address`")
	fs.StringVar(&j.apiAdr, "http-addr", "", "the node's API `address`")
}

func (j *joinCmd) run(ctx context.Context, c *cli, args []string) error {
	if len(args) > 0 {
		return usageErrorf("join takes no arguments; use --node-id, --raft-addr and --http-addr")
	}
	if j.nodeID == "" || j.raftAddr == "" || j.apiAdr == "" {
		return usageErrorf("join needs --node-id, --raft-addr and --http-addr")
	}
	cl, err := j.client.dial()
	if err != nil {
		return err
	}
	ctx, cancel := j.client.withTimeout(ctx)
	defer cancel()
	resp, err := cl.cluster.Join(ctx, connect.NewRequest(&miniodbv1.JoinRequest{NodeId: j.nodeID, RaftAddr: j.raftAddr, HttpAddr: j.apiAdr}))
	if err != nil {
		return err
	}
	if !resp.Msg.Changed {
		_, err = fmt.Fprintf(c.stdout, "%s is a member already (leader %s)\n", j.nodeID, resp.Msg.LeaderId)
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "%s joined (leader %s)\n", j.nodeID, resp.Msg.LeaderId)
	return err
}

// removeCmd is "miniodb remove".
type removeCmd struct {
	client clientFlags
}

func (r *removeCmd) flags(fs *flag.FlagSet, c *cli) {
	r.client.register(fs, c, time.Minute, "give up after this `duration` (0: no limit)")
}

func (r *removeCmd) run(ctx context.Context, c *cli, args []string) error {
	if len(args) != 1 {
		return usageErrorf("remove takes one node ID")
	}
	cl, err := r.client.dial()
	if err != nil {
		return err
	}
	ctx, cancel := r.client.withTimeout(ctx)
	defer cancel()
	if _, err := cl.cluster.Remove(ctx, connect.NewRequest(&miniodbv1.RemoveRequest{NodeId: args[0]})); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.stdout, "%s removed\n", args[0])
	return err
}
