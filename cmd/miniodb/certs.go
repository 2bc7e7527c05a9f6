package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/miniodb/miniodb/internal/certs"
)

const certsHelp = `
Make a test CA and node certificates for TLS on one machine (or a test
network): ca.crt and ca.key, and NAME.crt and NAME.key per node, each valid
for localhost, 127.0.0.1, ::1, the node's name and every --hosts entry, for
both server and client authentication. One pair serves a node's API
(--tls-cert/--tls-key) and its peer TLS (--peer-tls-cert/--peer-tls-key,
with --peer-tls-ca ca.crt). An existing ca.crt in --dir is kept, so more
nodes can be added later. Keys are written with mode 0600.

For production, use certificates from your own CA; any holder of a
certificate the cluster CA signed is treated as a cluster member.

Examples:
  miniodb certs --nodes n1,n2,n3
  miniodb certs --dir /etc/miniodb/tls --nodes n4 --hosts db4.internal,10.0.0.14
  miniodb sql --addr https://127.0.0.1:7070 --ca certs/ca.crt 'SELECT 1'
`

// certsCmd is "miniodb certs".
type certsCmd struct {
	dir      string
	nodes    string
	hosts    string
	validity time.Duration
}

func (k *certsCmd) flags(fs *flag.FlagSet, _ *cli) {
	fs.StringVar(&k.dir, "dir", "certs", "directory to write the files to")
	fs.StringVar(&k.nodes, "nodes", "n1", "comma-separated node names, one certificate each")
	fs.StringVar(&k.hosts, "hosts", "", "comma-separated extra DNS names or IPs every certificate is valid for")
	fs.DurationVar(&k.validity, "validity", 365*24*time.Hour, "how long the certificates are valid")
}

func (k *certsCmd) run(_ context.Context, c *cli, args []string) error {
	if len(args) > 0 {
		return usageErrorf("certs takes no arguments, got %q", args)
	}
	nodes := splitList(k.nodes)
	if len(nodes) == 0 {
		return usageErrorf("--nodes is empty")
	}
	g, err := certs.Generate(certs.Options{Dir: k.dir, Nodes: nodes, Hosts: splitList(k.hosts), Validity: k.validity})
	if err != nil {
		return err
	}
	verb := "made"
	if g.CAKept {
		verb = "kept"
	}
	fmt.Fprintf(c.stdout, "CA (%s): %s %s\n", verb, g.CACert, g.CAKey)
	for _, name := range nodes {
		f := g.Nodes[name]
		fmt.Fprintf(c.stdout, "%s: %s %s\n", name, f[0], f[1])
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
