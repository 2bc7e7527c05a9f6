package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miniodb/miniodb/node"
)

func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, file string
		args       []string
		check      func(c node.Config) bool
		err        string
	}{
		{"values", `{"node-id":"n7","flush-age":"10s","hot-bytes-limit":"64MiB","max-rows-per-write":10,"object-store-shared":true}`, nil,
			func(c node.Config) bool {
				return c.NodeID == "n7" && c.FlushAge == 10*time.Second && c.HotBytesLimit == 64<<20 && c.MaxRowsPerWrite == 10 && c.ObjectStoreShared
			}, ""},
		{"flags win", `{"node-id":"n7"}`, []string{"--node-id", "n9"}, func(c node.Config) bool { return c.NodeID == "n9" }, ""},
		{"join list", `{"join":"a:1, b:2"}`, nil, func(c node.Config) bool { return len(c.JoinAddrs) == 2 && c.JoinAddrs[1] == "b:2" }, ""},
		{"unknown key", `{"nodeid":"x"}`, nil, nil, `unknown key "nodeid"`},
		{"bad value", `{"flush-age":"soon"}`, nil, nil, `key "flush-age"`},
		{"bad size", `{"cache-bytes":"lots"}`, nil, nil, `key "cache-bytes"`},
		{"not json", `node-id: x`, nil, nil, "config"},
		{"nested config", `{"config":"other.json"}`, nil, nil, "cannot name another config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := node.DefaultConfig()
			var configFile, level string
			fs := serveFlags(&cfg, &configFile, &level)
			fs.SetOutput(io.Discard)
			if err := fs.Parse(append(tt.args, "--config", write(tt.file))); err != nil {
				t.Fatal(err)
			}
			err := applyConfigFile(fs, configFile)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil || !tt.check(cfg) {
				t.Fatalf("err %v, config %+v", err, cfg)
			}
		})
	}
}
