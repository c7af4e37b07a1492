#!/bin/bash
# test_crash_points.sh BIN SAMPLE EDIT HAVE_CUDA SHIM: cxr-train killed (SIGKILL) at exact points
# of its saves through the kill_at.c shim (SHIM), then run again as a user would.
# 1. Right after epoch 2's checkpoint is renamed into place: the resumed run's log has every
#    epoch (the epoch's line is written before its checkpoints; the other order lost epoch 2's
#    line for good, the resume starting after it).
# 2. Right after the default model name is reserved: the next run takes the same name over (the
#    reservation was created empty, then written: a kill between left an empty file that no run
#    took over, and every later run numbered past it).
# 3. Before the first checkpoint's rename, its best model saved: the next run removes the dead
#    run's reservation and the checkpoint's temporary, keeps the best model and says so (they
#    stayed for good: no run takes a name whose best model is there).
# 4. cxr-export and cxr-report sent SIGTERM (or SIGTERM and SIGINT) just before their output's
#    rename: the signal waits until the output is whole, then ends the tool with exit 130 and
#    the note that the output is complete (it died of the signal, exit 143, the output whole);
#    no temporary is left (it was).
# 5. A rerun whose first checkpoint fails to be renamed (EIO) after its first epoch line: its
#    log and its samples file are both this run's (the samples file was put back alone).
# 6. The same with model selection: the best file, saved first, holds the rerun's epoch 1: said.
# 7. A rerun over an earlier log and samples file killed just before its log replaces the earlier
#    one (its first epoch line written beside it): both earlier files are whole (they were
#    emptied at the start, their copies beside them left to a sweep: a kill lost them); killed
#    just after, the log is the rerun's.
# 8. A resume given a larger --patience than the run it resumes stopped with, interrupted
#    (SIGTERM) before it saved an epoch: the command its message gives must carry the
#    --patience, which the resumed file does not record yet (without it, the pasted resume
#    took the file's patience and stopped at once: "early stopping", nothing trained).
# 9. A resume with --no-checkpoint interrupted likewise: its command must keep --no-checkpoint
#    (without it the pasted resume saved into the resumed file, its default checkpoint, which
#    the interrupted command had left alone).
# 10. A checkpoint one of whose tensors cannot be written (EIO on conv4.w's chunks, 294,916 bytes,
#     which HDF5 writes out when the dataset closes): exit 4, the earlier checkpoint whole, no
#     temporary left (the close's failure went unseen: exit 0, conv4.w all zeros in the file,
#     which its checksum passes).
# 11. cxr-pack over an earlier store, the write of /test/file_hash (16 images: 132 bytes with
#     its checksum) failing: exit 4, the earlier store whole (it was replaced by a store whose
#     hashes read as zeros).
# 12. cxr-pack with --duplicates-report over an earlier store and report, the store's rename
#     failing (EIO) after the report's: the earlier report is put back and said so (it was
#     replaced by the new one beside the earlier store); also through a symbolic link to it.
BIN=$1 SAMPLE=$2 EDIT=$3 HAVE_CUDA=$4 SHIM=$5
. "$(dirname "$0")/common.sh"
W=$WORK
pack_sample "$W/s.h5"
T="--device cpu --batch 8 --threads 2 --no-monitor -q --max-steps 2"
killed() { # SPEC CMD...: CMD killed by the shim at SPEC
    local spec=$1; shift
    (exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="$spec" "$@" >"$W/out" 2>"$W/err") 2>/dev/null
    local rc=$?
    [ "$rc" = 137 ] || { fail "not killed at '$spec' (exit $rc): $*"; sed 's/^/  | /' "$W/err" >&2; }
}

# 1.
killed "rename 2 after" "$BIN/cxr-train" "$W/s.h5" $T --epochs 4 --select none \
    --checkpoint "$W/m.h5" --log "$W/m.jsonl"
[ "$(attr "$W/m.h5" epoch)" = 2 ] || fail "the killed run's checkpoint is at epoch $(attr "$W/m.h5" epoch), not 2"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" --resume "$W/m.h5" --device cpu --threads 2 --no-monitor -q \
    --log "$W/m.jsonl"
