#!/bin/bash
# test_select.sh BIN SAMPLE EDIT: issue 15's training recipe on data/sample packed small
# (32x32, a val split): recipes as data (study = chest = the options of before, to the bit), the
# run's definition in the checkpoint (a resume needs no options and refuses contradicting ones,
# bit-identical to an uninterrupted run), --select keeping the best epoch's model (checked
# against the log read back), --patience stopping and resuming consistently, the threshold chosen
# on val stored in the model and used by cxr-eval / cxr-predict, selection refused without /val
# or with a one-class /val, step-decay options refused with another schedule, label smoothing
# (0 = none to the bit, recorded, kept and checked on a resume).
# A 5th argument "stop" runs the second half (step decay, patience, no /val), so that each
# ctest entry stays short.
BIN=$1 SAMPLE=$2 EDIT=$3 PART=${5:-run}
. "$(dirname "$0")/common.sh"
pack_sample "$WORK/s.h5"
T="$BIN/cxr-train $WORK/s.h5 --device cpu --batch 8 --threads 2 --seed 3 --no-monitor -q --max-steps 2"
# python3 helpers over a log: the epoch lines' values of KEY, one per line
col() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d.get("type") == "epoch": print(d.get(sys.argv[2]))' "$1" "$2"; }

if [ "$PART" = run ]; then
# --- recipes: study and its old name chest give the same bits as the options they stand for
expect_rc 0 $T --epochs 2 --recipe study --log "$WORK/study.jsonl" --no-checkpoint
expect_rc 0 $T --epochs 2 --recipe chest --log "$WORK/chest.jsonl" --no-checkpoint
expect_rc 0 $T --epochs 2 --recipe cosine --schedule constant --warmup-steps 0 --weight-decay 0 \
    --select none --log "$WORK/opts.jsonl" --no-checkpoint
a=$(epoch_losses "$WORK/study.jsonl")
[ -n "$a" ] && [ "$a" = "$(epoch_losses "$WORK/chest.jsonl")" ] || fail "chest differs from study"
[ "$a" = "$(epoch_losses "$WORK/opts.jsonl")" ] || fail "study differs from its options"
grep -q '"name":"study","epochs":2,"batch":8,"lr":0.0001,"schedule":"constant","warmup_steps":0,"weight_decay":0' \
    "$WORK/study.jsonl" || fail "run line: study recipe not recorded"
! grep -q '"best_epoch"' "$WORK/study.jsonl" || fail "study selects an epoch"

# --- the default recipe: cosine + warmup + AdamW + selection by val AUC, the rate per epoch
expect_rc 0 $T --epochs 3 --log "$WORK/a.jsonl" --checkpoint "$WORK/a.h5"
expect_err "the best epoch by val_auc is kept in $WORK/a.best.h5"
grep -q '"name":"standard"' "$WORK/a.jsonl" || fail "default recipe is not standard"
# its warmup is one epoch of this run: ceil(train images / batch 8) steps, at most --max-steps 2
ntrain=$(h5dump -H -d /train/labels "$WORK/s.h5" | grep -o 'SIMPLE { ( [0-9]*' | grep -o '[0-9]*$')
[ $(((ntrain + 7) / 8)) -gt 2 ] || fail "the sample's epoch has no more than --max-steps' 2 steps"
grep -q "\"schedule\":\"cosine\",\"warmup_steps\":2,\"weight_decay\":0.1" \
    "$WORK/a.jsonl" || fail "run line lacks the default's schedule, one epoch's warmup (2 steps), weight decay"
expect_rc 0 $T --epochs 1 --max-steps 1000 --log "$WORK/w.jsonl" --no-checkpoint
grep -q "\"warmup_steps\":$(((ntrain + 7) / 8))," "$WORK/w.jsonl" \
    || fail "without --max-steps, the warmup is not one epoch of $ntrain images"
grep -q '"select":"val_auc","patience":0' "$WORK/a.jsonl" || fail "run line lacks the selection"
grep -q '"augment":"rotate=10,' "$WORK/a.jsonl" || fail "the default recipe does not augment"
grep -q "\"best_model\":\"$WORK/a.best.h5\"" "$WORK/a.jsonl" || fail "run line lacks best_model"
[ "$(col "$WORK/a.jsonl" lr | sort -u | wc -l)" = 3 ] || fail "lr is not logged per epoch"
# the best epoch is the first with the highest val AUC, as the log says
best=$(python3 -c 'import json,sys
e = [json.loads(l) for l in open(sys.argv[1]) if "\"epoch\"" in l and "\"type\":\"epoch\"" in l]
b = max(range(len(e)), key=lambda i: (e[i]["auc"], -i))
assert all(x["best_epoch"] == max(range(j + 1), key=lambda i: (e[i]["auc"], -i)) + 1 for j, x in enumerate(e))
print(b + 1, repr(e[b]["threshold"]))' "$WORK/a.jsonl") || fail "best_epoch in the log is not the best val AUC so far"
set -- $best
[ -f "$WORK/a.best.h5" ] || fail "no best model"
[ "$(attr "$WORK/a.best.h5" epoch)" = "${1:-x}" ] || fail "best model holds epoch $(attr "$WORK/a.best.h5" epoch), want $1"
[ "$(attr "$WORK/a.h5" epoch)" = 3 ] || fail "last checkpoint is not epoch 3"
[ "$(attr "$WORK/a.best.h5" threshold_split)" = val ] || fail "best model: threshold not chosen on val"
python3 -c "import sys; sys.exit(float(sys.argv[1]) != float(sys.argv[2]))" \
    "$(h5dump -m %.17g -a /threshold "$WORK/a.best.h5" | sed -n 's/.*(0): *//p')" "${2:-x}" \
    || fail "best model's threshold is not its epoch's logged threshold ${2:-}"

# --- threshold: cxr-eval and cxr-predict use the stored one, say so, --threshold overrides
thr=$(h5dump -m %.17g -a /threshold "$WORK/a.best.h5" | sed -n 's/.*(0): *//p')
expect_rc 0 "$BIN/cxr-eval" "$WORK/a.best.h5" "$WORK/s.h5" --split val --threads 2 --json
expect_err "threshold"
expect_err "chosen on val, stored in the model"
python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
assert d["threshold"] == float(sys.argv[2]) and d["threshold_source"].startswith("chosen on val"), d
assert d["epoch"] == int(sys.argv[3])' "$WORK/out" "$thr" "${1:-0}" || fail "cxr-eval --json: threshold $thr not used"
expect_rc 0 "$BIN/cxr-eval" "$WORK/a.best.h5" "$WORK/s.h5" --split val --threads 2 --threshold 0.25
expect_err "threshold 0.25 (--threshold)"
grep -q "^threshold 0.25 " "$WORK/out" || fail "cxr-eval did not apply --threshold"
# -q: no threshold line on stderr (the report still names it and its source)
expect_rc 0 "$BIN/cxr-eval" "$WORK/a.best.h5" "$WORK/s.h5" --split val --threads 2 --threshold 0.25 -q
[ -s "$WORK/err" ] && fail "cxr-eval -q: stderr not empty: $(cat "$WORK/err")"
grep -q "^threshold 0.25 (predict .*; --threshold)" "$WORK/out" || fail "cxr-eval -q: the report lacks its threshold: $(cat "$WORK/out")"
# --json's numbers read back as exactly the doubles used: cJSON's printer gave this threshold as
# 0.75816011428833, one ulp below, which can decide an image otherwise when pasted back
expect_rc 0 "$BIN/cxr-eval" "$WORK/a.best.h5" "$WORK/s.h5" --split val --threads 2 --json \
    --threshold 0.7581601142883301
python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["threshold"] != 0.7581601142883301)' \
    "$WORK/out" || fail "cxr-eval --json: threshold not exact: $(grep -o '"threshold":[^,]*' "$WORK/out")"
