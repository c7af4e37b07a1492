#!/bin/bash
# test_resume.sh BIN SAMPLE EDIT: determinism and exact resume. 2 epochs in one run, the same run
# again, and 1 epoch + --resume for the 2nd (also with --no-prefetch) must give the same losses
# to the bit (the JSON numbers are printed with round-trip precision, so compare as strings).
BIN=$1 SAMPLE=$2 EDIT=$3
. "$(dirname "$0")/common.sh"
pack_sample "$WORK/s.h5"
T="$BIN/cxr-train $WORK/s.h5 --device cpu --batch 8 --threads 2 --lr 0.001 --seed 5 --no-monitor -q"
expect_rc 0 $T --epochs 2 --log "$WORK/a.jsonl" --checkpoint "$WORK/a.h5"
expect_rc 0 $T --epochs 2 --log "$WORK/b.jsonl"
expect_rc 0 $T --epochs 1 --log "$WORK/c.jsonl" --checkpoint "$WORK/c.h5"
expect_rc 0 $T --epochs 2 --log "$WORK/c.jsonl" --resume "$WORK/c.h5" --checkpoint "$WORK/c.h5" --no-prefetch
a=$(epoch_losses "$WORK/a.jsonl"); b=$(epoch_losses "$WORK/b.jsonl"); c=$(epoch_losses "$WORK/c.jsonl")
echo "two epochs:"; echo "$a"; echo "1 + resume 1:"; echo "$c"
[ "$(echo "$a" | wc -l)" = 2 ] || fail "expected 2 epoch lines, got: $a"
[ "$a" = "$b" ] || fail "same seed, different losses: $a / $b"
[ "$a" = "$c" ] || fail "resume differs: $a / $c"
# ... and the same checkpoint, byte for byte (no timestamps in its groups, no interval of a
# step decay the cosine schedule does not have: either made c.h5 differ)
cmp -s "$WORK/a.h5" "$WORK/c.h5" || fail "the resumed run's checkpoint differs from the uninterrupted run's (cmp)"
grep -q '"resumed_from"' "$WORK/c.jsonl" || fail "the resumed run line lacks resumed_from"
# a resume appends to its own run's log only: another run's (another seed) is refused before
# any file is touched (the log, the checkpoint, a samples file); an older copy of its own (no line
# for the checkpoint's epoch) is appended to with a warning; a resume that trains nothing
# appends nothing, and is neither refused nor warned
expect_rc 0 $T --epochs 1 --seed 6 --log "$WORK/r6.jsonl" --no-checkpoint
cp "$WORK/r6.jsonl" "$WORK/r60.jsonl"
M="${T/ --no-monitor/} --monitor-log $WORK/rmon.jsonl"
expect_rc 3 $M --epochs 3 --log "$WORK/r6.jsonl" --resume "$WORK/c.h5" --checkpoint "$WORK/rx.h5"
expect_err "--log $WORK/r6.jsonl: its last run (recipe standard, seed 6, batch 8) is not the run of $WORK/c.h5 (recipe standard, seed 5, batch 8): not appended to"
cmp -s "$WORK/r6.jsonl" "$WORK/r60.jsonl" || fail "a refused log changed"
[ ! -e "$WORK/rx.h5" ] || fail "a refused resume wrote its checkpoint"
[ ! -e "$WORK/rmon.jsonl" ] || fail "a refused resume made its samples file"
expect_rc 0 $T --epochs 2 --log "$WORK/r6.jsonl" --resume "$WORK/c.h5" --checkpoint "$WORK/rx.h5"
cmp -s "$WORK/r6.jsonl" "$WORK/r60.jsonl" || fail "a resume with nothing to train changed the log"
# ... nor the log of a run of the same recipe and seed on another store (its val beside this
# run's test, drawn as one curve by cxr-report): refused as above (it was appended to)
"$BIN/cxr-pack" "$SAMPLE" -o "$WORK/s2.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null ||
    fail "cannot pack the sample without val"
expect_rc 0 "$BIN/cxr-train" "$WORK/s2.h5" --device cpu --batch 8 --threads 2 --lr 0.001 --seed 5 \
    --no-monitor -q --epochs 3 --log "$WORK/os.jsonl" --no-checkpoint