epochs=$(grep '"type":"epoch"' "$W/m.jsonl" | sed -E 's/.*"epoch":([0-9]+),.*/\1/' | sort -un | tr '\n' ' ')
[ "$epochs" = "1 2 3 4 " ] || fail "the resumed run's log has the epochs $epochs, not 1 2 3 4"

# 2.
mkdir "$W/d" && cp "$W/s.h5" "$W/d/x.h5"
killed "any 1 after x.model.h5" "$BIN/cxr-train" "$W/d/x.h5" $T --epochs 1
expect_rc 0 "$BIN/cxr-train" "$W/d/x.h5" $T --epochs 1
expect_err "saving the model to $WORK/d/x.model.h5 "

# 3.
mkdir "$W/e" && cp "$W/s.h5" "$W/e/x.h5"
killed "rename 2 before" "$BIN/cxr-train" "$W/e/x.h5" $T --epochs 1
[ -s "$W/e/x.model.best.h5" ] && [ -s "$W/e/x.model.h5" ] && ls -a "$W/e" | grep -q 'cxr-tmp' ||
    fail "the killed run did not leave a best model, a reservation and a temporary: $(ls -a "$W/e" | tr '\n' ' ')"
touch -d '-16 min' "$W"/e/.x.model.h5.cxr-tmp-* # a temporary is removed once 15 minutes unwritten
expect_rc 0 "$BIN/cxr-train" "$W/e/x.h5" $T --epochs 1
expect_err "removed the reservation of a run killed before its first checkpoint"
expect_err "saving the model to $WORK/e/x.model-1.h5 "
[ ! -e "$W/e/x.model.h5" ] || fail "the dead run's reservation is still there"
ls -a "$W/e" | grep -q '^\.x\.model\.h5\.cxr-tmp' && fail "the dead run's temporary is still there"
[ -s "$W/e/x.model.best.h5" ] || fail "the dead run's best model was not kept"

# 4.
termed() { # SPEC OUTPUT CMD...: CMD sent SIGTERM by the shim at SPEC; OUTPUT whole, no temporary
    local spec=$1 output=$2; shift 2
    (exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="$spec" "$@" >"$W/out" 2>"$W/err") 2>/dev/null
    local rc=$?
    [ "$rc" = 130 ] || fail "'$spec': exit $rc, not 130 (interrupted): $*"
    expect_err ": interrupted as $output was written: it is complete"
    [ -s "$output" ] || fail "'$spec': no $output"
    ls -a "$(dirname "$output")" | grep -q "^\.$(basename "$output")\.cxr-tmp" &&
        fail "'$spec': a temporary of $output was left"
}
expect_rc 0 "$BIN/cxr-export" "$W/m.h5" -o "$W/m2.onnx"
for s in TERM TERMINT; do
    termed "rename 1 before m.onnx $s" "$W/m.onnx" "$BIN/cxr-export" "$W/m.h5" -o "$W/m.onnx"
    expect_err "cxr-export: wrote $W/m.onnx"
    cmp -s "$W/m.onnx" "$W/m2.onnx" || fail "m.onnx is not the whole export (exports repeat byte for byte)"
    termed "rename 1 before r.html $s" "$W/r.html" "$BIN/cxr-report" "$W/m.jsonl" -o "$W/r.html"
    expect_err "cxr-report: wrote $W/r.html"
    grep -q '</html>' "$W/r.html" || fail "r.html is not the whole report"
    rm -f "$W/m.onnx" "$W/r.html"
done
# -q says nothing on success, but an interrupted run says why it exits 130
termed "rename 1 before m.onnx TERM" "$W/m.onnx" "$BIN/cxr-export" "$W/m.h5" -o "$W/m.onnx" -q
termed "rename 1 before r.html TERM" "$W/r.html" "$BIN/cxr-report" "$W/m.jsonl" -o "$W/r.html" -q
# ... and a page whose rename fails (EIO) is an error: exit 4, no "wrote", no page, no temporary
# (a failed commit of the page is not a page written)
rm -f "$W/r.html"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="rename 1 before r.html EIO" "$BIN/cxr-report" \
    "$W/m.jsonl" -o "$W/r.html" >"$W/out" 2>"$W/err")
