package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

const versionHelp = `
Print the version of this binary: the module version, the Go version, the
platform and, when the build recorded them, the VCS revision and time.
--deps adds every module the binary was built with.

Examples:
  miniodb version
  miniodb version --deps
`

// versionCmd is "miniodb version".
type versionCmd struct {
	deps bool
}

func (v *versionCmd) flags(fs *flag.FlagSet, _ *cli) {
	fs.BoolVar(&v.deps, "deps", false, "also list the modules the binary was built with")
}

func (v *versionCmd) run(_ context.Context, c *cli, args []string) error {
	if len(args) > 0 {
		return usageErrorf("version takes no arguments")
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		_, err := fmt.Fprintf(c.stdout, "miniodb (no build information) %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return err
	}
	return writeVersion(c.stdout, info, v.deps)
}

// writeVersion prints build information.
func writeVersion(w io.Writer, info *debug.BuildInfo, deps bool) error {
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "miniodb %s\n", version)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	kv := [][2]string{
		{"module", info.Main.Path},
		{"go", info.GoVersion},
		{"platform", runtime.GOOS + "/" + runtime.GOARCH},
	}
	if rev := settings["vcs.revision"]; rev != "" {
		if settings["vcs.modified"] == "true" {
			rev += " (modified)"
		}
		kv = append(kv, [2]string{"revision", rev})
	}
	if t := settings["vcs.time"]; t != "" {
		kv = append(kv, [2]string{"commit time", t})
	}
	if cgo := settings["CGO_ENABLED"]; cgo != "" {
		kv = append(kv, [2]string{"cgo", cgo})
	}
	keyValues(&b, kv)
	if deps && len(info.Deps) > 0 {
		b.WriteString("\ndependencies:\n")
		for _, d := range info.Deps {
			line := "  " + d.Path + " " + d.Version
			if d.Replace != nil {
				line += " => " + d.Replace.Path + " " + d.Replace.Version
			}
			b.WriteString(line + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
