#!/bin/bash
# bench_predict.sh MODEL.h5 FOLDER [BIN] [ROUNDS]: cxr-predict on a folder of JPEGs, img/s and
# peak RSS (/usr/bin/time -v), --threads 1 and 2 alternated in the same run (ROUNDS rounds,
# default 2), rows written with -o to a temporary folder. Prints one line per run and the CPU.
set -eu
model=$1 dir=$2 bin=${3:-build/tools} rounds=${4:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-predict.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: $model ($(du -h "$model" | cut -f1)), folder: $dir ($(find "$dir" -type f -iname '*.jp*g' | wc -l) JPEGs)"
for r in $(seq "$rounds"); do
    for t in 1 2; do
        /usr/bin/time -v "$bin/cxr-predict" "$model" "$dir" --device cpu --threads "$t" \
            -o "$work/rows.tsv" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
        summary=$(grep '^cxr-predict: .* classified' "$work/err")
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/err")
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/err")
        echo "round $r threads $t: ${summary#cxr-predict: }; wall $wall; peak RSS $((rss / 1024)) MB"
    done
done
