#!/usr/bin/env bash
# Prints the path of a psql (PostgreSQL's client) for the tests of the
# PostgreSQL protocol: the machine's, or Debian's postgresql-client
# package (bookworm: PostgreSQL 15), installed with apt-get.
set -euo pipefail
if p=$(command -v psql); then
  echo "$p"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends postgresql-client >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends postgresql-client >/dev/null; }
  command -v psql
  exit 0
fi
echo "install-psql: psql is not installed and installing it needs root and apt-get (Debian's postgresql-client)" >&2
exit 1
