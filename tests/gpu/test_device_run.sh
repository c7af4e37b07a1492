#!/usr/bin/env bash
# test_device_run.sh BUILD: the logic of tests/gpu/device_run.sh, without a GPU: (1) with no GPU
# it exits 77 at once and says so; (2) --dry-run prints the whole plan; (3) --simulate with a
# 20 s deadline runs the plan (this build's cxr-pack, stubs for the rest: see below),
# goes on past failed steps, stops at its deadline, exits 1 and leaves a tarball holding the
# summary and every step's log.
build=$1
here=$(cd "$(dirname "$0")" && pwd)
run=$here/device_run.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
fail() { echo "test_device_run: $*" >&2; bad=1; }

t0=$(date +%s)
out=$(CXR_DEVRUN_ASSUME_NO_GPU=1 OUT=$tmp/o1 bash "$run" 2>&1); rc=$?
[ $rc -eq 77 ] || fail "no GPU: exit $rc, expected 77"
echo "$out" | grep -q "no NVIDIA GPU" || fail "no GPU: the message does not say so: $out"
[ $(($(date +%s) - t0)) -le 5 ] || fail "no GPU: not at once"
[ ! -e "$tmp/o1" ] || fail "no GPU: it wrote results"

plan=$(bash "$run" --dry-run 2>&1); rc=$?
[ $rc -eq 0 ] || fail "--dry-run: exit $rc"
for s in versions ops_fp32 ops_tf32 ops_bf16 step_bf16 two_process_fp32 two_process_bf16 loader \
         loader_sees_race sample_same_ab sample_same_resume sample_same_streamed sample_cpu \
         sample_loss_cpu_cuda sample_loss_aug_cpu_cuda real_fp32 real_tf32 real_bf16 real_tf32_unfused torch memcheck_ops default_pack default_s1 \
         default_eval study study_eval; do
    echo "$plan" | grep -qE "^  $s +cap" || fail "--dry-run: no step $s"
done

# CXR_DEVRUN_PHASES: the phases named (the study's store packed when real does not run), a bad
# name refused
plan=$(CXR_DEVRUN_PHASES=parity bash "$run" --dry-run 2>&1)
echo "$plan" | grep -qE "^  ops_fp32 +cap" && echo "$plan" | grep -qE "^  versions +cap" ||
    fail "phases parity: no ops_fp32 or versions step"
! echo "$plan" | grep -qE "^  (sample_pack|real_pack|study) +cap" || fail "phases parity: other phases' steps"
plan=$(CXR_DEVRUN_PHASES=study bash "$run" --dry-run 2>&1)
echo "$plan" | grep -qE "^  real_pack +cap" && echo "$plan" | grep -qE "^  study +cap" ||
    fail "phases study: no real_pack before study"
CXR_DEVRUN_PHASES=parity,bogus bash "$run" --dry-run > "$tmp/bad.out" 2>&1
[ $? -eq 2 ] && grep -q "no phase 'bogus'" "$tmp/bad.out" || fail "phases: a bad name not refused"

# the build's cxr-pack, and stubs for the rest, so that the run's course does not depend on the
# machine's load: the GPU test programs skip at once (as without a GPU), cxr-train and cxr-eval
# fail at once on cuda (exit 5, as without a GPU), and cxr-train on the CPU runs until stopped
# (a step that meets the deadline)
mkdir -p "$tmp/b/tools" "$tmp/b/tests/gpu"
ln -s "$build/tools/cxr-pack" "$tmp/b/tools/cxr-pack"
for t in test_gpu_ops test_gpu_step test_gpu_loader test_gpu_loader_nowait; do
    printf '#!/bin/sh\necho "%s: no GPU (stub), skipped"\nexit 77\n' "$t" > "$tmp/b/tests/gpu/$t"
done
for t in cxr-train cxr-eval; do
    cat > "$tmp/b/tools/$t" <<'STUB'
