#!/bin/sh
# bench_train_cpu.sh: CPU training throughput of the study network (batch 64, 256x256, 2
# classes): cxr's C driver (images over OpenMP threads, and with CXR_CPU_PARALLEL=blas) beside
# the same network in PyTorch, in one run, printing img/s, the ratio, GFLOP/s and CPU use.
# The 2 cores are shared: compare the ratio within one run, and read cpu_util (2.00 = both
# cores ours the whole time).
# Usage: tests/bench/bench_train_cpu.sh [BUILD_DIR=build] [timed_steps=3] [threads=2]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
steps=${2:-3}
threads=${3:-2}
bin=$build/tests/train/bench_train_cpu
[ -x "$bin" ] || { echo "bench_train_cpu.sh: $bin not built (cmake --build $build --target bench_train_cpu)" >&2; exit 2; }
py=/usr/bin/python3
echo "# $(date -u +%FT%TZ) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
c=$(OMP_NUM_THREADS=$threads "$bin" 64 "$steps" 1 "$threads")
echo "$c"
cb=$(CXR_CPU_PARALLEL=blas OMP_NUM_THREADS=$threads "$bin" 64 "$steps" 1 "$threads")
echo "$cb (CXR_CPU_PARALLEL=blas)"
t=$(OMP_NUM_THREADS=$threads "$py" "$here/peer_torch_cpu.py" 64 "$steps" 1 "$threads")
echo "$t"
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
awk -v c="$(get "$c" img_per_s)" -v b="$(get "$cb" img_per_s)" -v t="$(get "$t" img_per_s)" \
    'BEGIN { printf "ratio cxr/torch = %.2f (images mode), %.2f (blas mode)\n", c / t, b / t }'
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
