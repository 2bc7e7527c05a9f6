#!/usr/bin/env bash
# Installs the pinned development tools (buf, protoc-gen-go,
# protoc-gen-connect-go for code generation; staticcheck for make verify)
# into the tools cache and prints its bin directory. Each is built once
# from the Go module proxy; later calls return at once.
set -euo pipefail
cache=${MINIODB_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/miniodb-tools}
bin=$cache/bin
mkdir -p "$bin"
install() { # name module@version
  local stamp=$bin/.$1-${2##*@}
  if [ ! -f "$stamp" ]; then
    GOBIN=$bin GOFLAGS=-buildvcs=false go install "$2" >&2
    touch "$stamp"
  fi
}
install buf github.com/bufbuild/buf/cmd/buf@v1.75.0
install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
install protoc-gen-connect-go connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1
install staticcheck honnef.co/go/tools/cmd/staticcheck@v0.8.2
echo "$bin"
