#!/bin/bash
# test_signals.sh BIN SAMPLE SHIM HAVE_DNNL: signals arriving while the CPU backend computes change
# nothing. SHIM (sigstorm_shim.c, LD_PRELOADed) handles SIGUSR1 with a handler that does
# nothing; while cxr-train, cxr-eval and cxr-predict run, SIGUSR1 is sent to them without
# pause. Each run must exit 0 with the same losses, metrics and probabilities as a run without
# signals. Before common/cxr_signals.h, oneDNN's GEMM kernels took these signals with the
# stack pointer in the heap: 8 of 8 training runs aborted ("corrupted size vs. prev_size",
# "free(): invalid pointer") or failed a primitive.
BIN=$1 SAMPLE=$2 SHIM=$3 HAVE_DNNL=${4:-1}
set -u
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cxr-signals.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
[ "$HAVE_DNNL" = 1 ] || [ "$HAVE_DNNL" = ON ] ||
    echo "note: built without oneDNN, whose kernels were what could not take a signal"
# ignored until the shim's constructor installs its handler (an ignored signal stays ignored
# across fork and exec), so a signal that comes first cannot kill the tool
trap '' USR1
"$BIN/cxr-pack" "$SAMPLE" --size 32 --shard 8 --threads 1 --quiet -o s.h5 >/dev/null 2>&1 || {
    echo "FAIL: pack" >&2
    exit 1
}
TRAIN=(s.h5 --device cpu --batch 8 --threads 2 --epochs 3 --max-steps 3 --no-monitor -q)
figures() { grep -o '"\(train_loss\|eval_loss\|auc\)":[^,]*' "$1" | tr '\n' ' '; }

# storm CMD...: run CMD (with the shim) while sending it SIGUSR1 without pause; its exit status
storm() {
    LD_PRELOAD=$SHIM "$@" &
    local pid=$! sent=0
    while kill -USR1 $pid 2>/dev/null; do sent=$((sent + 1)); done
    wait $pid
    local rc=$?
    echo "$sent" >>sent.txt
    return $rc
}

"$BIN/cxr-train" "${TRAIN[@]}" --log ref.jsonl --checkpoint ref.h5 2>ref.err || fail "train: $(cat ref.err)"
"$BIN/cxr-eval" ref.h5 s.h5 --device cpu --threads 2 --json >ref.json 2>eval.err || fail "eval: $(cat eval.err)"
"$BIN/cxr-predict" ref.h5 "$SAMPLE"/test/*/* --device cpu -o ref.tsv 2>pred.err || fail "predict: $(cat pred.err)"
for i in 1 2 3; do
    rm -f b.jsonl b.h5
    storm "$BIN/cxr-train" "${TRAIN[@]}" --log b.jsonl --checkpoint b.h5 2>b.err
    rc=$?
    [ $rc = 0 ] || { fail "train run $i under SIGUSR1: exit $rc: $(tail -3 b.err)"; continue; }
    [ "$(figures b.jsonl)" = "$(figures ref.jsonl)" ] ||
        fail "train run $i under SIGUSR1: $(figures b.jsonl), without: $(figures ref.jsonl)"
done
storm "$BIN/cxr-eval" ref.h5 s.h5 --device cpu --threads 2 --json >b.json 2>eval.err || fail "eval under SIGUSR1: $(tail -3 eval.err)"
cmp -s b.json ref.json || fail "eval under SIGUSR1 differs: $(cat b.json) vs $(cat ref.json)"
storm "$BIN/cxr-predict" ref.h5 "$SAMPLE"/test/*/* --device cpu -o b.tsv 2>pred.err || fail "predict under SIGUSR1: $(tail -3 pred.err)"
cmp -s b.tsv ref.tsv || fail "predict under SIGUSR1 differs from the run without"
n=$(awk '{ s += $1 } END { print s + 0 }' sent.txt)
[ "$n" -ge 100 ] || fail "only $n signals were sent: the storm did not run"
if [ $fails -ne 0 ]; then echo "$fails check(s) failed" >&2; exit 1; fi
echo "signals: $n SIGUSR1 during 5 runs, results identical to the runs without"
