#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries exist for the tests (idempotent, quiet).
# Installs Debian's package when they are missing and we are root with apt-get; otherwise says
# what to do (the PostgreSQL tests then skip locally, and fail under CI=true).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if "$here/pg-test-server.sh" bindir >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing PostgreSQL for the tests (apt-get)…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    "$here/pg-test-server.sh" bindir >/dev/null
    exit 0
fi
echo "note: PostgreSQL binaries not found; install 'postgresql' (or set KEIBA_TEST_POSTGRES_URL)" \
    "to run the PostgreSQL tests" >&2
