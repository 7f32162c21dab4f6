#!/bin/sh
# with_private_pg.sh COMMAND [ARG...] — runs COMMAND with TEST_HISTORY_PG set to the conninfo
# of a private PostgreSQL server (initdb + pg_ctl in a fresh directory, Unix socket only,
# stopped and removed afterwards): the shell twin of internal/testpg, for the C tests.
# As root the server runs as the system user slipstream-pgtest (created when missing).
# Binaries: $SLIPSTREAM_PG_BIN, else /usr/lib/postgresql/<ver>/bin (15 first), else $PATH.
# Exits 77 (ctest: skipped) when no PostgreSQL server binaries are installed.
set -eu

bin=""
if [ -n "${SLIPSTREAM_PG_BIN:-}" ]; then
    bin=$SLIPSTREAM_PG_BIN
else
    for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then bin=$d; break; fi
    done
    if [ -z "$bin" ] && command -v initdb >/dev/null 2>&1; then bin=$(dirname "$(command -v initdb)"); fi
fi
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
    echo "with_private_pg.sh: PostgreSQL server binaries (initdb, pg_ctl) not found: skipped" >&2
    exit 77
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/slipstream-pg-XXXXXX")
mkdir -m 700 "$root/sock"
runas=""
if [ "$(id -u)" = 0 ]; then
    runas=slipstream-pgtest
    id "$runas" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$runas" 2>/dev/null || true
    chown "$runas:" "$root" "$root/sock"
    chmod 755 "$root"
fi
pg() {
    name=$1
    shift
    if [ -n "$runas" ]; then (cd / && LC_ALL=C runuser -u "$runas" -- "$bin/$name" "$@"); else (cd / && LC_ALL=C "$bin/$name" "$@"); fi
}
cleanup() {
    pg pg_ctl -D "$root/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    rm -rf "$root"
}
trap cleanup EXIT INT TERM

pg initdb -D "$root/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$root/initdb.log" 2>&1 ||
    { cat "$root/initdb.log" >&2; exit 1; }
pg pg_ctl -D "$root/data" -l "$root/server.log" -o "-k $root/sock -c listen_addresses='' -F -c max_connections=20" \
    -w -t 60 start >/dev/null || { cat "$root/server.log" >&2; exit 1; }

TEST_HISTORY_PG="host=$root/sock port=5432 user=postgres dbname=postgres sslmode=disable"
export TEST_HISTORY_PG
"$@"