cp "$WORK/os.jsonl" "$WORK/os0.jsonl"
expect_rc 3 $T --epochs 3 --log "$WORK/os.jsonl" --resume "$WORK/c.h5" --checkpoint "$WORK/ros.h5"
expect_err "--log $WORK/os.jsonl: its last run trained on 48 images and evaluated on 16 of test; this run trains on"
expect_err "another store's log, not appended to"
cmp -s "$WORK/os.jsonl" "$WORK/os0.jsonl" || fail "a refused log of another store changed"
[ ! -e "$WORK/ros.h5" ] || fail "a resume refused for another store's log wrote its checkpoint"
# ... nor the log of a run of the same recipe, seed and batch with another setting (--lr here):
# a fresh run that wrote the checkpoint's log since, whose lines are not this run's
expect_rc 0 $T --epochs 1 --lr 0.002 --log "$WORK/olr.jsonl" --no-checkpoint
cp "$WORK/olr.jsonl" "$WORK/olr0.jsonl"
expect_rc 3 $T --epochs 3 --log "$WORK/olr.jsonl" --resume "$WORK/c.h5" --checkpoint "$WORK/rolr.h5"
expect_err "--log $WORK/olr.jsonl: its last run trained with another recipe than $WORK/c.h5's run (lr: 0.002 in the log, 0.001 here): another run's log, not appended to"
cmp -s "$WORK/olr.jsonl" "$WORK/olr0.jsonl" || fail "a refused log of another --lr changed"
[ ! -e "$WORK/rolr.h5" ] || fail "a resume refused for another run's log wrote its checkpoint"
# a resume whose --log is not there: said, the log then holding the resumed epochs only; where
# LOG.gz is there instead (the run's log, compressed), refused before anything is written (the
# new log took its name, and gunzip then collided: a new user's walk); a log whose run line
# cannot be read is appended to, said to be unchecked (its run line damaged, another run's
# lines were appended to it unsaid)
cp "$WORK/c.h5" "$WORK/g.h5"
expect_rc 0 $T --epochs 3 --log "$WORK/g.jsonl" --resume "$WORK/g.h5" --checkpoint "$WORK/g2.h5"
expect_err "warning: --log $WORK/g.jsonl is not there: this resume starts it at epoch 3, its run's earlier epochs not in it"
head -1 "$WORK/c.jsonl" | gzip > "$WORK/gz.jsonl.gz"
cp "$WORK/c.h5" "$WORK/gz.h5" && cp "$WORK/c.h5" "$WORK/gz0.h5"
expect_rc 2 $T --epochs 3 --log "$WORK/gz.jsonl" --resume "$WORK/gz.h5"
expect_err "--log $WORK/gz.jsonl is not there, $WORK/gz.jsonl.gz is: a resume appends plain lines; gunzip it first, or give another --log"
[ ! -e "$WORK/gz.jsonl" ] && cmp -s "$WORK/gz.h5" "$WORK/gz0.h5" || fail "a refused resume onto a compressed log wrote"
sed 's/^{"type":"run",/{"type":"run","store":"D:\\data",/' "$WORK/c.jsonl" > "$WORK/dmg.jsonl"
expect_rc 0 $T --epochs 3 --log "$WORK/dmg.jsonl" --resume "$WORK/g.h5" --checkpoint "$WORK/g3.h5"
expect_err "warning: --log $WORK/dmg.jsonl: no run line of it can be read (damaged?), so it is not checked to be $WORK/g.h5's run's log; appended to"
# a resume into another run's existing checkpoint (a branch from a best model over it) says so,
# as a fresh run does; into its own file it does not
cp "$WORK/c.h5" "$WORK/other.h5"
expect_rc 0 $T --epochs 3 --resume "$WORK/g.h5" --checkpoint "$WORK/other.h5"
expect_err "$WORK/other.h5 holds an earlier run's model (epoch 2 of 2, seed 5); this run replaces it when its first epoch is saved"
cp "$WORK/c.h5" "$WORK/own.h5"
expect_rc 0 $T --epochs 3 --resume "$WORK/own.h5"
grep -q "holds an earlier run's model" "$WORK/err" && fail "a resume into its own checkpoint said it replaces an earlier run's"
# a resume with nothing to train and another --max-steps: nothing to do, exit 0 (it said so,
# then refused the steps it would not take: exit 2)
expect_rc 0 $T --epochs 3 --resume "$WORK/own.h5" --max-steps 1
expect_err "already has 3 of 3 epochs; nothing to do"
# a checkpoint name with an apostrophe: the command after a run is still given, in double quotes
# (its '\'' form was dropped: the message escapes backslashes)
expect_rc 0 $T --epochs 1 --checkpoint "$WORK/bob's.h5" --select none
expect_err "done: $WORK/bob's.h5 holds the last epoch; judge it on test once: cxr-eval \"$WORK/bob's.h5\""
# a log named .gz is plain text (written a line at a time): said, and readable as such
expect_rc 0 $T --epochs 1 --log "$WORK/plain.jsonl.gz" --no-checkpoint
expect_err "--log $WORK/plain.jsonl.gz is written as plain JSON lines"
head -c 13 "$WORK/plain.jsonl.gz" | grep -q '^{"type":"run"' || fail "the .gz log is not plain text"
head -2 "$WORK/c.jsonl" > "$WORK/rold.jsonl" # the run line and epoch 1 of a 2-epoch checkpoint
cp "$WORK/c.h5" "$WORK/ry.h5"
expect_rc 0 $T --epochs 3 --log "$WORK/rold.jsonl" --resume "$WORK/ry.h5"
expect_err "warning: --log $WORK/rold.jsonl: no line of it is for epoch 2, where $WORK/ry.h5 is (its last is for epoch 1)"
# ... but a log whose last lines are a branch's (lower epochs after higher: a run resumed from
# its best model into another checkpoint, the same log) holds the epoch: not warned
{ cat "$WORK/c.jsonl"; head -2 "$WORK/c.jsonl"; } > "$WORK/rbranch.jsonl"
cp "$WORK/c.h5" "$WORK/ry.h5"
expect_rc 0 $T --epochs 3 --log "$WORK/rbranch.jsonl" --resume "$WORK/ry.h5"
grep -q "no line of it" "$WORK/err" && fail "a branch's lines taken for an older copy: $(cat "$WORK/err")"
# --shuffle-window: the training order, recorded in the log and the checkpoint, kept by a
# resume to the bit; another one given on a resume is refused (auto, given or a named recipe's,
# takes the checkpoint's); a file from before it resumes with the loader's windows ("auto"),
# which it was trained with; bad values are refused. auto mixes the whole split on a run of at
# most 14 epochs' steps (these: the order of split, to the bit), else takes the loader's windows
# (4 shards here: the order of --shuffle-window 4)
expect_rc 0 $T --epochs 2 --shuffle-window split --log "$WORK/w.jsonl" --no-checkpoint
w=$(epoch_losses "$WORK/w.jsonl")
[ "$w" = "$a" ] || fail "auto on a 2-epoch run is not split's order: $a / $w"
grep -q '"shuffle_window":"split"' "$WORK/w.jsonl" || fail "the log does not say the window"
grep -q '"shuffle_window":"split"' "$WORK/a.jsonl" || fail "the default 2-epoch run's log does not say split"
expect_rc 0 $T --epochs 2 --shuffle-window 4 --log "$WORK/q.jsonl" --no-checkpoint
q=$(epoch_losses "$WORK/q.jsonl")
[ "$(echo "$q" | head -1)" != "$(echo "$a" | head -1)" ] || fail "--shuffle-window 4 changed nothing"
expect_rc 0 $T --epochs 15 --log "$WORK/l.jsonl" --checkpoint "$WORK/l.h5"
grep -q '"shuffle_window":"auto"' "$WORK/l.jsonl" || fail "the 15-epoch run's log does not say auto"
# epoch 1 is all warmup (one epoch), so the run's length does not change its rates
[ "$(epoch_losses "$WORK/l.jsonl" | head -1)" = "$(echo "$q" | head -1)" ] ||
    fail "auto on a 15-epoch run is not the loader's windows: $(epoch_losses "$WORK/l.jsonl" | head -1) / $q"
h5dump -a /shuffle_window "$WORK/l.h5" | grep -q '(0): 0' || fail "the 15-epoch run's checkpoint does not record auto"
h5dump -a /shuffle_window "$WORK/a.h5" | grep -q '(0): -1' || fail "the 2-epoch run's checkpoint does not record split"
expect_rc 0 $T --epochs 3 --resume "$WORK/a.h5" --log "$WORK/ra.jsonl" --no-checkpoint
expect_rc 0 $T --epochs 3 --resume "$WORK/a.h5" --shuffle-window auto --log "$WORK/ra1.jsonl" --no-checkpoint
expect_rc 0 $T --epochs 3 --resume "$WORK/a.h5" --recipe standard --log "$WORK/ra2.jsonl" --no-checkpoint
[ -n "$(epoch_losses "$WORK/ra.jsonl")" ] && [ "$(epoch_losses "$WORK/ra1.jsonl")" = "$(epoch_losses "$WORK/ra.jsonl")" ] &&
    [ "$(epoch_losses "$WORK/ra2.jsonl")" = "$(epoch_losses "$WORK/ra.jsonl")" ] ||
    fail "a resume given auto or the recipe did not keep the checkpoint's order"
