#!/bin/bash
# bench_forward.sh MODEL.h5 STORE.h5 [BIN] [ROUNDS] [BATCH]: the CPU forward pass (what cxr-eval
# and cxr-predict spend their time on) against onnxruntime running the same network, exported
# by cxr-export, over the same preprocessed images (the store's test split), same batch (16,
# cxr-predict's default), 1 and 2 threads, alternated in the same run (ROUNDS rounds, default 2).
# cxr: cxr-eval's wall time (model loading and store reading included); peer: session creation
# + timed passes (peer_onnxruntime.py; its image reading is untimed). Python: the bench venv
# (scripts/install-deps.sh --bench). Prints one line per run, medians, the ratio and the CPU.
set -eu
model=$1 store=$2 bin=${3:-build/tools} rounds=${4:-2} batch=${5:-16}
here=$(cd "$(dirname "$0")" && pwd)
py=${CXR_BENCH_VENV:-/opt/cxr/bench-venv}/bin/python
lib=${CXR_LIBRARY:-$(cd "$bin/.." && pwd)/libcxr.so}
"$py" -c 'import onnxruntime, numpy' 2>/dev/null || {
    echo "no onnxruntime at $py (scripts/install-deps.sh --bench)" >&2
    exit 77
}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-forward.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$bin/cxr-export" "$model" -o "$work/m.onnx" >/dev/null
n=$(h5dump -H -d /test/labels "$store" | grep -o 'DATASPACE  SIMPLE { ( [0-9]*' | grep -o '[0-9]*$')
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: $model, store: $store (test split: $n images), batch $batch"
cat "$store" "$model" > /dev/null # warm the page cache: the first arm would read them cold
for r in $(seq "$rounds"); do
    for t in 1 2; do
        /usr/bin/time -f %e -o "$work/t" "$bin/cxr-eval" "$model" "$store" --split test \
            --device cpu --threads "$t" --batch "$batch" >/dev/null 2>"$work/err" ||
            { cat "$work/err" >&2; exit 1; }
        s=$(cat "$work/t")
        echo "round $r threads $t cxr-eval: $n images in $s s ($(echo "scale=1; $n / $s" | bc) img/s)" |
            tee -a "$work/lines"
        line=$(PYTHONPATH="$here/../../python" CXR_LIBRARY="$lib" "$py" "$here/peer_onnxruntime.py" \
            "$work/m.onnx" "$store" test "$t" "$batch")
        ps=$(echo "$line" | sed 's/.*in \([0-9.]*\) s.*session \([0-9.]*\) s/\1 + \2/' | bc)
        echo "round $r threads $t $line; with the session $(echo "scale=1; $n / $ps" | bc) img/s" |
            tee -a "$work/lines"
    done
done
for t in 1 2; do
    c=$(grep "threads $t cxr-eval" "$work/lines" | sed 's/.*(\([0-9.]*\) img.*/\1/' | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')
    o=$(grep "threads $t onnx" "$work/lines" | sed 's/.*session \([0-9.]*\) img.*/\1/' | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}')
    echo "threads $t medians: cxr-eval $c img/s, onnxruntime (with the session) $o img/s, cxr/onnxruntime $(echo "scale=2; $c / $o" | bc)"
done
