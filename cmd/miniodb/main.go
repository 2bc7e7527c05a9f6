package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process as usual.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli is what a command gets from the process: its standard streams and
// environment.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// subcommand is one client command. flags registers the command's flags on
// a fresh FlagSet (so parsed values land in the subcommand's fields), and
// run executes it with the positional arguments left after flag parsing.
type subcommand interface {
	flags(fs *flag.FlagSet, c *cli)
	run(ctx context.Context, c *cli, args []string) error
}

// command describes one subcommand for dispatch and help.
type command struct {
	name     string
	args     string // the synopsis after "miniodb NAME", e.g. "[flags] [SQL | -]"
	summary  string // one line for the top-level usage
	help     string // description and examples for "miniodb NAME --help"
	new      func() subcommand
	external func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands in the order the usage shows them.
func commands() []*command {
	return []*command{
		{
			name:     "serve",
			args:     "[flags]",
			summary:  "run a server node (one node, data in ./data, objects in a local directory)",
			external: runServe,
		},
		{
			name:     "bench",
			args:     "[flags]",
			summary:  "measure ingest and query speed on a throw-away local node",
			external: runBench,
		},
		{name: "sql", args: "[flags] [SQL | -]", summary: "run read-only SQL and print the result", help: sqlHelp, new: func() subcommand { return new(sqlCmd) }},
		{name: "write", args: "[flags] [TABLE] FILE|-", summary: "write rows from NDJSON, a JSON array or CSV", help: writeHelp, new: func() subcommand { return new(writeCmd) }},
		{name: "tables", args: "[flags] [NAME]", summary: "list tables, or show one table's columns and counts", help: tablesHelp, new: func() subcommand { return new(tablesCmd) }},
		{name: "status", args: "[flags]", summary: "show the node's Raft state, object store and per-table buffers", help: statusHelp, new: func() subcommand { return new(statusCmd) }},
		{name: "flush", args: "[flags] [TABLE]", summary: "write hot rows to Parquet now (one table or all)", help: flushHelp, new: func() subcommand { return new(flushCmd) }},
		{name: "delete", args: "[flags] TABLE", summary: "delete rows by id and/or time range", help: deleteHelp, new: func() subcommand { return new(deleteCmd) }},
		{name: "compact", args: "[flags] [TABLE]", summary: "merge small Parquet files now (one table or all)", help: compactHelp, new: func() subcommand { return new(compactCmd) }},
		{name: "join", args: "[flags]", summary: "add a node to the cluster (any member forwards to the leader)", help: joinHelp, new: func() subcommand { return new(joinCmd) }},
		{name: "remove", args: "[flags] ID", summary: "take a node out of the cluster", help: removeHelp, new: func() subcommand { return new(removeCmd) }},
		{name: "backup", args: "[flags] [list|verify]", summary: "back up the cluster to an object store; list or verify backups", help: backupHelp, new: func() subcommand { return new(backupCmd) }},
		{name: "restore", args: "[flags]", summary: "make a new node's data directory from a backup", help: restoreHelp, new: func() subcommand { return new(restoreCmd) }},
		{name: "token", args: "[flags] create|list|revoke|whoami", summary: "manage API tokens (create, list, revoke, whoami)", help: tokenHelp, new: func() subcommand { return new(tokenCmd) }},
		{name: "audit", args: "[flags]", summary: "show the admin actions the cluster applied, who did them and when", help: auditHelp, new: func() subcommand { return new(auditCmd) }},
		{name: "certs", args: "[flags]", summary: "make a test CA and node certificates for TLS", help: certsHelp, new: func() subcommand { return new(certsCmd) }},
		{name: "version", args: "[flags]", summary: "print version and build information", help: versionHelp, new: func() subcommand { return new(versionCmd) }},
		{name: "help", args: "[COMMAND]", summary: "show help for the binary or one command"},
	}
}

func findCommand(name string) *command {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

// run runs the miniodb command line and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	if len(args) == 0 {
		printShortUsage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if name == "help" && len(rest) > 0 {
			return runHelp(ctx, c, rest[0])
		}
		printUsage(stdout)
		return exitOK
	case "-v", "-version", "--version":
		name = "version"
	}
	cmd := findCommand(name)
	if cmd == nil || cmd.name == "help" {
		fmt.Fprintf(stderr, "miniodb: unknown command %q\n\n", name)
		printShortUsage(stderr)
		return exitUsage
	}
	return runCommand(ctx, c, cmd, rest)
}

