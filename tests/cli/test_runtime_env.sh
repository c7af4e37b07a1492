#!/bin/bash
# test_runtime_env.sh BIN SAMPLE EDIT HAVE_CUDA: the tools under what a user's shell or batch job
# may set around them.
# - An OpenMP runtime that grants fewer threads than asked for (OMP_THREAD_LIMIT, OMP_DYNAMIC,
#   OMP_MAX_ACTIVE_LEVELS=0) gives the results of the threads it grants, and the log names
#   those (the ops split their work into as many slices as threads: a smaller team left slices
#   undone, and training, evaluation and prediction were silently wrong).
# - On the im2col + sgemm path an evaluation has the same bits at any thread count.
# - An address-space limit (ulimit -v: a batch scheduler's vmem limit) too small for the model
#   ends cxr-train with exit 1, its reason and what to change (the limit, a smaller --batch),
#   and never hangs (a build that linked OpenBLAS
#   started its thread pool at load; one of its threads could spin forever under the limit).
# - A tool started in a folder that holds files named as its libraries loads the system's: the
#   build tree's binaries had an empty RUNPATH entry (CMake's padding, a trailing ':'), which the
#   loader reads as the current folder.
# - A CPU knob (CXR_CPU_*, CXR_DNNL_*) of a value it does not take is refused, naming what it
#   takes (each silently kept the default); a documented value in another case is taken. bf16
#   under a oneDNN capped below avx512_core is refused before the run line is logged. A resume
#   on other kernels than its log's last run names is warned of.
BIN=$1 SAMPLE=$2 EDIT=$3 HAVE_CUDA=$4
. "$(dirname "$0")/common.sh"
W=$WORK
pack_sample "$W/s.h5"
mkdir "$W/libs"
for lib in $(ldd "$BIN/cxr-train" | awk '$2 == "=>" {print $1}'); do echo junk >"$W/libs/$lib"; done
[ -n "$(ls "$W/libs")" ] || fail "ldd listed no library of cxr-train"
for t in cxr-train cxr-pack cxr-eval; do
    (cd "$W/libs" && "$BIN/$t" --version) >/dev/null 2>"$W/err" ||
        fail "$t, started in a folder of junk files named as its libraries: $(head -1 "$W/err")"
done
# cxr-pack says the threads it packs with: the team OpenMP grants, not the count asked for
said=$(env OMP_THREAD_LIMIT=1 "$BIN/cxr-pack" "$SAMPLE" -o "$W/s1.h5" --size 32 --shard 8 \
    --val-fraction 0.25 --threads 2 --quiet | head -1)
case $said in *" with 1 thread") ;; *) fail "cxr-pack under OMP_THREAD_LIMIT=1 says: $said" ;; esac
T="--device cpu --batch 8 --no-monitor -q --epochs 1 --max-steps 3 --augment none --lr 0.001"
device() { grep -o '"device":"[^"]*"' "$1" | head -1; }
train() { # LOG THREADS [env...]: a run logged to LOG, its checkpoint beside it ($PRE before it)
    local log=$1 threads=$2; shift 2
    expect_rc 0 ${PRE:-} env "$@" "$BIN/cxr-train" "$W/s.h5" $T --threads "$threads" \
        --log "$W/$log" --checkpoint "$W/$log.h5"
}
train t1.jsonl 1
train t2.jsonl 2
[ "$(epoch_losses "$W/t1.jsonl")" != "$(epoch_losses "$W/t2.jsonl")" ] ||
    echo "note: 1 and 2 threads gave the same losses (the checks below still hold)"
