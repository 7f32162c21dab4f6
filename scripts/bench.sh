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
go test -run '^$' -bench '^Benchmark(BareSyscallN|Broadcast|BroadcastPaired|BroadcastBatch|HasSubscribers)$' -benchmem -count "$COUNT" ./host | tee "$OUT/host.txt" >&2
say "host: journal (issue 13)"
go test -run '^$' -bench '^Benchmark(BroadcastJournal|JournalAppend|CatchUp)$' -benchmem -count 3 ./host | tee "$OUT/journal.txt" >&2
say "host: isolation (issue 16)"
go test -run '^$' -bench '^BenchmarkIsolatedBroadcast$' -benchmem -count 3 ./host | tee "$OUT/isolation.txt" >&2
go test -run '^$' -bench '^BenchmarkIsolatedCrashRestart$' -benchtime 5x -count 3 ./host | tee -a "$OUT/isolation.txt" >&2
say "host: fan-out"
go test -run '^$' -bench 'FanOut' -benchmem -benchtime 2000x -count 3 ./host | tee "$OUT/fanout.txt" >&2
say "cgo baseline"
go test -tags cgobench -run '^$' -bench . -benchmem -count "$COUNT" ./internal/cgobench | tee "$OUT/cgo.txt" >&2
say "finalize.Store overhead"
go test -run '^$' -bench 'UpdateKeyValue|HeldDelivery' -benchmem -count 10 ./finalize | tee "$OUT/finalize.txt" >&2
say "Go, C and Rust plugins"
go test -run '^$' -bench 'PluginLanguages' -benchmem -count "$COUNT" ./e2e | tee "$OUT/lang.txt" >&2
# NATS JetStream (in-process server, file storage): the plugin against nats.go's own loop.
go test -run '^$' -bench 'PluginPublish|NatsGoAsync' -benchtime 200000x -count 3 ./plugins/nats | tee "$OUT/nats.txt" >&2
say "CPU profiles (issue 15: where the time goes)"
# top() NAME BINARY PROFILE: the profile's functions (pprof -top), which the report groups and lists
top() { go tool pprof -top -nodecount 400 "$2" "$3" > "$OUT/profile-$1.top" 2>/dev/null || true; }
prof() { # NAME PACKAGE BENCHMARK
  go test -run '^$' -bench "$3" -benchtime 2s -cpuprofile "$OUT/$1.prof" -o "$OUT/$1.test" "$2" >/dev/null
  top "$1" "$OUT/$1.test" "$OUT/$1.prof"
  rm -f "$OUT/$1.test"
}
prof broadcast ./host '^BenchmarkBroadcast$'
prof store-batch ./finalize '^BenchmarkUpdateKeyValueInBatch256$/^subscriber-c-batch$'
say "history plugin: live freshness (issue 15)"
# BenchmarkHistoryFreshness reports p99-ms; where it does not exist (yet) the file holds no
# figure and the report says "not measured".
go test -run '^$' -bench 'HistoryFreshness' -benchtime 1x ./e2e > "$OUT/freshness.txt" 2>&1 || echo "HistoryFreshness failed (see $OUT/freshness.txt)" >&2
cat "$OUT/freshness.txt" >&2

say "end to end: slipstream replay"
make -s build plugins >&2
BIN=build/slipstream
PLUG=$(cd build/plugins && pwd)
chmod go-w build/plugins
W="$OUT/work"
mkdir -p "$W"
chmod 0700 "$W"
EXTRA=() # extra arguments of replay (e.g. --journal DIR)
go build -o "$W/benchreport" ./internal/tools/benchreport
# the no-op batch plugin of the host's benchmarks, as a plugin library (issue 15)
${CC:-cc} -std=c11 -O2 -shared -fPIC -DNOOP_BATCH -I include -o "$W/libnoop_batch.so" testdata/plugins/noop.c
config() { # name body...
  local f="$W/$1.json5"; shift
  printf '{ %s }\n' "$*" > "$f"
  chmod 0600 "$f"
  echo "$f"
}
# replay label input configs... (input: a chain file, or "synthetic BLOCKS OPS STAKERS").
# REPS=n runs it n times (replay-<label>@<i>.json; the report takes the run with the median
# events/s), running the command in BEFORE before each run.
replay() {
  local label=$1 input=$2; shift 2
  local src=(--input "$input")
  if [ "$input" = synthetic ]; then
    src=(--synthetic --blocks "$1" --ops "$2" --stakers "$3" --seed 7 --block-size 256); shift 3
  fi
  local args=(${EXTRA[@]+"${EXTRA[@]}"})
  for c in "$@"; do args+=(--plugin "$c"); done
  local reps=${REPS:-1} i out
  for ((i = 1; i <= reps; i++)); do
    out="$OUT/replay-$label.json"
    [ "$reps" -gt 1 ] && out="$OUT/replay-$label@$i.json"
    ${BEFORE:+$BEFORE}
    "$BIN" replay "${args[@]}" "${src[@]}" --json --progress never > "$out"
    echo "$label: $(grep -m1 '"events"' "$out") $(grep -m1 events_per_sec "$out") $(grep -m1 max_rss_kb "$out")" >&2
  done
}
fresh_ndjson() { rm -rf "$W"/events.ndjson "$W/journal"; }

