package main

import (
	"bytes"
	"context"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"
)

// runCLI runs the command line with the given stdin and returns the exit
// code and what went to stdout and stderr.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr []string
	}{
		{name: "no command", args: nil, wantCode: exitUsage, wantStderr: []string{"Usage: miniodb COMMAND", "sql", "write"}},
		{name: "unknown command", args: []string{"frobnicate"}, wantCode: exitUsage,
			wantStderr: []string{`unknown command "frobnicate"`, "Commands:", "miniodb help"}},
		{name: "help is not a flag of run", args: []string{"help", "nosuch"}, wantCode: exitUsage,
			wantStderr: []string{`unknown command "nosuch"`}},
		{name: "help", args: []string{"help"}, wantCode: exitOK, wantStdout: []string{"Commands:", "Examples:", "curl"}},
		{name: "--help", args: []string{"--help"}, wantCode: exitOK, wantStdout: []string{"Commands:"}},
		{name: "-h", args: []string{"-h"}, wantCode: exitOK, wantStdout: []string{"Commands:"}},
		{name: "bad flag", args: []string{"sql", "--nope", "SELECT 1"}, wantCode: exitUsage,
			wantStderr: []string{"flag provided but not defined: -nope", "usage: miniodb sql", "miniodb sql --help"}},
		{name: "bad flag value", args: []string{"write", "--batch-bytes", "lots", "t", "f"}, wantCode: exitUsage,
			wantStderr: []string{`bad size "lots"`}},
		{name: "bad sql format", args: []string{"sql", "--format", "xml", "SELECT 1"}, wantCode: exitUsage,
			wantStderr: []string{`unknown --format "xml"`, "usage: miniodb sql"}},
		{name: "bad consistency", args: []string{"sql", "--consistency", "eventual", "SELECT 1"}, wantCode: exitUsage,
			wantStderr: []string{`unknown --consistency "eventual"`}},
		{name: "empty sql", args: []string{"sql", "  "}, wantCode: exitUsage, wantStderr: []string{"the SQL is empty"}},
		{name: "write without table", args: []string{"write", "main_test.go"}, wantCode: exitUsage,
			wantStderr: []string{"no table given", "miniodb write TABLE main_test.go"}},
		{name: "write two tables", args: []string{"write", "--table", "a", "b", "f.ndjson"}, wantCode: exitUsage,
			wantStderr: []string{`two tables given: --table "a" and "b"`}},
		{name: "write bad limits", args: []string{"write", "--batch-rows", "0", "--parallel", "0", "t", "-"}, wantCode: exitUsage,
			wantStderr: []string{"--batch-rows must be at least 1", "--parallel must be at least 1"}},
		{name: "write missing file", args: []string{"write", "t", "no/such/file.ndjson"}, wantCode: exitError,
			wantStderr: []string{"no/such/file.ndjson"}},
		{name: "status takes no args", args: []string{"status", "x"}, wantCode: exitUsage, wantStderr: []string{"status takes no arguments"}},
		{name: "flush one table", args: []string{"flush", "a", "b"}, wantCode: exitUsage, wantStderr: []string{"at most one TABLE"}},
		{name: "tables bad format", args: []string{"tables", "--format", "yaml"}, wantCode: exitUsage, wantStderr: []string{`unknown --format "yaml"`}},
		{name: "bad addr", args: []string{"status", "--addr", "ftp://x"}, wantCode: exitUsage, wantStderr: []string{"scheme must be http or https"}},
		{name: "version", args: []string{"version"}, wantCode: exitOK, wantStdout: []string{"miniodb ", "go:", "platform:"}},
		{name: "--version", args: []string{"--version"}, wantCode: exitOK, wantStdout: []string{"miniodb "}},
		{name: "write dry run", args: []string{"write", "--dry-run", "--batch-rows", "2", "t", "-"}, wantCode: exitOK,
			wantStdout: []string{"checked 3 rows in 2 batches", "from stdin; nothing sent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n", tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}

func TestUsageListsEveryCommand(t *testing.T) {
	_, stdout, _ := runCLI(t, "", "help")
	for _, cmd := range commands() {
		if !strings.Contains(stdout, "\n  "+cmd.name+" ") {
			t.Errorf("usage has no line for %q:\n%s", cmd.name, stdout)
		}
	}
	// The curl tour names real procedures.
	for _, path := range []string{"/miniodb.v1.WriteService/Write", "/miniodb.v1.QueryService/Query", "/miniodb.v1.ClusterService/Status"} {
		if !strings.Contains(stdout, path) {
			t.Errorf("usage lacks curl example for %s", path)
		}
	}
}

func TestCommandHelp(t *testing.T) {
	for _, cmd := range commands() {
		if cmd.new == nil {
			continue // serve (its own help) and help itself
		}
		t.Run(cmd.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "", cmd.name, "--help")
			if code != exitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			want := []string{"Usage: miniodb " + cmd.name, "Examples:", "Flags:"}
			if cmd.name != "version" && cmd.name != "certs" && cmd.name != "restore" {
				want = append(want, "--addr address", "--timeout duration", "MINIODB_ADDR")
			}
			for _, w := range want {
				if !strings.Contains(stdout, w) {
					t.Errorf("help lacks %q:\n%s", w, stdout)
				}
			}
			// "help NAME" and "NAME -h" print the same text.
			for _, args := range [][]string{{"help", cmd.name}, {cmd.name, "-h"}} {
				_, other, _ := runCLI(t, "", args...)
				if other != stdout {
					t.Errorf("%q printed different help:\n%s", args, other)
				}
			}
		})
	}
}