[ $? = 4 ] || fail "cxr-report, its page's rename failing: not exit 4 ($(cat "$W/err"))"
grep -q 'cxr-report: wrote' "$W/err" && fail "cxr-report said it wrote a page whose rename failed"
[ -e "$W/r.html" ] && fail "cxr-report, its page's rename failing: r.html is there"
ls -a "$W" | grep -q '^\.r\.html\.cxr-tmp' && fail "cxr-report, its page's rename failing: a temporary was left"

# 5.
M="$BIN/cxr-train $W/s.h5 --device cpu --batch 8 --threads 2 -q --max-steps 2 --epochs 1"
M="$M --select none --checkpoint $W/f.h5 --log $W/f.jsonl --monitor-log $W/fm.jsonl"
expect_rc 0 $M
cp "$W/fm.jsonl" "$W/fm0.jsonl"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="rename 1 before f.h5 EIO" $M --seed 9 >"$W/out" 2>"$W/err")
[ $? = 4 ] || fail "a failed checkpoint rename: not exit 4 ($(cat "$W/err"))"
grep -q '"seed":9' "$W/f.jsonl" || fail "the failed rerun's log is not its own"
cmp -s "$W/fm.jsonl" "$W/fm0.jsonl" && fail "the log is the rerun's, its samples file the earlier run's"
# 6. ... with model selection: the best model is saved before the checkpoint, so the earlier
#    run's best file already holds the rerun's epoch 1: said (it read as all left untouched)
M="$BIN/cxr-train $W/s.h5 --device cpu --batch 8 --threads 2 -q --no-monitor --max-steps 1"
M="$M --epochs 1 --checkpoint $W/g.h5"
expect_rc 0 $M
cp "$W/g.h5" "$W/g0.h5"
[ -f "$W/g.best.h5" ] || fail "no best model beside g.h5"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="rename 1 before /g.h5 EIO" $M --seed 9 >"$W/out" 2>"$W/err")
[ $? = 4 ] || fail "a failed checkpoint rename after the best model's: not exit 4 ($(cat "$W/err"))"
expect_err "no epoch is complete: nothing to resume ($W/g.h5 still holds what it held before this run); $W/g.best.h5 holds this run's epoch 1, saved before the failure"
cmp -s "$W/g.h5" "$W/g0.h5" || fail "the failed rerun changed the earlier checkpoint"
[ "$(attr "$W/g.best.h5" seed)" = 9 ] || fail "g.best.h5 is not the rerun's epoch 1"
# 7.
M="$BIN/cxr-train $W/s.h5 --device cpu --batch 8 --threads 2 -q --max-steps 2 --epochs 1"
M="$M --select none --checkpoint $W/h.h5 --log $W/h.jsonl --monitor-log $W/hm.jsonl"
expect_rc 0 $M
cp "$W/h.jsonl" "$W/h0.jsonl" && cp "$W/hm.jsonl" "$W/hm0.jsonl"
killed "rename 1 before /h.jsonl" $M --seed 9
cmp -s "$W/h.jsonl" "$W/h0.jsonl" || fail "a rerun killed before its first epoch changed the earlier log"
cmp -s "$W/hm.jsonl" "$W/hm0.jsonl" || fail "a rerun killed before its first epoch changed the earlier samples file"
killed "rename 1 after /h.jsonl" $M --seed 9
grep -q '"seed":9' "$W/h.jsonl" && grep -q '"type":"epoch"' "$W/h.jsonl" &&
    [ "$(grep -c '"type":"run"' "$W/h.jsonl")" = 1 ] || fail "the log is not the rerun's after its first epoch line"
# 8.
P="$BIN/cxr-train $W/s.h5 --device cpu --batch 8 --threads 2 --no-monitor -q --max-steps 2"
expect_rc 0 $P --recipe study --select val_loss --patience 1 --epochs 8 --checkpoint "$W/p.h5" \
    --log "$W/p.jsonl"