# ... where the whole split's images take at most a quarter of the memory free
# (CXR_MEM_AVAILABLE_MB stands for it; 36 images of 32x32, 0.14 MiB: split from 0.5625 MiB
# on), else the windows, said; a whole split the loader cannot hold is refused naming the order
"$BIN/cxr-pack" "$SAMPLE" -o "$WORK/s1.h5" --size 32 --shard 1 --val-fraction 0.25 --threads 2 \
    --quiet >/dev/null || fail "cannot pack the sample in shards of 1"
T1="$BIN/cxr-train $WORK/s1.h5 --device cpu --batch 8 --threads 2 --no-monitor --epochs 1 --no-checkpoint"
CXR_MEM_AVAILABLE_MB=0.57 expect_rc 0 $T1 --log "$WORK/m4.jsonl"
grep -q '"shuffle_window":"split"' "$WORK/m4.jsonl" || fail "auto with the memory did not mix the split"
expect_err "training order: the whole split mixed (--shuffle-window auto on a run of at most 14"
CXR_MEM_AVAILABLE_MB=0.55 expect_rc 0 $T1 --log "$WORK/m2.jsonl"
grep -q '"shuffle_window":"auto"' "$WORK/m2.jsonl" || fail "auto without the memory did not take windows"
expect_err "--shuffle-window auto: the whole split's images (0.1 MiB decoded) take more than a quarter of the memory free (0.5 MiB), so this short run takes windows of a few shards"
CXR_MEM_AVAILABLE_MB=0.2 expect_rc 1 $T1 --shuffle-window split --log "$WORK/m1.jsonl"
expect_err "more than the 0.2 MiB this machine has free"
expect_err "(the training order mixes the whole split: --shuffle-window N takes windows of N shards)"
# exactly 14 epochs' steps is short; with --max-steps, the steps count
expect_rc 0 $T1 --epochs 14 --log "$WORK/m14.jsonl"
grep -q '"shuffle_window":"split"' "$WORK/m14.jsonl" || fail "a 14-epoch run did not mix the split"
expect_rc 0 $T1 --epochs 20 --max-steps 3 --log "$WORK/m20.jsonl"
grep -q '"shuffle_window":"split"' "$WORK/m20.jsonl" || fail "20 epochs of 3 of 5 steps did not mix the split"
expect_rc 0 $T1 --epochs 15 --log "$WORK/m15.jsonl"
grep -q '"shuffle_window":"auto"' "$WORK/m15.jsonl" || fail "a 15-epoch run mixed the split"
expect_rc 0 $T --epochs 1 --shuffle-window split --log "$WORK/x.jsonl" --checkpoint "$WORK/x.h5"
h5dump -a /shuffle_window "$WORK/x.h5" | grep -q '(0): -1' || fail "the checkpoint does not record split"
expect_rc 0 $T --epochs 2 --log "$WORK/x.jsonl" --resume "$WORK/x.h5" --no-checkpoint
[ "$(epoch_losses "$WORK/x.jsonl")" = "$w" ] || fail "a resume did not keep the window: $(epoch_losses "$WORK/x.jsonl") / $w"
expect_rc 2 $T --epochs 2 --resume "$WORK/x.h5" --shuffle-window 3 --no-checkpoint
expect_err "--shuffle-window 3 differs from the checkpoint's split"
expect_rc 0 $T --epochs 1 --shuffle-window 4 --checkpoint "$WORK/o.h5"
"$EDIT" delattr "$WORK/o.h5" shuffle_window || fail "delattr shuffle_window"
expect_rc 0 $T --epochs 2 --log "$WORK/o.jsonl" --resume "$WORK/o.h5" --no-checkpoint
[ "$(epoch_losses "$WORK/o.jsonl")" = "$(echo "$q" | tail -1)" ] || fail "a file without shuffle_window did not resume with auto"
# ... or with the window given (a run of the CXR_SHUFFLE_WINDOW experiments), which it records
expect_rc 0 $T --epochs 2 --resume "$WORK/o.h5" --shuffle-window split --checkpoint "$WORK/o2.h5"
h5dump -a /shuffle_window "$WORK/o2.h5" | grep -q '(0): -1' || fail "the resumed run did not record split"
# resume_features names the training features a checkpoint uses; one this cxr does not know (a
# newer cxr's) stops a resume, which would go on without it, before anything is written; the
# model still evaluates
h5dump -a /resume_features "$WORK/x.h5" | grep -q '"shuffle_window"' \
    || fail "x.h5 does not list shuffle_window in resume_features"
h5dump -a /resume_features "$WORK/l.h5" >/dev/null 2>&1 && fail "l.h5 lists features it does not use"
cp "$WORK/x.h5" "$WORK/xf.h5" && "$EDIT" setstr "$WORK/xf.h5" resume_features "shuffle_window,warp_drive" \
    || fail "setstr resume_features"
cp "$WORK/xf.h5" "$WORK/xf0.h5"
expect_rc 3 $T --epochs 2 --log "$WORK/xf.jsonl" --resume "$WORK/xf.h5"
expect_err "--resume $WORK/xf.h5: written by cxr-train "
expect_err "its run trains with 'warp_drive', which this cxr ("
cmp -s "$WORK/xf.h5" "$WORK/xf0.h5" || fail "a refused resume changed its checkpoint"
[ ! -e "$WORK/xf.jsonl" ] || fail "a refused resume made its log"
expect_rc 0 "$BIN/cxr-eval" "$WORK/xf.h5" "$WORK/s.h5" --split test --threads 2
# names are whole words (a known name's prefix is another feature) and empty entries are
# skipped, not the end of the list
for list in "shuffle,mixup:shuffle" "mixup,,warp_drive:warp_drive"; do
    cp "$WORK/xf0.h5" "$WORK/xg.h5" && "$EDIT" setstr "$WORK/xg.h5" resume_features "${list%%:*}" ||
        fail "setstr resume_features ${list%%:*}"
    expect_rc 3 $T --epochs 2 --no-checkpoint --resume "$WORK/xg.h5"
    expect_err "its run trains with '${list##*:}', which this cxr ("
done
# the environment variable it replaced is refused, not silently ignored
expect_rc 2 env CXR_SHUFFLE_WINDOW=all $T --epochs 1 --no-checkpoint
expect_err "CXR_SHUFFLE_WINDOW=all is no longer read: give --shuffle-window auto, split"
expect_rc 0 $T --epochs 1 --shuffle-window 1 --log "$WORK/y.jsonl" --no-checkpoint
[ "$(epoch_losses "$WORK/y.jsonl")" != "$(echo "$a" | head -1)" ] || fail "--shuffle-window 1 changed nothing"
for bad in 0 -1 all 2x "" 2147483648; do
    expect_rc 2 $T --epochs 1 --no-checkpoint --shuffle-window "$bad"
    expect_err "--shuffle-window: shuffle window '$bad': auto, split or a number of shards from 1 to 2147483647"
