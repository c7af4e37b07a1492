#!/bin/sh
set -eu
sh /work/main/tests/bench/accuracy_run.sh /work/runs/bin-524eda7 /work/runs/cx.h5 standard 1 /work/runs/swa256-s1 --threads 2 --epochs 14 --schedule constant --average-from 8
echo "$(date -u +%FT%TZ) swa256-s1 done"
