#!/bin/sh
# bench_train_cpu.sh: CPU training throughput of the study network (batch 64, 256x256, 2
# classes), cxr against TensorFlow 2.21 (fp32 and mixed_bfloat16; oneDNN, NHWC, Keras) and
# PyTorch (Debian's 1.13), alternated in rounds within one invocation. Prints the CPU, the ISA
# path cxr takes, img/s, the ratios per round, GFLOP/s against the machine's measured peak
# (bench_peak: fp32 and, where the CPU has it, bf16), a backward
# step on denormal-producing data against a normal one, and cxr-train on a real store.
# The cores may be shared: compare ratios within a round, and read cpu_util (threads = ours).
#
# Usage: tests/bench/bench_train_cpu.sh [BUILD_DIR=build] [timed_steps=3] [threads=2] [rounds=2]
# Environment: CXR_BENCH_VENV (default /opt/cxr/bench-venv, made by
#   `scripts/install-deps.sh --bench`) holds tensorflow-cpu; without it TensorFlow is skipped.
#   CXR_BENCH_DATA: a Kaggle-layout folder to pack for the cxr-train timing (default
#   ../shared/data/chest_xray beside the checkout, else data/sample); CXR_BENCH_TRAIN_STEPS
#   (default 8) steps of cxr-train; CXR_BENCH_TF_BF16=1 runs TensorFlow's mixed_bfloat16 also
#   on CPUs without AVX512-BF16/AMX.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
steps=${2:-3}
threads=${3:-2}
rounds=${4:-2}
bin=$build/tests/train/bench_train_cpu
[ -x "$bin" ] || { echo "bench_train_cpu.sh: $bin not built (cmake --build $build --target bench_train_cpu)" >&2; exit 2; }
venv=${CXR_BENCH_VENV:-/opt/cxr/bench-venv}
tfpy=$venv/bin/python
[ -x "$tfpy" ] && "$tfpy" -c 'import tensorflow' 2>/dev/null || tfpy=
export OMP_NUM_THREADS=$threads
get() { echo "$1" | grep '^impl=' | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

model=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { echo "$flags" | grep -qw "$1" && echo 1 || echo 0; }
isa="avx2=$(has avx2) fma=$(has fma) avx512f=$(has avx512f) avx512_bf16=$(has avx512_bf16) amx_bf16=$(has amx_bf16)"
# peak: measured by bench_peak (fused multiply-adds and bf16 dot products on every thread, no
# memory), else estimated: FLOP per cycle per core = 2 FMA units x lanes x 2 (AVX-512: 16 lanes,
# AVX2: 8) at the highest "cpu MHz" seen now, which misses turbo clocks and CPUs with one unit
fpc=32
[ "$(has avx512f)" = 1 ] && fpc=64
mhz=$(grep 'cpu MHz' /proc/cpuinfo | awk '{ if ($4 > m) m = $4 } END { printf "%.0f", m }')
peak=$(awk -v t="$threads" -v f="$fpc" -v m="$mhz" 'BEGIN { printf "%.0f", t * f * m / 1000 }')
peak_how="estimate: $threads threads x $fpc FLOP/cycle x $mhz MHz"
bpeak=
if [ -x "$build/tests/train/bench_peak" ]; then
    pk=$("$build/tests/train/bench_peak" "$threads" 2>/dev/null || true)
    # measured lines only: a kind the CPU lacks prints "impl=peak-KIND skipped: ..."
    p32=$(echo "$pk" | grep '^impl=peak-fp32-avx512 threads=' || echo "$pk" | grep '^impl=peak-fp32-avx2 threads=' || true)
    if [ -n "$p32" ]; then
        peak=$(get "$p32" gflop_per_s)
        peak_how="measured by bench_peak, $(echo "$p32" | sed 's/^impl=peak-//; s/ .*//') FMAs on $threads threads"
    fi
    bpeak=$(get "$(echo "$pk" | grep '^impl=peak-bf16-avx512 threads=' || true)" gflop_per_s)
fi
echo "# $(date -u +%FT%TZ) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu: $model; $isa"
echo "# peak: $peak GFLOP/s fp32 ($peak_how)${bpeak:+; bf16 dot products (vdpbf16ps) $bpeak GFLOP/s}"
echo "# peers: tensorflow $([ -n "$tfpy" ] && "$tfpy" -c 'import tensorflow as t; print(t.__version__)' 2>/dev/null || echo "not installed ($venv)"), torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo 'not installed')"

r=1
while [ "$r" -le "$rounds" ]; do
    echo "## round $r"
    c=$(nice -n 0 "$bin" 64 "$steps" 1 "$threads")
    echo "$c"
    cd_=$(CXR_CPU_DNNL=all "$bin" 64 "$steps" 1 "$threads" 2>&1 || true)
    echo "$cd_" | sed 's/^impl=cxr /impl=cxr-onednn-all /'
    cb=$(BENCH_PRECISION=bf16 "$bin" 64 "$steps" 1 "$threads" 2>&1 || true)
    echo "$cb" | grep -v '^# path' | sed 's/^impl=cxr /impl=cxr-bf16 /' || true
    tf=; tb=
    if [ -n "$tfpy" ]; then
        tf=$("$tfpy" "$here/peer_tf_cpu.py" 64 "$steps" 1 "$threads" 256 float32 2>&1 | grep '^impl=' || true)
        echo "$tf"
        if [ "$(has avx512_bf16)$(has amx_bf16)" != 00 ] || [ -n "${CXR_BENCH_TF_BF16:-}" ]; then
            tb=$("$tfpy" "$here/peer_tf_cpu.py" 64 "$steps" 1 "$threads" 256 mixed_bfloat16 2>&1 | grep '^impl=' || true)
            echo "$tb"
        else
            echo "impl=tf-mixed_bfloat16 skipped: no AVX512-BF16/AMX, TensorFlow emulates bf16 (slower than its fp32; CXR_BENCH_TF_BF16=1 runs it)"
        fi
    fi
    t=$(/usr/bin/python3 "$here/peer_torch_cpu.py" 64 "$steps" 1 "$threads" 2>/dev/null || true)
    echo "$t"
    awk -v c="$(get "$c" img_per_s)" -v d="$(get "$cd_" img_per_s)" -v b="$(get "$cb" img_per_s)" \
        -v tf="$(get "$tf" img_per_s)" -v tb="$(get "$tb" img_per_s)" -v t="$(get "$t" img_per_s)" \
        -v g="$(get "$c" gflop_per_img)" -v p="$peak" -v bp="$bpeak" 'BEGIN {
        printf "ratio round: cxr %.2f img/s = %.1f direct-equivalent GFLOP/s = %.0f%% of fp32 peak (Winograd does fewer)", c, c * g, 100 * c * g / p
        if (b > 0 && bp > 0) printf "; cxr-bf16 %.1f = %.0f%% of bf16 peak", b * g, 100 * b * g / bp
        if (tf > 0) printf "; cxr/tf-fp32 %.2f", c / tf
        if (tb > 0) printf "; cxr/tf-mixed_bf16 %.2f", c / tb
        if (b > 0 && tb > 0) printf "; cxr-bf16/tf-mixed_bf16 %.2f", b / tb
        if (t > 0) printf "; cxr/torch %.2f", c / t
        if (d > 0) printf "; cxr-onednn-all/cxr %.2f", d / c
        printf "\n" }'
    r=$((r + 1))