# Chains of ~100 events per block (64 ops, 35 stakers, the Block event), 10^4 to 10^6 events,
# over a bounded key space (2000 keys per mapping) so that the chain's state stops growing:
# what is left to grow would be the pipeline's own memory. Replayed from files (streamed).
sizes=(100 1000 10000)
[ "${BENCH_QUICK:-0}" = 1 ] && sizes=(100 1000)
# The replays the goals compare (Rust NDJSON with and without the journal, the no-op batch
# plugin) run 5 times on the smaller chains and 3 times on the largest: a 10^4-event replay
# takes a few milliseconds, and one run's events/s varies by up to 2x on a shared machine.
for blocks in "${sizes[@]}"; do
  chain="$W/chain-$blocks.ndjson"
  "$BIN" gen -q --blocks "$blocks" --ops 64 --stakers 35 --seed 7 --block-size 256 --key-space 2000 -o "$chain"
  reps=5
  [ "$blocks" -ge 10000 ] && reps=3
  rm -f "$W"/history.db* "$W"/events.ndjson
  replay "history-sqlite-$blocks" "$chain" "$(config hs "libpath: '$PLUG/libslipstream_history.so', sqlite: 'history.db'")"
  REPS=$reps BEFORE=fresh_ndjson replay "rust-ndjson-$blocks" "$chain" "$(config rs "libpath: '$PLUG/libslipstream_example_rust.so', path: 'events.ndjson'")"
  # the same with the journal on (issue 13); its size, events and payload bytes after the last run
  EXTRA=(--journal "$W/journal")
  REPS=$reps BEFORE=fresh_ndjson replay "rust-ndjson-journal-$blocks" "$chain" "$(config rs "libpath: '$PLUG/libslipstream_example_rust.so', path: 'events.ndjson'")"
  EXTRA=()
  "$W/benchreport" -journal "$W/journal" > "$OUT/journal-$blocks.env"
  cat "$OUT/journal-$blocks.env" >&2
  fresh_ndjson
  REPS=$reps replay "noop-batch-$blocks" "$chain" "$(config nb "libpath: 'libnoop_batch.so'")"
done
# the largest no-op batch replay once more, profiled (SLIPSTREAM_CPUPROFILE), for the report
SLIPSTREAM_CPUPROFILE="$OUT/replay.prof" "$BIN" replay --plugin "$W/nb.json5" --input "$chain" --progress never > /dev/null
top replay "$BIN" "$OUT/replay.prof"

# the history plugin (SQLite) in process with delivery "async", and isolated in a child
# process (issue 16), on the 10^5-event chain
for mode in async process; do
  rm -f "$W"/history.db*
  opt="delivery: 'async'"
  [ "$mode" = process ] && opt="isolation: 'process'"
  replay "history-sqlite-$mode-1000" "$W/chain-1000.ndjson" "$(config hi "libpath: '$PLUG/libslipstream_history.so', sqlite: 'history.db', $opt")"
done

say "engines' own limit"
ROWS=${BENCH_ENGINE_ROWS:-200000}
make -s bench-c-insert C_BENCH_ROWS="$ROWS" C_BENCH_DB="$W/limit.db" | tee "$OUT/engine-sqlite.txt" >&2
echo "sqlite_limit=$(sed -n 's/.*rows_per_sec=\([0-9.]*\).*/\1/p' "$OUT/engine-sqlite.txt" | tail -1)" > "$OUT/engine.env"
rm -f "$W"/history.db*
# mapping events only (no stakers), as the insert loop writes mapping rows only; the plugin
# commits every 32 blocks (batch_blocks), as the loop commits large transactions
replay engine-sqlite synthetic $((ROWS / 64)) 64 0 "$(config es "libpath: '$PLUG/libslipstream_history.so', sqlite: 'history.db', batch_blocks: 32")"
# and with the plugin's default settings (issue 15)
rm -f "$W"/history.db*
replay engine-sqlite-default synthetic $((ROWS / 64)) 64 0 "$(config es "libpath: '$PLUG/libslipstream_history.so', sqlite: 'history.db'")"

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
  replay engine-postgres synthetic $((ROWS / 64)) 64 0 "$(config ep "libpath: '$PLUG/libslipstream_history.so', postgres: '$DSN', schema: 'bench_plugin', batch_blocks: 32")"
  replay engine-postgres-default synthetic $((ROWS / 64)) 64 0 "$(config ep "libpath: '$PLUG/libslipstream_history.so', postgres: '$DSN', schema: 'bench_plugin_default'")"
  for blocks in "${sizes[@]}"; do
    replay "history-postgres-$blocks" "$W/chain-$blocks.ndjson" "$(config hp "libpath: '$PLUG/libslipstream_history.so', postgres: '$DSN', schema: 'bench_e2e_$blocks'")"
  done
fi

say "report"
go run ./internal/tools/benchreport -dir "$OUT" > BENCHMARKS.md
echo "BENCHMARKS.md written" >&2