// runHelp serves "miniodb help NAME".
func runHelp(ctx context.Context, c *cli, name string) int {
	cmd := findCommand(name)
	switch {
	case cmd == nil:
		fmt.Fprintf(c.stderr, "miniodb help: unknown command %q\n\n", name)
		printShortUsage(c.stderr)
		return exitUsage
	case cmd.name == "help":
		printUsage(c.stdout)
		return exitOK
	}
	return runCommand(ctx, c, cmd, []string{"--help"})
}

// runCommand parses a subcommand's flags, runs it, and maps its error to an
// exit code, printing the error on stderr.
func runCommand(ctx context.Context, c *cli, cmd *command, args []string) int {
	var err error
	if cmd.external != nil {
		err = cmd.external(ctx, args, c.stdout, c.stderr)
	} else {
		sub := cmd.new()
		fs := newFlagSet(cmd, sub, c)
		var pos []string
		pos, err = parseInterspersed(fs, args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			printCommandHelp(c.stdout, cmd, fs)
			return exitOK
		case err != nil:
			// The flag package has printed the problem already.
			fmt.Fprintf(c.stderr, "usage: miniodb %s %s\nRun 'miniodb %s --help' for details.\n", cmd.name, cmd.args, cmd.name)
			return exitUsage
		}
		err = sub.run(ctx, c, pos)
	}
	return reportError(ctx, c.stderr, cmd, err)
}

// reportError prints err (if any) and returns the exit code for it.
func reportError(ctx context.Context, stderr io.Writer, cmd *command, err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "miniodb %s: %s\nusage: miniodb %s %s\nRun 'miniodb %s --help' for details.\n",
			cmd.name, ue.msg, cmd.name, cmd.args, cmd.name)
		return exitUsage
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "miniodb %s: interrupted: %s\n", cmd.name, err)
		return exitInterrupted
	}
	fmt.Fprintf(stderr, "miniodb %s: %s\n", cmd.name, describeError(err))
	return exitError
}

// usageError is a mistake in how a command was called; it exits with code 2
// and a pointer to the command's help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func newFlagSet(cmd *command, sub subcommand, c *cli) *flag.FlagSet {
	fs := flag.NewFlagSet("miniodb "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {} // runCommand prints help and usage itself
	sub.flags(fs, c)
	return fs
}

// parseInterspersed parses flags that may appear before, between or after
// positional arguments ("miniodb write events rows.ndjson --batch-rows 100").
// A lone "-" is a positional argument (stdin); "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

