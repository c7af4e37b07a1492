#!/bin/bash
# test_augment.sh BIN SAMPLE EDIT: cxr-train --augment. --recipe study alone and with --augment
# none give the same losses to the bit (the study recipe has no augmentation: its losses stay
# those of before augmentation existed); --augment default changes them; the log's recipe and the
# checkpoint record the canonical spec; a resume keeps the checkpoint's augmentation (same
# losses as an uninterrupted augmented run) and refuses another one; a bad spec is a usage error.
# Test-time augmentation: cxr-eval / cxr-predict --tta 1 print exactly what they print without
# it; --tta N is the same at any thread count and run after run, and changes the probabilities.
# cxr-eval --perturb: none changes nothing, a transform changes the probabilities, the same at
# any thread count, and a bad spec is a usage error.
BIN=$1 SAMPLE=$2 EDIT=$3
. "$(dirname "$0")/common.sh"
pack_sample "$WORK/s.h5"
T="$BIN/cxr-train $WORK/s.h5 --device cpu --batch 8 --threads 2 --lr 0.001 --seed 5 --no-monitor -q --max-steps 3"
DEF="rotate=10,scale=0.9:1.1,translate=0.08,brightness=0.1,contrast=0.1,hflip=0"
expect_rc 0 $T --recipe study --epochs 2 --log "$WORK/plain.jsonl" --checkpoint "$WORK/plain.h5"
expect_rc 0 $T --recipe study --epochs 2 --log "$WORK/none.jsonl" --no-checkpoint --augment none
expect_rc 0 $T --recipe study --epochs 2 --log "$WORK/aug.jsonl" --no-checkpoint --augment default
p=$(epoch_losses "$WORK/plain.jsonl"); n=$(epoch_losses "$WORK/none.jsonl"); a=$(epoch_losses "$WORK/aug.jsonl")
echo "study:"; echo "$p"; echo "--augment default:"; echo "$a"
[ "$(echo "$p" | wc -l)" = 2 ] || fail "expected 2 epoch lines, got: $p"
[ "$p" = "$n" ] || fail "--augment none changed the losses: $p / $n"
[ "$(echo "$p" | cut -d' ' -f2)" != "$(echo "$a" | cut -d' ' -f2)" ] || fail "--augment default did not change the training losses"
grep -q '"augment":"none"' "$WORK/plain.jsonl" || fail "the log's recipe lacks augment none"
grep -qF "\"augment\":\"$DEF\"" "$WORK/aug.jsonl" || fail "the log's recipe lacks augment $DEF"
# resume: 1 epoch augmented + 1 resumed without the option = the 2-epoch augmented run
expect_rc 0 $T --recipe study --epochs 1 --log "$WORK/r.jsonl" --checkpoint "$WORK/r.h5" --augment "default"
h5dump -a /augment "$WORK/r.h5" | grep -qF "\"$DEF\"" || fail "the checkpoint's augment attribute is not $DEF"
h5dump -a /augment "$WORK/plain.h5" | grep -qF '"none"' || fail "the checkpoint's augment attribute is not none"
expect_rc 0 $T --epochs 2 --log "$WORK/r.jsonl" --resume "$WORK/r.h5"
[ "$(epoch_losses "$WORK/r.jsonl")" = "$a" ] || fail "resumed augmented run differs: $(epoch_losses "$WORK/r.jsonl") / $a"
expect_rc 0 $T --epochs 3 --no-checkpoint --resume "$WORK/r.h5" --augment "$DEF"
expect_rc 2 $T --epochs 3 --no-checkpoint --resume "$WORK/r.h5" --augment none
expect_err "--augment none differs from the checkpoint's $DEF"
expect_rc 2 $T --epochs 3 --no-checkpoint --resume "$WORK/plain.h5" --augment default
expect_err "differs from the checkpoint's none"
# a checkpoint whose augment attribute is longer than any spec: refused, not cut to one that
# could parse as another
cp "$WORK/r.h5" "$WORK/long.h5"
"$EDIT" setstr "$WORK/long.h5" augment "$DEF,aspect=0.8:1.25,detail=0.5:2,border=0:0.1$(printf ',rotate=10%.0s' $(seq 30))"
expect_rc 3 $T --epochs 3 --no-checkpoint --resume "$WORK/long.h5"
expect_err "checkpoint attribute 'augment' is longer than 319 bytes"
# bad specs
expect_rc 2 $T --epochs 1 --no-checkpoint --augment "rotate=90"
expect_err "--augment"
expect_rc 2 $T --epochs 1 --no-checkpoint --augment "sideways"
# --tta
EV="$BIN/cxr-eval $WORK/plain.h5 $WORK/s.h5 --split test --device cpu"
expect_rc 0 $EV --json --threads 2 --predictions "$WORK/p0.tsv"; cp "$WORK/out" "$WORK/e0.json"
expect_rc 0 $EV --json --threads 2 --predictions "$WORK/p1.tsv" --tta 1; cp "$WORK/out" "$WORK/e1.json"
expect_rc 0 $EV --json --threads 2 --predictions "$WORK/p5.tsv" --tta 5; cp "$WORK/out" "$WORK/e5.json"
expect_rc 0 $EV --json --threads 1 --predictions "$WORK/p5b.tsv" --tta 5; cp "$WORK/out" "$WORK/e5b.json"
cmp -s "$WORK/e0.json" "$WORK/e1.json" || fail "cxr-eval --tta 1 differs from no --tta"
cmp -s "$WORK/p0.tsv" "$WORK/p1.tsv" || fail "cxr-eval --tta 1 predictions differ from no --tta"
cmp -s "$WORK/e5.json" "$WORK/e5b.json" || fail "cxr-eval --tta 5 differs between --threads 2 and 1"
cmp -s "$WORK/p5.tsv" "$WORK/p5b.tsv" || fail "cxr-eval --tta 5 predictions differ between --threads 2 and 1"
grep -q '"tta":5' "$WORK/e5.json" || fail "cxr-eval --tta 5 --json lacks tta"
grep -q '"tta"' "$WORK/e0.json" && fail "cxr-eval --json without --tta says tta"
cmp -s "$WORK/p0.tsv" "$WORK/p5.tsv" && fail "cxr-eval --tta 5 gave the probabilities of --tta 1"
# ... and its threshold, chosen on val's plain probabilities, is chosen again on val's views: on
# val it is the split's own best one, on test the same number (--threshold still rules)
jget() { python3 -c "import json,sys; print(repr(json.load(open(sys.argv[1]))[sys.argv[2]]))" "$@"; }
expect_rc 0 $BIN/cxr-eval "$WORK/plain.h5" "$WORK/s.h5" --split val --device cpu --json --tta 5
cp "$WORK/out" "$WORK/v5.json"
grep -q "the model on val with --tta" "$WORK/err" && fail "--split val --tta 5: val evaluated twice"
[ "$(jget "$WORK/v5.json" model_threshold)" = "$(jget "$WORK/e0.json" threshold)" ] ||
    fail "--tta 5: model_threshold $(jget "$WORK/v5.json" model_threshold), the model's $(jget "$WORK/e0.json" threshold)"
