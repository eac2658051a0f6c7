#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for the test suite and the ledger benchmark.
#   pg-test-server.sh start DIR PORT   initialise DIR (once) and start; prints the server's URL
#   pg-test-server.sh stop DIR         stop it (fast shutdown)
#   pg-test-server.sh bindir           print the PostgreSQL binaries' folder (exit 3 if none)
# Listens on 127.0.0.1 only, trusts local connections (user postgres), fsync off: never use it
# for real money. As root, initdb and the server run as user postgres (initdb refuses root).
set -euo pipefail

bindir() {
    local found=""
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
        found="$(pg_config --bindir)"
    fi
    if [ -z "$found" ]; then
        found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    fi
    if [ -z "$found" ] && command -v initdb >/dev/null 2>&1; then
        found="$(dirname "$(command -v initdb)")"
    fi
    if [ -z "$found" ] || [ ! -x "$found/initdb" ]; then
        echo "no PostgreSQL server binaries (initdb) found" >&2
        return 3
    fi
    echo "$found"
}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
bindir)
    bindir
    ;;
start)
    dir="$2"; port="$3"
    bin="$(bindir)"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        rm -rf "$dir/data"
        as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
            start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
        echo "$port" >"$dir/port"
    fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$(cat "$dir/port")/postgres"
    ;;
stop)
    dir="$2"
    bin="$(bindir)"
    if [ -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
*)
    echo "usage: $0 start DIR PORT | stop DIR | bindir" >&2
    exit 2
    ;;
esac
