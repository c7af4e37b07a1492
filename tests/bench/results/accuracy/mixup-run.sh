#!/bin/sh
# mixup-run.sh: the runs of mixup-plan.md, one set after another, seeds 1, 2, 3.
#   nohup sh mixup-run.sh peer /work/runs/bin-peer /work/runs > mixup-peer.out 2>&1 &
#   nohup sh mixup-run.sh mixup /work/runs/bin-mixup /work/runs > mixup.out 2>&1 &
set -eu
SET=$1 BIN=$2 OUT=$3
HERE=$(cd "$(dirname "$0")/../.." && pwd)   # tests/bench
for seed in 1 2 3; do
    if [ "$SET" = peer ]; then
        sh "$HERE/accuracy_run.sh" "$BIN" "$OUT/cx.h5" standard "$seed" "$OUT/mixup-peer-s$seed" \
            --threads 2 --epochs 14 --input-pool 4
    else
        sh "$HERE/accuracy_run.sh" "$BIN" "$OUT/cx.h5" standard "$seed" "$OUT/mixup-s$seed" \
            --threads 2 --epochs 14 --input-pool 4 --mixup 0.2
    fi
    echo "$(date -u +%FT%TZ) $SET s$seed done"
done
