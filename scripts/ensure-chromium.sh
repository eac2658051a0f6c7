#!/usr/bin/env bash
# Make sure a headless Chromium exists for the report's browser tests (idempotent, quiet).
# Looks for $KEIBA_CHROMIUM, chromium, chromium-browser or google-chrome; installs Debian's
# package when none is found and we are root with apt-get; otherwise says what to do (the
# browser tests then skip locally, and fail under CI=true).
set -euo pipefail
found() {
    if [ -n "${KEIBA_CHROMIUM:-}" ] && command -v "$KEIBA_CHROMIUM" >/dev/null 2>&1; then
        return 0
    fi
    for name in chromium chromium-browser google-chrome; do
        if command -v "$name" >/dev/null 2>&1; then
            return 0
        fi
    done
    return 1
}
if found; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium for the report's browser tests (apt-get)…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
    found
    exit 0
fi
echo "note: Chromium not found; install 'chromium' (or set KEIBA_CHROMIUM to a Chromium or" \
    "Chrome binary) to run the report's browser tests" >&2
