#!/bin/sh
# bench_explore.sh: time `cxr-pack --manifest FILE --explore` on a generated landmark-size
# manifest (1,225,029 rows, 14,952 classes, Zipf-like, 9,260 None rows: gen_manifest.py) and
# compare with a Python peer doing the same counts (pandas if installed, else the csv module).
# Reports wall seconds and peak RSS from /usr/bin/time -v, best of RUNS (default 3) with the
# file in the page cache, and checks both report the same numbers.
#
# usage: tests/bench/bench_explore.sh BUILD_DIR [OUT_DIR]   (OUT_DIR default: /tmp/cxr-bench-explore)
set -eu
BUILD=${1:?usage: bench_explore.sh BUILD_DIR [OUT_DIR]}
OUT=${2:-/tmp/cxr-bench-explore}
RUNS=${RUNS:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
PACK=$BUILD/tools/cxr-pack
mkdir -p "$OUT"
CSV=$OUT/train.csv
if [ ! -s "$CSV" ]; then
    echo "generating $CSV ..."
    python3 "$HERE/gen_manifest.py" "$CSV"
fi
echo "manifest: $CSV ($(wc -c < "$CSV") bytes, $(($(wc -l < "$CSV") - 1)) rows)"
cat "$CSV" > /dev/null   # warm the page cache: both tools then read from memory

measure() { # name, command...: best wall time and its peak RSS over RUNS runs
    name=$1; shift
    best=""
    i=0
    while [ $i -lt "$RUNS" ]; do
        /usr/bin/time -v "$@" > "$OUT/$name.out" 2> "$OUT/$name.time"
        t=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=a[n]+0; if (n>1) s+=a[n-1]*60; print s}' "$OUT/$name.time")
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/$name.time")
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; bestrss=$rss; fi
        i=$((i + 1))
    done
    printf '%-22s %8.2f s  %8d KiB peak RSS\n' "$name" "$best" "$bestrss"
}

measure cxr-pack-explore "$PACK" --manifest "$CSV" --explore
measure python-peer python3 "$HERE/explore_peer.py" "$CSV"
head -1 "$OUT/python-peer.out"

# same numbers: rows, unique classes, missing per column, top 20, class-size bins
norm_cxr() { grep -E '^(rows|unique classes|classes with)|^  [a-z_]+: [0-9]+$|^ +[0-9]+\. ' "$1"; }
norm_peer() { grep -v '^peer:' "$1"; }
if norm_cxr "$OUT/cxr-pack-explore.out" | diff - "$(norm_peer "$OUT/python-peer.out" > "$OUT/peer.norm"; echo "$OUT/peer.norm")" > "$OUT/diff.txt"; then
    echo "outputs agree (rows, classes, missing per column, top 20, bins)"
else
    echo "outputs DIFFER:"; cat "$OUT/diff.txt"; exit 1
fi