func TestCommandHelpFlags(t *testing.T) {
	tests := map[string][]string{
		"sql":     {"--format format", "--consistency mode", "--max-width columns", `(default "table")`, `(default "strong")`},
		"write":   {"--table table", "--batch-rows rows", "(default 5000)", "--batch-bytes bytes", "(default 4MiB)", "--request-id-prefix PREFIX", "--parallel batches", "--retries int", "--dry-run", "(default 1m0s)"},
		"status":  {"--format format", `(default "text")`, "(default 10s)"},
		"tables":  {"--format format"},
		"flush":   {"(default 5m0s)"},
		"version": {"--deps"},
	}
	for name, wants := range tests {
		_, stdout, _ := runCLI(t, "", name, "--help")
		for _, w := range wants {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s --help lacks %q:\n%s", name, w, stdout)
			}
		}
	}
}

func TestServeHelpIsDelegated(t *testing.T) {
	// runServe owns its flags; --help must not be an error.
	code, _, stderr := runCLI(t, "", "serve", "--help")
	if code != exitOK {
		t.Fatalf("serve --help: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantN   int
		wantErr bool
	}{
		{args: nil, wantPos: nil},
		{args: []string{"a", "b"}, wantPos: []string{"a", "b"}},
		{args: []string{"-n", "3", "a"}, wantPos: []string{"a"}, wantN: 3},
		{args: []string{"a", "--n", "3", "b"}, wantPos: []string{"a", "b"}, wantN: 3},
		{args: []string{"a", "b", "-n=4"}, wantPos: []string{"a", "b"}, wantN: 4},
		{args: []string{"-", "-n", "5"}, wantPos: []string{"-"}, wantN: 5},
		{args: []string{"a", "--", "-n", "7"}, wantPos: []string{"a", "-n", "7"}},
		{args: []string{"a", "-x"}, wantErr: true},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(new(bytes.Buffer))
		n := fs.Int("n", 0, "")
		pos, err := parseInterspersed(fs, tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v", tt.args, err)
			continue
		}
		if tt.wantErr {
			continue
		}
		if !reflect.DeepEqual(pos, tt.wantPos) || *n != tt.wantN {
			t.Errorf("%q: pos %q n %d, want %q %d", tt.args, pos, *n, tt.wantPos, tt.wantN)
		}
	}
}

// parseCommand parses args for the named command as run would.
func parseCommand(t *testing.T, name string, args ...string) (subcommand, []string) {
	t.Helper()
	cmd := findCommand(name)
	sub := cmd.new()
	c := &cli{stdin: strings.NewReader(""), stdout: new(bytes.Buffer), stderr: new(bytes.Buffer), getenv: func(k string) string {
		if k == "MINIODB_ADDR" {
			return "envhost:9999"
		}
		return ""
	}}
	pos, err := parseInterspersed(newFlagSet(cmd, sub, c), args)
	if err != nil {
		t.Fatalf("%s %q: %v", name, args, err)
	}
	return sub, pos
}

func TestSQLFlags(t *testing.T) {
	sub, pos := parseCommand(t, "sql", "SELECT", "1", "--format", "csv", "--consistency=local", "--timeout", "3s")
	s := sub.(*sqlCmd)
	if s.format != "csv" || s.consistency != "local" || s.client.timeout != 3*time.Second || s.client.addr != "envhost:9999" {
		t.Errorf("parsed %+v", s)
	}
	sql, err := s.statement(&cli{stdin: strings.NewReader("ignored")}, pos)
	if err != nil || sql != "SELECT 1" {
		t.Errorf("statement = %q, %v", sql, err)
	}
	for _, args := range [][]string{nil, {"-"}} {
		sql, err := s.statement(&cli{stdin: strings.NewReader("SELECT 2\n")}, args)
		if err != nil || sql != "SELECT 2\n" {
			t.Errorf("%q from stdin: %q, %v", args, sql, err)
		}
	}
}

func TestWriteFlags(t *testing.T) {
	tests := []struct {
		args      []string
		table     string
		input     string
		rows      int
		bytes     int64
		prefix    string
		wantError string
	}{
		{args: []string{"events", "rows.ndjson"}, table: "events", input: "rows.ndjson", rows: 5000, bytes: 4 << 20},
		{args: []string{"--table", "events", "rows.csv", "--batch-rows", "10", "--batch-bytes", "64KiB"}, table: "events", input: "rows.csv", rows: 10, bytes: 64 << 10},
		{args: []string{"events", "-", "--request-id-prefix", "load7", "--batch-bytes=1MB"}, table: "events", input: "-", rows: 5000, bytes: 1e6, prefix: "load7"},
		{args: []string{"--table=events"}, table: "events", input: "-", rows: 5000, bytes: 4 << 20},
		// One argument that is not a file, with rows piped in: it is the table.
		{args: []string{"events"}, table: "events", input: "-", rows: 5000, bytes: 4 << 20},
		{args: []string{"a", "b", "c"}, wantError: "too many arguments"},
		{args: []string{"-"}, wantError: "no table given"},
	}
	for _, tt := range tests {
		sub, pos := parseCommand(t, "write", tt.args...)
		w := sub.(*writeCmd)
		table, input, err := w.target(&cli{stdin: strings.NewReader("")}, pos)
		if tt.wantError != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Errorf("%q: err %v, want %q", tt.args, err, tt.wantError)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if table != tt.table || input != tt.input || w.batchRows != tt.rows || int64(w.batchBytes) != tt.bytes || w.prefix != tt.prefix {
			t.Errorf("%q: table %q input %q rows %d bytes %d prefix %q", tt.args, table, input, w.batchRows, w.batchBytes, w.prefix)
		}
	}
}

func TestAddrFromEnvironment(t *testing.T) {
	sub, _ := parseCommand(t, "status")
	if got := sub.(*statusCmd).client.addr; got != "envhost:9999" {
		t.Errorf("addr = %q, want the MINIODB_ADDR value", got)
	}
	sub, _ = parseCommand(t, "status", "--addr", "other:1")
	if got := sub.(*statusCmd).client.addr; got != "other:1" {
		t.Errorf("addr = %q, want the flag to win", got)
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "127.0.0.1:7070", want: "http://127.0.0.1:7070"},
		{in: "node1", want: "http://node1:7070"},
		{in: ":8080", want: "http://127.0.0.1:8080"},
		{in: "[::1]:7070", want: "http://[::1]:7070"},
		{in: "::1", want: "http://[::1]:7070"},
		{in: "http://db.example:80/", want: "http://db.example:80"},
		{in: "https://db.example/prefix", want: "https://db.example/prefix"},
		{in: "", err: "empty"},
		{in: "ftp://x", err: "scheme"},
	}
	for _, tt := range tests {
		got, err := baseURL(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("baseURL(%q) err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("baseURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