done
# another seed changes the losses
expect_rc 0 $T --epochs 1 --seed 6 --log "$WORK/d.jsonl"
[ "$(epoch_losses "$WORK/d.jsonl")" != "$(echo "$a" | head -1)" ] || fail "seed 6 gave the losses of seed 5"
# a resume that contradicts the checkpoint's recipe is refused
expect_rc 2 $T --epochs 3 --resume "$WORK/c.h5" --seed 9
expect_err "differs from the checkpoint"
# ... seed 0 too (a seed given, not the default)
expect_rc 2 $T --epochs 3 --resume "$WORK/c.h5" --seed 0
expect_err "--seed 0 differs from the checkpoint's 5"
# without --checkpoint the model is saved beside the store (said on stderr), never replacing one
mkdir "$WORK/d" && cp "$WORK/s.h5" "$WORK/d/x.h5"
D="$BIN/cxr-train $WORK/d/x.h5 --device cpu --batch 8 --threads 2 --no-monitor -q --epochs 1 --max-steps 1"
expect_rc 0 $D
expect_err "saving the model to $WORK/d/x.model.h5"
[ -f "$WORK/d/x.model.h5" ] || fail "no model saved by default"
grep -q "no training log" "$WORK/err" && fail "-q said that no training log is kept"
# ... its own reservation of the name taken for no earlier run's file (it was, on every run)
grep -q "exists and is no checkpoint\|holds an earlier run's model" "$WORK/err" &&
    fail "the default name's reservation taken for an earlier file: $(cat "$WORK/err")"
# ... and, unless -q, that no log is kept unless --log asks for one
expect_rc 0 ${D/ -q/} --no-checkpoint
expect_err "cxr-train: note: no training log (--log FILE.jsonl keeps one"
expect_rc 0 ${D/ -q/} --no-checkpoint --log "$WORK/d/l.jsonl"
grep -q "no training log" "$WORK/err" && fail "a run with --log said that no training log is kept"
rm "$WORK/d/l.jsonl"
expect_rc 0 $D
expect_err "saving the model to $WORK/d/x.model-1.h5"
# ... nor a best model a run left when its checkpoint was deleted
[ -f "$WORK/d/x.model-1.best.h5" ] || fail "the default recipe kept no best model"
rm "$WORK/d/x.model-1.h5" && cp "$WORK/d/x.model-1.best.h5" "$WORK/best.keep"
expect_rc 0 $D
expect_err "saving the model to $WORK/d/x.model-2.h5"
cmp -s "$WORK/d/x.model-1.best.h5" "$WORK/best.keep" || fail "another run's best model was replaced"
# ... nor the name a run started before it took and has not saved to yet (the name is reserved
# empty at the start: the first run is held still here after saying where it saves)
"$BIN/cxr-train" "$WORK/d/x.h5" --device cpu --batch 8 --threads 1 --no-monitor -q --epochs 1 \
    --seed 11 2>"$WORK/held.err" &
held=$!
trap 'kill -CONT $held 2>/dev/null; kill $held 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 600); do grep -q "saving the model" "$WORK/held.err" && break; sleep 0.05; done
kill -STOP $held
# (a whole epoch on one thread before its first save: held long before it)
grep -q "^cxr-train: reserved by pid $held on " "$WORK/d/x.model-3.h5" ||
    fail "the held run's reserved name is not there, saying whose it is"
expect_rc 3 "$BIN/cxr-eval" "$WORK/d/x.model-3.h5" "$WORK/d/x.h5"
expect_err "x.model-3.h5: not a checkpoint yet: the name a cxr-train run reserved for its model"
expect_rc 0 $D --seed 12
expect_err "saving the model to $WORK/d/x.model-4.h5"
kill -CONT $held; wait $held || fail "the held run failed"
trap 'rm -rf "$WORK"' EXIT
grep -q "saving the model to $WORK/d/x.model-3.h5" "$WORK/held.err" || fail "the held run's name"
[ "$(attr "$WORK/d/x.model-3.h5" seed)" = 11 ] && [ "$(attr "$WORK/d/x.model-4.h5" seed)" = 12 ] \
    || fail "two runs started together wrote one model"
# ... but a name a killed run left empty is taken over by the next run, not numbered past
"$BIN/cxr-train" "$WORK/d/x.h5" --device cpu --batch 8 --threads 1 --no-monitor -q --epochs 1 \
    2>"$WORK/killed.err" &
