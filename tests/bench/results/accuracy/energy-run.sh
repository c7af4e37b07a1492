#!/bin/sh
set -eu
B=/work/runs/bin-6cd3957
R=/work/main/tests/bench/accuracy_run.sh
sh $R $B /work/runs/cx-64.h5 standard 1 /work/runs/quarter-rep-s1 --threads 2 --epochs 14
echo "$(date -u +%FT%TZ) quarter-rep-s1 done"
for seed in 1 2 3; do
    sh $R $B /work/runs/cx-64.h5 standard "$seed" /work/runs/energy-s$seed --threads 2 --epochs 14 --augment default,detail=0.5:2,contrast=0.3
    echo "$(date -u +%FT%TZ) energy-s$seed done"
done
sh $R $B /work/runs/cx.h5 standard 1 /work/runs/swa256-long-s1 --threads 2 --schedule constant --average-from 15
echo "$(date -u +%FT%TZ) swa256-long-s1 done"