# name, threads asked, the run it must equal (threads granted), what runs it; OMP_DYNAMIC on one
# CPU (taskset, the first this process may use): libgomp's dynamic team is the CPUs minus the
# load average, so 1 whatever the load
cpu=$(awk '/^Cpus_allowed_list/ { split($2, a, "[-,]"); print a[1] }' /proc/self/status)
while read -r name threads want envs; do
    PRE=
    [ "$name" = dynamic ] && PRE="taskset -c $cpu"
    train "$name.jsonl" "$threads" $envs
    [ "$(epoch_losses "$W/$name.jsonl")" = "$(epoch_losses "$W/$want.jsonl")" ] ||
        fail "$envs --threads $threads: losses $(epoch_losses "$W/$name.jsonl" | tr '\n' ' ')," \
            "not those of $want: $(epoch_losses "$W/$want.jsonl" | tr '\n' ' ')"
    [ "$(device "$W/$name.jsonl")" = "$(device "$W/$want.jsonl")" ] ||
        fail "$envs --threads $threads: the log says $(device "$W/$name.jsonl")"
done <<'RUNS'
limit1 2 t1 OMP_THREAD_LIMIT=1
levels0 2 t1 OMP_MAX_ACTIVE_LEVELS=0
dynamic 2 t2 OMP_DYNAMIC=true
RUNS
grep -q '"device":"cpu (1 thread)"' "$W/limit1.jsonl" || fail "OMP_THREAD_LIMIT=1: $(device "$W/limit1.jsonl")"
# evaluation and prediction: the same output with a thread limit
expect_rc 0 "$BIN/cxr-eval" "$W/t2.jsonl.h5" "$W/s.h5" --device cpu --threads 2 --predictions "$W/e2.tsv"
expect_rc 0 env OMP_THREAD_LIMIT=1 "$BIN/cxr-eval" "$W/t2.jsonl.h5" "$W/s.h5" --device cpu \
    --threads 2 --predictions "$W/e1.tsv"
cmp -s "$W/e1.tsv" "$W/e2.tsv" || fail "cxr-eval under OMP_THREAD_LIMIT=1 predicts otherwise"
expect_rc 0 "$BIN/cxr-predict" "$W/t2.jsonl.h5" "$SAMPLE/test" --device cpu --threads 2
mv "$W/out" "$W/p2.txt"
expect_rc 0 env OMP_THREAD_LIMIT=1 "$BIN/cxr-predict" "$W/t2.jsonl.h5" "$SAMPLE/test" \
    --device cpu --threads 2
cmp -s "$W/out" "$W/p2.txt" || fail "cxr-predict under OMP_THREAD_LIMIT=1 predicts otherwise"

# the im2col + sgemm path (CPUs without AVX2+FMA; CXR_CPU_PARALLEL=blas here): an evaluation
# has the same bits at any thread count, as on the default path (the dense forward's products
# were one slice per thread: other widths, other last bits)
for th in 1 2 3; do
    expect_rc 0 env CXR_CPU_PARALLEL=blas "$BIN/cxr-eval" "$W/t2.jsonl.h5" "$W/s.h5" --device cpu \
        --threads $th --predictions "$W/blas$th.tsv"
done
for th in 1 3; do
    cmp -s "$W/blas$th.tsv" "$W/blas2.tsv" ||
        fail "CXR_CPU_PARALLEL=blas: cxr-eval --threads $th predicts otherwise than --threads 2"
done

# an address-space limit too small for the study's model at 256 px (67.7M parameters): exit 1
# naming the allocation, within seconds (killed after 60 s: a hang), OPENBLAS_NUM_THREADS unset
pack_sample "$W/s256.h5" 256
kbs="250000 200000 160000"
if ldd "$BIN/cxr-train" | grep -q libopenblas; then # a build without oneDNN (README)
    echo "note: cxr-train links OpenBLAS (a build without oneDNN): the ulimit -v checks are not run"
    kbs=
fi
for kb in $kbs; do
    env -u OPENBLAS_NUM_THREADS bash -c "ulimit -v $kb; exec timeout -s KILL 60 \"\$@\"" - \
        "$BIN/cxr-train" "$W/s256.h5" --device cpu --threads 2 --no-monitor -q --epochs 1 \
        --no-checkpoint >"$W/out" 2>"$W/err"
    rc=$?
    [ "$rc" = 1 ] || { fail "cxr-train under ulimit -v $kb: exit $rc (want 1; 137: hung)"; sed 's/^/  | /' "$W/err" >&2; }
    # the allocation, with the limit that stopped it, and what to change
    grep -q "cannot allocate.* (this process's address space is limited to [0-9]* MiB: ulimit -v)$" "$W/err" ||
        fail "cxr-train under ulimit -v $kb: $(head -1 "$W/err")"
    grep -q "^cxr-train: out of memory; a smaller --batch" "$W/err" ||
        fail "cxr-train under ulimit -v $kb: no hint: $(tail -1 "$W/err")"
