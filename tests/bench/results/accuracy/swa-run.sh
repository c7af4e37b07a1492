#!/bin/sh
set -eu
for seed in 1 2 3; do
    sh /work/main/tests/bench/accuracy_run.sh /work/runs/bin-9441479 /work/runs/cx-64.h5 standard "$seed" /work/runs/swa-s$seed --threads 2 --epochs 14 --average-from 8
    echo "$(date -u +%FT%TZ) swa-s$seed done"
done