held=$!
trap 'kill -9 $held 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 600); do grep -q "saving the model" "$WORK/killed.err" && break; sleep 0.05; done
kill -9 $held; wait $held 2>/dev/null
trap 'rm -rf "$WORK"' EXIT
grep -q "saving the model to $WORK/d/x.model-5.h5" "$WORK/killed.err" || fail "the killed run's name"
grep -q "^cxr-train: reserved by pid $held on " "$WORK/d/x.model-5.h5" || fail "the killed run left no reservation"
# ... which its readers call a dead run's leftover, not a model still to come (they said "which
# it writes at the end of its first epoch" of a run that no longer existed)
expect_rc 3 "$BIN/cxr-eval" "$WORK/d/x.model-5.h5" "$WORK/d/x.h5"
expect_err "x.model-5.h5: not a checkpoint: the name a cxr-train run (pid $held) reserved for its model, but that run is no longer running (killed before its first save): the file holds no model and can be removed"
expect_rc 0 $D --seed 13
expect_err "saving the model to $WORK/d/x.model-5.h5"
[ "$(attr "$WORK/d/x.model-5.h5" seed)" = 13 ] || fail "the name a killed run left was not taken over"
# ... and only such a name: an empty file (what an older cxr-train reserved, unlocked), another
# user's leftover reservation, or one from another host or machine is numbered past (it may be
# a live run's, or not this user's to replace)
mkdir "$WORK/e" && cp "$WORK/s.h5" "$WORK/e/x.h5"
E="$BIN/cxr-train $WORK/e/x.h5 --device cpu --batch 8 --threads 2 --no-monitor -q --epochs 1 --max-steps 1"
boot=$(cat /proc/sys/kernel/random/boot_id)
machine=$(cat /etc/machine-id 2>/dev/null); machine=${machine:-boot:$boot}
dead="cxr-train: reserved by pid 2147483"
: > "$WORK/e/x.model.h5"
echo "$dead on $(hostname), machine $machine, boot $boot" > "$WORK/e/x.model-1.h5"
chown 65534 "$WORK/e/x.model-1.h5" 2>/dev/null || echo "not a reservation" > "$WORK/e/x.model-1.h5"
echo "$dead on not-$(hostname), machine $machine, boot $boot" > "$WORK/e/x.model-2.h5"
echo "$dead on $(hostname), machine other-$machine, boot $boot" > "$WORK/e/x.model-3.h5"
expect_rc 0 $E
expect_err "saving the model to $WORK/e/x.model-4.h5"
# (another host's run may be alive: to its readers, still a model to come)
expect_rc 3 "$BIN/cxr-eval" "$WORK/e/x.model-2.h5" "$WORK/e/x.h5"
expect_err "x.model-2.h5: not a checkpoint yet: the name a cxr-train run reserved for its model, which it writes"
# ... while this machine's, this user's, of a pid that is gone, is taken over
echo "$dead on $(hostname), machine $machine, boot $boot" > "$WORK/e/x.model-5.h5"
expect_rc 0 $E
expect_err "saving the model to $WORK/e/x.model-5.h5"
[ ! -s "$WORK/e/x.model.h5" ] || fail "an empty leftover name was written over"
# two outputs in one file, and both --checkpoint and --no-checkpoint, are refused
expect_rc 2 $D --checkpoint "$WORK/d/c.h5" --log "$WORK/d/c.best.h5"
expect_err "--log $WORK/d/c.best.h5 and the best model $WORK/d/c.best.h5: the same file for two outputs"
expect_rc 0 $D --recipe study --checkpoint "$WORK/d/c.h5" --log "$WORK/d/c.best.h5" # no best model
expect_rc 2 $D --checkpoint "$WORK/d/c.h5" --no-checkpoint
expect_err "--checkpoint $WORK/d/c.h5 and --no-checkpoint: give one of them"
# ... but only once the store opened: a missing one is refused with its reason alone
expect_rc 4 "$BIN/cxr-train" "$WORK/d/missing.h5" --device cpu -q
expect_err "missing.h5: cannot open store"
grep -q "saving the model" "$WORK/err" && fail "a missing store was answered with where the model would go"
ls "$WORK/d" | grep -q "^missing\.model" && fail "a failed run left its reserved model name"
# --resume without --checkpoint keeps saving to the resumed file
cp "$WORK/c.h5" "$WORK/r.h5"
expect_rc 0 $T --epochs 3 --resume "$WORK/r.h5"
h5dump -a /epoch "$WORK/r.h5" | grep -q '(0): 3' || fail "--resume without --checkpoint did not save epoch 3"
# a resume with nothing left to train says so and leaves the model and the log as they were
cp "$WORK/r.h5" "$WORK/r0.h5"
printf '{"type":"run"}\n' >"$WORK/r.jsonl"
cp "$WORK/r.jsonl" "$WORK/r0.jsonl"
expect_rc 0 $T --epochs 3 --resume "$WORK/r.h5" --log "$WORK/r.jsonl"
expect_err "already has 3 of 3 epochs; nothing to do"
grep -q 'earlier log' "$WORK/err" && fail "a resume's log was said to be replaced: $(cat "$WORK/err")"
# ... and an --epochs below what it has says that --epochs counts them all (it said "give
# --epochs", which the user had)
expect_rc 0 $T --epochs 2 --resume "$WORK/r.h5" --log "$WORK/r.jsonl"
expect_err "already has 3 of 2 epochs; nothing to do (--epochs counts the run's epochs in all, those done included: give more than it has to train more)"
cmp -s "$WORK/r.h5" "$WORK/r0.h5" || fail "a resume with --epochs below its epochs changed the model"
cmp -s "$WORK/r.h5" "$WORK/r0.h5" || fail "a resume with nothing to train changed the model"
cmp -s "$WORK/r.jsonl" "$WORK/r0.jsonl" || fail "a resume with nothing to train appended: $(tail -c 150 "$WORK/r.jsonl")"
# another --threads or store is warned about; another --max-steps is refused
expect_rc 0 $T --epochs 3 --resume "$WORK/c.h5" --no-checkpoint --threads 1
expect_err "--threads 1, the checkpoint's run had 2"
! grep -q "precision" "$WORK/err" || fail "the same precision was warned about"
h5dump -a /precision "$WORK/c.h5" | grep -q '"fp32"' || fail "the checkpoint does not record precision fp32"
# another --precision is warned about (on this CPU only fp32 may exist: the file says bf16)
cp "$WORK/c.h5" "$WORK/p.h5"
"$EDIT" setstr "$WORK/p.h5" precision bf16 || fail "setstr precision"
expect_rc 0 $T --epochs 3 --resume "$WORK/p.h5" --no-checkpoint
expect_err "--precision fp32, the checkpoint's run had bf16: losses differ"
# ... and one this version does not know (a newer one's) is said so, with no option given to
# continue it (it advised "--precision fp8", which no tool takes)
"$EDIT" setstr "$WORK/p.h5" precision fp8 || fail "setstr precision fp8"
expect_rc 0 $T --epochs 3 --resume "$WORK/p.h5" --no-checkpoint
expect_err "its run had precision 'fp8', which this version does not know; this run's is fp32"
grep -q -- "--precision fp8" "$WORK/err" && fail "an unknown precision was advised as an option"
# a file that does not record it (written before it was) is not compared; its export does not
# invent one; the resumed run's checkpoint records the run's own
"$EDIT" delattr "$WORK/p.h5" precision || fail "delattr precision"
expect_rc 0 "$BIN/cxr-export" "$WORK/p.h5" --weights -o "$WORK/pw.h5"
! h5dump -a /precision "$WORK/pw.h5" >/dev/null 2>&1 || fail "cxr-export invented a precision"
expect_rc 0 $T --epochs 3 --resume "$WORK/p.h5"
! grep -q "precision" "$WORK/err" || fail "an unrecorded precision was warned about"
h5dump -a /precision "$WORK/p.h5" | grep -q '"fp32"' || fail "the resumed run did not record its precision"
cp "$WORK/s.h5" "$WORK/s2.h5"
expect_rc 0 $T --epochs 3 --resume "$WORK/c.h5" --no-checkpoint --max-steps 1000
expect_err "resume: --max-steps 1000, $WORK/c.h5's run records no cap (none, or written before 0.14): allowed only"
expect_rc 2 $T --epochs 3 --resume "$WORK/c.h5" --no-checkpoint --max-steps 1
expect_err "--max-steps"
expect_rc 0 "$BIN/cxr-train" "$WORK/s2.h5" --device cpu --threads 2 --no-monitor -q --epochs 3 --resume "$WORK/c.h5" --no-checkpoint
grep -q "this run reads" "$WORK/err" && fail "a copy of the run's store was warned about (its store_content is the run's)"
# a run capped by --max-steps records it: its resume takes it without being told (it was
# refused, the steps per epoch differing), and equals the uninterrupted run's checkpoint
expect_rc 0 $T --epochs 2 --max-steps 2 --checkpoint "$WORK/ms2.h5"
expect_rc 0 $T --epochs 1 --max-steps 2 --checkpoint "$WORK/ms.h5"
h5dump -a /max_steps "$WORK/ms.h5" | grep -q '(0): 2' || fail "the checkpoint does not record max_steps 2"
expect_rc 0 $T --epochs 2 --resume "$WORK/ms.h5"
expect_err "resume: --max-steps 2, as $WORK/ms.h5's run"
h5dump -a /step "$WORK/ms.h5" | grep -q '(0): 4' || fail "the resume did not take 2 steps an epoch"
cmp -s "$WORK/ms.h5" "$WORK/ms2.h5" || fail "resumed (1 + 1 epochs) differs from 2 epochs, max_steps 2"
# another cap that leaves an epoch's steps as they were is taken, said, and recorded
expect_rc 0 $T --epochs 1 --max-steps 1000 --checkpoint "$WORK/mb.h5"
expect_rc 0 $T --epochs 2 --resume "$WORK/mb.h5" --max-steps 500
expect_err "resume: --max-steps 500, $WORK/mb.h5's run had --max-steps 1000: allowed only while an epoch keeps its steps"
h5dump -a /max_steps "$WORK/mb.h5" | grep -q '(0): 500' || fail "the resumed run did not record its max_steps"
# ... but a store with another number of training images (steps per epoch) is refused, named
"$BIN/cxr-pack" "$SAMPLE" -o "$WORK/nv.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null || fail "pack nv"
expect_rc 2 "$BIN/cxr-train" "$WORK/nv.h5" --device cpu --threads 2 --no-monitor -q --epochs 3 --resume "$WORK/c.h5" --no-checkpoint
expect_err "per epoch on $WORK/nv.h5 (the store's training images and --max-steps"
# a threshold chosen on val belongs to its weights: a resume onto a store without val (nor test)
# trains on and stores 0.5, said once
mkdir -p "$WORK/tonly/test/NORMAL" "$WORK/tonly/test/PNEUMONIA" &&
    ln -s "$(cd "$SAMPLE" && pwd -P)/train" "$WORK/tonly/train"
