#!/usr/bin/env bash
# test_cuda_module.sh BUILD SAMPLE REL: the CUDA half is a module loaded at run time, only when a GPU
# is asked for (specs/gpu.md "The CUDA module"). CUDA builds only; runs without a GPU.
#  1. no tool links cudart, cuBLAS or cuDNN; the module does, and exports one symbol;
#  2. CPU runs (cxr-eval --version; a small train, eval and predict with --device auto, or cpu
#     where a real NVIDIA driver is present) open none of them (LD_DEBUG=files);
#  3. CXR_CUDA_MODULE=/nonexistent --device cuda: exit 5, naming the path;
#  and where no real NVIDIA driver is present, with an empty libcuda.so.1 on LD_LIBRARY_PATH
#  standing for a driver that CUDA cannot use (tests/gpu/fake_driver.c):
#  4. --device cuda loads the module for real (the check of 2 sees cuBLAS then) and exits 5
#     with CUDA's reason; --device auto says why the GPU is not used and trains on the CPU;
#     a program copied out of the build tree does not load the build tree's module;
#  5. a module that is not a shared object (also named by a bare CXR_CUDA_MODULE, which means
#     ./NAME), not a regular file (a FIFO), or of another build (ABI number, a struct's size, the boundary headers'
#     fingerprint): exit 5, naming the path;
#  6. a GPU test fails (not skipped) when the GPU backend cannot start, skips without a driver.
set -u
B=$1 SAMPLE=$2 REL=$3 # REL: the installed module's folder relative to the programs' (../lib/cxr)
T=$B/tools G=$B/tests/gpu
fails=0
fail() {
    echo "FAIL: $*" >&2
    fails=$((fails + 1))
}
W=$(mktemp -d "${TMPDIR:-/tmp}/cxr-cudamod.XXXXXX")
trap 'rm -rf "$W"' EXIT
cuda_libs='libcxr_cuda[a-z_]*\.so|libcublas|libcublasLt|libcudnn|libcudart'
# run CMD...: run with the dynamic loader's file log in $W/ld.*; exit code in $rc, output in
# $W/out and $W/err
run() {
    rm -f "$W"/ld.*
    LD_DEBUG=files LD_DEBUG_OUTPUT=$W/ld "$@" > "$W/out" 2> "$W/err"
    rc=$?
}
# the CUDA libraries the last run opened (one per line)
opened() { cat "$W"/ld.* 2> /dev/null | grep -oE "file=[^ ]*($cuda_libs)[^ ]*" | sort -u; }
expect() { # WANT_RC TEXT WHAT
    [ "$rc" = "$1" ] || fail "$3: exit $rc, expected $1"
    [ -z "$2" ] || grep -qF -- "$2" "$W/err" || fail "$3: stderr lacks '$2'"
    if [ "$rc" != "$1" ] || { [ -n "$2" ] && ! grep -qF -- "$2" "$W/err"; }; then
        sed 's/^/  | /' "$W/err" >&2
    fi
}
none_opened() { # WHAT
    grep -q "file=" "$W"/ld.* 2> /dev/null || fail "$1: LD_DEBUG=files logged nothing"
    [ -z "$(opened)" ] || fail "$1: a CPU run opened $(opened | tr '\n' ' ')"
}

# 1 ------------------------------------------------------------------------------------------
for p in cxr-pack cxr-train cxr-eval cxr-predict cxr-export; do
    ! ldd "$T/$p" | grep -E "$cuda_libs" || fail "$p links a CUDA library"
done
ldd "$T/libcxr_cuda.so" | grep -q 'libcublas\.so' || fail "libcxr_cuda.so does not link cuBLAS"
ldd "$T/libcxr_cuda.so" | grep -q 'libcudnn\.so' || fail "libcxr_cuda.so does not link cuDNN"
exported=$(nm -D --defined-only "$T/libcxr_cuda.so" | awk 'NF == 3 {print $3}' | sort -u | tr '\n' ' ')
[ "$exported" = "cxr_cuda_module_entry " ] || fail "libcxr_cuda.so exports: $exported"

