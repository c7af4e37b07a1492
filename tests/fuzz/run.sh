#!/bin/sh
# run.sh: run one libFuzzer target of tests/fuzz (README.md there) over its seeds and
# regression inputs, writing only under its work folder.
#   run.sh BUILD TARGET SECONDS [LIBFUZZER_FLAG...]
# BUILD is the regular build folder (the fuzzers are in BUILD/fuzz, built by clang);
# TARGET one of jpeg, manifest, store, checkpoint, log. First every input under
# tests/fuzz/regressions/TARGET is replayed once, then the target fuzzes for SECONDS (0: it
# runs its seeds and corpus once, no fuzzing). New corpus entries, crash inputs and the log go to FUZZ_WORK (default
# BUILD/tests/fuzz/work/TARGET); FUZZ_FRESH=1 empties its corpus first (what ctest does).
# Exit 77 (skipped) when the fuzzer was not built (no clang with libFuzzer).
set -eu
[ $# -ge 3 ] || { echo "usage: run.sh BUILD TARGET SECONDS [LIBFUZZER_FLAG...]" >&2; exit 2; }
build=$(cd "$1" && pwd); target=$2; seconds=$3; shift 3
src=$(cd "$(dirname "$0")/../.." && pwd)
fuzzer=$build/fuzz/tests/fuzz/fuzz_$target
if [ ! -x "$fuzzer" ]; then
  echo "fuzz_$target: skipped: $fuzzer not built (needs clang with libFuzzer: tests/fuzz/README.md)"
  exit 77
fi
seeds=$build/tests/fuzz/seeds
if [ ! -d "$seeds/store" ]; then
  "$build/tests/fuzz/fuzz_make_seeds" "$seeds"
fi
case $target in
  jpeg) dirs="$src/data/sample $seeds/jpeg" ;;
  manifest) dirs="$src/tests/fuzz/seeds/manifest" ;;
  store) dirs="$seeds/store" ;;
  checkpoint) dirs="$seeds/checkpoint" ;;
  log) # the fixtures, and each gzip-compressed (cxr-report inflates a file with gzip's magic)
    mkdir -p "$build/tests/fuzz/seeds/log-gz"
    for f in "$src"/tests/report/fixtures/*.jsonl; do
      gzip -9 -n -c "$f" > "$build/tests/fuzz/seeds/log-gz/$(basename "$f").gz"
    done
    dirs="$src/tests/report/fixtures $build/tests/fuzz/seeds/log-gz" ;;
  *) echo "run.sh: unknown target '$target'" >&2; exit 2 ;;
esac
work=${FUZZ_WORK:-$build/tests/fuzz/work/$target}
[ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$work/corpus"
mkdir -p "$work/corpus" "$work/tmp"
export TMPDIR="$work/tmp"
# Any finding exits 1 (libFuzzer's default, 77, would read as "skipped" to ctest). Leak checks
# stay on, except for leaks inside libhdf5 on corrupt files (lsan.supp); a too-large
# allocation is a finding (libFuzzer's malloc limit).
flags="-error_exitcode=1 -timeout_exitcode=1 -timeout=${FUZZ_TIMEOUT:-20} -rss_limit_mb=2048"
flags="$flags -artifact_prefix=$work/ -print_final_stats=1"
export LSAN_OPTIONS="suppressions=$src/tests/fuzz/lsan.supp:print_suppressions=0"
dict=$src/tests/fuzz/$target.dict
[ -f "$dict" ] && flags="$flags -dict=$dict"

regs=$src/tests/fuzz/regressions/$target
if [ -d "$regs" ] && [ -n "$(ls -A "$regs")" ]; then
  # shellcheck disable=SC2086
  if ! "$fuzzer" $flags "$@" "$regs"/* >"$work/replay.log" 2>&1; then
    tail -n 60 "$work/replay.log"
    echo "fuzz_$target: a regression input fails (log: $work/replay.log)"
    exit 1
  fi
  echo "fuzz_$target: $(ls "$regs" | wc -l) regression input(s) pass"
fi
# shellcheck disable=SC2086
if [ "$seconds" -gt 0 ]; then
  "$fuzzer" $flags -max_total_time="$seconds" "$@" "$work/corpus" $dirs
else
  "$fuzzer" $flags -runs=0 "$@" "$work/corpus" $dirs
fi
