#!/bin/bash
# test_output_lock.sh BIN SAMPLE EDIT HAVE_CUDA SHIM: one run per output. Every tool writes its
# output through a temporary renamed into place, and two runs to one output both said "wrote",
# the last to end replacing the other's file (two packs to one -o: the first store lost unsaid).
# 1. While another run holds an output's lock (flock(1) on ".NAME.cxr-lock" holding "PID TOOL",
#    as a running tool holds it), each tool writing there is refused at once, exit 2, naming the
#    tool and its pid, the file untouched (or not created); through a symbolic link too.
# 2. A real run held just before its output's rename (kill_at.c's STOP): its lock file names
#    it, a second writer is refused, and once it ends its output is its own and no lock file
#    is left.
# 3. A stop signal that kills a tool (cxr-export, cxr-report before they write: SIGTERM) or
#    SIGKILL: the first leaves no lock file; the second leaves one that blocks no later run.
BIN=$1 SAMPLE=$2 EDIT=$3 HAVE_CUDA=$4 SHIM=$5
. "$(dirname "$0")/common.sh"
W=$WORK
pack_sample "$W/s.h5"
T="--device cpu --batch 8 --threads 2 --lr 0.001 --no-monitor -q --epochs 1 --max-steps 2"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --select none --checkpoint "$W/ck.h5" --log "$W/run.jsonl"
img="$SAMPLE/test/NORMAL/$(ls "$SAMPLE/test/NORMAL" | head -1)"
cp "$W/s.h5" "$W/x.h5" && echo old > "$W/d.tsv" && echo old > "$W/m.onnx" &&
    echo old > "$W/r.html" && echo old > "$W/p.tsv" && echo old > "$W/pr.tsv" && cp "$W/ck.h5" "$W/c2.h5"
lock_of() { echo "$(dirname "$1")/.$(basename "$1").cxr-lock"; }

# held HOLDER OUT NAMED OPT CMD...: CMD run while a HOLDER run (this shell's pid) holds OUT's
# lock: exit 2, "NAMED is being written by another HOLDER run (pid N)...: wait for it to end, or
# give another OPT", OUT as it was
held() {
    local holder=$1 out=$2 named=$3 opt=$4 what=""; shift 4
    [ "$holder" = cxr-train ] && what=" (its model or best model)"
    local lock before after
    lock=$(lock_of "$out")
    printf '%s %s\n' $$ "$holder" >"$lock"
    before=$({ cksum <"$out"; } 2>/dev/null || echo absent)
    flock "$lock" "$@" >"$W/out" 2>"$W/err"
    local rc=$?
    [ $rc = 2 ] || { fail "exit $rc, not 2, while a $holder run holds $out: $*"; sed 's/^/  | /' "$W/err" >&2; }
    expect_err "$named is being written by another $holder run (pid $$)$what: wait for it to end, or give another $opt"
    after=$({ cksum <"$out"; } 2>/dev/null || echo absent)
    [ "$before" = "$after" ] || fail "$out changed while another run held it: $*"
    rm -f "$lock"
}
# 1.
held cxr-pack "$W/x.h5" "$W/x.h5" -o "$BIN/cxr-pack" "$SAMPLE" -o "$W/x.h5" --size 32 --quiet
held cxr-pack "$W/new.h5" "$W/new.h5" -o "$BIN/cxr-pack" "$SAMPLE" -o "$W/new.h5" --size 32 --quiet
held cxr-pack "$W/d.tsv" "$W/d.tsv" --duplicates-report \
    "$BIN/cxr-pack" "$SAMPLE" -o "$W/new.h5" --size 32 --quiet --duplicates-report "$W/d.tsv"
[ -e "$W/new.h5" ] && fail "a refused pack wrote its store"
held cxr-export "$W/m.onnx" "$W/m.onnx" -o "$BIN/cxr-export" "$W/ck.h5" -o "$W/m.onnx"
held cxr-report "$W/r.html" "$W/r.html" -o "$BIN/cxr-report" "$W/run.jsonl" -o "$W/r.html"
held cxr-eval "$W/p.tsv" "$W/p.tsv" --predictions \
    "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu --predictions "$W/p.tsv"