img="$SAMPLE/test/PNEUMONIA/person10_virus_35.jpeg"
expect_rc 0 "$BIN/cxr-predict" "$WORK/a.best.h5" "$img" --threads 2
expect_err "chosen on val, stored in the model"
p1=$(awk -F'\t' 'NR == 2 {print $5}' "$WORK/out") cls=$(awk -F'\t' 'NR == 2 {print $2}' "$WORK/out")
want=$(awk -v p="$p1" -v t="$thr" 'BEGIN{print (p >= t) ? "PNEUMONIA" : "NORMAL"}')
[ "$cls" = "$want" ] || fail "predict: p1 $p1 and stored threshold $thr give $want, printed $cls"
expect_rc 0 "$BIN/cxr-predict" "$WORK/a.best.h5" "$img" --threads 2 --threshold 1
[ "$(awk -F'\t' 'NR == 2 {print $2}' "$WORK/out")" = NORMAL ] || fail "predict --threshold 1 predicted class 1"
# a model without a threshold chosen on val (an older one): 0.5, said so
cp "$WORK/a.h5" "$WORK/old.h5"
"$EDIT" delattr "$WORK/old.h5" threshold_split schedule || fail "cannot edit old.h5"
h5dump -a /threshold "$WORK/old.h5" >/dev/null && "$EDIT" delattr "$WORK/old.h5" threshold
expect_rc 0 "$BIN/cxr-eval" "$WORK/old.h5" "$WORK/s.h5" --split val --threads 2
expect_err "threshold 0.5 (the default 0.5: the model holds no threshold chosen on val)"
# ... which -q still says (a caveat, not a chosen threshold), cxr-predict's -q too
expect_rc 0 "$BIN/cxr-eval" "$WORK/old.h5" "$WORK/s.h5" --split val --threads 2 -q
expect_err "threshold 0.5 (the default 0.5: the model holds no threshold chosen on val)"
expect_rc 0 "$BIN/cxr-predict" "$WORK/old.h5" "$img" --threads 2 -q
expect_err "threshold 0.5 (the default 0.5: the model holds no threshold chosen on val)"
# ... one with a threshold other than 0.5 but no split named (made before threshold_split): its
# own, said as the model's, not as a default
"$EDIT" setattrf "$WORK/old.h5" threshold 0.3 || fail "cannot edit old.h5"
expect_rc 0 "$BIN/cxr-eval" "$WORK/old.h5" "$WORK/s.h5" --split val --threads 2
expect_err "threshold 0.3 (stored in the model)"

# --- resume: the run's definition comes from the checkpoint, bit-identical, contradictions refused
expect_rc 0 $T --epochs 1 --log "$WORK/c.jsonl" --checkpoint "$WORK/c.h5"
[ "$(attr "$WORK/c.h5" schedule)" = cosine ] && [ "$(attr "$WORK/c.h5" recipe)" = standard ] \
    || fail "checkpoint lacks schedule/recipe"
for bad in "--schedule constant" "--warmup-steps 10" "--weight-decay 0" "--select val_loss" "--recipe study" "--augment none"; do
    expect_rc 2 $T --epochs 3 --resume "$WORK/c.h5" --no-checkpoint $bad
    expect_err "differs from the checkpoint"
done
cp "$WORK/c.h5" "$WORK/c0.h5"
# resumed into another checkpoint: where the best so far is, and where a better one would go
expect_rc 0 $T --epochs 1 --resume "$WORK/c.h5" --checkpoint "$WORK/e.h5"
expect_err "the best epoch so far (1, val_auc"
expect_err "is in $WORK/c.best.h5; $WORK/e.best.h5 is written only when a later epoch does better"
# branched from the best model itself (as --help suggests): the best so far is that file
expect_rc 0 $T --epochs 1 --resume "$WORK/c.best.h5" --checkpoint "$WORK/f.h5"
expect_err "is in $WORK/c.best.h5; $WORK/f.best.h5 is written only when a later epoch does better"
# resumed into itself with its best model gone, or replaced by another model: warned, not taken
# for the best epoch's (nothing to train here: the warning comes before any epoch)
cp "$WORK/c.h5" "$WORK/g.h5"
expect_rc 0 $T --epochs 1 --resume "$WORK/g.h5"
expect_err "warning: the best epoch so far (1, val_auc"
expect_err "is not found at $WORK/g.best.h5; $WORK/g.best.h5 is written only when a later epoch"
# ... and when no later epoch does better (val_auc 1 here cannot be beaten), the run's end says
# that no file holds the best epoch, and where the last one is (it ended silent)
cp "$WORK/c0.h5" "$WORK/x.h5" && "$EDIT" setattrf "$WORK/x.h5" best_value 1 || fail "cannot make x.h5"
expect_rc 0 $T --epochs 2 --resume "$WORK/x.h5"
expect_err "done: no file holds the best epoch, 1 (val_auc 1), as warned above ($WORK/x.best.h5 is written when a later epoch does better); $WORK/x.h5 holds the last epoch"
[ -e "$WORK/x.best.h5" ] && fail "a best model was written although no epoch beat val_auc 1"
# ... but resumed into another checkpoint, the resumed file still holds the best epoch: said so
cp "$WORK/c0.h5" "$WORK/x2.h5" && "$EDIT" setattrf "$WORK/x2.h5" best_value 1 || fail "cannot make x2.h5"
expect_rc 0 $T --epochs 2 --resume "$WORK/x2.h5" --checkpoint "$WORK/y.h5"
expect_err "done: $WORK/x2.h5 holds the best epoch, 1 (val_auc 1); judge it on test once"
# ... or replaced by another run's best model of that epoch (another seed): not taken either
cp "$WORK/c0.h5" "$WORK/g2.h5" && cp "$WORK/c.best.h5" "$WORK/g2.best.h5" \
    && "$EDIT" seti64 "$WORK/g2.best.h5" seed 6 || fail "cannot make g2.best.h5"