n=$(attr "$W/p.h5" epoch)
[ "$(attr "$W/p.h5" stopped)" = patience ] && [ "$n" -lt 7 ] ||
    fail "the --patience 1 run did not stop early (epoch $n): this check tests nothing"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="open 1 after /p.jsonl TERM" $P --resume "$W/p.h5" \
    --patience 6 --log "$W/p.jsonl" >"$W/out" 2>"$W/err") 2>/dev/null
[ $? = 130 ] || fail "the resume was not interrupted: $(cat "$W/err")"
expect_err "interrupted before epoch $((n + 1)); the last checkpoint, $W/p.h5, holds epoch $n; go on with: cxr-train $W/s.h5 --resume $W/p.h5 --epochs 8 --patience 6 --log $W/p.jsonl"
cmd=$(sed -n 's/.*; go on with: cxr-train //p' "$W/err")
expect_rc 0 bash -c "exec \"\$0\" $cmd -q --no-monitor" "$BIN/cxr-train"
grep -q "early stopping after epoch $n:" "$W/err" && fail "the pasted resume stopped at once: $(cat "$W/err")"
[ "$(attr "$W/p.h5" epoch)" -gt "$n" ] || fail "the pasted resume trained nothing"
# 9.
expect_rc 0 $P --recipe study --epochs 1 --checkpoint "$W/q.h5" --log "$W/q.jsonl"
cp "$W/q.h5" "$W/q0.h5"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="open 1 after /q.jsonl TERM" $P --resume "$W/q.h5" \
    --epochs 2 --no-checkpoint --log "$W/q.jsonl" >"$W/out" 2>"$W/err") 2>/dev/null
[ $? = 130 ] || fail "the --no-checkpoint resume was not interrupted: $(cat "$W/err")"
expect_err "go on with: cxr-train $W/s.h5 --resume $W/q.h5 --epochs 2 --no-checkpoint --log $W/q.jsonl"
cmd=$(sed -n 's/.*; go on with: cxr-train //p' "$W/err")
expect_rc 0 bash -c "exec \"\$0\" $cmd -q --no-monitor" "$BIN/cxr-train"
cmp -s "$W/q.h5" "$W/q0.h5" || fail "the pasted resume of a --no-checkpoint run wrote over $W/q.h5"
# leftovers NAME KEEP...: files of the work folder whose name holds NAME, besides KEEP...
leftovers() {
    local name=$1; shift
    ls -A "$W" | grep -F -- "$name" | grep -v -x -F $(printf -- '-e %s ' "$@")
}
# 10.
M="$BIN/cxr-train $W/s.h5 --device cpu --batch 8 --threads 2 -q --no-monitor --max-steps 1"
M="$M --epochs 1 --select none --checkpoint $W/k.h5"
expect_rc 0 $M
cp "$W/k.h5" "$W/k0.h5"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_FAIL_WRITE="294916 k.h5" $M --seed 9 >"$W/out" 2>"$W/err")
[ $? = 4 ] || fail "a checkpoint whose tensor write failed: not exit 4 ($(cat "$W/err"))"
expect_err "$W/k.h5"
cmp -s "$W/k.h5" "$W/k0.h5" || fail "a failed checkpoint write changed the earlier checkpoint"
[ -z "$(leftovers k.h5 k.h5 k0.h5)" ] || fail "left by a failed checkpoint write: $(leftovers k.h5 k.h5 k0.h5)"
# 11.
U="$BIN/cxr-pack $SAMPLE --shard 8 --val-fraction 0.25 --threads 2 --quiet"
expect_rc 0 $U -o "$W/u.h5" --size 32
cp "$W/u.h5" "$W/u0.h5"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_FAIL_WRITE="132 u.h5" $U -o "$W/u.h5" --size 24 >"$W/out" 2>"$W/err")
[ $? = 4 ] || fail "a store whose /test/file_hash write failed: not exit 4 ($(cat "$W/err"))"
expect_err "$W/u.h5"
cmp -s "$W/u.h5" "$W/u0.h5" || fail "a failed store write changed the earlier store"
[ -z "$(leftovers u.h5 u.h5 u0.h5)" ] || fail "left by a failed store write: $(leftovers u.h5 u.h5 u0.h5)"
# 12.
expect_rc 0 $U -o "$W/v.h5" --size 32 --duplicates-report "$W/v.tsv"
echo "# the earlier report" >>"$W/v.tsv"
cp "$W/v.h5" "$W/v0.h5" && cp "$W/v.tsv" "$W/v0.tsv"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="rename 1 before /v.h5 EIO" $U -o "$W/v.h5" --size 24 \
    --duplicates-report "$W/v.tsv" >"$W/out" 2>"$W/err")