expect_rc 0 $EV --tta 5 -q
grep -q "threshold" "$WORK/err" && fail "-q --tta 5 said the threshold: $(cat "$WORK/err")"
[ "$(jget "$WORK/v5.json" threshold)" = "$(jget "$WORK/v5.json" best_threshold)" ] ||
    fail "--tta 5 on val: threshold $(jget "$WORK/v5.json" threshold), its best $(jget "$WORK/v5.json" best_threshold)"
[ "$(jget "$WORK/e5.json" threshold)" = "$(jget "$WORK/v5.json" threshold)" ] ||
    fail "--tta 5 on test: threshold $(jget "$WORK/e5.json" threshold), val's with the views $(jget "$WORK/v5.json" threshold)"
# ... with --predictions on val too: its rows take the threshold applied, the one chosen on the
# views (a pass over val first), not the model's
expect_rc 0 $BIN/cxr-eval "$WORK/plain.h5" "$WORK/s.h5" --split val --device cpu --json --tta 5 \
    --predictions "$WORK/vp5.tsv"
[ "$(jget "$WORK/out" threshold)" = "$(jget "$WORK/v5.json" threshold)" ] ||
    fail "--split val --tta 5 --predictions: threshold $(jget "$WORK/out" threshold), without $(jget "$WORK/v5.json" threshold)"
