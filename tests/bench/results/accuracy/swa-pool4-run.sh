#!/bin/sh
set -eu
for seed in 1 2 3; do
    sh /work/main/tests/bench/accuracy_run.sh /work/runs/bin-3a301d1 /work/runs/cx.h5 standard "$seed" /work/runs/swa-pool4-s$seed --threads 2 --epochs 14 --input-pool 4 --schedule constant --average-from 8
    echo "$(date -u +%FT%TZ) swa-pool4-s$seed done"
done