"$BIN/cxr-pack" "$WORK/tonly" -o "$WORK/to.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null || fail "pack train only"
V="$BIN/cxr-train --device cpu --batch 8 --threads 2 --no-monitor -q --max-steps 1 --select none"
expect_rc 0 $V "$WORK/s.h5" --epochs 1 --checkpoint "$WORK/th.h5"
h5dump -a /threshold_split "$WORK/th.h5" | grep -q '"val"' || fail "no threshold chosen on val"
expect_rc 0 $V "$WORK/to.h5" --epochs 3 --resume "$WORK/th.h5"
expect_err "has no val to choose one for the weights trained now, so 0.5 is stored"
[ "$(grep -c "so 0.5 is stored" "$WORK/err")" = 1 ] || fail "the dropped threshold was said more than once"
h5dump -a /threshold "$WORK/th.h5" | grep -q "(0): 0.5\$" || fail "a resume without val kept the old threshold"
! h5dump -a /threshold_split "$WORK/th.h5" >/dev/null 2>&1 || fail "the stored threshold still says val"
expect_rc 0 "$BIN/cxr-predict" "$WORK/th.h5" "$SAMPLE/test" --threads 2
expect_err "the default 0.5: the model holds no threshold chosen on val"
# a step schedule resumed with other --epochs keeps its decay interval, and says so
S="$BIN/cxr-train $WORK/s.h5 --device cpu --batch 8 --threads 2 --no-monitor -q --select none --schedule step"
expect_rc 0 $S --epochs 1 --checkpoint "$WORK/st.h5" --log "$WORK/st.jsonl"
expect_rc 0 $S --epochs 3 --resume "$WORK/st.h5" --checkpoint "$WORK/st3.h5" --log "$WORK/st.jsonl"
expect_err "the step schedule keeps $WORK/st.h5's decay every"
# (appended to its own log: the interval the log's run line holds is the checkpoint's, which
# the run adopts only once its steps are known, after the log is looked at)
[ "$(grep -c '"type":"run"' "$WORK/st.jsonl")" = 2 ] || fail "the step run's resume did not append to its log"
# ... and does so: the resumed run's checkpoint records the first run's interval, not the one
# its 3 epochs would have had (a mutant that said so but recomputed it passed)
every=$(h5dump -a /lr_step_every "$WORK/st.h5" | sed -n 's/.*(0): *//p')
[ -n "$every" ] && [ "$(h5dump -a /lr_step_every "$WORK/st3.h5" | sed -n 's/.*(0): *//p')" = "$every" ] \
    || fail "the resumed step schedule decays every $(h5dump -a /lr_step_every "$WORK/st3.h5" | sed -n 's/.*(0): *//p') steps, the checkpoint's every $every"
# a run capped by --max-steps resumed without it, naming its recipe: the recipe's one-epoch
# warmup is the capped epoch's, as the checkpoint's (it was compared with the whole epoch's)
M="$BIN/cxr-train $WORK/s.h5 --device cpu --batch 8 --threads 2 --no-monitor -q --recipe standard"
expect_rc 0 $M --epochs 1 --max-steps 2 --checkpoint "$WORK/ms1.h5"
expect_rc 0 $M --epochs 2 --resume "$WORK/ms1.h5" --no-checkpoint
expect_err "resume: --max-steps 2, as $WORK/ms1.h5's run"
# a fresh run into an earlier run's checkpoint says it replaces it (a rerun of a command did so
# silently), and how to continue that run when it was not complete
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" --device cpu --batch 8 --threads 2 --no-monitor -q \
    --max-steps 1 --epochs 2 --checkpoint "$WORK/ms1.h5"
expect_err "$WORK/ms1.h5 holds an earlier run's model (epoch 1 of 1, seed 1); this run replaces it"
grep -q "would continue" "$WORK/err" && fail "a complete run was offered a resume: $(cat "$WORK/err")"
# ... and a run that ends says where its model is and the one command left (test, once)
expect_err "done: $WORK/ms1.best.h5 holds the best epoch, "
expect_err "; judge it on test once: cxr-eval $WORK/ms1.best.h5 $WORK/s.h5 --split test"
grep -q "earlier run's best model" "$WORK/err" && fail "a run with selection warned of its best model: $(cat "$WORK/err")"
# ... and a fresh run that keeps no best model (here --select none; a store without val too)
# warns that the MODEL.best.h5 beside its checkpoint is the earlier run's, left as it was (it
# passed for this run's model), at the start and when done
cp "$WORK/ms1.best.h5" "$WORK/ms1.best.was"
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" --device cpu --batch 8 --threads 2 --no-monitor -q \
    --max-steps 1 --epochs 1 --select none --checkpoint "$WORK/ms1.h5"