python3 - "$WORK/vp5.tsv" "$(jget "$WORK/v5.json" threshold)" <<'PY' || fail "--split val --tta 5: the predictions' threshold is not the one applied"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
sys.exit(0 if rows and all(float(r["threshold"]) == float(sys.argv[2]) for r in rows) else 1)
PY
grep -q '"threshold_source":"chosen on val with --tta 5, balanced accuracy' "$WORK/e5.json" ||
    fail "--tta 5: $(grep -o '"threshold_source":"[^"]*"' "$WORK/e5.json")"
grep -q '"threshold_source":"chosen on val, stored in the model"' "$WORK/e0.json" ||
    fail "no --tta: $(grep -o '"threshold_source":"[^"]*"' "$WORK/e0.json")"
expect_rc 0 $EV --json --tta 5 --threshold 0.25; grep -q '"threshold":0.25,' "$WORK/out" ||
    fail "--tta 5 --threshold 0.25: $(grep -o '"threshold":[^,]*' "$WORK/out")"
IMGS=$(find "$SAMPLE/test" -name '*.jp*g' | sort | head -4)
PR="$BIN/cxr-predict $WORK/plain.h5 --device cpu"
expect_rc 0 $PR $IMGS; cp "$WORK/out" "$WORK/q0.tsv"
expect_rc 0 $PR $IMGS --tta 1; cp "$WORK/out" "$WORK/q1.tsv"
expect_rc 0 $PR $IMGS --tta 8 --threads 2; cp "$WORK/out" "$WORK/q8.tsv"
expect_err "cxr-predict: note: the model's threshold was chosen on val without --tta; cxr-eval MODEL STORE --split val --tta 8"
expect_rc 0 $PR $IMGS --tta 8 --threads 1; cp "$WORK/out" "$WORK/q8b.tsv"
[ "$(wc -l < "$WORK/q0.tsv")" = 5 ] || fail "cxr-predict printed $(wc -l < "$WORK/q0.tsv") lines for a header and 4 images"
cmp -s "$WORK/q0.tsv" "$WORK/q1.tsv" || fail "cxr-predict --tta 1 differs from no --tta"
cmp -s "$WORK/q8.tsv" "$WORK/q8b.tsv" || fail "cxr-predict --tta 8 differs between --threads 2 and 1"
cmp -s "$WORK/q0.tsv" "$WORK/q8.tsv" && fail "cxr-predict --tta 8 gave the probabilities of --tta 1"
expect_rc 2 $EV --tta 0
expect_rc 2 $PR $IMGS --tta 9
# --perturb: none is no option at all; a fixed stretch moves the probabilities, the same at any
# thread count; the seed draws another transform per image; the JSON says what was applied
expect_rc 0 $EV --json --threads 2 --predictions "$WORK/n0.tsv" --perturb none; cp "$WORK/out" "$WORK/n0.json"
cmp -s "$WORK/e0.json" "$WORK/n0.json" || fail "cxr-eval --perturb none differs from no --perturb"
cmp -s "$WORK/p0.tsv" "$WORK/n0.tsv" || fail "cxr-eval --perturb none predictions differ"
expect_rc 0 $EV --json --threads 2 --predictions "$WORK/s2.tsv" --perturb aspect=1.25:1.25; cp "$WORK/out" "$WORK/s2.json"
expect_rc 0 $EV --json --threads 1 --predictions "$WORK/s1.tsv" --perturb aspect=1.25:1.25
cmp -s "$WORK/s2.tsv" "$WORK/s1.tsv" || fail "cxr-eval --perturb differs between --threads 2 and 1"
cmp -s "$WORK/p0.tsv" "$WORK/s2.tsv" && fail "cxr-eval --perturb aspect=1.25:1.25 left the probabilities as they were"
grep -qF '"perturb":"rotate=0,scale=1:1,translate=0,brightness=0,contrast=0,hflip=0,aspect=1.25:1.25"' "$WORK/s2.json" || fail "cxr-eval --perturb --json does not say the perturbation (a fixed one, without a seed): $(cat "$WORK/s2.json")"
grep -q '"perturb"' "$WORK/e0.json" && fail "cxr-eval --json without --perturb says perturb"
expect_rc 0 $EV --threads 2 --predictions "$WORK/d1.tsv" --perturb default
grep -q '^perturb   rotate=10,.* seed 1 ' "$WORK/out" || fail "the text report does not say the perturbation"
expect_rc 0 $EV --threads 2 --predictions "$WORK/d2.tsv" --perturb default --perturb-seed 2
cmp -s "$WORK/d1.tsv" "$WORK/d2.tsv" && fail "cxr-eval --perturb-seed 2 drew the transforms of seed 1"
expect_rc 2 $EV --perturb sideways
expect_err "--perturb"
expect_rc 2 $EV --perturb default --perturb-seed -1
# The same outputs at any thread count also where the dense layers are large enough for oneDNN's
# matmul to split its sums by thread (64 px: dense1 reads 8192 values; at 32 px all counts agreed
# before evaluation ran the dense layers on our kernels)
pack_sample "$WORK/s64.h5" 64
expect_rc 0 "$BIN/cxr-train" "$WORK/s64.h5" --device cpu --batch 8 --threads 2 --recipe study \
    --epochs 1 --max-steps 2 --no-monitor -q --checkpoint "$WORK/m64.h5"
for t in 1 2 3 4; do
    expect_rc 0 "$BIN/cxr-eval" "$WORK/m64.h5" "$WORK/s64.h5" --split train --device cpu --threads $t \
        --predictions "$WORK/t$t.tsv"
    [ $t = 1 ] || cmp -s "$WORK/t1.tsv" "$WORK/t$t.tsv" ||
        fail "cxr-eval's probabilities differ between --threads 1 and $t (64 px)"
done
expect_rc 0 "$BIN/cxr-predict" "$WORK/m64.h5" $IMGS --device cpu --threads 2; cp "$WORK/out" "$WORK/u2.tsv"
expect_rc 0 "$BIN/cxr-predict" "$WORK/m64.h5" $IMGS --device cpu --threads 1
cmp -s "$WORK/out" "$WORK/u2.tsv" || fail "cxr-predict differs between --threads 2 and 1 (64 px)"
finish
