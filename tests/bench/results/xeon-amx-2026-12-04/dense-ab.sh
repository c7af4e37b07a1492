#!/bin/sh
# dense-ab.sh BUILD: dense-plan.md's A/B, 6 rounds, the order swapped every round.
B=$1
bin=$B/tests/train/bench_train_cpu
export OMP_NUM_THREADS=2
{ date -u; grep -m1 'model name' /proc/cpuinfo; }
for r in 1 2 3 4 5 6; do
    if [ $((r % 2)) = 1 ]; then order="bf16 fp32"; else order="fp32 bf16"; fi
    for m in $order; do
        echo "round $r dense=$m $(CXR_DNNL_DENSE=$m BENCH_PRECISION=bf16 "$bin" 64 3 1 2 | grep '^impl=')"
    done
done