done

echo "## denormals: backward on images x 1e-36 vs ordinary images, with the library's flushing and without"
echo "# (without flushing, the ordinary images' own products are denormal on some CPUs: compare backward_normal_s"
echo "#  across the two lines; denormal_over_normal means something only with flushing on; specs/model.md, Denormals)"
BENCH_DENORMAL=1 "$bin" 64 1 1 "$threads" | grep '^impl=cxr-denormal'
CXR_CPU_DENORMALS=keep BENCH_DENORMAL=1 "$bin" 64 1 1 "$threads" | grep '^impl=cxr-denormal'

echo "## cxr-train on a real store"
data=${CXR_BENCH_DATA:-$root/../shared/data/chest_xray}
[ -d "$data" ] || data=$root/data/sample
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/tools/cxr-pack" "$data" -o "$tmp/store.h5" --threads "$threads" >/dev/null 2>&1 || {
    echo "cxr-pack $data failed" >&2; exit 1; }
n=${CXR_BENCH_TRAIN_STEPS:-8}
HDF5_PLUGIN_PATH=$build/plugins "$build/tools/cxr-train" "$tmp/store.h5" --device cpu --epochs 1 \
    --max-steps "$n" --batch 64 --threads "$threads" --no-monitor --quiet --log "$tmp/log.jsonl" >/dev/null
grep '"type":"epoch"' "$tmp/log.jsonl" | tr ',' '\n' |
    grep -E '"(epoch_s|eval_s|images_per_s|data_wait_frac|steps)"' | tr '\n' ' ' |
    sed "s/^/cxr-train $(basename "$data") (batch 64, --max-steps $n: the steps field is what ran, $threads threads): /"
echo
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