expect_rc 0 $T --epochs 1 --resume "$WORK/g2.h5"
expect_err "is not in $WORK/g2.best.h5 (it holds another model); $WORK/g2.best.h5 is written only"
# a checkpoint named X.best.h5 that is no best model (its epoch is past its best one): resumed,
# the best so far is looked for in its own best model, X.best.best.h5, not in the file itself
expect_rc 0 $T --epochs 2 --checkpoint "$WORK/h.best.h5"
"$EDIT" setattr "$WORK/h.best.h5" best_epoch 1 || fail "cannot edit h.best.h5"
expect_rc 0 $T --epochs 2 --resume "$WORK/h.best.h5" --checkpoint "$WORK/h2.h5"
grep -q "the best epoch so far (1, val_auc .*) is .*in $WORK/h.best.best.h5" "$WORK/err" ||
    fail "h.best.h5, past its best epoch, taken for its own best model: $(cat "$WORK/err")"
cp "$WORK/c.best.h5" "$WORK/g.best.h5"
"$EDIT" setattrf "$WORK/g.best.h5" best_value 0.125 || fail "cannot edit g.best.h5"
expect_rc 0 $T --epochs 1 --resume "$WORK/g.h5"
expect_err "is not in $WORK/g.best.h5 (it holds another model)"
cp "$WORK/c.best.h5" "$WORK/g.best.h5"
expect_rc 0 $T --epochs 1 --resume "$WORK/g.h5"
grep -q "best epoch so far" "$WORK/err" && fail "its own best model in place, yet said: $(cat "$WORK/err")"
expect_rc 0 $T --epochs 3 --resume "$WORK/c.h5" --log "$WORK/c.jsonl"
[ "$(epoch_losses "$WORK/a.jsonl")" = "$(epoch_losses "$WORK/c.jsonl")" ] || fail "resume differs: losses"
[ "$(col "$WORK/a.jsonl" lr)" = "$(col "$WORK/c.jsonl" lr)" ] || fail "resume differs: lr"
[ "$(col "$WORK/a.jsonl" best_epoch)" = "$(col "$WORK/c.jsonl" best_epoch)" ] || fail "resume differs: best_epoch"
[ "$(col "$WORK/a.jsonl" threshold)" = "$(col "$WORK/c.jsonl" threshold)" ] || fail "resume differs: threshold"
cmp -s <(h5dump -d /params/out.w "$WORK/a.best.h5" | tail -n +2) <(h5dump -d /params/out.w "$WORK/c.best.h5" | tail -n +2) \
    || fail "resume: another best model"
# a best model resumed without --checkpoint would be written over: refused, naming the run's
# checkpoint; with --checkpoint it branches from the best epoch and leaves it as it was
cp "$WORK/c.best.h5" "$WORK/keep.best.h5"
expect_rc 2 $T --epochs 3 --resume "$WORK/c.best.h5"
expect_err "--resume $WORK/c.best.h5: a best model; its run's checkpoint is $WORK/c.h5"
expect_rc 0 $T --epochs 3 --resume "$WORK/c.best.h5" --checkpoint "$WORK/branch.h5"
cmp -s "$WORK/c.best.h5" "$WORK/keep.best.h5" || fail "a branch from the best model changed it"
# an older checkpoint (no schedule recorded): the options of its time, said
"$EDIT" delattr "$WORK/c0.h5" schedule || fail "cannot edit c0.h5"
expect_rc 0 $T --epochs 2 --resume "$WORK/c0.h5" --no-checkpoint
expect_err "records no schedule (written before issue 15): using constant, warmup 0"
# ... with a selection and a patience given: they count from the resume (the epoch it holds was
# never selected among), so the run trains on rather than stop at once on "best epoch 0"
expect_rc 0 $T --epochs 3 --resume "$WORK/c0.h5" --no-checkpoint --select val_auc --patience 1 \
    --log "$WORK/c0.jsonl"
grep -q "early stopping after epoch 1:" "$WORK/err" && fail "an old checkpoint's resume stopped at once: $(cat "$WORK/err")"
[ "$(grep -c '"type":"epoch"' "$WORK/c0.jsonl")" -ge 1 ] || fail "an old checkpoint's resume with --patience trained nothing"

fi
if [ "$PART" = stop ]; then
# --- step decay: x gamma every --lr-step-epochs epochs, the rate in the log
expect_rc 0 $T --epochs 3 --recipe study --schedule step --lr-step-epochs 1 --lr-gamma 0.5 \
    --log "$WORK/step.jsonl" --no-checkpoint
[ "$(col "$WORK/step.jsonl" lr | tr '\n' ' ')" = "0.0001 5e-05 2.5e-05 " ] || fail "step decay rates: $(col "$WORK/step.jsonl" lr | tr '\n' ' ')"

# --- the default step decay: x0.1 after each third of the run, rounded up: twice, never a
# third time (8 steps decayed every 2 once: at steps 2, 4 and 6)
expect_rc 0 $T --epochs 4 --recipe study --schedule step --log "$WORK/step3.jsonl" --no-checkpoint
[ "$(col "$WORK/step3.jsonl" lr | tr '\n' ' ')" = "0.0001 1e-05 1e-05 1e-06 " ] ||
    fail "default step decay rates: $(col "$WORK/step3.jsonl" lr | tr '\n' ' ')"
