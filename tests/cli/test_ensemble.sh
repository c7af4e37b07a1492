#!/bin/bash
# test_ensemble.sh BIN SAMPLE EDIT: cxr-eval --ensemble. A model in an ensemble with a copy of
# itself gives its own probabilities, AUC and confusion (the same file twice is refused: it would
# count twice); two models give the mean of their probabilities,
# whatever their order; each member's AUC in the report is its own cxr-eval's; without
# --threshold the ensemble's threshold is the one that maximises balanced accuracy on val (0.5
# with a note when the store has no /val); a bad member is refused naming it, before any pass.
# cxr-predict --ensemble: the same mean from the JPEGs, 0.5 unless --threshold, and a member
# that preprocesses otherwise is refused.
BIN=$1 SAMPLE=$2 EDIT=$3
. "$(dirname "$0")/common.sh"
pack_sample "$WORK/s.h5"
"$BIN/cxr-pack" "$SAMPLE" -o "$WORK/noval.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null || fail "cannot pack without val"
T="$BIN/cxr-train $WORK/s.h5 --device cpu --batch 8 --threads 2 --lr 0.001 --no-monitor -q --max-steps 3 --recipe study --epochs 2"
expect_rc 0 $T --seed 5 --checkpoint "$WORK/a.h5"
expect_rc 0 $T --seed 6 --checkpoint "$WORK/b.h5"
EV="$BIN/cxr-eval --device cpu --threads 2"
# json_get FILE KEY: a top-level number or string of a one-line JSON object
json_get() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
# probs FILE: the p_ columns (4th and 5th) of a predictions TSV, header dropped
probs() { tail -n +2 "$1" | cut -f4,5; }

for split in val test; do
    expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --split $split --json --threshold 0.5 --predictions "$WORK/a.$split.tsv"; cp "$WORK/out" "$WORK/a.$split.json"
    expect_rc 0 $EV "$WORK/b.h5" "$WORK/s.h5" --split $split --json --threshold 0.5 --predictions "$WORK/b.$split.tsv"; cp "$WORK/out" "$WORK/b.$split.json"
done
# the same model file twice (by name or through a link) is refused: it would count twice
# the probabilities an evaluation keeps are refused up front, with their size, when the machine
# has less memory free (CXR_MEM_AVAILABLE_MB stands for it): an ensemble allocated them unchecked
CXR_MEM_AVAILABLE_MB=0.0001 expect_rc 1 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/b.h5"
expect_err "$WORK/s.h5: split 'val': an ensemble keeps every image's 2 class probabilities"
CXR_MEM_AVAILABLE_MB=0.0001 expect_rc 1 $EV "$WORK/a.h5" "$WORK/s.h5"
expect_err "$WORK/s.h5: split 'test': the evaluation keeps every image's 2 class probabilities"
expect_rc 2 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/a.h5"
expect_err "--ensemble $WORK/a.h5: the same model file as $WORK/a.h5; give each member once"
ln -s a.h5 "$WORK/alink.h5"
expect_rc 2 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/b.h5" --ensemble "$WORK/alink.h5"
expect_err "--ensemble $WORK/alink.h5: the same model file as $WORK/a.h5"
# A with a copy of itself: A's probabilities to the printed digit, A's AUC and confusion
cp "$WORK/a.h5" "$WORK/a2.h5"
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/a2.h5" --json --threshold 0.5 --predictions "$WORK/aa.tsv"; cp "$WORK/out" "$WORK/aa.json"
[ "$(probs "$WORK/aa.tsv")" = "$(probs "$WORK/a.test.tsv")" ] || fail "an ensemble of a model with a copy of itself changed its probabilities"
for k in roc_auc accuracy confusion; do
    [ "$(json_get "$WORK/aa.json" $k)" = "$(json_get "$WORK/a.test.json" $k)" ] || fail "A+A: $k $(json_get "$WORK/aa.json" $k), A alone $(json_get "$WORK/a.test.json" $k)"
