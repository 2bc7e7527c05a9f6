#!/usr/bin/env bash
# Installs the pinned MinIO server used by the S3 tests into a cache directory
# and prints the binary's path. Building takes about 8 minutes the first time;
# later calls return at once. Override the cache with MINIODB_TOOLS_CACHE.
set -euo pipefail
version=v0.0.0-20260212201848-7aac2a2c5b7c
cache=${MINIODB_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/miniodb-tools}
dir=$cache/minio-$version
if [ ! -x "$dir/minio" ]; then
  mkdir -p "$dir"
  echo "install-minio: building github.com/minio/minio@$version (once, ~8 min)" >&2
  GOBIN=$dir GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$version" >&2
fi
echo "$dir/minio"