# 2 ------------------------------------------------------------------------------------------
real_driver=0
ldconfig -p 2> /dev/null | grep -q 'libcuda\.so\.1 ' && real_driver=1
for d in ${LD_LIBRARY_PATH:+${LD_LIBRARY_PATH//:/ }}; do [ -e "$d/libcuda.so.1" ] && real_driver=1; done
dev=auto
[ $real_driver = 1 ] && dev=cpu # auto would rightly load the module there
run "$T/cxr-eval" --version
expect 0 "" "cxr-eval --version"
none_opened "cxr-eval --version"
"$T/cxr-pack" "$SAMPLE" -o "$W/s.h5" --size 32 --shard 8 --val-fraction 0.25 --threads 2 \
    --quiet > /dev/null || { echo "cannot pack the sample" >&2; exit 1; }
train=("$T/cxr-train" "$W/s.h5" --epochs 1 --max-steps 2 --batch 8 --threads 2 --lr 0.001)
run "${train[@]}" --device $dev --checkpoint "$W/m.h5"
expect 0 "device cpu (" "cxr-train --device $dev"
none_opened "cxr-train --device $dev"
run "$T/cxr-eval" "$W/m.h5" "$W/s.h5" --split val --device $dev --threads 2
expect 0 "" "cxr-eval --device $dev"
none_opened "cxr-eval --device $dev"
imgs=$(find "$SAMPLE" -name '*.jpeg' | sort | head -2)
# shellcheck disable=SC2086
run "$T/cxr-predict" "$W/m.h5" $imgs --device $dev --threads 2
expect 0 "" "cxr-predict --device $dev"
none_opened "cxr-predict --device $dev"

# 3 ------------------------------------------------------------------------------------------
CXR_CUDA_MODULE=/nonexistent/libcxr_cuda.so run "${train[@]}" --device cuda
expect 5 "/nonexistent/libcxr_cuda.so (CXR_CUDA_MODULE): No such file or directory" \
    "CXR_CUDA_MODULE=/nonexistent"

if [ $real_driver = 1 ]; then
    echo "test_cuda_module: an NVIDIA driver is installed here: the fake-driver checks (4-6) not run"
else
    fake=$G/fakedriver
    [ -e "$fake/libcuda.so.1" ] || fail "no $fake/libcuda.so.1"
    # 4 --------------------------------------------------------------------------------------
    LD_LIBRARY_PATH=$fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} run "${train[@]}" --device cuda
    expect 5 "an NVIDIA driver is installed but CUDA" "fake driver, --device cuda"
    opened | grep -q libcxr_cuda.so || fail "fake driver: the module was not opened"
    opened | grep -q libcublas || fail "fake driver: cuBLAS was not opened (check 2 cannot fail)"
    LD_LIBRARY_PATH=$fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} run "${train[@]}" --device auto
    expect 0 "device auto: the GPU cannot be used (" "fake driver, --device auto"
    grep -q "); using the CPU" "$W/err" || fail "fake driver, --device auto: not on the CPU"
    # where the module is found: beside the program, then REL (the install layout) from it
    mkdir -p "$W/q" "$W/p/bin/$REL"
    cp "$T/cxr-train" "$T/libcxr_cuda.so" "$W/q/"
    cp "$T/cxr-train" "$W/p/bin/"
    cp "$T/libcxr_cuda.so" "$W/p/bin/$REL/"
    for where in "$W/q/cxr-train $W/q/libcxr_cuda.so" \
        "$W/p/bin/cxr-train $W/p/bin/$REL/libcxr_cuda.so"; do
        read -r prog want <<< "$where"
        LD_LIBRARY_PATH=$fake run "$prog" "$W/s.h5" --epochs 1 --device cuda
        expect 5 "an NVIDIA driver is installed but CUDA" "$prog --device cuda"
        opened | grep -qxF "file=$want" ||
            fail "$prog: opened $(opened | grep libcxr_cuda | tr '\n' ' '), expected $want"
    done
    # a program outside the build tree never loads the build tree's module
    mkdir -p "$W/r" && cp "$T/cxr-train" "$W/r/"
    LD_LIBRARY_PATH=$fake run "$W/r/cxr-train" "$W/s.h5" --epochs 1 --device cuda
    expect 5 "the CUDA module libcxr_cuda.so is not installed (looked for $W/r/libcxr_cuda.so" \
        "a copied program with no module"
    [ -z "$(opened | grep libcxr_cuda)" ] || fail "a copied program opened $(opened | tr '\n' ' ')"
    # 5 --------------------------------------------------------------------------------------
    echo "not a shared object" > "$W/libcxr_cuda.so"
    (cd "$W" && LD_LIBRARY_PATH=$fake CXR_CUDA_MODULE=libcxr_cuda.so run "${train[@]}" --device cuda)
    grep -qF "the CUDA module ./libcxr_cuda.so cannot be loaded" "$W/err" ||
        fail "CXR_CUDA_MODULE=NAME is not the file ./NAME: $(cat "$W/err")"
    LD_LIBRARY_PATH=$fake CXR_CUDA_MODULE=$W/libcxr_cuda.so run "${train[@]}" --device cuda
    expect 5 "the CUDA module $W/libcxr_cuda.so cannot be loaded: $W/libcxr_cuda.so:" \
        "a module that is no shared object"
    # a module cut short (an interrupted copy): named, not a SIGBUS inside dlopen, and auto
    # falls back to the CPU
    head -c 300000 "$T/libcxr_cuda.so" > "$W/cut.so"
    LD_LIBRARY_PATH=$fake CXR_CUDA_MODULE=$W/cut.so run "${train[@]}" --device cuda
    expect 5 "the CUDA module $W/cut.so is cut short: 300000 bytes of the " "a module cut short"
    LD_LIBRARY_PATH=$fake CXR_CUDA_MODULE=$W/cut.so run "${train[@]}" --device auto
    expect 0 "is cut short" "a module cut short, --device auto"
    # a module path that is no regular file (a FIFO: its open blocked for ever, and the first
    # SIGTERM restarted it): named, and auto falls back to the CPU
    mkfifo "$W/fifo.so"
    LD_LIBRARY_PATH=$fake CXR_CUDA_MODULE=$W/fifo.so run timeout 60 "${train[@]}" --device cuda
    expect 5 "the CUDA module $W/fifo.so: not a regular file" "a FIFO as the module"
    LD_LIBRARY_PATH=$fake CXR_CUDA_MODULE=$W/fifo.so run timeout 60 "${train[@]}" --device auto
    expect 0 "not a regular file" "a FIFO as the module, --device auto"
    LD_LIBRARY_PATH=$fake CXR_CUDA_MODULE=$G/libcxr_cuda_stale.so run "${train[@]}" --device cuda
    expect 5 "the CUDA module $G/libcxr_cuda_stale.so is stale: built as cxr ? with module ABI 0" \
        "a stale module"
    LD_LIBRARY_PATH=$fake CXR_CUDA_MODULE=$G/libcxr_cuda_stale_size.so run "${train[@]}" --device cuda
    expect 5 "the CUDA module $G/libcxr_cuda_stale_size.so is stale" "a module with another struct size"
    LD_LIBRARY_PATH=$fake CXR_CUDA_MODULE=$G/libcxr_cuda_stale_fingerprint.so run "${train[@]}" --device cuda
    expect 5 "the CUDA module $G/libcxr_cuda_stale_fingerprint.so is stale: built as cxr $(
        "$T/cxr-eval" --version | awk '{print $2}')+0000000000000000" "a module of other boundary headers"
    # 6 --------------------------------------------------------------------------------------
    "$G/test_gpu_ops" fp32 > "$W/ops.out" 2>&1
    rc=$?
    [ $rc = 77 ] || fail "test_gpu_ops without a driver: exit $rc, expected 77 (skipped)"
    LD_LIBRARY_PATH=$fake "$G/test_gpu_ops" fp32 > "$W/ops.out" 2>&1
    rc=$?
    if [ $rc = 0 ] || [ $rc = 77 ]; then
        fail "test_gpu_ops with a driver CUDA cannot use: exit $rc, expected a failure"
        sed 's/^/  | /' "$W/ops.out" >&2
    fi
fi
if [ $fails -ne 0 ]; then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "test_cuda_module: all checks passed"