done
python3 - "$WORK/aa.json" "$WORK/a.test.json" <<'PY' || fail "A+A: loss differs from A's"
import json, sys
e, a = (json.load(open(f)) for f in sys.argv[1:])
assert abs(e["loss"] - a["loss"]) <= 1e-5 * abs(a["loss"]), (e["loss"], a["loss"])
assert [m["model"] for m in e["ensemble"]] == [a["model"], a["model"].replace("a.h5", "a2.h5")], e["ensemble"]
assert [m["epoch"] for m in e["ensemble"]] == [a["epoch"]] * 2 and a["epoch"] > 0, (e["ensemble"], a["epoch"])
PY
# A and B: the mean of their probabilities (each printed %.9g, the float itself: within one float
# ulp at 1, 1.2e-7, the rounding of the mean to float), in either order
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/b.h5" --json --threshold 0.5 --predictions "$WORK/ab.tsv"; cp "$WORK/out" "$WORK/ab.json"
expect_rc 0 $EV "$WORK/b.h5" "$WORK/s.h5" --ensemble "$WORK/a.h5" --json --threshold 0.5 --predictions "$WORK/ba.tsv"
[ "$(probs "$WORK/ab.tsv")" = "$(probs "$WORK/ba.tsv")" ] || fail "A+B and B+A give other probabilities"
python3 - "$WORK/ab.tsv" "$WORK/a.test.tsv" "$WORK/b.test.tsv" "$WORK/ab.json" "$WORK/a.test.json" "$WORK/b.test.json" <<'PY' || fail "A+B is not the mean of A and B"
import json, sys
rows = [[l.rstrip("\n").split("\t") for l in open(f)][1:] for f in sys.argv[1:4]]
assert len(rows[0]) == len(rows[1]) == len(rows[2]) > 0
diff = 0
for e, a, b in zip(*rows):
    assert e[0] == a[0] == b[0] and e[1] == a[1], (e, a, b)      # same image, same label
    for c in (3, 4):
        diff = max(diff, abs(float(e[c]) - (float(a[c]) + float(b[c])) / 2))
    assert e[2] == ("PNEUMONIA" if float(e[4]) >= 0.5 else "NORMAL"), e
assert diff <= 1.2e-7, diff
moved = sum(abs(float(a[4]) - float(b[4])) > 1e-3 for a, b in zip(rows[1], rows[2]))
assert moved > 0, "A and B give the same probabilities: the test shows nothing"
e, a, b = (json.load(open(f)) for f in sys.argv[4:])
assert [m["roc_auc"] for m in e["ensemble"]] == [a["roc_auc"], b["roc_auc"]], e["ensemble"]
assert abs(e["ensemble"][0]["loss"] - a["loss"]) <= 1e-9 * abs(a["loss"]), (e["ensemble"], a["loss"])
PY
# the threshold: chosen on val for the ensemble, applied to test
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/b.h5" --split val --json; cp "$WORK/out" "$WORK/abv.json"
expect_err "chosen on val for this ensemble"
[ "$(json_get "$WORK/abv.json" threshold)" = "$(json_get "$WORK/abv.json" best_threshold)" ] || fail "on val the ensemble's threshold $(json_get "$WORK/abv.json" threshold) is not val's best $(json_get "$WORK/abv.json" best_threshold)"
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/b.h5" --json; cp "$WORK/out" "$WORK/abt.json"
expect_err "the ensemble on val, to choose its threshold"
[ "$(json_get "$WORK/abt.json" threshold)" = "$(json_get "$WORK/abv.json" threshold)" ] || fail "test used threshold $(json_get "$WORK/abt.json" threshold), val chose $(json_get "$WORK/abv.json" threshold)"
json_get "$WORK/abt.json" threshold_source | grep -q "chosen on val for this ensemble" || fail "threshold_source: $(json_get "$WORK/abt.json" threshold_source)"
# (the check above tells val from test only where their best thresholds differ: they do here)
[ "$(json_get "$WORK/abt.json" threshold)" != "$(json_get "$WORK/abt.json" best_threshold)" ] || fail "val's and test's best thresholds coincide: the threshold checks show nothing"
# --perturb changes the images, not the rule: the threshold is still chosen on unperturbed val
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/b.h5" --split val --json --perturb aspect=0.8:0.8; cp "$WORK/out" "$WORK/abp.json"
expect_err "the ensemble on val, to choose its threshold"
[ "$(json_get "$WORK/abp.json" threshold)" = "$(json_get "$WORK/abv.json" threshold)" ] || fail "--perturb: threshold $(json_get "$WORK/abp.json" threshold), unperturbed val chose $(json_get "$WORK/abv.json" threshold)"
[ "$(json_get "$WORK/abp.json" roc_auc)" != "$(json_get "$WORK/abv.json" roc_auc)" ] || fail "--perturb did not change the ensemble's val AUC"
# a val split with one class: no threshold can be chosen there, 0.5 and the reason
mkdir -p "$WORK/tree/val/NORMAL" "$WORK/tree/val/PNEUMONIA"
cp -r "$SAMPLE/train" "$SAMPLE/test" "$WORK/tree/"
for f in $(ls "$WORK/tree/train/PNEUMONIA" | head -4); do mv "$WORK/tree/train/PNEUMONIA/$f" "$WORK/tree/val/PNEUMONIA/"; done
"$BIN/cxr-pack" "$WORK/tree" -o "$WORK/oneval.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null || fail "cannot pack the one-class val tree"
expect_rc 0 $EV "$WORK/a.h5" "$WORK/oneval.h5" --ensemble "$WORK/b.h5" --json
expect_err "threshold 0.5 (the default 0.5: none can be chosen on val (best threshold: need both classes"
# ... and cxr-eval's text on that split says why once
expect_rc 0 $EV "$WORK/a.h5" "$WORK/oneval.h5" --split val
grep -qF "best threshold: not defined (need both classes (4 positive, 0 negative samples))" "$WORK/out" \
    || fail "the undefined best threshold's line: $(grep 'best threshold' "$WORK/out")"
