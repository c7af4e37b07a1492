#!/bin/sh
# run.sh BUILD: plan.md's measurements, one after another, raw output beside this script.
#   nohup sh run.sh /work/lb > run.out 2>&1 &
set -u
B=$1
D=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$D/../../../.." && pwd)
cd /tmp
{ date -u; grep -m1 'model name' /proc/cpuinfo; grep -m1 flags /proc/cpuinfo | tr ' ' '\n' |
    grep -E '^(avx512f|avx512_bf16|amx_bf16|amx_tile|amx_int8)$' | tr '\n' ' '; echo;
  git -C "$ROOT" rev-parse --short HEAD; } > "$D/machine.txt"
ctest --test-dir "$B" -R 'train\.(bf16|dnnl|ops_avx512|fpenv)' -V > "$D/ctest_isa.txt" 2>&1
echo "$(date -u +%T) ctest done"
"$B/tests/train/bench_ops_cpu" 64 4 2 > "$D/bench_ops_cpu.txt" 2>&1
echo "$(date -u +%T) bench_ops_cpu done"
CXR_BENCH_VENV=/opt/cxr/bench-venv sh "$ROOT/tests/bench/bench_train_cpu.sh" "$B" 3 2 2 \
    > "$D/bench_train_cpu.txt" 2>&1
echo "$(date -u +%T) bench_train_cpu done"
# bf16 quality, the 2026-12-03 protocol (xeon-2026-12-03/bf16-quality/run.sh)
Q=/work/runs/amx-q
mkdir -p "$Q"
for p in fp32 bf16; do
    mkdir -p "$Q/$p"
    HDF5_PLUGIN_PATH=$B/plugins "$B/tools/cxr-train" /work/runs/cx.h5 --device cpu --precision $p \
        --epochs 3 --seed 1 --threads 1 --log "$Q/$p/train.jsonl" --checkpoint "$Q/$p/model.h5" \
        > "$Q/$p/train.out" 2>&1 &
done
wait
echo "$(date -u +%T) quality done"
