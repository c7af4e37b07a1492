#!/bin/sh
# gap/run-lr.sh: flat128-s1's val probes (gap-plan.md, addendum 1), then the runs and probes of
# gap-lr-plan.md, one after another at 2 threads. Arguments as gap/run.sh's.
#   nohup sh gap/run-lr.sh /work/runs/bin-acfc5ce /work/runs/cx-128.h5 /work/runs > gap-lr.out 2>&1 &
set -eu
BIN=$1 STORE=$2 OUT=$3
HERE=$(cd "$(dirname "$0")/../../.." && pwd)   # tests/bench
probe() {
    for v in none scale=1.25:1.25 border=0.1:0.1; do
        "$BIN/cxr-eval" "$1/model.best.h5" "$STORE" --split val --perturb "$v" --json \
            --threads 2 > "$1/probe-$v.json" 2>> "$1/train.out"
    done
}
probe "$OUT/flat128-s1"
echo "$(date -u +%FT%TZ) flat128-s1 probed"
for seed in 1 2 3; do
    sh "$HERE/accuracy_run.sh" "$BIN" "$STORE" standard "$seed" "$OUT/gap-lr-s$seed" --threads 2 \
        --epochs 14 --head gap --lr 1e-3
    probe "$OUT/gap-lr-s$seed"
    echo "$(date -u +%FT%TZ) gap-lr-s$seed done"
done