expect_err "warning: $WORK/ms1.best.h5, beside the checkpoint, is an earlier run's best model; this run keeps none"
expect_err "done: $WORK/ms1.h5 holds the last epoch; judge it on test once: cxr-eval $WORK/ms1.h5 $WORK/s.h5 --split test"
expect_err "cxr-train: $WORK/ms1.best.h5, beside it, is an earlier run's best model, not this run's"
cmp -s "$WORK/ms1.best.h5" "$WORK/ms1.best.was" || fail "the earlier run's best model was changed"
# a store given by a relative path is recorded absolute; a resume from another folder, where the
# same name is another file holding the same images (a copy), is not warned about: the
# checkpoint's store_content says they are the run's (a store of other images: below)
mkdir "$WORK/e1" "$WORK/e2" && cp "$WORK/s.h5" "$WORK/e1/s.h5" && cp "$WORK/s.h5" "$WORK/e2/s.h5"
R="$BIN/cxr-train s.h5 --device cpu --batch 8 --threads 2 --no-monitor -q --max-steps 1"
(cd "$WORK/e1" && $R --epochs 1 --checkpoint ../e.h5 2>"$WORK/err") || fail "train in e1"
(cd "$WORK/e2" && $R --epochs 2 --resume ../e.h5 --no-checkpoint 2>"$WORK/err") || fail "resume in e2"
grep -q "it was trained on\|does not hold the images" "$WORK/err" && fail "a copy of the store was warned about: $(cat "$WORK/err")"
# ... while a checkpoint without that record (before 0.19) can only say the file is another
cp "$WORK/e.h5" "$WORK/e0.h5" && "$EDIT" delattr "$WORK/e0.h5" store_content
(cd "$WORK/e2" && $R --epochs 2 --resume ../e0.h5 --no-checkpoint 2>"$WORK/err") || fail "resume e0 in e2"
expect_err "it was trained on $(cd "$WORK/e1" && pwd -P)/s.h5, this run reads s.h5"
(cd "$WORK/e1" && $R --epochs 2 --resume ../e.h5 --no-checkpoint 2>"$WORK/err") || fail "resume in e1"
grep -q "it was trained on" "$WORK/err" && fail "the same store, resumed from its folder, was warned about"
# a store packed again under the same name (cxr-pack renames a new file into place) with
# another split: the checkpoint records its images (store_content), so a resume says what
# differs (here a val carved from the images trained on), where the path alone said nothing; the
# very same store is not warned about; a checkpoint without the record (before 0.19) is
# compared by path only, as it was
"$BIN/cxr-pack" "$SAMPLE" -o "$WORK/rp.h5" --size 32 --shard 8 --val-fraction 0 --threads 2 --quiet >/dev/null \
    || fail "pack rp.h5"
P="$BIN/cxr-train $WORK/rp.h5 --device cpu --batch 8 --threads 2 --no-monitor -q --max-steps 1"
expect_rc 0 $P --epochs 1 --checkpoint "$WORK/rp1.h5" --log "$WORK/rp.jsonl"
[ -n "$(attr "$WORK/rp1.h5" store_content)" ] || fail "the checkpoint does not record store_content"
cp "$WORK/rp1.h5" "$WORK/rp0.h5" && "$EDIT" delattr "$WORK/rp0.h5" store_content
expect_rc 0 $P --epochs 2 --resume "$WORK/rp1.h5" --no-checkpoint
grep -q "warning: resume" "$WORK/err" && fail "a resume on its own store was warned about: $(cat "$WORK/err")"
pack_sample "$WORK/rp.h5"
expect_rc 0 $P --epochs 2 --resume "$WORK/rp1.h5" --no-checkpoint
expect_err "warning: resume $WORK/rp1.h5: $WORK/rp.h5 does not hold the images its run was trained on ($(cd "$WORK" && pwd -P)/rp.h5 then): train: 48 images then, 36 now; val: none then, 12 now (carved from the images trained on); it goes on training on other images; its evaluations are not comparable with the earlier epochs': not the same run continued"
# ... and with its own log, whose run line counts the images of the store trained on then: the
# run goes on, appending (the check of another store's log refused it, comparing the log with
# the store as it is now); again after that resume's run line, the store as it is now
cp "$WORK/rp.jsonl" "$WORK/rpl0.jsonl"
expect_rc 0 $P --epochs 2 --resume "$WORK/rp1.h5" --checkpoint "$WORK/rp2.h5" --log "$WORK/rp.jsonl"
expect_err "does not hold the images its run was trained on"
[ "$(grep -c '"type":"run"' "$WORK/rp.jsonl")" = 2 ] || fail "the resume on a store packed again did not append to its log"
head -c "$(stat -c %s "$WORK/rpl0.jsonl")" "$WORK/rp.jsonl" | cmp -s - "$WORK/rpl0.jsonl" ||
    fail "the resume changed its log's earlier lines"
expect_rc 0 $P --epochs 3 --resume "$WORK/rp2.h5" --no-checkpoint --log "$WORK/rp.jsonl"
expect_rc 0 $P --epochs 2 --resume "$WORK/rp0.h5" --no-checkpoint
grep -q "warning: resume" "$WORK/err" && fail "a checkpoint without store_content was warned about: $(cat "$WORK/err")"
# other pixels under the same names and labels (two training images' files swapped): the
# checkpoint records the digest of the pixel hashes cxr-pack stores (store_pixels, since 0.20),
# tied to each image's name, so the swap is said; not by a checkpoint without that record, nor
# against a store packed without the hashes (--no-duplicate-check)
cp -r "$SAMPLE" "$WORK/px" && chmod -R u+w "$WORK/px"
P="$BIN/cxr-train $WORK/px.h5 --device cpu --batch 8 --threads 2 --no-monitor -q --max-steps 1"
"$BIN/cxr-pack" "$WORK/px" -o "$WORK/px.h5" --size 32 --shard 8 --val-fraction 0 --threads 2 --quiet \
    >/dev/null || fail "pack px.h5"
