#!/bin/sh
# gap/run.sh: the runs and val probes of gap-plan.md, in the plan's order, one after another at
# 2 threads. BIN holds the binaries of acfc5ce; STORE the 128x128 store; OUT the runs' parent.
#   nohup sh gap/run.sh /work/runs/bin-acfc5ce /work/runs/cx-128.h5 /work/runs > gap.out 2>&1 &
set -eu
BIN=$1 STORE=$2 OUT=$3
HERE=$(cd "$(dirname "$0")/../../.." && pwd)   # tests/bench
for run in gap-s1:gap:1 flat128-s1:flatten:1 gap-s2:gap:2 gap-s3:gap:3; do
    name=${run%%:*} rest=${run#*:} head=${rest%%:*} seed=${rest#*:}
    sh "$HERE/accuracy_run.sh" "$BIN" "$STORE" standard "$seed" "$OUT/$name" --threads 2 \
        --epochs 14 --head "$head"
    for v in none scale=1.25:1.25 border=0.1:0.1; do
        "$BIN/cxr-eval" "$OUT/$name/model.best.h5" "$STORE" --split val --perturb "$v" --json \
            --threads 2 > "$OUT/$name/probe-$v.json" 2>> "$OUT/$name/train.out"
    done
    echo "$(date -u +%FT%TZ) $name done"
done