held cxr-predict "$W/pr.tsv" "$W/pr.tsv" -o "$BIN/cxr-predict" "$W/ck.h5" "$img" --device cpu -o "$W/pr.tsv"
# ... cxr-train's checkpoint, whoever holds it, and another tool's output cxr-train holds
held cxr-pack "$W/c2.h5" "$W/c2.h5" --checkpoint "$BIN/cxr-train" "$W/s.h5" $T --select none --checkpoint "$W/c2.h5"
held cxr-train "$W/x.h5" "$W/x.h5" -o "$BIN/cxr-pack" "$SAMPLE" -o "$W/x.h5" --size 32 --quiet
# ... through a symbolic link: the file it names is locked
ln -s x.h5 "$W/link.h5"
held cxr-pack "$W/x.h5" "$W/link.h5" -o "$BIN/cxr-pack" "$SAMPLE" -o "$W/link.h5" --size 32 --quiet
[ -L "$W/link.h5" ] || fail "the link was replaced"

# 2. a run stopped just before its output is renamed into place (all its work done)
stopped() { # OUT CMD...: CMD started under the shim, stopped before OUT's rename; its pid in $pid
    local out=$1; shift
    env LD_PRELOAD="$SHIM" CXR_TEST_KILL="rename 1 before $(basename "$out") STOP" "$@" \
        >"$W/out1" 2>"$W/err1" &
    pid=$!
    local st=""
    for i in $(seq 300); do
        st=$(ps -o stat= -p $pid 2>/dev/null | cut -c1)
        case $st in T | Z | "") break ;; esac # stopped, or ended without stopping
        sleep 0.1
    done
    [ "$st" = T ] && return
    # say why (one failure under a loaded ctest -j2 left no trace): the run's end and stderr
    local rc="still running"
    if [ "$st" != R ] && [ "$st" != S ] && [ "$st" != D ]; then wait $pid; rc="exit $?"; fi
    fail "not stopped before $out's rename (state '${st:-gone}', $rc): $*"
    sed 's/^/  | /' "$W/err1" >&2
}
resumed() { # OUT TOOL: the stopped run goes on; it wrote OUT, and left no lock file
    kill -CONT $pid
    wait $pid
    local rc=$?
    [ $rc = 0 ] || { fail "the first $2 run: exit $rc"; sed 's/^/  | /' "$W/err1" >&2; }
    [ -e "$(lock_of "$1")" ] && fail "$2 left its lock file $(lock_of "$1") after a run that ended"
}
stopped "$W/x.h5" "$BIN/cxr-pack" "$SAMPLE" -o "$W/x.h5" --size 48 --quiet
grep -qx "$pid cxr-pack" "$(lock_of "$W/x.h5")" 2>/dev/null || fail "a running pack holds no lock file naming it"
expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$W/x.h5" --size 32 --quiet
expect_err "$W/x.h5 is being written by another cxr-pack run (pid $pid): wait for it to end, or give another -o"
resumed "$W/x.h5" cxr-pack
h5dump -H "$W/x.h5" 2>/dev/null | grep -q "48, 48" || fail "x.h5 is not the first pack's store (48x48)"
stopped "$W/m.onnx" "$BIN/cxr-export" "$W/ck.h5" -o "$W/m.onnx" -q
expect_rc 2 "$BIN/cxr-export" "$W/ck.h5" -o "$W/m.onnx"
expect_err "$W/m.onnx is being written by another cxr-export run (pid $pid)"
resumed "$W/m.onnx" cxr-export
stopped "$W/r.html" "$BIN/cxr-report" "$W/run.jsonl" -o "$W/r.html" -q
expect_rc 2 "$BIN/cxr-report" "$W/run.jsonl" -o "$W/r.html"
expect_err "$W/r.html is being written by another cxr-report run (pid $pid)"
resumed "$W/r.html" cxr-report
stopped "$W/p.tsv" "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu --predictions "$W/p.tsv"
expect_rc 2 "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu --predictions "$W/p.tsv"
expect_err "$W/p.tsv is being written by another cxr-eval run (pid $pid)"
resumed "$W/p.tsv" cxr-eval
stopped "$W/pr.tsv" "$BIN/cxr-predict" "$W/ck.h5" "$img" --device cpu -o "$W/pr.tsv"
expect_rc 2 "$BIN/cxr-predict" "$W/ck.h5" "$img" --device cpu -o "$W/pr.tsv"
expect_err "$W/pr.tsv is being written by another cxr-predict run (pid $pid)"
resumed "$W/pr.tsv" cxr-predict
# ... one whose lock file was removed meanwhile and made again by another writer (flock(1)):
# its exit leaves that writer's file (removed, it let a third writer in beside the second)
stopped "$W/r3.html" "$BIN/cxr-report" "$W/run.jsonl" -o "$W/r3.html" -q
lk=$(lock_of "$W/r3.html")
rm "$lk" && { flock "$lk" sleep 60 & holder=$!; }
for i in $(seq 100); do [ -e "$lk" ] && break; sleep 0.05; done
kill -CONT $pid; wait $pid
[ -e "$lk" ] || fail "a run's exit removed the lock file another writer made after it"
kill $holder 2>/dev/null; wait $holder 2>/dev/null; rm -f "$lk"
ls -a "$W" | grep -q 'cxr-lock$' && fail "lock files left: $(ls -a "$W" | grep 'cxr-lock$')"

