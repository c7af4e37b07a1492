#!/bin/sh
# lr-run.sh: the runs of lr-plan.md, peer and variant interleaved, seeds 1, 2, 3.
#   nohup sh lr-run.sh /work/runs/bin-lr /work/runs > lr.out 2>&1 &
set -eu
BIN=$1 OUT=$2
HERE=$(cd "$(dirname "$0")/../.." && pwd)   # tests/bench
for seed in 1 2 3; do
    sh "$HERE/accuracy_run.sh" "$BIN" "$OUT/cx.h5" standard "$seed" "$OUT/lr-peer-s$seed" \
        --threads 2 --epochs 14 --input-pool 4
    echo "$(date -u +%FT%TZ) peer s$seed done"
    sh "$HERE/accuracy_run.sh" "$BIN" "$OUT/cx.h5" standard "$seed" "$OUT/lr3e4-s$seed" \
        --threads 2 --epochs 14 --input-pool 4 --lr 3e-4
    echo "$(date -u +%FT%TZ) lr3e4 s$seed done"
done
