#!/usr/bin/env bash
# make verify: the checks besides tests that CI runs first. Each step says
# what it checks; the script runs them all and fails if any failed, so one
# run shows every problem.
set -uo pipefail
cd "$(dirname "$0")/.."
tools=$(scripts/install-tools.sh) || exit 1
failed=()
step() { # name command…
  local name=$1
  shift
  echo "verify: $name" >&2
  if ! "$@"; then
    failed+=("$name")
  fi
}
gofmt_clean() {
  local out
  out=$(gofmt -l $(git ls-files '*.go'))
  if [ -n "$out" ]; then
    echo "these files need gofmt -w:" >&2
    echo "$out" >&2
    return 1
  fi
}
both_modules() { # command… run in the main module and in jepsen/
  "$@" && (cd jepsen && "$@")
}
generated_clean() {
  (cd proto && PATH="$tools:$PATH" buf lint && PATH="$tools:$PATH" buf generate) || return 1
  if ! git diff --exit-code --stat -- proto || [ -n "$(git status --porcelain -- proto)" ]; then
    echo "the generated code differs from the .proto files: run make generate and commit the result" >&2
    return 1
  fi
}
step gofmt gofmt_clean
step "go vet" both_modules go vet ./...
step staticcheck both_modules "$tools/staticcheck" ./...
step "go mod tidy" both_modules go mod tidy -diff
step "generated code" generated_clean
if [ ${#failed[@]} -gt 0 ]; then
  echo "verify: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "verify: ok" >&2