done
for kv in CXR_CPU_WINOGRAD=off CXR_CPU_ISA=sse41 CXR_CPU_DENORMALS=bogus CXR_CPU_PARALLEL=omp2 \
    CXR_CPU_DNNL_MIN_C=32,0 CXR_DNNL_ALGO=winograd CXR_DNNL_FWD=on CXR_DNNL_DENSE=fp16; do
    # oneDNN's own knobs also where no oneDNN context is made (CXR_CPU_DNNL=none)
    extra=; case $kv in CXR_DNNL_*) extra=CXR_CPU_DNNL=none ;; esac
    env $extra "$kv" "$BIN/cxr-train" "$W/s1.h5" $T --no-checkpoint --select none >/dev/null 2>"$W/err"
    rc=$?
    [ "$rc" = 2 ] && grep -qF "${kv}: not" "$W/err" ||
        fail "$kv: exit $rc (want 2), stderr: $(tail -1 "$W/err")"
done
if grep -qw avx2 /proc/cpuinfo; then # our kernels run (else the im2col path: neither applies)
expect_rc 0 env CXR_CPU_ISA=AVX2 "$BIN/cxr-train" "$W/s1.h5" $T --no-checkpoint --select none \
    --log "$W/isa.jsonl"
grep -q '"kernels":"own AVX2' "$W/isa.jsonl" || fail "CXR_CPU_ISA=AVX2 not taken: $(head -c 300 "$W/isa.jsonl")"
if grep -qw avx512_bf16 /proc/cpuinfo; then
    expect_rc 5 env ONEDNN_MAX_CPU_ISA=AVX2 "$BIN/cxr-train" "$W/s1.h5" $T --device cpu \
        --precision bf16 --no-checkpoint --log "$W/bf.jsonl"
    expect_err "oneDNN runs at avx2 here (ONEDNN_MAX_CPU_ISA caps it)"
    [ ! -e "$W/bf.jsonl" ] || fail "a refused bf16 run logged: $(head -c 200 "$W/bf.jsonl")"
    # bf16 without AMX trains slower than fp32 on a Xeon: said where the CPU lacks AMX only
    expect_rc 0 "$BIN/cxr-train" "$W/s1.h5" $T --precision bf16 --no-checkpoint \
        --select none
    if grep -qw amx_bf16 /proc/cpuinfo; then
        grep -q "without AMX" "$W/err" && fail "a CPU with AMX told bf16 is slow: $(cat "$W/err")"
    else
        expect_err "note: --precision bf16 on a CPU without AMX: measured slower than fp32"
    fi
else
    echo "note: no AVX512-BF16 here: bf16 under a capped oneDNN not checked"
fi
expect_rc 0 "$BIN/cxr-train" "$W/s1.h5" $T --select none --checkpoint "$W/k.h5" --log "$W/k.jsonl"
cp "$W/k.h5" "$W/k0.h5"
cp "$W/k.jsonl" "$W/k0.jsonl"
expect_rc 0 "$BIN/cxr-train" "$W/s1.h5" --device cpu --no-monitor -q --epochs 2 --resume "$W/k0.h5" \
    --log "$W/k0.jsonl"
grep -q "its run (--log" "$W/err" && fail "a resume on the same kernels warned: $(cat "$W/err")"
expect_rc 0 env CXR_CPU_WINOGRAD=0 "$BIN/cxr-train" "$W/s1.h5" --device cpu --no-monitor -q \
    --epochs 2 --resume "$W/k.h5" --log "$W/k.jsonl"
expect_err "warning: resume $W/k.h5: its run (--log $W/k.jsonl) ran on"
fi
finish