grep -q "step decay" "$WORK/err" && fail "two decays within the run were noted: $(cat "$WORK/err")"
# ... and a warmup that pushes the second past the end is said (steps 2 + 2 x 2 of 6)
expect_rc 0 $T --epochs 3 --recipe study --schedule step --warmup-steps 2 --no-checkpoint
expect_err "step decay: every 2 steps after a warmup of 2: the second decay falls past the run's 6 steps, so the rate decays once"

# --- a step decay whose interval passes the run's end is said (it was silent)
expect_rc 0 $T --epochs 2 --schedule step --lr-step-epochs 5 --warmup-steps 0 --no-checkpoint
expect_err "step decay: every 10 steps after a warmup of 0, not within the run's 4: the rate never decays"
# ... also when the warmup (the default recipe's: one epoch, 2 steps here) takes the room
expect_rc 0 $T --epochs 2 --schedule step --lr-step-epochs 1 --no-checkpoint
expect_err "step decay: every 2 steps after a warmup of 2, not within the run's 4: the rate never decays"

# --- a warmup longer than the run (cosine's 100 steps, 3 x 2 here) is said; so is a resume
# whose --epochs reshapes a cosine schedule
expect_rc 0 $T --epochs 3 --recipe cosine --no-checkpoint
expect_err "warmup: 100 steps, longer than the run's 6: the rate reaches 0.06 of --lr at most"
expect_rc 0 $T --epochs 3 --recipe cosine --warmup-steps 6 --no-checkpoint # as long: not said
grep -q "longer than the run" "$WORK/err" && fail "a warmup as long as the run said longer: $(cat "$WORK/err")"
expect_rc 0 $T --epochs 1 --recipe cosine --warmup-steps 0 --checkpoint "$WORK/cos.h5"
expect_rc 0 $T --epochs 2 --resume "$WORK/cos.h5" --no-checkpoint
expect_err "resume: the cosine schedule now spans 2 epochs, not the 1 $WORK/cos.h5 was started with"
expect_err "the rates from epoch 2 on follow neither run"
# ... unless every step so far was warmup (here the first epoch's 2 steps): the rates so far do
# not depend on the run's length, and the run goes on as one of 2 epochs from the start, to the bit
expect_rc 0 $T --epochs 1 --recipe cosine --warmup-steps 2 --log "$WORK/cw.jsonl" --checkpoint "$WORK/cw.h5"
expect_rc 0 $T --epochs 2 --resume "$WORK/cw.h5" --log "$WORK/cw.jsonl" --no-checkpoint
expect_err "resume: the cosine schedule now spans 2 epochs, not the 1 $WORK/cw.h5 was started with; its 2 step(s) so far were all warmup, so the run goes on as one of 2 epochs from the start would"
grep -q "follow neither run" "$WORK/err" && fail "a resume after warmup only said the rates follow neither run"
expect_rc 0 $T --epochs 2 --recipe cosine --warmup-steps 2 --log "$WORK/cw2.jsonl" --no-checkpoint
a=$(epoch_losses "$WORK/cw.jsonl")
[ -n "$a" ] && [ "$a" = "$(epoch_losses "$WORK/cw2.jsonl")" ] && [ "$(col "$WORK/cw.jsonl" lr)" = "$(col "$WORK/cw2.jsonl" lr)" ] \
    || fail "1 warmup epoch + a resume to 2 differs from a 2-epoch run: $a vs $(epoch_losses "$WORK/cw2.jsonl")"

# --- patience: stops at the first epoch that does not improve, exit 0, resumable
P="--select val_balanced_accuracy --patience 1 --epochs 6 --recipe study"
expect_rc 0 $T $P --log "$WORK/p.jsonl" --checkpoint "$WORK/p.h5"
expect_err "early stopping after epoch"
n=$(grep -c '"type":"epoch"' "$WORK/p.jsonl")
python3 -c 'import json,sys
e = [json.loads(l) for l in open(sys.argv[1]) if "\"type\":\"epoch\"" in l]
b = [x["best_epoch"] for x in e]
stop = next(i for i in range(1, len(b)) if b[i] == b[i - 1])   # first epoch without improvement
assert len(e) == stop + 1 and e[-1].get("stopped") == "patience", (b, len(e))
assert all("stopped" not in x for x in e[:-1])' "$WORK/p.jsonl" || fail "patience did not stop at the first non-improving epoch"
[ "$(attr "$WORK/p.h5" stopped)" = patience ] || fail "checkpoint does not say it stopped"
expect_rc 0 $T $P --resume "$WORK/p.h5" --no-checkpoint --log "$WORK/p2.jsonl"
expect_err "early stopping after epoch $n"
! grep -q '"type":"epoch"' "$WORK/p2.jsonl" || fail "a stopped run trained again on resume"
[ ! -s "$WORK/p2.jsonl" ] || fail "a stopped run's resume logged: $(head -c 120 "$WORK/p2.jsonl")"
# the stop names the file that holds the best epoch: the resumed run's best model, also when
# resumed into another checkpoint (whose best model this run never wrote)
grep -q "early stopping after epoch $n: .*, in $WORK/p.best.h5\$" "$WORK/err" \
    || fail "the stop does not name p.best.h5: $(cat "$WORK/err")"
expect_rc 0 $T $P --resume "$WORK/p.h5" --checkpoint "$WORK/pr.h5"
[ ! -e "$WORK/pr.best.h5" ] || fail "a resume that trained nothing wrote a best model"
grep -q "early stopping after epoch $n: .*, in $WORK/p.best.h5\$" "$WORK/err" \
    || fail "the stop names a best model that is not there: $(cat "$WORK/err")"
# ... and never a file of that name that holds another run's model (left from before)
expect_rc 0 $T $P --seed 99 --epochs 1 --checkpoint "$WORK/o.h5"
cp "$WORK/p.h5" "$WORK/pr.h5" && cp "$WORK/o.best.h5" "$WORK/pr.best.h5"
expect_rc 0 $T $P --resume "$WORK/pr.h5" --no-checkpoint
grep -q "early stopping after epoch $n: " "$WORK/err" && ! grep -q "pr.best.h5" "$WORK/err" \
    || fail "the stop names another run's model as the best: $(cat "$WORK/err")"
rm -f "$WORK/o.h5" "$WORK/o.best.h5" "$WORK/pr.h5" "$WORK/pr.best.h5"
# a run whose patience runs out only after its last epoch trained them all: not "stopped"
# (checkpoint and log; with these settings epoch 2 does not improve on epoch 1 here, else the
# check tests nothing, which is said)
expect_rc 0 $T --select val_balanced_accuracy --patience 1 --epochs 2 --recipe study \
    --log "$WORK/pe.jsonl" --checkpoint "$WORK/pe.h5"