const usageText = `miniodb - an analytical database: JSON rows in, SQL out.

Usage:
  miniodb COMMAND [flags] [arguments]

Commands:
%s
Client commands talk to a node at --addr (default $MINIODB_ADDR, else
127.0.0.1:7070) and take --timeout.

Examples:
  miniodb serve                                   # start a one-node server
  miniodb write events rows.ndjson                # load NDJSON into table events
  miniodb write --table events data.csv           # load CSV (header row = fields)
  miniodb sql "SELECT user, count(*) FROM events GROUP BY user"
  miniodb sql --format csv "SELECT * FROM events" > events.csv
  echo "SELECT 42 AS answer" | miniodb sql
  miniodb tables                                  # tables with row and file counts
  miniodb tables events                           # one table's schema
  miniodb flush events                            # write hot rows to Parquet now
  miniodb status                                  # Raft, object store, buffers

The same API with curl (Connect protocol, JSON):
  curl -s http://127.0.0.1:7070/miniodb.v1.WriteService/Write \
    -H 'Content-Type: application/json' \
    -d '{"table": "events", "rows": [{"user": "ann", "n": 1}, {"user": "bob", "n": 2}]}'
  curl -s http://127.0.0.1:7070/miniodb.v1.QueryService/Query \
    -H 'Content-Type: application/json' \
    -d '{"sql": "SELECT user, sum(n) AS n FROM events GROUP BY user"}'
  curl -s http://127.0.0.1:7070/miniodb.v1.TableService/ListTables \
    -H 'Content-Type: application/json' -d '{}'
  curl -s http://127.0.0.1:7070/miniodb.v1.ClusterService/Status \
    -H 'Content-Type: application/json' -d '{}'

Run 'miniodb help COMMAND' or 'miniodb COMMAND --help' for a command's flags.
`

func commandList() string {
	var b strings.Builder
	for _, cmd := range commands() {
		fmt.Fprintf(&b, "  %-8s %s\n", cmd.name, cmd.summary)
	}
	return b.String()
}

// printUsage prints the full help: commands, examples and the curl tour.
func printUsage(w io.Writer) {
	fmt.Fprintf(w, usageText, commandList())
}

// printShortUsage is what a usage mistake gets: the command list and where
// to find more.
func printShortUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: miniodb COMMAND [flags] [arguments]\n\nCommands:\n%s\nRun 'miniodb help' for examples, 'miniodb help COMMAND' for a command's flags.\n", commandList())
}

// printCommandHelp prints "miniodb NAME --help": synopsis, description and
// examples, then the flags.
func printCommandHelp(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: miniodb %s %s\n\n", cmd.name, cmd.args)
	fmt.Fprint(w, strings.TrimLeft(cmd.help, "\n"))
	fmt.Fprintln(w, "\nFlags:")
	printFlags(w, fs)
}

// printFlags prints the flags in GNU style ("--addr string"), sorted.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var all []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { all = append(all, f) })
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	for _, f := range all {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		fmt.Fprintln(w, line)
		if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "0s" {
			if g, ok := f.Value.(flag.Getter); ok {
				if _, isString := g.Get().(string); isString {
					def = strconv.Quote(def)
				}
			}
			usage += " (default " + def + ")"
		}
		fmt.Fprintf(w, "      %s\n", strings.ReplaceAll(usage, "\n", "\n      "))
	}
}

// clientFlags are the flags every client command takes.
type clientFlags struct {
	addr     string
	timeout  time.Duration
	ca       string
	insecure bool
	token    string
	envToken string // MINIODB_TOKEN, not a flag default: help must not print it
}

const defaultAddr = "127.0.0.1:7070"

func (f *clientFlags) register(fs *flag.FlagSet, c *cli, timeout time.Duration, timeoutUsage string) {
	addr := defaultAddr
	if env := c.getenv("MINIODB_ADDR"); env != "" {
		addr = env
	}
	fs.StringVar(&f.addr, "addr", addr, "server `address`: host:port or an http(s):// URL (env MINIODB_ADDR)")
	fs.DurationVar(&f.timeout, "timeout", timeout, timeoutUsage)
	fs.StringVar(&f.ca, "ca", c.getenv("MINIODB_CA"), "PEM `file` of the CA that signed the server's certificate, for https:// addresses (env MINIODB_CA; default: the system's roots)")
	fs.BoolVar(&f.insecure, "insecure", false, "do not verify the server's TLS certificate (tests only)")
	fs.StringVar(&f.token, "token", "", "API `token` (env MINIODB_TOKEN); needed when the server checks tokens")
	f.envToken = c.getenv("MINIODB_TOKEN")
}

// withTimeout applies the --timeout flag; 0 means no limit.
func (f *clientFlags) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if f.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, f.timeout)
}
