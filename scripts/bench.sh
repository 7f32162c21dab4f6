#!/usr/bin/env bash
# make bench: every benchmark of the project, side by side in one run, then BENCHMARKS.md.
#
#   BENCH_COUNT  runs per Go benchmark (default 5)
#   BENCH_QUICK  1: smaller end-to-end runs (10^4 and 10^5 events instead of up to 10^6)
#
# Needs what `make plugins` needs; PostgreSQL 15 server binaries for the PostgreSQL figures
# (skipped when absent). Outputs: build/bench/* (raw), BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$HOME/.cargo/bin"

OUT=build/bench
COUNT=${BENCH_COUNT:-5}
rm -rf "$OUT"
mkdir -p "$OUT"
chmod go-w build "$OUT"
say() { printf '\n== %s\n' "$*" >&2; }

say "host: delivery to a C no-op plugin"
go test -run '^$' -bench 'BareSyscallN|Broadcast|HasSubscribers' -benchmem -count "$COUNT" ./host | tee "$OUT/host.txt" >&2
say "host: fan-out"
go test -run '^$' -bench 'FanOut' -benchmem -benchtime 2000x -count 3 ./host | tee "$OUT/fanout.txt" >&2
say "cgo baseline"
go test -tags cgobench -run '^$' -bench . -benchmem -count "$COUNT" ./internal/cgobench | tee "$OUT/cgo.txt" >&2
say "finalize.Store overhead"
go test -run '^$' -bench 'UpdateKeyValue' -benchmem -count 10 ./finalize | tee "$OUT/finalize.txt" >&2
say "Go, C and Rust plugins"
go test -run '^$' -bench 'PluginLanguages' -benchmem -count "$COUNT" ./e2e | tee "$OUT/lang.txt" >&2

say "end to end: slipstream replay"
make -s build plugins >&2
BIN=build/slipstream
PLUG=$(cd build/plugins && pwd)
chmod go-w build/plugins
W="$OUT/work"
mkdir -p "$W"
chmod 0700 "$W"
config() { # name body...
  local f="$W/$1.json5"; shift
  printf '{ %s }\n' "$*" > "$f"
  chmod 0600 "$f"
  echo "$f"
}
replay() { # label blocks ops stakers configs...
  local label=$1 blocks=$2 ops=$3 stakers=$4; shift 4
  local args=()
  for c in "$@"; do args+=(--plugin "$c"); done
  "$BIN" replay "${args[@]}" --synthetic --blocks "$blocks" --ops "$ops" --stakers "$stakers" \
    --seed 7 --block-size 256 --json --progress never > "$OUT/replay-$label.json"
  echo "$label: $(grep -m1 '"events"' "$OUT/replay-$label.json") $(grep -m1 max_rss_kb "$OUT/replay-$label.json")" >&2
}

# ~100 events per block: 64 ops, 35 stakers, 1 block event.
sizes=(100 1000 10000)
[ "${BENCH_QUICK:-0}" = 1 ] && sizes=(100 1000)
for blocks in "${sizes[@]}"; do
  rm -f "$W"/history.db* "$W"/events.ndjson
  replay "history-sqlite-$blocks" "$blocks" 64 35 "$(config hs "libpath: '$PLUG/libslipstream_history.so', sqlite: 'history.db'")"
  replay "rust-ndjson-$blocks" "$blocks" 64 35 "$(config rs "libpath: '$PLUG/libslipstream_example_rust.so', path: 'events.ndjson'")"
done

say "engines' own limit"
ROWS=${BENCH_ENGINE_ROWS:-200000}
make -s bench-c-insert C_BENCH_ROWS="$ROWS" C_BENCH_DB="$W/limit.db" | tee "$OUT/engine-sqlite.txt" >&2
echo "sqlite_limit=$(sed -n 's/.*rows_per_sec=\([0-9.]*\).*/\1/p' "$OUT/engine-sqlite.txt" | tail -1)" > "$OUT/engine.env"
rm -f "$W"/history.db*
# mapping events only (no stakers), as the insert loop writes mapping rows only
replay engine-sqlite $((ROWS / 64)) 64 0 "$(config es "libpath: '$PLUG/libslipstream_history.so', sqlite: 'history.db'")"

PGBIN=/usr/lib/postgresql/15/bin
if [ -x "$PGBIN/initdb" ]; then
  say "PostgreSQL"
  PGD=$(mktemp -d /tmp/slipstream-bench-pg.XXXXXX)
  run=()
  if [ "$(id -u)" = 0 ]; then
    id slipstream-pgtest >/dev/null 2>&1 || useradd --system --no-create-home slipstream-pgtest
    chown slipstream-pgtest "$PGD"
    run=(runuser -u slipstream-pgtest --)
  fi
  "${run[@]}" "$PGBIN/initdb" -D "$PGD/data" -A trust -U postgres >/dev/null
  "${run[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -o "-k $PGD -c listen_addresses='' -c fsync=on" -l "$PGD/log" -w start >/dev/null
  trap '"${run[@]}" "$PGBIN/pg_ctl" -D "$PGD/data" -m fast -w stop >/dev/null 2>&1; rm -rf "$PGD"' EXIT
  DSN="host=$PGD user=postgres dbname=postgres"
  build/cmake/plugins/example_c/bench_insert postgres "$DSN" "$ROWS" | tee "$OUT/engine-postgres.txt" >&2 || true
  echo "postgres_limit=$(sed -n 's/.*rows_per_sec=\([0-9.]*\).*/\1/p' "$OUT/engine-postgres.txt" | tail -1)" >> "$OUT/engine.env"
  replay engine-postgres $((ROWS / 64)) 64 0 "$(config ep "libpath: '$PLUG/libslipstream_history.so', postgres: '$DSN', schema: 'bench_plugin'")"
  for blocks in "${sizes[@]}"; do
    replay "history-postgres-$blocks" "$blocks" 64 35 "$(config hp "libpath: '$PLUG/libslipstream_history.so', postgres: '$DSN', schema: 'bench_e2e_$blocks'")"
  done
fi

say "report"
go run ./internal/tools/benchreport -dir "$OUT" > BENCHMARKS.md
echo "BENCHMARKS.md written" >&2
