#!/usr/bin/env bash
# ab_cpu.sh: two builds' CPU network on the same store, runs alternated (A B A B ...), so that a
# kernel change is judged by a ratio measured under the same machine state, and its outputs
# compared byte for byte (a change meant to be output-neutral must print "identical" twice).
#
# usage: tests/bench/ab_cpu.sh TOOLS_A TOOLS_B STORE MODEL [RUNS] [THREADS] [STEPS]
#   TOOLS_*: folders holding cxr-eval and cxr-train (may be the same folder); MODEL: a
#   checkpoint for STORE's images. env: ENV_A, ENV_B: assignments for each side's runs (e.g.
#   ENV_A=CXR_CPU_WINOGRAD=0 to compare the product paths of one build).
# Per run: forward only (cxr-eval MODEL STORE --split test --batch 16: wall seconds, model
# loading included, and the predictions file), and training (cxr-train STORE, STEPS optimizer
# steps of batch 64, default 16: images/s from its log, step losses with --log-every 1).
# Prints every run, the medians, the B/A speed ratios and the CPU.
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,13p "$0" >&2; exit 2; }
a=$1 b=$2 store=$3 model=$4 runs=${5:-3} threads=${6:-2} steps=${7:-16}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cxr_ab_cpu.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores," \
    "load $(cut -d' ' -f1-3 /proc/loadavg); threads $threads, $runs runs, $steps training steps"
echo "A: $a ${ENV_A:-}; B: $b ${ENV_B:-}"
cat "$store" "$model" > /dev/null # warm the page cache: A's first run would read them cold
one() { # tools tag run
    local tools=$1 tag=$2 run=$3 e
    [ "$tag" = A ] && e=${ENV_A:-} || e=${ENV_B:-}
    /usr/bin/time -f "%e" -o "$tmp/t" env $e "$tools/cxr-eval" "$model" "$store" --split test \
        --device cpu --threads "$threads" --batch 16 --predictions "$tmp/$tag.pred" \
        > /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    local ev; ev=$(cat "$tmp/t")
    rm -f "$tmp/$tag.log"
    env $e "$tools/cxr-train" "$store" --device cpu --threads "$threads" --epochs 1 \
        --max-steps "$steps" --no-checkpoint --no-monitor -q --log-every 1 --log "$tmp/$tag.log" \
        > /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    local ips; ips=$(grep '"type":"epoch"' "$tmp/$tag.log" | grep -o '"images_per_s":[^,]*' | cut -d: -f2)
    grep '"type":"step"' "$tmp/$tag.log" | grep -o '"loss":[^,]*' > "$tmp/$tag.loss"
    printf "%s run %d: forward (cxr-eval, test split) %6.2f s, training %6.1f img/s\n" "$tag" "$run" \
        "$ev" "$ips"
    echo "$tag $ev $ips" >> "$tmp/all"
}
for ((r = 1; r <= runs; r++)); do
    one "$a" A "$r"
    mv "$tmp/A.pred" "$tmp/A.keep"; mv "$tmp/A.loss" "$tmp/A.losskeep"
    one "$b" B "$r"
done
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for t in A B; do
    printf "%s median: forward %.2f s, training %.1f img/s\n" "$t" \
        "$(awk -v t=$t '$1 == t {print $2}' "$tmp/all" | median)" \
        "$(awk -v t=$t '$1 == t {print $3}' "$tmp/all" | median)"
done
fa=$(awk '$1 == "A" {print $2}' "$tmp/all" | median) fb=$(awk '$1 == "B" {print $2}' "$tmp/all" | median)
ta=$(awk '$1 == "A" {print $3}' "$tmp/all" | median) tb=$(awk '$1 == "B" {print $3}' "$tmp/all" | median)
echo "B/A speed: forward $(echo "scale=3; $fa / $fb" | bc), training $(echo "scale=3; $tb / $ta" | bc)"
if cmp -s "$tmp/A.keep" "$tmp/B.pred"; then echo "predictions identical"; else
    # the probability columns (4 .. NF-1: after path, label, class; before the threshold)
    paste "$tmp/A.keep" "$tmp/B.pred" | awk -F'\t' 'NR > 1 {h = NF / 2
        for (i = 4; i < h; i++) {d = $i - $(i + h); if (d < 0) d = -d; if (d > m) m = d}}
        END {printf "predictions DIFFER: largest |probability A - B| %.3g\n", m}'
fi
if [ -s "$tmp/A.losskeep" ] && cmp -s "$tmp/A.losskeep" "$tmp/B.loss"; then
    echo "step losses identical ($(wc -l < "$tmp/B.loss") steps)"
else
    paste -d' ' "$tmp/A.losskeep" "$tmp/B.loss" | tr ':' ' ' | awk '{d = ($2 - $4) / $2; if (d < 0) d = -d
        if (d > m) m = d} END {printf "step losses DIFFER: largest relative difference %.3g over %d steps\n", m, NR}'
fi