[ "$(attr "$WORK/pe.h5" epoch)" = 2 ] && [ -z "$(attr "$WORK/pe.h5" stopped)" ] \
    || fail "a run that trained all its epochs says stopped='$(attr "$WORK/pe.h5" stopped)'"
! grep -q '"stopped"' "$WORK/pe.jsonl" || fail "a run that trained all its epochs logged a stop"
[ "$(col "$WORK/pe.jsonl" best_epoch | tail -1)" = 1 ] ||
    echo "note: epoch 2 improved on this machine: the patience check above tested nothing"
# an epoch whose val probabilities are not all finite chooses no threshold (the model keeps the
# default 0.5, no split named)
expect_rc 0 $T --epochs 1 --lr 10 --weight-decay 100 --select val_loss --checkpoint "$WORK/dv.h5"
expect_err "no threshold is chosen from them"
[ -z "$(attr "$WORK/dv.h5" threshold_split)" ] && [ "$(attr "$WORK/dv.h5" threshold)" = 0.5 ] \
    || fail "a diverged epoch chose threshold $(attr "$WORK/dv.h5" threshold) on '$(attr "$WORK/dv.h5" threshold_split)'"
# --select val_balanced_accuracy compares the balanced accuracy at the threshold chosen on val:
# the best model's value is what cxr-eval --split val reports for it at its own threshold
expect_rc 0 $T --select val_balanced_accuracy --epochs 3 --recipe study \
    --log "$WORK/ba.jsonl" --checkpoint "$WORK/ba.h5"
bv=$(attr "$WORK/ba.h5" best_value)
"$BIN/cxr-eval" "$WORK/ba.best.h5" "$WORK/s.h5" --split val --threads 2 --json >"$WORK/ba.json" \
    2>/dev/null || fail "cxr-eval of ba.best.h5"
python3 -c 'import json,sys
e = json.load(open(sys.argv[1])); b = float(sys.argv[2])
assert abs(e["balanced_accuracy"] - b) < 1e-5, (e["balanced_accuracy"], b)  # h5dump: 6 digits' "$WORK/ba.json" "$bv" \
    || fail "best_value $bv is not the best model's val balanced accuracy at its threshold"
# a larger patience continues it, as an uninterrupted run with that patience
expect_rc 0 $T $P --patience 100 --log "$WORK/q.jsonl" --no-checkpoint
expect_rc 0 $T $P --patience 100 --resume "$WORK/p.h5" --no-checkpoint --log "$WORK/p.jsonl"
[ "$(epoch_losses "$WORK/q.jsonl")" = "$(epoch_losses "$WORK/p.jsonl")" ] || fail "stopped + resumed differs from uninterrupted"
# a smaller patience on a resume ends the run before it trains: the stop is recorded (the
# checkpoint's stopped and patience, a stop line in the log), so that it lasts: a later resume
# without --patience trains nothing (it trained on, the stop recorded nowhere). sp.h5: p.h5 as a
# run with patience 100 would have left it (not stopped, its last epoch not the best)
cp "$WORK/p.h5" "$WORK/sp.h5" && "$EDIT" setstr "$WORK/sp.h5" stopped "" &&
    "$EDIT" setattr "$WORK/sp.h5" patience 100 || fail "cannot edit sp.h5"
expect_rc 0 $T $P --resume "$WORK/sp.h5" --log "$WORK/sp.jsonl"
expect_err "early stopping after epoch $n"
[ "$(attr "$WORK/sp.h5" stopped)" = patience ] || fail "the resume's stop is not in the checkpoint"
[ "$(attr "$WORK/sp.h5" patience)" = 1 ] || fail "the resume's patience is not in the checkpoint"
grep -q "{\"type\":\"stop\",\"epoch\":$n,\"stopped\":\"patience\",\"best_epoch\":" "$WORK/sp.jsonl" \
    || fail "no stop line in the log: $(tail -1 "$WORK/sp.jsonl")"
expect_rc 0 $T --resume "$WORK/sp.h5" --epochs 6 --log "$WORK/sp.jsonl"
! grep -q '"type":"epoch"' "$WORK/sp.jsonl" || fail "the recorded stop did not last: a later resume trained"
[ "$(grep -c '"type":"stop"' "$WORK/sp.jsonl")" = 1 ] || fail "a resume of a recorded stop logged it again"
expect_rc 2 $T --recipe study --patience 2 --no-checkpoint
expect_err "early stopping needs a selection metric"
# step-decay options with another schedule would do nothing: refused
expect_rc 2 $T --lr-gamma 0.5 --no-checkpoint
expect_err "--lr-gamma: for the step schedule only; this run's is cosine"
expect_rc 2 $T --recipe study --lr-step-epochs 1 --no-checkpoint
expect_err "--lr-step-epochs: for the step schedule only; this run's is constant"

# --- a run that diverges (rate 10, weight decay 100: every val probability non-finite) stops
# early without a best epoch, said as such (it said "the best is epoch 0 (nan)"); one that
# diverges at a save names the epoch, the remedy, and that no earlier file was there
expect_rc 0 $T --epochs 3 --lr 10 --weight-decay 100 --select val_auc --patience 1 --no-checkpoint
expect_err "no better val_auc for 1 epoch (--patience 1); no epoch had a defined value"
mkdir -p "$WORK/dv"
expect_rc 1 $T --epochs 2 --lr 10 --weight-decay 1 --max-steps 10 --checkpoint "$WORK/dv/m.h5"
expect_err "epoch 1: checkpoint $WORK/dv/m.best.h5:"
expect_err "(training diverged: try a smaller --lr); not written, and none was before"
[ -z "$(ls -A "$WORK/dv")" ] || fail "a diverged run left files: $(ls -A "$WORK/dv")"

