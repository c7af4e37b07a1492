#!/bin/bash
# test_onnxruntime.sh BIN SAMPLE PYDIR LIBCXR (export.onnxruntime): the exported ONNX model under
# onnx.checker (full check, with shape inference) and onnxruntime, fed the preprocessed images
# of a store packed from data/sample (read through the cxr Python package), must give
# cxr-predict's probabilities on the same JPEGs within 1e-5 (absolute), for the study's head and for
# head gap, for an input pool of 4 and for an input scale (a zscore255 store), and with the
# weights in a file beside the model (--external-data, read from another working folder).
# Python: the bench venv
# ($CXR_BENCH_VENV, made by scripts/install-deps.sh --bench; else the one CMake's
# -DCXR_BENCH_VENV names, CXR_BENCH_VENV_CONFIGURED: the cache's value overrode a venv given in
# ctest's environment); skipped (77) without onnx, onnxruntime and numpy there.
BIN=$1 SAMPLE=$2 PYDIR=$3 LIB=$4
PY=${CXR_BENCH_VENV:-${CXR_BENCH_VENV_CONFIGURED:-/opt/cxr/bench-venv}}/bin/python
if ! [ -x "$PY" ] || ! "$PY" -c 'import onnx, onnxruntime, numpy' 2>/dev/null; then
    echo "SKIPPED: no python with onnx, onnxruntime and numpy at $PY (scripts/install-deps.sh --bench)"
    exit 77
fi
. "$(dirname "$0")/../cli/common.sh"
pack_sample "$WORK/s.h5"
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" --device cpu --epochs 1 --batch 8 --max-steps 1 \
    --threads 2 --lr 0.00001 --checkpoint "$WORK/ck.h5"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/m.onnx"
[ "$fails" = 0 ] || finish
PYTHONPATH=$PYDIR CXR_LIBRARY=$LIB "$PY" "$(dirname "$0")/onnx_check.py" "$WORK/m.onnx" "$WORK/ck.h5" \
    "$WORK/s.h5" "$SAMPLE" "$BIN/cxr-predict" || fail "onnx_check.py"
# the same model with its weights in m.onnx.data (external data), in another folder: found
# beside the model
mkdir -p "$WORK/ext"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/ext/m.onnx" --external-data
[ -s "$WORK/ext/m.onnx.data" ] || fail "no ext/m.onnx.data"
[ "$fails" = 0 ] || finish
check=$(realpath "$(dirname "$0")/onnx_check.py")
(cd / && PYTHONPATH=$PYDIR CXR_LIBRARY=$LIB "$PY" "$check" \
    "$WORK/ext/m.onnx" "$WORK/ck.h5" "$WORK/s.h5" "$SAMPLE" "$BIN/cxr-predict") ||
    fail "onnx_check.py (external data)"
# the same for a model with the gap head (GlobalAveragePool before dense1)
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" --device cpu --epochs 1 --batch 8 --max-steps 1 \
    --threads 2 --lr 0.00001 --head gap --checkpoint "$WORK/gap.h5"
expect_rc 0 "$BIN/cxr-export" "$WORK/gap.h5" -o "$WORK/gap.onnx"
[ "$fails" = 0 ] || finish
grep -q GlobalAveragePool "$WORK/gap.onnx" || fail "gap.onnx has no GlobalAveragePool node"
PYTHONPATH=$PYDIR CXR_LIBRARY=$LIB "$PY" "$(dirname "$0")/onnx_check.py" "$WORK/gap.onnx" \
    "$WORK/gap.h5" "$WORK/s.h5" "$SAMPLE" "$BIN/cxr-predict" || fail "onnx_check.py (head gap)"
# and an input pool of 4 (AveragePool before conv1: the network reads the 4x4 means)
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" --device cpu --epochs 1 --batch 8 --max-steps 1 \
    --threads 2 --lr 0.00001 --input-pool 4 --checkpoint "$WORK/pool.h5"
expect_rc 0 "$BIN/cxr-export" "$WORK/pool.h5" -o "$WORK/pool.onnx"
[ "$fails" = 0 ] || finish
grep -q AveragePool "$WORK/pool.onnx" || fail "pool.onnx has no AveragePool node"
PYTHONPATH=$PYDIR CXR_LIBRARY=$LIB "$PY" "$(dirname "$0")/onnx_check.py" "$WORK/pool.onnx" \
    "$WORK/pool.h5" "$WORK/s.h5" "$SAMPLE" "$BIN/cxr-predict" || fail "onnx_check.py (input pool 4)"
# and a store of [0, 255] pixels (--normalize zscore255): the input scale's Mul and Add before
# conv1
"$BIN/cxr-pack" "$SAMPLE" -o "$WORK/z.h5" --size 32 --shard 8 --val-fraction 0.25 --threads 2 \
    --normalize zscore255 --quiet >/dev/null || fail "cannot pack the sample with zscore255"
expect_rc 0 "$BIN/cxr-train" "$WORK/z.h5" --device cpu --epochs 1 --batch 8 --max-steps 1 \
    --threads 2 --lr 0.00001 --checkpoint "$WORK/z.ck.h5"
expect_rc 0 "$BIN/cxr-export" "$WORK/z.ck.h5" -o "$WORK/z.onnx"
[ "$fails" = 0 ] || finish
PYTHONPATH=$PYDIR CXR_LIBRARY=$LIB "$PY" - "$WORK/z.onnx" <<'PY' || fail "z.onnx lacks the input scale"
import sys, onnx
ops = [n.op_type for n in onnx.load(sys.argv[1]).graph.node]
sys.exit(0 if ops[:5] == ["Constant", "Constant", "Mul", "Add", "Conv"] else 1)
PY
PYTHONPATH=$PYDIR CXR_LIBRARY=$LIB "$PY" "$(dirname "$0")/onnx_check.py" "$WORK/z.onnx" \
    "$WORK/z.ck.h5" "$WORK/z.h5" "$SAMPLE" "$BIN/cxr-predict" || fail "onnx_check.py (input scale)"
finish
