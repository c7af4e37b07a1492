#!/bin/sh
# bench_train_memory.sh: peak memory (RSS) of one training process of the study network
# (256x256, 2 classes, forward + class-weighted loss + backward + Adam on random data), cxr's
# bench_train_cpu against PyTorch's peer_torch_cpu.py (the same shapes and step), and against an
# older cxr build when one is given, at batch 64 and 256, alternated in rounds. Prints the CPU,
# one line per process (peak RSS from /usr/bin/time, images/s, the loss as a check that the
# builds train alike) and cxr's peak against each peer's. A peer that is missing is skipped,
# said so. In cxr's figure: the parameters with their gradients and Adam moments (1.03 GiB),
# the activations of the batch and, on AVX-512 CPUs, oneDNN's copies of a chunk of it
# (specs/model.md, "Memory" and "oneDNN and instruction sets"). About 7 minutes on 2 cores,
# most of it PyTorch's (Debian's 1.13 trains at ~3 img/s there). Results:
# tests/bench/results/xeon-2026-12-07c/bench_train_memory.txt.
#
# Usage: tests/bench/bench_train_memory.sh [BUILD_DIR=build] [PEER_BUILD_DIR=-] [rounds=1]
#        [threads=2] [batches="64 256"]
# Environment: BENCH_PRECISION=bf16 measures cxr's bf16 (the peers stay as they are: PyTorch
# fp32; an older build in bf16 too).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
peer=${2:--}
rounds=${3:-1}
threads=${4:-2}
batches=${5:-64 256}
bin=$build/tests/train/bench_train_cpu
[ -x "$bin" ] || { echo "bench_train_memory.sh: $bin not built (cmake --build $build --target bench_train_cpu)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench_train_memory.sh: /usr/bin/time missing (Debian package time)" >&2; exit 2; }
pbin=
if [ "$peer" != - ]; then
    pbin=$peer/tests/train/bench_train_cpu
    [ -x "$pbin" ] || { echo "bench_train_memory.sh: $pbin not built" >&2; exit 2; }
fi
torch=1
/usr/bin/python3 -c 'import torch' 2>/dev/null || torch=0
export OMP_NUM_THREADS="$threads"
echo "# $(date -u +%FT%TZ) $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "# cxr: $bin (this checkout: $(git -C "$here" describe --always --dirty 2>/dev/null || echo "?"))${BENCH_PRECISION:+, BENCH_PRECISION=$BENCH_PRECISION}"
echo "# older cxr: $([ -n "$pbin" ] && echo "$pbin" || echo 'none given')"
echo "# torch: $([ "$torch" = 1 ] && /usr/bin/python3 -c 'import torch; print(torch.__version__)' || echo 'not installed: skipped')"
"$bin" 1 0 0 "$threads" 2>&1 | grep '^# path' || true

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# run NAME BATCH CMD...: one process, its peak RSS in MB and the figures of its key=value line
run() {
    name=$1 b=$2
    shift 2
    if ! /usr/bin/time -f 'maxrss_kb=%M' -o "$tmp" "$@" >"$tmp.out" 2>&1; then
        echo "round $r batch $b $name: failed: $(tail -1 "$tmp.out")"
        rm -f "$tmp.out"
        return 0
    fi
    line=$(grep '^impl=' "$tmp.out" | tail -1)
    rm -f "$tmp.out"
    kb=$(sed -n 's/^maxrss_kb=//p' "$tmp")
    ips=$(echo "$line" | tr ' ' '\n' | sed -n 's/^img_per_s=//p')
    loss=$(echo "$line" | tr ' ' '\n' | sed -n 's/^loss=//p')
    mb=$((kb / 1024))
    echo "round $r batch $b $name: peak_rss_mb=$mb img_per_s=$ips loss=$loss"
    eval "rss_${name}_$b=\$mb"
}

r=1
while [ "$r" -le "$rounds" ]; do
    for b in $batches; do
        run cxr "$b" "$bin" "$b" 2 1 "$threads"
        [ -n "$pbin" ] && run cxr_old "$b" "$pbin" "$b" 2 1 "$threads"
        [ "$torch" = 1 ] && run torch "$b" /usr/bin/python3 "$here/peer_torch_cpu.py" "$b" 2 1 "$threads"
        for p in cxr_old torch; do
            eval "v=\${rss_${p}_$b:-}"
            eval "c=\${rss_cxr_$b:-}"
            [ -n "$v" ] && [ -n "$c" ] && [ "$v" -gt 0 ] &&
                awk -v r="$r" -v b="$b" -v p="$p" -v c="$c" -v v="$v" \
                    'BEGIN { printf "round %d batch %d: cxr peak RSS / %s: %.2f\n", r, b, p, c / v }'
            eval "unset rss_${p}_$b"
        done
        eval "unset rss_cxr_$b"
    done
    r=$((r + 1))
done
