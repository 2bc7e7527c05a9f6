package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

const tokenHelp = `
Manage API tokens (admin only, except whoami). A cluster checks tokens when
its nodes run with --auth on, which is the default on a non-loopback
address; the first admin token is in the bootstrap node's
--bootstrap-token-file (default <data-dir>/bootstrap-token).

  create   make a token and print it alone on stdout (the only time it is
           shown); --role admin|writer|reader, --tables PATTERNS, --expires D
  list     list tokens (ids, roles, tables, expiry; never the secrets)
  revoke   remove a token, by id or the whole token, on every node
  whoami   show the token this command sends

Roles: admin may do everything (tables, tokens, members); writer writes,
deletes, flushes and reads its tables; reader reads them. --tables takes
comma-separated glob patterns (sensor_*,logs); none means every table.

Examples:
  export MINIODB_TOKEN=$(cat data/bootstrap-token)
  miniodb token create --role writer --tables 'sensor_*' --expires 720h --description shipper
  miniodb token create --role reader --max-queries 4 > reader.token
  miniodb token create --role writer --write-bytes-per-sec 10MiB
  miniodb token list
  miniodb token revoke 3f9a1c0de4b2a871
  miniodb token whoami --token "$(cat reader.token)"
`

// tokenCmd is "miniodb token".
type tokenCmd struct {
	client      clientFlags
	role        string
	tables      string
	expires     time.Duration
	description string
	maxQueries  int
	writeBytes  int64
	format      string
}

func (k *tokenCmd) flags(fs *flag.FlagSet, c *cli) {
	k.client.register(fs, c, 30*time.Second, "give up after this `duration` (0: no limit)")
	fs.StringVar(&k.role, "role", "", "create: admin, writer or reader")
	fs.StringVar(&k.tables, "tables", "", "create: comma-separated glob `patterns` of the tables the token may use (default: every table)")
	fs.DurationVar(&k.expires, "expires", 0, "create: the token expires after this `duration` (default: never)")
	fs.StringVar(&k.description, "description", "", "create: what the token is for, shown by list")
	fs.IntVar(&k.maxQueries, "max-queries", 0, "create: queries the token may run at once on one node (default: no limit)")
	fs.Var((*sizeFlag)(&k.writeBytes), "write-bytes-per-sec", "create: write request bytes per second the token may send, e.g. 10MiB (default: no limit)")
	fs.StringVar(&k.format, "format", "text", "list, whoami: text or json")
}

func (k *tokenCmd) run(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		return usageErrorf("token needs an action: create, list, revoke or whoami (see miniodb token --help)")
	}
	action, args := args[0], args[1:]
	if err := checkTextJSON(k.format); err != nil {
		return err
	}
	cl, err := k.client.dial()
	if err != nil {
		return err
	}
	ctx, cancel := k.client.withTimeout(ctx)
	defer cancel()
	switch action {
	case "create":
		if len(args) > 0 {
			return usageErrorf("token create takes no arguments, got %q", args)
		}
		if k.role == "" {
			return usageErrorf("token create needs --role admin, writer or reader")
		}
		if k.expires < 0 {
			return usageErrorf("--expires must not be negative")
		}
		resp, err := cl.auth.CreateToken(ctx, connect.NewRequest(&miniodbv1.CreateTokenRequest{
			Role: k.role, Tables: splitList(k.tables), ExpiresInMs: k.expires.Milliseconds(), Description: k.description,
			MaxConcurrentQueries: int32(k.maxQueries), WriteBytesPerSecond: k.writeBytes,
		}))
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, resp.Msg.Token)
		fmt.Fprintf(c.stderr, "made token %s (%s); it is shown only now\n", resp.Msg.Info.Id, describeToken(resp.Msg.Info))
		return nil
	case "list":
		if len(args) > 0 {
			return usageErrorf("token list takes no arguments, got %q", args)
		}
		resp, err := cl.auth.ListTokens(ctx, connect.NewRequest(&miniodbv1.ListTokensRequest{}))
		if err != nil {
			return err
		}
		if k.format == "json" {
			return writeJSON(c.stdout, resp.Msg)
		}
		var rows [][]string
		for _, t := range resp.Msg.Tokens {
			rows = append(rows, []string{t.Id, t.Role, tablesText(t.Tables), microsText(t.CreatedUnixMicros), expiryText(t.ExpiresUnixMicros), limitsText(t), t.Description})
		}
		return writePlainTable(c.stdout, []string{"ID", "ROLE", "TABLES", "CREATED", "EXPIRES", "LIMITS", "DESCRIPTION"}, make([]bool, 7), rows)
	case "revoke":
		if len(args) != 1 {
			return usageErrorf("token revoke takes one token id")
		}
		if _, err := cl.auth.RevokeToken(ctx, connect.NewRequest(&miniodbv1.RevokeTokenRequest{Id: args[0]})); err != nil {
			return err
		}
		_, err := fmt.Fprintln(c.stdout, "revoked")
		return err
	case "whoami":
		resp, err := cl.auth.WhoAmI(ctx, connect.NewRequest(&miniodbv1.WhoAmIRequest{}))
		if err != nil {
			return err
		}
		if k.format == "json" {
			return writeJSON(c.stdout, resp.Msg)
		}
		if !resp.Msg.Auth {
			_, err = fmt.Fprintln(c.stdout, "this node does not check tokens: every request may do everything")
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "token %s: %s\n", resp.Msg.Token.GetId(), describeToken(resp.Msg.Token))
		return err
	}
	return usageErrorf("unknown token action %q: want create, list, revoke or whoami", action)
}

func describeToken(t *miniodbv1.TokenInfo) string {
	s := t.Role + " of " + tablesText(t.Tables)
	if t.ExpiresUnixMicros != 0 {
		s += ", expires " + microsText(t.ExpiresUnixMicros)
	}
	return s
}

func limitsText(t *miniodbv1.TokenInfo) string {
	var parts []string
	if t.MaxConcurrentQueries > 0 {
		parts = append(parts, fmt.Sprintf("%d queries", t.MaxConcurrentQueries))
	}
	if t.WriteBytesPerSecond > 0 {
		parts = append(parts, humanBytes(t.WriteBytesPerSecond)+"/s")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func tablesText(tables []string) string {
	if len(tables) == 0 {
		return "every table"
	}
	return strings.Join(tables, ",")
}

func microsText(us int64) string {
	return time.UnixMicro(us).UTC().Format(time.RFC3339)
}

func expiryText(us int64) string {
	if us == 0 {
		return "never"
	}
	return microsText(us)
}