[ $? = 4 ] || fail "a store whose rename failed after its report's: not exit 4 ($(cat "$W/err"))"
expect_err "(its duplicates report $W/v.tsv is the earlier one again)"
cmp -s "$W/v.tsv" "$W/v0.tsv" || fail "the earlier duplicates report was not put back"
cmp -s "$W/v.h5" "$W/v0.h5" || fail "a failed store rename changed the earlier store"
[ -z "$(leftovers v. v.h5 v0.h5 v.tsv v0.tsv)" ] ||
    fail "left by a failed store rename: $(leftovers v. v.h5 v0.h5 v.tsv v0.tsv)"
# ... the report given as a symbolic link to it: the file it names is put back (the link was
# linked, and put back over itself: the new report stayed, said to be the earlier one)
mkdir "$W/rep" && mv "$W/v.tsv" "$W/rep/real.tsv" && ln -s rep/real.tsv "$W/v.tsv"
(exec env LD_PRELOAD="$SHIM" CXR_TEST_KILL="rename 1 before /v.h5 EIO" $U -o "$W/v.h5" --size 24 \
    --duplicates-report "$W/v.tsv" >"$W/out" 2>"$W/err")
[ $? = 4 ] || fail "a store whose rename failed after its linked report's: not exit 4 ($(cat "$W/err"))"
expect_err "(its duplicates report $W/v.tsv is the earlier one again)"
cmp -s "$W/rep/real.tsv" "$W/v0.tsv" || fail "the earlier duplicates report behind a link was not put back"
[ -L "$W/v.tsv" ] || fail "the report's link was replaced"
[ -z "$(ls -A "$W/rep" | grep -v -x real.tsv; leftovers v. v.h5 v0.h5 v.tsv v0.tsv)" ] ||
    fail "left by a failed store rename with a linked report: $(ls -A "$W/rep")"

# 13. the complete temporary of a pack killed before its rename, young, is said by the rerun
# that writes the store (kept: another pid namespace's live writer could own it) and swept
# without a word once 15 minutes unwritten (by the rerun's own sweep, before its note: the note's
# age rule is common.tmpfile's); a killed training run's likewise, through a link to it
mkdir "$W/k"
killed "rename 1 before k.h5" "$BIN/cxr-pack" "$SAMPLE" -o "$W/k/k.h5" --size 16 --quiet
ls -a "$W/k" | grep -q '^\.k\.h5\.cxr-tmp-' || fail "the killed pack left no temporary: $(ls -a "$W/k")"
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$W/k/k.h5" --size 16 --quiet
expect_err "cxr-pack: note: $W/k/.k.h5.cxr-tmp-"
expect_err " MiB), left by a run that ended before its output was complete (killed), unless a run of another container or host writes it: a later run removes it once 15 minutes unwritten"
touch -d '-16 min' "$W"/k/.k.h5.cxr-tmp-*
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$W/k/k.h5" --size 16 --quiet
grep -q 'note: .*cxr-tmp' "$W/err" && fail "an old temporary was said: $(cat "$W/err")"
ls -a "$W/k" | grep -q 'cxr-tmp' && fail "the old temporary was not swept: $(ls -a "$W/k")"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --epochs 1 --checkpoint "$W/k/kc.h5"
killed "rename 1 before kc.h5" "$BIN/cxr-train" "$W/s.h5" $T --epochs 1 --checkpoint "$W/k/kc.h5"
ln -s k/kc.h5 "$W/kc-link.h5"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --epochs 1 --checkpoint "$W/kc-link.h5"
expect_err "cxr-train: note: $W/k/.kc.h5.cxr-tmp-"
finish
