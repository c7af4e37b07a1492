#!/bin/sh
set -eu
# wait for swa-run.sh to finish
while ! grep -q "swa-s3 done" /work/runs/swa.out; do sleep 10; done
for seed in 1 2 3; do
    sh /work/main/tests/bench/accuracy_run.sh /work/runs/bin-9441479 /work/runs/cx-64.h5 standard "$seed" /work/runs/swa-const-s$seed --threads 2 --epochs 14 --schedule constant --average-from 8
    echo "$(date -u +%FT%TZ) swa-const-s$seed done"
done