#!/bin/sh
case " $* " in
*" --device cpu "*) trap 'exit 130' INT TERM; sleep 100 & wait; exit 1 ;;
*) echo "stub: --device cuda: no NVIDIA GPU" >&2; exit 5 ;;
esac
STUB
done
chmod +x "$tmp"/b/tools/* "$tmp"/b/tests/gpu/*
t0=$(date +%s)
CXR_DEVRUN_SECONDS=20 CXR_DEVRUN_RESERVE=2 CXR_DEVRUN_WORK=$tmp/w OUT=$tmp/o3 CXR_DEVRUN_DIR=$tmp/none \
    bash "$run" --simulate "$tmp/b" > "$tmp/sim.out" 2> "$tmp/sim.err"; rc=$?
took=$(($(date +%s) - t0))
[ $rc -eq 1 ] || fail "--simulate: exit $rc, expected 1 (GPU steps cannot pass here)"
[ "$took" -le 32 ] || fail "--simulate: took ${took}s with a 20 s deadline"
tar xzf "$tmp/o3/device_run.tgz" -C "$tmp" 2>/dev/null || fail "--simulate: no tarball"
sum=$tmp/w/summary.txt
[ -s "$sum" ] || fail "--simulate: no summary.txt in the tarball"
grep -q '| sample_pack | ok |' "$sum" || fail "--simulate: sample_pack did not run after failed steps"
grep -qE '\| sample_cuda_a \| FAILED' "$sum" || fail "--simulate: sample_cuda_a did not fail"
grep -qE '\| sample_cuda_b \| FAILED' "$sum" || fail "--simulate: no step ran after a failed one"
grep -qE '\| sample_cpu \| (STOPPED|skipped)' "$sum" || fail "--simulate: sample_cpu not stopped"
grep -q 'skipped (no time left)' "$sum" || fail "--simulate: the deadline stopped nothing"
grep -q '^default recipe: no epoch finished' "$sum" || fail "--simulate: no line of the defaults' report"
[ -s "$tmp/w/logs/ops_fp32.log" ] || fail "--simulate: no log of ops_fp32"

# started with SIGINT ignored (a background job without job control), a capped training step is
# still stopped by SIGINT, not killed: the stub's trap, like cxr-train's handler, needs SIGINT
# not ignored on entry, which GNU timeout (running every step) provides
(trap '' INT; CXR_DEVRUN_PHASES=sample CXR_DEVRUN_SECONDS=12 CXR_DEVRUN_RESERVE=2 \
    CXR_DEVRUN_WORK=$tmp/wi OUT=$tmp/o4 CXR_DEVRUN_DIR=$tmp/none \
    exec bash "$run" --simulate "$tmp/b" > "$tmp/simi.out" 2> "$tmp/simi.err")
grep -qE '\| sample_cpu \| STOPPED at its cap \(SIGINT\)' "$tmp/wi/summary.txt" ||
    fail "SIGINT ignored on entry: sample_cpu not stopped by SIGINT: $(grep sample_cpu "$tmp/wi/summary.txt")"
# CXR_DEVRUN_ACCURACY: the planned runs listed by --dry-run (a store packed once per size), a bad
# file refused whole before anything runs, and the phase run here on the CPU with this build's
# real programs on data/sample: each run's folder and the table of the evaluated runs
printf '# plan\nq1 standard 64 1 --epochs 2 --threads 1\r\n\nq2 study 64 2 --epochs 1 --threads 1 # x\n' > "$tmp/acc.runs"
plan=$(cd "$tmp" && CXR_DEVRUN_ACCURACY=acc.runs CXR_DEVRUN_PHASES=accuracy bash "$run" --dry-run 2>&1) # relative: the caller's
echo "$plan" | grep -qE '^  acc_run_q1 +cap.* --epochs 2 --threads 1$' || fail "accuracy: acc_run_q1 (a CRLF line): $plan"
[ "$(echo "$plan" | grep -cE '^  acc_pack_64 +cap')" = 1 ] || fail "accuracy: not one acc_pack_64 step: $plan"
echo "$plan" | grep -qE '^  acc_run_q2 +cap.*accuracy_run.sh .* study 2 .*/accuracy/q2 --device cuda --epochs 1 --threads 1$' ||
    fail "accuracy: no acc_run_q2 step with its options: $plan"
for bad_plan in 'q1 standard 64' 'q1 standard 64 x' 'q/1 standard 64 1' '.. standard 64 1' \
    'q1 standard 64 1\nq1 study 64 2'; do
    printf "$bad_plan\n" > "$tmp/bad.runs"
    CXR_DEVRUN_ACCURACY=$tmp/bad.runs CXR_DEVRUN_PHASES=accuracy bash "$run" --dry-run > "$tmp/bad.out" 2>&1
    [ $? -eq 2 ] && grep -q "bad.runs line" "$tmp/bad.out" || fail "accuracy: '$bad_plan' not refused: $(cat "$tmp/bad.out")"
done
mkdir -p "$tmp/carried" && ln -s "$here/../../data/sample" "$tmp/carried/chest_xray"
CXR_DEVRUN_ACCURACY=$tmp/acc.runs CXR_DEVRUN_ACCURACY_DEVICE=cpu CXR_DEVRUN_PHASES=accuracy \
    CXR_DEVRUN_SECONDS=100 CXR_DEVRUN_WORK=$tmp/wa OUT=$tmp/o5 CXR_DEVRUN_DIR=$tmp/carried \
    bash "$run" --simulate "$build" > "$tmp/acc.out" 2> "$tmp/acc.err"
# the setup phase's record of the host CPU's peak (this build's bench_peak)
grep -qE '^\| cpu_peak \| ok \|' "$tmp/wa/summary.txt" && grep -q '^impl=peak-fp32' "$tmp/wa/logs/cpu_peak.log" ||
    fail "setup: no cpu_peak step with bench_peak's lines: $(grep cpu_peak "$tmp/wa/summary.txt")"
for r in q1 q2; do
    grep -qE "^\| acc_run_$r \| ok \|" "$tmp/wa/summary.txt" || fail "accuracy: step acc_run_$r not ok"
    [ -s "$tmp/wa/accuracy/$r/test.json" ] && [ -s "$tmp/wa/accuracy/$r/train.jsonl" ] ||
        fail "accuracy: no test.json or train.jsonl for $r"
    grep -qE "^\| $r \| test \| 1 \|" "$tmp/wa/summary.txt" || fail "accuracy: no test row of $r in the summary"
done
tar tzf "$tmp/o5/device_run.tgz" | grep -q 'accuracy/q1/val.json' || fail "accuracy: q1's val.json not in the tarball"
if [ $bad -ne 0 ]; then
    echo "--- summary"; cat "$sum" 2>/dev/null; echo "--- stderr"; cat "$tmp/sim.err"
fi
[ $bad -eq 0 ] && echo "test_device_run: ok (simulated run took ${took}s)"
exit $bad
