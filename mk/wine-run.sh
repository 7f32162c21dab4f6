#!/usr/bin/env bash
# mk/wine-run.sh — run Windows test binaries under Wine in a throw-away prefix (make
# test-windows; see mk/windows.mk). Usage:
#
#   mk/wine-run.sh SHIM_DLL PLUGIN_DIR PKG=TEST_EXE[:ARGS] ...
#
# A fresh WINEPREFIX in a temp dir (never $HOME), quiet (WINEDEBUG=-all), without Mono and
# Gecko; SHIM_DLL (bcryptprimitives.dll, testdata/windows/bcryptprimitives.c) goes into its
# system32; every TEST_EXE runs in its package's directory PKG with SLIPSTREAM_TEST_PLUGINS
# naming PLUGIN_DIR (as a Windows path); the prefix is removed at the end, whatever happens.
set -euo pipefail
WINE=${WINE:-wine}
shim=$1 plugins=$2
shift 2
command -v "$WINE" >/dev/null || { echo "wine-run: no $WINE (make deps-windows installs wine64)" >&2; exit 1; }

prefix=$(mktemp -d "${TMPDIR:-/tmp}/slipstream-wine.XXXXXX")
cleanup() {
  WINEPREFIX=$prefix wineserver -k >/dev/null 2>&1 || true
  WINEPREFIX=$prefix wineserver -w >/dev/null 2>&1 || true
  rm -rf "$prefix"
}
trap cleanup EXIT
export WINEPREFIX=$prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" WINEARCH=win64

winpath() { local p; p=$(cd "$1" && pwd); printf 'Z:%s' "${p//\//\\}"; }

start=$(date +%s)
"$WINE" wineboot --init >/dev/null 2>&1
cp "$shim" "$prefix/drive_c/windows/system32/bcryptprimitives.dll"
echo "wine: prefix $prefix ready in $(( $(date +%s) - start ))s ($("$WINE" --version))"

export SLIPSTREAM_TEST_PLUGINS
SLIPSTREAM_TEST_PLUGINS=$(winpath "$plugins")
failed=()
for spec in "$@"; do
  pkg=${spec%%=*} rest=${spec#*=}
  exe=${rest%%:*} args=""
  [[ $rest == *:* ]] && args=${rest#*:}
  exe=$(cd "$(dirname "$exe")" && pwd)/$(basename "$exe")
  t0=$(date +%s)
  # shellcheck disable=SC2086 # args are words
  if (cd "$pkg" && "$WINE" "$exe" $args); then
    echo "ok    $pkg (under Wine, $(( $(date +%s) - t0 ))s)"
  else
    echo "FAIL  $pkg (under Wine)"
    failed+=("$pkg")
  fi
done
echo "wine: $# test binaries in $(( $(date +%s) - start ))s"
if (( ${#failed[@]} )); then
  echo "wine: failed: ${failed[*]}" >&2
  exit 1
fi
