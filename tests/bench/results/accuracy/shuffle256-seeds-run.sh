#!/bin/sh
# shuffle256-seeds-plan.md's chain: seed 2, then seed 3 (rerun to resume either).
set -eu
for s in 2 3; do
    CXR_SHUFFLE_WINDOW=all sh /work/main/tests/bench/accuracy_run.sh /work/runs/bin-shuffle \
        /work/runs/cx.h5 standard $s /work/runs/shuffle256-s$s --threads 2
done
