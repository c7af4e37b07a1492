#!/bin/sh
# shuffle-run.sh: the runs of shuffle-plan.md, one after another.
#   nohup sh shuffle-run.sh /work/runs/bin-shuffle /work/runs > shuffle.out 2>&1 &
set -eu
BIN=$1 OUT=$2
HERE=$(cd "$(dirname "$0")/../.." && pwd)   # tests/bench
for seed in 1 2 3; do
    CXR_SHUFFLE_WINDOW=all sh "$HERE/accuracy_run.sh" "$BIN" "$OUT/cx.h5" standard "$seed" \
        "$OUT/shuffle-s$seed" --threads 2 --epochs 14 --input-pool 4
    echo "$(date -u +%FT%TZ) shuffle-s$seed done"
done
sh "$HERE/accuracy_run.sh" "$BIN" "$OUT/cx.h5" standard 1 "$OUT/shuffle-peer-s1" --threads 2 \
    --epochs 14 --input-pool 4
echo "$(date -u +%FT%TZ) shuffle-peer-s1 done"
