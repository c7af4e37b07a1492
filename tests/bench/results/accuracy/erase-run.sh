#!/bin/sh
# erase-run.sh: the runs of erase-plan.md, one after another.
#   nohup sh erase-run.sh /work/runs/bin-erase /work/runs > erase.out 2>&1 &
set -eu
BIN=$1 OUT=$2
HERE=$(cd "$(dirname "$0")/../.." && pwd)   # tests/bench
for seed in 1 2 3; do
    sh "$HERE/accuracy_run.sh" "$BIN" "$OUT/cx.h5" standard "$seed" "$OUT/erase-peer-s$seed" \
        --threads 2 --epochs 14 --input-pool 4
    echo "$(date -u +%FT%TZ) erase-peer-s$seed done"
    sh "$HERE/accuracy_run.sh" "$BIN" "$OUT/cx.h5" standard "$seed" "$OUT/erase-s$seed" \
        --threads 2 --epochs 14 --input-pool 4 --augment default,erase=0.02:0.4
    echo "$(date -u +%FT%TZ) erase-s$seed done"
done