# three members and --tta: A three times is A, with the views averaged as alone
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --json --tta 3 --predictions "$WORK/a3.tsv"
cp "$WORK/a.h5" "$WORK/a3.h5"
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/a2.h5" --ensemble "$WORK/a3.h5" --json --tta 3 --predictions "$WORK/aaa3.tsv" --threshold 0.5
[ "$(probs "$WORK/aaa3.tsv")" = "$(probs "$WORK/a3.tsv")" ] || fail "--tta 3: an ensemble of A three times differs from A"
[ "$(probs "$WORK/a3.tsv")" != "$(probs "$WORK/a.test.tsv")" ] || fail "--tta 3 left A's probabilities as they were: the check above shows nothing"
expect_rc 0 $EV "$WORK/a.h5" "$WORK/noval.h5" --ensemble "$WORK/b.h5" --json
expect_err "threshold 0.5 (the default 0.5: the store has no /val"
# -q: the default 0.5 is still said (a caveat), the val pass's progress line is not
expect_rc 0 $EV "$WORK/a.h5" "$WORK/noval.h5" --ensemble "$WORK/b.h5" --json -q
expect_err "threshold 0.5 (the default 0.5: the store has no /val"
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/b.h5" --json -q
grep -q 'the ensemble on val' "$WORK/err" && fail "cxr-eval -q said the ensemble's val pass"
grep -q 'threshold' "$WORK/err" && fail "cxr-eval -q said a threshold chosen on val: $(cat "$WORK/err")"
# the text report names every member
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/b.h5" --threshold 0.5
grep -q "^ensemble  2 models" "$WORK/out" || fail "the text report does not say the ensemble"
[ "$(grep -c '^  member  ' "$WORK/out")" = 2 ] || fail "the text report does not list 2 members"
# cxr-predict --ensemble: the same mean, A with a copy of itself is A (the same file twice is
# refused); 0.5 unless --threshold is given;
# a member with other preprocessing is refused (images are decoded once for all members)
IMGS=$(find "$SAMPLE/test" -name '*.jp*g' | sort | head -6)
PR="$BIN/cxr-predict --device cpu --threads 2"
expect_rc 0 $PR "$WORK/a.h5" $IMGS --threshold 0.5; cp "$WORK/out" "$WORK/qa.tsv"
expect_rc 0 $PR "$WORK/b.h5" $IMGS --threshold 0.5; cp "$WORK/out" "$WORK/qb.tsv"
expect_rc 2 $PR "$WORK/a.h5" $IMGS --ensemble "$WORK/alink.h5" --threshold 0.5
expect_err "--ensemble $WORK/alink.h5: the same model file as $WORK/a.h5; give each member once"
# at most CXR_ENSEMBLE_MAX (256) members besides MODEL: a 256th is taken (then refused as the
# same file again, before any is read), a 257th is refused as one too many
E256=$(for i in $(seq 256); do printf -- '--ensemble %s ' "$WORK/a.h5"; done)
expect_rc 2 $PR "$WORK/a.h5" $IMGS $E256
expect_err "--ensemble $WORK/a.h5: the same model file as $WORK/a.h5"
expect_rc 2 $PR "$WORK/a.h5" $IMGS $E256 --ensemble "$WORK/a.h5"
expect_err "cxr-predict: --ensemble: at most 257 models in all"
expect_rc 0 $PR "$WORK/a.h5" $IMGS --ensemble "$WORK/a2.h5" --threshold 0.5; cp "$WORK/out" "$WORK/qaa.tsv"
cmp -s "$WORK/qa.tsv" "$WORK/qaa.tsv" || fail "cxr-predict: A with a copy of itself differs from A"
expect_rc 0 $PR "$WORK/a.h5" $IMGS --ensemble "$WORK/b.h5"; cp "$WORK/out" "$WORK/qab.tsv"
expect_err "threshold 0.5 (the default 0.5 for an ensemble"
python3 - "$WORK/qab.tsv" "$WORK/qa.tsv" "$WORK/qb.tsv" <<'PY' || fail "cxr-predict: A+B is not the mean of A and B"
import sys
rows = [[l.rstrip("\n").split("\t") for l in open(f)][1:] for f in sys.argv[1:]]
assert len(rows[0]) == len(rows[1]) == len(rows[2]) == 6, [len(r) for r in rows]
for e, a, b in zip(*rows):
    assert e[0] == a[0] == b[0], (e, a, b)
    for c in (3, 4):
        assert abs(float(e[c]) - (float(a[c]) + float(b[c])) / 2) <= 1.5e-6, (e, a, b)
