#!/bin/sh
set -eu
sh /work/main/tests/bench/accuracy_run.sh /work/runs/bin-6cd3957 /work/runs/cx.h5 standard 3 /work/runs/swa256-long-s3 --threads 2 --schedule constant --average-from 15
echo "$(date -u +%FT%TZ) swa256-long-s3 done"