expect_rc 0 $P --epochs 1 --checkpoint "$WORK/px1.h5"
[ -n "$(attr "$WORK/px1.h5" store_pixels)" ] || fail "the checkpoint does not record store_pixels"
cp "$WORK/px1.h5" "$WORK/px0.h5" && "$EDIT" delattr "$WORK/px0.h5" store_pixels
sw=("$WORK"/px/train/NORMAL/*.jpeg)
mv "${sw[0]}" "$WORK/px/swap" && mv "${sw[1]}" "${sw[0]}" && mv "$WORK/px/swap" "${sw[1]}"
"$BIN/cxr-pack" "$WORK/px" -o "$WORK/px.h5" --size 32 --shard 8 --val-fraction 0 --threads 2 --quiet \
    >/dev/null || fail "repack px.h5"
expect_rc 0 $P --epochs 2 --resume "$WORK/px1.h5" --no-checkpoint
expect_err "warning: resume $WORK/px1.h5: $WORK/px.h5 does not hold the images its run was trained on ($(cd "$WORK" && pwd -P)/px.h5 then): train: the same 48 images by name and label, but other pixels (files changed under the same names, or another decoder); it goes on training on other images: not the same run continued"
grep -q "test:" "$WORK/err" && fail "the unchanged test split was said to differ: $(cat "$WORK/err")"
expect_rc 0 $P --epochs 2 --resume "$WORK/px0.h5" --no-checkpoint
grep -q "warning: resume" "$WORK/err" && fail "a checkpoint without store_pixels was warned about: $(cat "$WORK/err")"
"$BIN/cxr-pack" "$WORK/px" -o "$WORK/px.h5" --size 32 --shard 8 --val-fraction 0 --threads 2 --quiet \
    --no-duplicate-check >/dev/null || fail "repack px.h5 without hashes"
expect_rc 0 $P --epochs 2 --resume "$WORK/px1.h5" --no-checkpoint
grep -q "warning: resume" "$WORK/err" && fail "a store without pixel_hash was compared by pixels: $(cat "$WORK/err")"
# a pixel_hash that does not read (a flipped byte: HDF5's checksum) stops no run: the optional
# dataset is said, and the checkpoint records no pixels, so no resume compares them
"$BIN/cxr-pack" "$WORK/px" -o "$WORK/pxd.h5" --size 32 --shard 8 --val-fraction 0 --threads 2 --quiet \
    >/dev/null || fail "pack pxd.h5"
"$EDIT" flip "$WORK/pxd.h5" /train/pixel_hash || fail "flip pixel_hash"
expect_rc 0 "$BIN/cxr-train" "$WORK/pxd.h5" --device cpu --batch 8 --threads 2 --no-monitor -q \
    --max-steps 1 --epochs 1 --checkpoint "$WORK/pxd1.h5"
expect_err "/train/pixel_hash"
expect_err "; its images' pixels are not recorded in the checkpoint, so a resume cannot compare them"
[ -n "$(attr "$WORK/pxd1.h5" store_content)" ] && [ -z "$(attr "$WORK/pxd1.h5" store_pixels)" ] \
    || fail "a store whose pixel_hash did not read: store_content '$(attr "$WORK/pxd1.h5" store_content)', store_pixels '$(attr "$WORK/pxd1.h5" store_pixels)'"
# a checkpoint reached through a symbolic link is written through it: the file it names is
# replaced, the link stays a link (the rename replaced the link with a file, the target stale)
mkdir "$WORK/real" && cp "$WORK/c.h5" "$WORK/real/l.h5" && ln -s real/l.h5 "$WORK/link.h5"
expect_rc 0 $T --epochs 3 --resume "$WORK/link.h5"
[ -L "$WORK/link.h5" ] || fail "the checkpoint's symbolic link was replaced by a file"
h5dump -a /epoch "$WORK/real/l.h5" | grep -q '(0): 3' || fail "the link's target was not saved"
ls "$WORK"/.link.h5.cxr-tmp-* "$WORK"/real/.l.h5.cxr-tmp-* >/dev/null 2>&1 && fail "a temporary was left"
ln -s nowhere/x.h5 "$WORK/dangling.h5"
expect_rc 4 $T --epochs 1 --checkpoint "$WORK/dangling.h5"
expect_err "--checkpoint: $WORK/dangling.h5: a symbolic link whose target cannot be resolved"
# a replaced checkpoint keeps its permissions (one made private stays private)
cp "$WORK/c.h5" "$WORK/m.h5" && chmod 600 "$WORK/m.h5"
expect_rc 0 $T --epochs 3 --resume "$WORK/m.h5"
[ "$(stat -c %a "$WORK/m.h5")" = 600 ] || fail "the checkpoint's mode became $(stat -c %a "$WORK/m.h5")"
# a folder where no file can be created is refused before training, not after the first epoch
# (/proc: a folder that exists and takes no new file, even for root)
expect_rc 4 $T --epochs 1 --checkpoint /proc/cxr-test-model.h5 --log "$WORK/ro.jsonl"
expect_err "--checkpoint: /proc/cxr-test-model.h5: cannot create a temporary file in /proc"
! grep -q '"type":"epoch"' "$WORK/ro.jsonl" 2>/dev/null || fail "an epoch ran before the refusal"
# so is the best model's folder where it differs from the checkpoint's: MODEL.best.h5 a link
# into /proc (the temporary goes beside the link's target)
ln -s /proc/version "$WORK/pb.best.h5"
expect_rc 4 $T --epochs 1 --checkpoint "$WORK/pb.h5" --select val_auc --log "$WORK/pb.jsonl"
expect_err "the best model: /proc/version: cannot create a temporary file in /proc"
! grep -q '"type":"epoch"' "$WORK/pb.jsonl" 2>/dev/null || fail "an epoch ran before the best model's refusal"
[ -e "$WORK/pb.h5" ] && fail "a checkpoint was written before the best model's refusal"
# an integer attribute that does not fit is refused naming it, not saturated (a seed of -5 read
# as 0, an epoch of 2^33 read as 2^31-1)
cp "$WORK/c.h5" "$WORK/i.h5" && "$EDIT" seti64 "$WORK/i.h5" seed -5 || fail "seti64 seed"
expect_rc 3 $T --epochs 3 --resume "$WORK/i.h5" --no-checkpoint
expect_err "$WORK/i.h5: checkpoint attribute 'seed' is unreadable (damaged, out of range"
cp "$WORK/c.h5" "$WORK/i.h5" && "$EDIT" seti64 "$WORK/i.h5" epoch 8589934594 || fail "seti64 epoch"
expect_rc 3 $T --epochs 3 --resume "$WORK/i.h5" --no-checkpoint
expect_err "$WORK/i.h5: checkpoint attribute 'epoch' is unreadable (damaged, out of range"
cp "$WORK/c.h5" "$WORK/i.h5" && "$EDIT" seti64 "$WORK/i.h5" epoch 2 || fail "seti64 epoch 2"
expect_rc 0 $T --epochs 2 --resume "$WORK/i.h5" --no-checkpoint # an int64 that fits is read
# a best value no epoch could beat is refused (every later best model would be lost)
cp "$WORK/c.h5" "$WORK/i.h5" && "$EDIT" setattrf "$WORK/i.h5" best_value -inf || fail "setattrf"
expect_rc 3 $T --epochs 3 --resume "$WORK/i.h5" --no-checkpoint
expect_err "$WORK/i.h5: checkpoint attribute 'best_value': -inf"
# both checkpoints now hold epoch 2 at the same step
cmp -s <(h5dump -a /step "$WORK/a.h5" | grep -v HDF5) <(h5dump -a /step "$WORK/c.h5" | grep -v HDF5) \
    || fail "checkpoint step counters differ"
finish