# 3. SIGTERM before the write kills cxr-export and cxr-report (no stop handler yet), of that
# signal as before, and their lock file goes with them
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="open 1 before ck.h5 TERM" "$BIN/cxr-export" \
    "$W/ck.h5" -o "$W/m2.onnx" 2>/dev/null)
rc=$?; [ $rc = 143 ] || fail "cxr-export sent SIGTERM before its write: exit $rc, not 143"
[ -e "$W/.m2.onnx.cxr-lock" ] && fail "cxr-export killed by SIGTERM left its lock file"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="fopen 1 before run.jsonl TERM" "$BIN/cxr-report" \
    "$W/run.jsonl" -o "$W/r2.html" 2>/dev/null)
rc=$?; [ $rc = 143 ] || fail "cxr-report sent SIGTERM before its write: exit $rc, not 143"
[ -e "$W/.r2.html.cxr-lock" ] && fail "cxr-report killed by SIGTERM left its lock file"
# ... and a SIGKILL leaves one that does not block the next run, which removes it
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="rename 1 before r2.html" "$BIN/cxr-report" \
    "$W/run.jsonl" -o "$W/r2.html" 2>/dev/null)
rc=$?; [ $rc = 137 ] || fail "cxr-report not killed before its rename: exit $rc"
[ -e "$W/.r2.html.cxr-lock" ] || fail "a killed cxr-report left no lock file (was it held at all?)"
expect_rc 0 "$BIN/cxr-report" "$W/run.jsonl" -o "$W/r2.html" -q
[ -e "$W/.r2.html.cxr-lock" ] && fail "the lock file a killed run left stays after the next run"
# ... and a second stop signal, which kills a tool whose stop handler came before its lock
# (cxr-predict, cxr-eval), takes the lock file with it (it stayed: the handler put death back)
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="open 3 after .jpeg TERMINT" "$BIN/cxr-predict" \
    "$W/ck.h5" "$SAMPLE" -o "$W/p2.tsv" -q --threads 1 2>/dev/null)
rc=$?; [ $rc = 130 ] || fail "cxr-predict sent SIGTERM then SIGINT: exit $rc, not 130"
[ -e "$W/.p2.tsv.cxr-lock" ] && fail "cxr-predict killed by a second stop signal left its lock file"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="open 1 after /s.h5 TERMINT" "$BIN/cxr-eval" \
    "$W/ck.h5" "$W/s.h5" --split test --predictions "$W/e2.tsv" -q 2>/dev/null)
rc=$?; [ $rc = 130 ] || fail "cxr-eval sent SIGTERM then SIGINT: exit $rc, not 130"
[ -e "$W/.e2.tsv.cxr-lock" ] && fail "cxr-eval killed by a second stop signal left its lock file"
finish