# --- selection is on val only: refused without /val, the recipe's dropped with a note
"$BIN/cxr-pack" "$SAMPLE" -o "$WORK/nov.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null || fail "pack without val"
N="$BIN/cxr-train $WORK/nov.h5 --device cpu --batch 8 --threads 2 --no-monitor -q --epochs 1"
expect_rc 2 $N --select val_auc --no-checkpoint
expect_err "has no /val split; selection is made on val only, never on test"
expect_rc 0 $N --checkpoint "$WORK/n.h5"
expect_err "no model selection"
[ ! -e "$WORK/n.best.h5" ] || fail "a best model chosen without /val"
[ -z "$(attr "$WORK/n.h5" threshold_split)" ] || fail "a threshold chosen on test"
# ... and a resume naming the recipe agrees with the checkpoint, which made none either
expect_rc 0 $N --epochs 2 --recipe standard --resume "$WORK/n.h5" --no-checkpoint
expect_err "resume: $WORK/n.h5 after epoch 1"

# --- a /val of one class: AUC undefined; the recipe's selection dropped, an explicit one refused
mkdir -p "$WORK/one/val/NORMAL" && cp -r "$SAMPLE/train" "$SAMPLE/test" "$WORK/one/" \
    && cp $(ls "$SAMPLE"/test/NORMAL/*.jpeg | head -2) "$WORK/one/val/NORMAL/" || fail "one-class val tree"
"$BIN/cxr-pack" "$WORK/one" -o "$WORK/one.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null || fail "pack one-class val"
O="$BIN/cxr-train $WORK/one.h5 --device cpu --batch 8 --threads 2 --no-monitor -q --epochs 2 --max-steps 1"
expect_rc 0 $O --checkpoint "$WORK/o.h5"
expect_err "no model selection (the recipe's val_auc): $WORK/one.h5: /val holds images of one class only (NORMAL)"
[ ! -e "$WORK/o.best.h5" ] || fail "a best model chosen by an undefined AUC"
for m in val_auc val_balanced_accuracy; do
    expect_rc 2 $O --select $m --no-checkpoint
    expect_err "--select $m: $WORK/one.h5: /val holds images of one class only (NORMAL), so its $m is undefined"
done
expect_rc 0 $O --select val_loss --checkpoint "$WORK/o2.h5"
# ... a selection asked for with --no-checkpoint keeps no file: said (the recipe's own is not)
expect_rc 0 ${O/ -q/} --select val_loss --no-checkpoint
expect_err "model selection by val_loss: no best model is kept (--no-checkpoint); the log's epoch lines name the best epoch"
[ -f "$WORK/o2.best.h5" ] || fail "val_loss selection on a one-class val kept no model"
# an undefined figure is said so in the text, not printed as nan: the epoch line and cxr-eval
"$BIN/cxr-train" "$WORK/one.h5" --device cpu --batch 8 --threads 2 --no-monitor --epochs 1 \
    --max-steps 1 --select val_loss --no-checkpoint 2>"$WORK/one.err" || fail "train on one-class val"
grep -q "| eval loss [0-9.]* acc@0.5 [0-9.]* auc n/a f1@0.5 " "$WORK/one.err" || fail "epoch line: $(grep epoch "$WORK/one.err")"
# ... and a run of 3 classes says its accuracy is the most probable class's and its AUC and F1
# macro averages (it said acc@0.5 and f1@0.5, as a binary run's)
mkdir -p "$WORK/three" && cp -r "$SAMPLE/train" "$SAMPLE/test" "$WORK/three/" &&
    mkdir "$WORK/three/train/C" "$WORK/three/test/C" &&
    mv "$WORK"/three/train/NORMAL/IM-011[57]*.jpeg "$WORK/three/train/C/" &&
    mv "$(ls "$WORK"/three/test/NORMAL/*.jpeg | head -1)" "$WORK/three/test/C/" || fail "3-class tree"
"$BIN/cxr-pack" "$WORK/three" -o "$WORK/three.h5" --size 32 --quiet >/dev/null || fail "pack 3 classes"
"$BIN/cxr-train" "$WORK/three.h5" --device cpu --batch 8 --threads 2 --no-monitor --epochs 1 \
    --max-steps 1 --no-checkpoint 2>"$WORK/three.err" || fail "train 3 classes"
grep -q "| eval loss [0-9.]* acc [0-9.]* macro auc [0-9.n/]* macro f1 [0-9.]* |" "$WORK/three.err" ||
    fail "3-class epoch line: $(grep epoch "$WORK/three.err")"
"$BIN/cxr-eval" "$WORK/o2.best.h5" "$WORK/one.h5" --split val --device cpu > "$WORK/one.out" \
    || fail "eval on one-class val"
grep -q "^roc_auc      n/a$" "$WORK/one.out" || fail "cxr-eval's roc_auc: $(grep roc_auc "$WORK/one.out")"
grep -qi nan "$WORK/one.out" "$WORK/one.err" && fail "nan printed: $(grep -i nan "$WORK/one.out" "$WORK/one.err")"
# nothing to evaluate (no /val, an empty /test): the epoch line says so
mkdir -p "$WORK/noev/test" && cp -r "$SAMPLE/train" "$WORK/noev/" || fail "no-eval tree"
"$BIN/cxr-pack" "$WORK/noev" -o "$WORK/noev.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null 2>&1 || fail "pack no-eval"
"$BIN/cxr-train" "$WORK/noev.h5" --device cpu --batch 8 --threads 2 --no-monitor --epochs 1 \
    --max-steps 1 --no-checkpoint 2>"$WORK/noev.err" || fail "train without evaluation: $(cat "$WORK/noev.err")"
grep -q "| no evaluation |" "$WORK/noev.err" && ! grep -qi nan "$WORK/noev.err" \
    || fail "epoch line without evaluation: $(grep epoch "$WORK/noev.err")"
# a checkpoint that selects by val AUC, resumed on that store: the run goes on without selection
expect_rc 0 $T --epochs 1 --checkpoint "$WORK/va.h5" --log "$WORK/va.jsonl"
expect_rc 0 "$BIN/cxr-train" "$WORK/one.h5" --device cpu --threads 2 --no-monitor -q --epochs 2 \
    --max-steps 2 --resume "$WORK/va.h5" --checkpoint "$WORK/va2.h5" --log "$WORK/va.jsonl"
expect_err "warning: resume $WORK/va.h5: its val_auc cannot be made here: $WORK/one.h5: /val holds images of one class only (NORMAL)"
expect_err "training goes on without model selection (its best model so far, epoch 1, stays in $WORK/va.best.h5)"
expect_rc 0 "$BIN/cxr-train" "$WORK/one.h5" --device cpu --threads 2 --no-monitor -q --epochs 2 \
    --max-steps 2 --resume "$WORK/va.best.h5" --checkpoint "$WORK/va3.h5"
expect_err "training goes on without model selection (its best model so far, epoch 1, stays in $WORK/va.best.h5)"
[ "$(attr "$WORK/va2.h5" select)" = none ] && [ "$(attr "$WORK/va2.h5" epoch)" = 2 ] \
    || fail "the resumed run did not record that it no longer selects"
# (its log is the run's own, whose run line selects by val_auc: appended to, not refused)
[ "$(grep -c '"type":"run"' "$WORK/va.jsonl")" = 2 ] || fail "the resume without selection did not append to its log"
# ... and with the recipe named, the recipe's dropped selection is no conflict
expect_rc 0 "$BIN/cxr-train" "$WORK/one.h5" --device cpu --threads 2 --no-monitor -q --epochs 2 \
    --max-steps 2 --recipe standard --batch 8 --resume "$WORK/va.h5" --no-checkpoint
expect_err "its val_auc cannot be made here"
# a store of one class packs, but is no classifier's training data: refused, naming the store
mkdir -p "$WORK/uni/train" "$WORK/uni/test" && cp -r "$SAMPLE/train/NORMAL" "$WORK/uni/train/" \
    && cp -r "$SAMPLE/test/NORMAL" "$WORK/uni/test/" || fail "one-class tree"
"$BIN/cxr-pack" "$WORK/uni" -o "$WORK/uni.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null || fail "pack one class"
expect_rc 3 "$BIN/cxr-train" "$WORK/uni.h5" --device cpu --no-monitor -q --no-checkpoint
expect_err "$WORK/uni.h5: 1 class (NORMAL): a classifier needs at least 2 to train on"

# --- label smoothing: 0 is the plain loss to the bit, another value trains otherwise; recorded
# in the log and the checkpoint; a resume keeps it (bit-identical) and refuses another
L="$T --recipe study --epochs 3"
expect_rc 0 $L --log "$WORK/ls-none.jsonl" --no-checkpoint
expect_rc 0 $L --label-smoothing 0 --log "$WORK/ls-0.jsonl" --no-checkpoint
expect_rc 0 $L --label-smoothing 0.2 --log "$WORK/ls.jsonl" --no-checkpoint
[ -n "$(epoch_losses "$WORK/ls-0.jsonl")" ] && [ "$(epoch_losses "$WORK/ls-none.jsonl")" = "$(epoch_losses "$WORK/ls-0.jsonl")" ] \
    || fail "--label-smoothing 0 differs from no smoothing"
[ "$(col "$WORK/ls-0.jsonl" train_loss)" != "$(col "$WORK/ls.jsonl" train_loss)" ] || fail "--label-smoothing 0.2 changed nothing"
grep -q '"weight_decay":0,"label_smoothing":0.2,' "$WORK/ls.jsonl" || fail "run line lacks the label smoothing"
grep -q '"weight_decay":0,"label_smoothing":0,' "$WORK/ls-none.jsonl" || fail "run line lacks label smoothing 0"
expect_rc 0 $L --epochs 1 --label-smoothing 0.2 --log "$WORK/ls-r.jsonl" --checkpoint "$WORK/ls.h5"
python3 -c "import sys; sys.exit(abs(float(sys.argv[1]) - 0.2) > 1e-7)" "$(attr "$WORK/ls.h5" label_smoothing)" \
    || fail "checkpoint's label_smoothing is $(attr "$WORK/ls.h5" label_smoothing), want 0.2"
cp "$WORK/ls.h5" "$WORK/ls-old.h5"
expect_rc 2 $L --resume "$WORK/ls.h5" --label-smoothing 0.1 --no-checkpoint
expect_err "differs from the checkpoint"
# ... 0 too, given without a recipe (an option given, not the default)
expect_rc 2 $T --epochs 3 --resume "$WORK/ls.h5" --label-smoothing 0 --no-checkpoint
expect_err "--label-smoothing 0 differs from the checkpoint's 0.2"
expect_rc 2 $L --resume "$WORK/ls.h5" --no-checkpoint
expect_err "the label-smoothing of recipe study, 0, differs from the checkpoint's 0.2"
expect_rc 0 $T --epochs 3 --resume "$WORK/ls.h5" --log "$WORK/ls-r.jsonl" --no-checkpoint
[ "$(epoch_losses "$WORK/ls.jsonl")" = "$(epoch_losses "$WORK/ls-r.jsonl")" ] || fail "resumed smoothing run differs from uninterrupted"
# a checkpoint written before 0.8 (no label_smoothing) trained without; a bad value is refused
"$EDIT" delattr "$WORK/ls-old.h5" label_smoothing || fail "cannot edit ls-old.h5"
expect_rc 2 $L --resume "$WORK/ls-old.h5" --label-smoothing 0.2 --no-checkpoint
expect_err "label-smoothing 0.2 differs from the checkpoint's 0"
for v in 1 -0.5 nan 0.99999999; do # the last is 1 in float, as the loss uses it
    "$EDIT" setattrf "$WORK/ls-old.h5" label_smoothing $v || fail "cannot edit ls-old.h5"
    expect_rc 3 $T --epochs 3 --resume "$WORK/ls-old.h5" --no-checkpoint
    expect_err "$WORK/ls-old.h5: checkpoint attribute 'label_smoothing': $(printf %g $v)"
done
# a double that is not a float (0.2 written by another program) is the option's 0.2
"$EDIT" setattrf "$WORK/ls-old.h5" label_smoothing 0.2 || fail "cannot edit ls-old.h5"
expect_rc 0 $T --epochs 2 --resume "$WORK/ls-old.h5" --label-smoothing 0.2 --no-checkpoint
for bad in 1 -0.1 0.99999999 nan x; do
    expect_rc 2 $T --label-smoothing $bad --no-checkpoint
    expect_err "--label-smoothing"
done

# --- mixup: 0 is no mixing to the bit, another value trains otherwise; recorded in the log and
# the checkpoint; a resume keeps it (bit-identical) and refuses another; a checkpoint from
# before 0.13 (no mixup) trained without; bad values refused
L="$T --recipe study --epochs 3"
expect_rc 0 $L --mixup 0 --log "$WORK/mx-0.jsonl" --no-checkpoint
expect_rc 0 $L --mixup 0.4 --log "$WORK/mx.jsonl" --no-checkpoint
[ -n "$(epoch_losses "$WORK/mx-0.jsonl")" ] && [ "$(epoch_losses "$WORK/ls-none.jsonl")" = "$(epoch_losses "$WORK/mx-0.jsonl")" ] \
    || fail "--mixup 0 differs from no mixup"
[ "$(col "$WORK/mx-0.jsonl" train_loss)" != "$(col "$WORK/mx.jsonl" train_loss)" ] || fail "--mixup 0.4 changed nothing"
grep -q '"mixup":0.4[,}]' "$WORK/mx.jsonl" || fail "run line lacks the mixup"
grep -q '"mixup"' "$WORK/mx-0.jsonl" && fail "run line names a mixup of 0"
grep -q "at batch 1 each is paired" "$WORK/err" && fail "--mixup at batch 8 warned of batch 1"
# ... at batch 1 it pairs each image with itself: said (it was accepted silently)
expect_rc 0 ${L/ -q/} --epochs 1 --max-steps 1 --batch 1 --mixup 0.4 --no-checkpoint
expect_err "warning: mixup pairs the images of a batch; at batch 1 each is paired with itself, and nothing is mixed"
expect_rc 0 $L --epochs 1 --mixup 0.4 --log "$WORK/mx-r.jsonl" --checkpoint "$WORK/mx.h5"
python3 -c "import sys; sys.exit(abs(float(sys.argv[1]) - 0.4) > 1e-7)" "$(attr "$WORK/mx.h5" mixup)" \
    || fail "checkpoint's mixup is $(attr "$WORK/mx.h5" mixup), want 0.4"
cp "$WORK/mx.h5" "$WORK/mx-old.h5"
expect_rc 2 $L --resume "$WORK/mx.h5" --mixup 0.2 --no-checkpoint
expect_err "mixup 0.2 differs from the checkpoint's 0.4"
expect_rc 2 $L --resume "$WORK/mx.h5" --no-checkpoint
expect_err "the mixup of recipe study, 0, differs from the checkpoint's 0.4"
expect_rc 0 $T --epochs 3 --resume "$WORK/mx.h5" --log "$WORK/mx-r.jsonl" --no-checkpoint
[ "$(epoch_losses "$WORK/mx.jsonl")" = "$(epoch_losses "$WORK/mx-r.jsonl")" ] || fail "resumed mixup run differs from uninterrupted"
"$EDIT" delattr "$WORK/mx-old.h5" mixup || fail "cannot edit mx-old.h5"
expect_rc 2 $L --resume "$WORK/mx-old.h5" --mixup 0.4 --no-checkpoint
expect_err "mixup 0.4 differs from the checkpoint's 0"
for v in 5 -0.5 nan; do
    "$EDIT" setattrf "$WORK/mx-old.h5" mixup $v || fail "cannot edit mx-old.h5"
    expect_rc 3 $T --epochs 3 --resume "$WORK/mx-old.h5" --no-checkpoint
    expect_err "$WORK/mx-old.h5: checkpoint attribute 'mixup': $(printf %g $v)"
done
for bad in 4.5 -0.1 nan x; do
    expect_rc 2 $T --mixup $bad --no-checkpoint
    expect_err "--mixup"
done

# --- head: gap trains, is recorded in the log and the checkpoint, and a resume keeps it,
# bit-identical, and refuses another; an unknown head is refused
L="$T --recipe study --epochs 2"
expect_rc 0 $L --head gap --log "$WORK/gap.jsonl" --no-checkpoint
expect_rc 0 $L --log "$WORK/flat2.jsonl" --no-checkpoint
grep -q '"alpha":0.5,"head":"gap"' "$WORK/gap.jsonl" || fail "run line lacks head gap"
grep -q '"alpha":0.5,"head":"flatten"' "$WORK/flat2.jsonl" || fail "run line lacks head flatten"
[ "$(col "$WORK/gap.jsonl" train_loss)" != "$(col "$WORK/flat2.jsonl" train_loss)" ] || fail "--head gap changed nothing"
expect_rc 0 $L --epochs 1 --head gap --log "$WORK/gap-r.jsonl" --checkpoint "$WORK/gap.h5"
[ "$(attr "$WORK/gap.h5" head)" = gap ] || fail "checkpoint's head is '$(attr "$WORK/gap.h5" head)', want gap"
expect_rc 2 $L --resume "$WORK/gap.h5" --head flatten --no-checkpoint
expect_err "--head flatten differs from the checkpoint's gap"
expect_rc 0 $L --resume "$WORK/gap.h5" --no-checkpoint # a recipe names no head: the checkpoint's
expect_rc 0 $T --epochs 2 --resume "$WORK/gap.h5" --log "$WORK/gap-r.jsonl" --no-checkpoint
[ "$(epoch_losses "$WORK/gap.jsonl")" = "$(epoch_losses "$WORK/gap-r.jsonl")" ] || fail "resumed gap run differs from uninterrupted"
expect_rc 2 $T --head pool --no-checkpoint
expect_err "--head: head 'pool': not flatten or gap"

# --- input pool: the network reads 2x2 means of the 32 px images; recorded in the log and the
# checkpoint, kept by a resume, another refused; 3 is no pool
expect_rc 0 $L --input-pool 2 --log "$WORK/ip.jsonl" --checkpoint "$WORK/ip.h5"
grep -q '"input_pool":2' "$WORK/ip.jsonl" || fail "run line lacks input_pool 2"
[ "$(attr "$WORK/ip.h5" input_pool)" = 2 ] || fail "checkpoint's input_pool is '$(attr "$WORK/ip.h5" input_pool)', want 2"
[ "$(col "$WORK/ip.jsonl" train_loss)" != "$(col "$WORK/flat2.jsonl" train_loss)" ] || fail "--input-pool 2 changed nothing"
expect_rc 2 $L --epochs 3 --resume "$WORK/ip.h5" --input-pool 4 --no-checkpoint
expect_err "--input-pool 4 differs from the checkpoint's 2"
expect_rc 0 $L --epochs 3 --resume "$WORK/ip.h5" --log "$WORK/ip.jsonl" --no-checkpoint
[ "$(grep -c '"input_pool":2' "$WORK/ip.jsonl")" = 2 ] || fail "resume did not keep input_pool 2"
expect_rc 0 "$BIN/cxr-eval" "$WORK/ip.h5" "$WORK/s.h5" --split test --device cpu --threads 2
expect_rc 2 $T --input-pool 3 --no-checkpoint
expect_err "--input-pool 3: not 1, 2, 4 or 8"
fi
finish