PY
# ... and a --threshold given is the ensemble's (as cxr-eval --ensemble --split val chose it):
# one between two of its probabilities, in the file and deciding the classes (it was dropped
# for 0.5 by a mutant that no test saw: only 0.5 was ever given)
t=$(python3 -c 'import sys
p = sorted({float(l.split("\t")[4]) for l in list(open(sys.argv[1]))[1:]})
assert len(p) >= 2, p
print(repr((p[0] + p[1]) / 2))' "$WORK/qab.tsv") || fail "no two distinct probabilities in qab.tsv"
expect_rc 0 $PR "$WORK/a.h5" $IMGS --ensemble "$WORK/b.h5" --threshold "$t"
grep -q "the default 0.5" "$WORK/err" && fail "cxr-predict --ensemble --threshold $t: $(cat "$WORK/err")"
python3 - "$WORK/out" "$t" <<'PY' || fail "cxr-predict --ensemble did not apply --threshold $t"
import struct, sys
t = float(sys.argv[2])
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
assert len(rows) == 6 and all(float(r[5]) == t for r in rows), rows
for r in rows:
    p = struct.unpack("f", struct.pack("f", float(r[4])))[0]
    assert (r[1] == "PNEUMONIA") == (p >= t), (r, t)
assert any(r[1] == "NORMAL" for r in rows) and any(r[1] == "PNEUMONIA" for r in rows), rows
PY
pack_sample "$WORK/s24.h5" 24
expect_rc 0 $BIN/cxr-train "$WORK/s24.h5" --device cpu --batch 8 --threads 2 --no-monitor -q --max-steps 1 --recipe study --epochs 1 --checkpoint "$WORK/c24.h5"
expect_rc 3 $PR "$WORK/a.h5" $IMGS --ensemble "$WORK/c24.h5"
expect_err "c24.h5 preprocesses images otherwise than"
# ... and a member of other classes, its last class named otherwise: refused naming the class
cp -r "$SAMPLE" "$WORK/renamed" || fail "cannot copy the sample"
for d in "$WORK"/renamed/*/PNEUMONIA; do mv "$d" "${d}X"; done
"$BIN/cxr-pack" "$WORK/renamed" -o "$WORK/sx.h5" --size 32 --shard 8 --val-fraction 0.25 --threads 2 \
    --quiet >/dev/null || fail "cannot pack the renamed sample"
expect_rc 0 $BIN/cxr-train "$WORK/sx.h5" --device cpu --batch 8 --threads 2 --no-monitor -q --max-steps 1 --recipe study --epochs 1 --checkpoint "$WORK/cx.h5"
expect_rc 3 $PR "$WORK/a.h5" $IMGS --ensemble "$WORK/cx.h5"
expect_err "--ensemble $WORK/cx.h5: class 1 is 'PNEUMONIAX', in $WORK/a.h5 'PNEUMONIA'"
# bad members: refused naming the file, nothing evaluated
expect_rc 4 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/missing.h5"
expect_err "missing.h5"
expect_rc 3 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/b.h5" --ensemble "$WORK/s.h5"
expect_err "s.h5: not a cxr checkpoint"
grep -q "the ensemble on val" "$WORK/err" && fail "a pass ran before a bad member was refused"
expect_rc 3 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/b.h5" --ensemble "$WORK/c24.h5"
expect_err "checkpoint $WORK/c24.h5 takes 24x24 images, store $WORK/s.h5 holds 32x32"
grep -q "the ensemble on val" "$WORK/err" && fail "a pass ran before a member of another size was refused"
# A mutation round's survivors. A split of more images than a batch (16 test images, --batch 3):
# each image's sum at its own index, A + A still A (every batch summed into the first batch's
# places passed with the default batch of 64)
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --batch 3 --threshold 0.5 --predictions "$WORK/a3.tsv"
expect_rc 0 $EV "$WORK/a.h5" "$WORK/s.h5" --ensemble "$WORK/a2.h5" --batch 3 --threshold 0.5 --predictions "$WORK/aa3.tsv"
[ "$(probs "$WORK/aa3.tsv")" = "$(probs "$WORK/a3.tsv")" ] || fail "--batch 3: A + A gave other probabilities than A"
# a store whose train classes are uneven (8 NORMAL, 24 PNEUMONIA): the ensemble's loss is
# class-weighted as a member's (A + A's loss is A's; the sample's even classes made the weights
# 1, so an unweighted ensemble loss passed)
mkdir -p "$WORK/uneven/train/NORMAL" && cp -r "$SAMPLE/test" "$SAMPLE/train/PNEUMONIA" "$WORK/uneven/" \
    && mv "$WORK/uneven/PNEUMONIA" "$WORK/uneven/train/" \
    && for f in $(ls "$SAMPLE/train/NORMAL" | head -8); do cp "$SAMPLE/train/NORMAL/$f" "$WORK/uneven/train/NORMAL/"; done \
    || fail "cannot make the uneven tree"
"$BIN/cxr-pack" "$WORK/uneven" -o "$WORK/uneven.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null \
    || fail "cannot pack the uneven tree"
expect_rc 0 $EV "$WORK/a.h5" "$WORK/uneven.h5" --json --threshold 0.5; cp "$WORK/out" "$WORK/au.json"
expect_rc 0 $EV "$WORK/a.h5" "$WORK/uneven.h5" --ensemble "$WORK/a2.h5" --json --threshold 0.5; cp "$WORK/out" "$WORK/aau.json"
python3 - "$WORK/aau.json" "$WORK/au.json" <<'PY' || fail "uneven classes: A + A's loss is not A's"
import json, sys
e, a = (json.load(open(f)) for f in sys.argv[1:])
assert a["loss_weights"] == "class", a
assert abs(e["loss"] - a["loss"]) <= 1e-5 * abs(a["loss"]), (e["loss"], a["loss"])
PY
finish
