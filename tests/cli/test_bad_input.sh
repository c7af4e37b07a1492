#!/bin/bash
# test_bad_input.sh BIN SAMPLE EDIT HAVE_CUDA: every bad input gets a clear message and the
# documented exit code (3 data, 4 I/O, 5 device, 2 usage, 130 interrupted), never a crash.
BIN=$1 SAMPLE=$2 EDIT=$3 HAVE_CUDA=$4
. "$(dirname "$0")/common.sh"
pack_sample "$WORK/s.h5"
T="--device cpu --batch 8 --threads 2 --lr 0.001 --no-monitor -q"
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 1 --max-steps 2 --checkpoint "$WORK/ck.h5"

# usage
expect_rc 2 "$BIN/cxr-train"
expect_rc 2 "$BIN/cxr-train" "$WORK/s.h5" --epochs 0
expect_err "--epochs"
expect_rc 2 "$BIN/cxr-train" "$WORK/s.h5" --device tpu
for dv in "cuda: 1" "cuda:+1" "cuda:65" "cuda:" "cuda:1x"; do
    expect_rc 2 "$BIN/cxr-train" "$WORK/s.h5" --device "$dv"
    expect_err "--device $dv: the GPU index is a number from 0 to 64"
done
expect_rc 2 "$BIN/cxr-train" "$WORK/s.h5" --recipe imagenet
expect_err "not standard, study, landmarks or cosine"
# a rate that rounds to 0 in float, or to a subnormal that the training threads flush to 0,
# would read as "the recipe's" (1e-4): refused (1e-39 was taken, and 1e-4 used unsaid)
# so would a weight decay, label smoothing or mixup (then off), and an augmentation or probe
for opt in --lr --lr-gamma --weight-decay --label-smoothing --mixup; do
    for v in 1e-46 1e-39; do
        expect_rc 2 "$BIN/cxr-train" "$WORK/s.h5" $opt $v
        expect_err "$opt $v: below the least normal float, 1.17549e-38 (training flushes smaller ones to 0)"
    done
done
expect_rc 2 "$BIN/cxr-train" "$WORK/s.h5" --augment rotate=1e-39
expect_err "--augment: 'rotate=1e-39': 1e-39 is below the least normal float, 1.17549e-38"
expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --perturb scale=0.9:1.1,brightness=1e-46
expect_err "--perturb: 'scale=0.9:1.1,brightness=1e-46': 1e-46 is below the least normal float"
# ... while a checkpoint that stored such a spec (before they were refused) is still read
cp "$WORK/ck.h5" "$WORK/cks.h5"
"$EDIT" setstr "$WORK/cks.h5" augment "rotate=1e-39,scale=1:1,translate=0,brightness=0,contrast=0,hflip=0" ||
    fail "setstr augment"
expect_rc 0 "$BIN/cxr-eval" "$WORK/cks.h5" "$WORK/s.h5"
# --resident is the GPU loader's: on the CPU it is said to be ignored (it was, unsaid)
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 1 --max-steps 1 --no-checkpoint --resident on
expect_err "note: --resident on is for the GPU loader; a CPU run reads the store through its shard loader"
# the manifest packer's numbers through the shared parsers: the ranges said are those checked
printf 'id,url,landmark_id\n' >"$WORK/m0.csv"
for a in "--test-fraction 0.9999995:--test-fraction: expected a number in [0, 0.999999], got '0.9999995'" \
         "--min-count 1e16:--min-count: expected an integer in [1, 1000000000000000], got '1e16'" \
         "--crop-ratio 1e7:--crop-ratio: expected a number in [0, 1e+06], got '1e7'"; do
    expect_rc 2 "$BIN/cxr-pack" --manifest "$WORK/m0.csv" --images "$WORK" -o "$WORK/m0.h5" ${a%%:*}
    expect_err "${a#*:}"
done
# --recipe landmarks is the second study's batch 256, unless --batch is given explicitly
T_RECIPE="--device cpu --threads 2 --lr 0.001 --no-monitor -q --epochs 1 --max-steps 1"
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" $T_RECIPE --recipe landmarks --log "$WORK/rl.jsonl"
grep -q '"batch":256' "$WORK/rl.jsonl" || fail "--recipe landmarks did not set batch 256"
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" $T_RECIPE --recipe landmarks --batch 8 --log "$WORK/rb.jsonl"
grep -q '"batch":8' "$WORK/rb.jsonl" || fail "an explicit --batch did not win over --recipe"
expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5"
expect_rc 2 "$BIN/cxr-predict" "$WORK/ck.h5"
# missing files, not a store; refused before any line about the device
expect_rc 4 "$BIN/cxr-train" "$WORK/none.h5" $T
expect_err "none.h5"
for dv in cpu auto; do
    expect_rc 4 "$BIN/cxr-train" "$WORK/none.h5" --device $dv
    ! grep -q "device" "$WORK/err" || fail "cxr-train --device $dv: a device line before the missing store"
    expect_rc 4 "$BIN/cxr-train" "$WORK/s.h5" --device $dv --resume "$WORK/none.h5"
    ! grep -q "device" "$WORK/err" || fail "cxr-train --device $dv: a device line before the missing checkpoint"
    expect_rc 4 "$BIN/cxr-eval" "$WORK/none.h5" "$WORK/s.h5" --device $dv
    ! grep -q "device" "$WORK/err" || fail "cxr-eval --device $dv: a device line before the missing model"
    expect_rc 4 "$BIN/cxr-predict" "$WORK/none.h5" "$SAMPLE/test/NORMAL/IM-0001-0001.jpeg" --device $dv
    ! grep -q "device" "$WORK/err" || fail "cxr-predict --device $dv: a device line before the missing model"
done
expect_rc 3 "$BIN/cxr-train" "$SAMPLE/../README.md" $T
expect_err "README.md"
# a store of another format version
cp "$WORK/s.h5" "$WORK/v3.h5" && "$EDIT" setattr "$WORK/v3.h5" format_version 3
expect_rc 3 "$BIN/cxr-train" "$WORK/v3.h5" $T --epochs 1
expect_err "version 3"
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/v3.h5"
# a missing dataset
cp "$WORK/s.h5" "$WORK/nolab.h5" && "$EDIT" delete "$WORK/nolab.h5" /train/labels
expect_rc 3 "$BIN/cxr-train" "$WORK/nolab.h5" $T --epochs 1
expect_err "labels"
# labels out of range
cp "$WORK/s.h5" "$WORK/lab.h5" && "$EDIT" label "$WORK/lab.h5" train 3 7
expect_rc 3 "$BIN/cxr-train" "$WORK/lab.h5" $T --epochs 1
expect_err "7"
# wrong image size: a 32x32 model on a 64x64 store
pack_sample "$WORK/s64.h5" 64
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s64.h5" --split test
expect_err "takes 32x32 images, store $WORK/s64.h5 holds 64x64"
expect_rc 3 "$BIN/cxr-train" "$WORK/s64.h5" $T --epochs 1 --resume "$WORK/ck.h5"
# corrupted chunks: in train (training stops), in val (evaluation stops), in test (cxr-eval)
cp "$WORK/s.h5" "$WORK/ctrain.h5" && "$EDIT" corrupt "$WORK/ctrain.h5" train 1
expect_rc 3 "$BIN/cxr-train" "$WORK/ctrain.h5" $T --epochs 1
expect_err "split 'train' shard 1"
expect_err "ctrain.h5"
# ... also under a long path (1000 characters): the split, the shard and the reason are kept
LONG="$WORK/$(printf 'd%.0s' $(seq 240))/$(printf 'e%.0s' $(seq 240))/$(printf 'f%.0s' $(seq 240))"
LONG="$LONG/$(printf 'g%.0s' $(seq 240))"
mkdir -p "$LONG" && cp "$WORK/ctrain.h5" "$LONG/ctrain.h5"
expect_rc 3 "$BIN/cxr-train" "$LONG/ctrain.h5" $T --epochs 1 --no-checkpoint
expect_err "ctrain.h5: split 'train' shard 1"
expect_err "Fletcher32"
cp "$WORK/s.h5" "$WORK/cval.h5" && "$EDIT" corrupt "$WORK/cval.h5" val 0
expect_rc 3 "$BIN/cxr-train" "$WORK/cval.h5" $T --epochs 1 --no-prefetch
expect_err "split 'val' shard 0"
# ... and a rerun on such a store with the --log of an earlier run leaves that log as it was
# (the earlier run's lines are replaced once the new run has an epoch; it had none)
# and its --monitor-log samples file too
TM="${T/--no-monitor/} --epochs 1 --no-checkpoint --log $WORK/kept.jsonl --monitor-log $WORK/kmon.jsonl"
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" $TM
cp "$WORK/kept.jsonl" "$WORK/kept0.jsonl"
cp "$WORK/kmon.jsonl" "$WORK/kmon0.jsonl"
for bad in ctrain cval; do
    expect_rc 3 "$BIN/cxr-train" "$WORK/$bad.h5" $TM
    cmp -s "$WORK/kept.jsonl" "$WORK/kept0.jsonl" || fail "a rerun that failed on $bad.h5 changed the earlier log"
    cmp -s "$WORK/kmon.jsonl" "$WORK/kmon0.jsonl" ||
        fail "a rerun that failed on $bad.h5 changed the earlier samples file"
done
ls -a "$WORK" | grep -q 'k[a-z]*.jsonl.cxr-tmp' && fail "a kept copy was left: $(ls -a "$WORK")"
[ -s "$WORK/kmon0.jsonl" ] || fail "the run wrote no samples"
# ... and a log such a run created holds no epoch: it is not left (a run line alone, which the
# next run called an earlier log and cxr-report refused)
expect_rc 3 "$BIN/cxr-train" "$WORK/ctrain.h5" $T --epochs 1 --no-checkpoint --log "$WORK/fresh.jsonl"
[ -e "$WORK/fresh.jsonl" ] && fail "a log with no epoch was left: $(head -c 200 "$WORK/fresh.jsonl")"
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" $TM --seed 7
[ "$(grep -c '"type":"run"' "$WORK/kept.jsonl")" = 1 ] && grep -q '"seed":7' "$WORK/kept.jsonl" ||
    fail "a rerun that trained did not replace the log: $(head -c 300 "$WORK/kept.jsonl")"
cmp -s "$WORK/kmon.jsonl" "$WORK/kmon0.jsonl" && fail "a rerun that trained kept the earlier samples"
ls -a "$WORK" | grep -q 'k[a-z]*.jsonl.cxr-tmp' && fail "a kept copy was left: $(ls -a "$WORK")"
cp "$WORK/s.h5" "$WORK/ctest.h5" && "$EDIT" corrupt "$WORK/ctest.h5" test 1
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/ctest.h5" --split test
expect_err "split 'test' shard 1"
# a checkpoint trained on other classes (NORMAL renamed HEALTHY): cxr-eval and a resume refuse
cp -r "$SAMPLE" "$WORK/renamed"
for s in train test; do mv "$WORK/renamed/$s/NORMAL" "$WORK/renamed/$s/HEALTHY"; done
"$BIN/cxr-pack" "$WORK/renamed" -o "$WORK/renamed.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/renamed.h5" --split test
expect_err "class 0 is 'NORMAL' in checkpoint $WORK/ck.h5 but 'HEALTHY' in store $WORK/renamed.h5"
expect_rc 3 "$BIN/cxr-train" "$WORK/renamed.h5" $T --epochs 2 --resume "$WORK/ck.h5"
expect_err "resume: class 0 is 'NORMAL'"
# ... or on the same images preprocessed otherwise (the study's global equalization, where the
# default is CLAHE): cxr-eval, an ensemble member and a resume refuse
"$BIN/cxr-pack" "$SAMPLE" -o "$WORK/global.h5" --size 32 --shard 8 --val-fraction 0.25 --threads 2 \
    --quiet --equalize global >/dev/null
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/global.h5" --split test
expect_err "checkpoint $WORK/ck.h5 was trained on other preprocessing than store $WORK/global.h5 holds (equalize clahe clip 2/global"
expect_rc 0 "$BIN/cxr-train" "$WORK/global.h5" $T --epochs 1 --max-steps 2 --checkpoint "$WORK/ckg.h5"
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split test --ensemble "$WORK/ckg.h5"
expect_err "checkpoint $WORK/ckg.h5 was trained on other preprocessing than store $WORK/s.h5 holds (equalize global/clahe clip 2,"
expect_rc 3 "$BIN/cxr-train" "$WORK/global.h5" $T --epochs 2 --resume "$WORK/ck.h5"
expect_err "resume: checkpoint $WORK/ck.h5 was trained on other preprocessing"
expect_err "the checkpoint's first); use it with a store packed as its own was (cxr-pack's --equalize"
# a clahe_clip that is not a float, or out of range, is named
cp "$WORK/s.h5" "$WORK/clip.h5" && "$EDIT" setattr "$WORK/clip.h5" clahe_clip 4
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/clip.h5" --split test
expect_err "$WORK/clip.h5: attribute 'clahe_clip' is unreadable (damaged, or not a float)"
cp "$WORK/ck.h5" "$WORK/clip-ck.h5" && "$EDIT" setattr "$WORK/clip-ck.h5" clahe_clip 4
expect_rc 3 "$BIN/cxr-eval" "$WORK/clip-ck.h5" "$WORK/s.h5" --split test
expect_err "checkpoint attribute 'clahe_clip' is unreadable"
# checkpoints that do not match the model, of another version, or missing a dataset
cp "$WORK/ck.h5" "$WORK/shape.h5" && "$EDIT" reshape "$WORK/shape.h5" /params/conv2.w 8 16 3 3
expect_rc 3 "$BIN/cxr-eval" "$WORK/shape.h5" "$WORK/s.h5"
expect_err "layer conv2.w has shape 8x16x3x3, model expects 32x16x3x3"
expect_rc 3 "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 2 --resume "$WORK/shape.h5"
expect_err "conv2.w"
cp "$WORK/ck.h5" "$WORK/cv7.h5" && "$EDIT" setattr "$WORK/cv7.h5" format_version 7
expect_rc 3 "$BIN/cxr-predict" "$WORK/cv7.h5" "$SAMPLE/test/NORMAL/IM-0001-0001.jpeg"
expect_err "version 7"
cp "$WORK/ck.h5" "$WORK/nod.h5" && "$EDIT" delete "$WORK/nod.h5" /adam_m/out.w
expect_rc 3 "$BIN/cxr-eval" "$WORK/nod.h5" "$WORK/s.h5"
expect_err "adam_m/out.w"
expect_rc 3 "$BIN/cxr-eval" "$WORK/s.h5" "$WORK/s.h5"
expect_err "not a cxr checkpoint"
expect_err "'cxr-store', expected 'cxr-checkpoint' or 'cxr-weights'): a store, not a model (give the model cxr-train wrote here)"
# the arguments swapped: each file said to be the other kind
expect_rc 3 "$BIN/cxr-eval" "$WORK/s.h5" "$WORK/ck.h5"
expect_err "$WORK/s.h5: not a cxr checkpoint"
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/ck.h5"
expect_err "$WORK/ck.h5: found cxr-checkpoint version 2, expected cxr-store version 2: a model, not a store (give the store cxr-pack wrote here)"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" --weights -o "$WORK/wts.h5" -q
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/wts.h5"
expect_err "$WORK/wts.h5: found cxr-weights version 2, expected cxr-store version 2: a model, not a store"
# non-finite pixels (a store that passes its checksums): refused naming the image
cp "$WORK/s.h5" "$WORK/nan.h5" && "$EDIT" nan "$WORK/nan.h5" test 5
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/nan.h5" --split test
expect_err "nan.h5: split 'test' image 5 (test/"
expect_err "non-finite pixel nan"
cp "$WORK/s.h5" "$WORK/nantr.h5" && "$EDIT" nan "$WORK/nantr.h5" train 0
expect_rc 3 "$BIN/cxr-train" "$WORK/nantr.h5" $T --epochs 1
expect_err "nantr.h5: split 'train' image 0 (train/"
# inconsistent stores: all-zero class weights (bad data: 3, not a usage error), out-of-range
# preprocessing attributes
cp "$WORK/s.h5" "$WORK/w0.h5" && "$EDIT" setf "$WORK/w0.h5" /class_weights 0 0 &&
    "$EDIT" setf "$WORK/w0.h5" /class_weights 1 0
expect_rc 3 "$BIN/cxr-train" "$WORK/w0.h5" $T --epochs 1
expect_err "w0.h5: '/class_weights': class 0 ('NORMAL') has weight 0, expected"
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/w0.h5"
# a class folder without an image in any split (empty, or of other files) is no class: left
# out, said as a skip (the store held a class no image had, which cxr-train refused)
mkdir -p "$WORK/hollow" && cp -r "$SAMPLE/train" "$SAMPLE/test" "$WORK/hollow/" &&
    mkdir "$WORK/hollow/train/AAA" "$WORK/hollow/test/ZZZ" && echo notes > "$WORK/hollow/test/ZZZ/a.txt"
expect_rc 0 "$BIN/cxr-pack" "$WORK/hollow" -o "$WORK/hollow.h5" --size 32 --quiet
expect_err "skip $WORK/hollow/train/AAA: a class folder without a .jpg/.jpeg file in any split: no class of the store"
expect_err "skip $WORK/hollow/test/ZZZ: a class folder without a .jpg/.jpeg file in any split"
h5dump -d /class_names "$WORK/hollow.h5" | grep -q '(0): "NORMAL", "PNEUMONIA"$' ||
    fail "an empty class folder is a class of the store: $(h5dump -d /class_names "$WORK/hollow.h5")"
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/plain.h5" --size 32 --quiet
for d in /train/labels /test/labels; do
    [ "$(h5dump -d $d "$WORK/hollow.h5" | grep -v HDF5)" = "$(h5dump -d $d "$WORK/plain.h5" | grep -v HDF5)" ] ||
        fail "$d of the store without the empty folders differs"
done
expect_rc 0 "$BIN/cxr-train" "$WORK/hollow.h5" $T --epochs 1 --no-checkpoint
expect_rc 3 "$BIN/cxr-pack" "$WORK/hollow" -o "$WORK/hollow-s.h5" --size 32 --quiet --strict
# a folder of images given for the store is told to be packed; a split given as a third
# argument of cxr-eval is told to be --split
expect_rc 2 "$BIN/cxr-train" "$WORK/hollow" $T --epochs 1 --no-checkpoint
expect_err "$WORK/hollow: is a directory, not a regular file; cxr-train reads a store: pack the folder into one first (cxr-pack $WORK/hollow -o STORE.h5)"
expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" test
expect_err "cxr-eval: expected MODEL.h5 STORE.h5; a split is chosen with --split (--split test)"
# ... and one after --split is one too many (two splits in one run), not told to be --split
expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split val test
expect_err "cxr-eval: expected MODEL.h5 STORE.h5; 'test' after them is one argument too many: one split a run (--split val was given; run again with --split test)"
expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" other
expect_err "cxr-eval: expected MODEL.h5 STORE.h5 (see --help)"
# a class without training images (an empty train/ folder beside a test/ one with an image; the
# same for one val/ alone has): cxr-pack says so, cxr-train refuses (its weight is 0: never
# learnt, never in the loss)
mkdir -p "$WORK/ghost" && cp -r "$SAMPLE/train" "$SAMPLE/test" "$WORK/ghost/" &&
    mkdir "$WORK/ghost/train/AAA" "$WORK/ghost/test/AAA" &&
    cp "$SAMPLE"/train/NORMAL/IM-0115-0001.jpeg "$WORK/ghost/test/AAA/"
expect_rc 0 "$BIN/cxr-pack" "$WORK/ghost" -o "$WORK/ghost.h5" --size 32 --quiet
expect_err "warning: class 'AAA' has no image in train: a model cannot learn it"
expect_rc 3 "$BIN/cxr-train" "$WORK/ghost.h5" $T --epochs 1 --no-checkpoint
expect_err "ghost.h5: class 'AAA' has no image in /train, so no model can learn it"
# ... also when the class has images in the tree's own val/ and --val-fraction 0 carves nothing
# (only a class that a carved val emptied is left to warn_val_split's message)
mkdir -p "$WORK/ghost/val/AAA" && cp "$SAMPLE"/train/NORMAL/IM-0115-0001.jpeg "$WORK/ghost/val/AAA/"
expect_rc 0 "$BIN/cxr-pack" "$WORK/ghost" -o "$WORK/ghostv.h5" --size 32 --quiet --val-fraction 0
expect_err "warning: class 'AAA' has no image in train: a model cannot learn it"
rm -r "$WORK/ghost/val"
grep -q "differ only in case\|one class only" "$WORK/err" && fail "a warning of case or one class: $(cat "$WORK/err")"
# ... a test/Normal beside train/NORMAL: two classes, each without the other's images, whose
# names differ only in case (said, as the likely cause), and a store of one class
mkdir -p "$WORK/casey/train" "$WORK/casey/test" && cp -r "$SAMPLE/train/NORMAL" "$SAMPLE/train/PNEUMONIA" "$WORK/casey/train/" &&
    cp -r "$SAMPLE/test/PNEUMONIA" "$WORK/casey/test/" && cp -r "$SAMPLE/test/NORMAL" "$WORK/casey/test/Normal"
expect_rc 0 "$BIN/cxr-pack" "$WORK/casey" -o "$WORK/casey.h5" --size 16 --quiet
expect_err "warning: classes 'NORMAL' and 'Normal' differ only in case: one class under two folder names?"
mkdir -p "$WORK/onec/train" "$WORK/onec/test" && cp -r "$SAMPLE/train/NORMAL" "$WORK/onec/train/" &&
    cp -r "$SAMPLE/test/NORMAL" "$WORK/onec/test/"
expect_rc 0 "$BIN/cxr-pack" "$WORK/onec" -o "$WORK/onec.h5" --size 16 --quiet
expect_err "warning: one class only, 'NORMAL': a classifier needs at least 2, and cxr-train refuses the store"
# ... but a run resumed on such a store (its classes fixed by its checkpoint) is warned and goes on
# (as many training images as ghost.h5: the resume's steps per epoch must match)
mkdir -p "$WORK/ghost2" && cp -r "$WORK/ghost/train" "$WORK/ghost/test" "$WORK/ghost2/" &&
    mv "$WORK"/ghost2/train/NORMAL/IM-011[57]-0001.jpeg "$WORK/ghost2/train/AAA/"
expect_rc 0 "$BIN/cxr-pack" "$WORK/ghost2" -o "$WORK/ghost2.h5" --size 32 --quiet
expect_rc 0 "$BIN/cxr-train" "$WORK/ghost2.h5" $T --epochs 1 --checkpoint "$WORK/ghost.ck.h5"
expect_rc 0 "$BIN/cxr-train" "$WORK/ghost.h5" --resume "$WORK/ghost.ck.h5" --epochs 2 -q --no-monitor
expect_err "warning: $WORK/ghost.h5: class 'AAA' has no image in /train: the resumed model cannot learn it"
# a train split left empty by --drop-duplicates (each train image also in test) is said
mkdir -p "$WORK/dd/train/A" "$WORK/dd/train/B" "$WORK/dd/test/A" "$WORK/dd/test/B" &&
    cp "$SAMPLE"/train/NORMAL/IM-0115-0001.jpeg "$WORK/dd/train/A/" &&
    cp "$SAMPLE"/train/NORMAL/IM-0115-0001.jpeg "$WORK/dd/test/A/x.jpeg" &&
    cp "$SAMPLE"/train/NORMAL/IM-0117-0001.jpeg "$WORK/dd/train/B/" &&
    cp "$SAMPLE"/train/NORMAL/IM-0117-0001.jpeg "$WORK/dd/test/B/y.jpeg"
expect_rc 0 "$BIN/cxr-pack" "$WORK/dd" -o "$WORK/dd.h5" --size 16 --drop-duplicates --quiet
expect_err "warning: train holds no image (all 2 planned were skipped or dropped"
# ... while a store of test images alone is evaluated with an unweighted loss (its class
# weights are all 0: the weighted loss was 0/0), said on stderr
mkdir -p "$WORK/testonly/train/NORMAL" "$WORK/testonly/train/PNEUMONIA" &&
    cp -r "$SAMPLE/test" "$WORK/testonly/"
expect_rc 0 "$BIN/cxr-pack" "$WORK/testonly" -o "$WORK/testonly.h5" --size 32 --quiet
[ -s "$WORK/err" ] && fail "cxr-pack --quiet (no duplicates, no training images) said: $(cat "$WORK/err")"
expect_rc 0 "$BIN/cxr-pack" "$WORK/testonly" -o "$WORK/testonly-q.h5" --size 32 -q
[ -s "$WORK/err" ] && fail "cxr-pack -q said: $(cat "$WORK/err")"
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/testonly.h5" --json
expect_err "has no training image of the classes in 'test' (class weights 0), so the loss is unweighted"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); l=j["loss"]; sys.exit(not (isinstance(l, float) and l > 0 and j["loss_weights"] == "uniform" and "loss_left_out" not in j))' \
    "$WORK/out" || fail "cxr-eval's loss on a store of test images alone: $(cat "$WORK/out")"
# ... a split with a class that has training images and one that has none: the loss leaves the
# second's images out (weight 0), said on stderr and in the JSON; a whole store's is "class"
mkdir -p "$WORK/part/train/NORMAL" "$WORK/part/train/PNEUMONIA" &&
    cp -r "$SAMPLE/train/NORMAL/." "$WORK/part/train/NORMAL/" && cp -r "$SAMPLE/test" "$WORK/part/"
expect_rc 0 "$BIN/cxr-pack" "$WORK/part" -o "$WORK/part.h5" --size 32 --quiet
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/part.h5" --json
npn=$(ls "$SAMPLE/test/PNEUMONIA" | wc -l)
expect_err "the loss leaves out $npn image(s) of 1 class(es) with no training image in $WORK/part.h5 (class weight 0), e.g. 'PNEUMONIA'; the other metrics count them"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not (j["loss_weights"] == "class" and j["loss_left_out"] == int(sys.argv[2])))' \
    "$WORK/out" "$npn" || fail "cxr-eval --json, a class without training images: $(cat "$WORK/out")"
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not (j["loss_weights"] == "class" and "loss_left_out" not in j))' \
    "$WORK/out" || fail "cxr-eval --json on a whole store: $(cat "$WORK/out")"
# ... and so is a split whose one class has no training image while the class that has some is
# absent from it (that class's weight weighs no image there)
mkdir -p "$WORK/half/train/NORMAL" "$WORK/half/train/PNEUMONIA" "$WORK/half/test/NORMAL" &&
    cp -r "$SAMPLE/train/NORMAL/." "$WORK/half/train/NORMAL/" &&
    cp -r "$SAMPLE/test/PNEUMONIA" "$WORK/half/test/"
expect_rc 0 "$BIN/cxr-pack" "$WORK/half" -o "$WORK/half.h5" --size 32 --quiet
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/half.h5" --json
expect_err "has no training image of the classes in 'test' (class weights 0), so the loss is unweighted"
# a store side the network cannot take (not a multiple of 8): cxr-pack warns, cxr-train refuses
# it as bad data (3, not a usage error), naming the store and sides that would do
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/s100.h5" --size 100 --quiet
expect_err "warning: --size 100 is not a multiple of 8, which cxr-train's network needs (96 or 104 would do)"
expect_rc 3 "$BIN/cxr-train" "$WORK/s100.h5" $T --epochs 1 --no-checkpoint
expect_err "s100.h5 holds 100x100 images, but the network needs a side that is a multiple of 8; repack it with cxr-pack --size 96 or 104"
expect_rc 3 "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 1 --no-checkpoint --input-pool 8
expect_err "s.h5 holds 32x32 images, but the network needs a side that is a multiple of 64 (8 x --input-pool 8); repack it with cxr-pack --size 64, or give a smaller --input-pool"
# a checkpoint naming val as its threshold's split but holding no threshold (edited, or cut
# short of the attribute): the default 0.5, said as such, not "chosen on val"
cp "$WORK/ck.h5" "$WORK/nothr.h5" && "$EDIT" delattr "$WORK/nothr.h5" threshold
expect_rc 0 "$BIN/cxr-eval" "$WORK/nothr.h5" "$WORK/s.h5" --split test
expect_err "threshold 0.5 (the default 0.5: the model holds no threshold chosen on val)"
# a missing image path is refused before the device is spoken of (no image to classify: 3)
expect_rc 3 "$BIN/cxr-predict" "$WORK/ck.h5" "$WORK/no-such.jpeg" --device cuda
expect_err "$WORK/no-such.jpeg: cannot open: No such file or directory"
grep -q -- "--device" "$WORK/err" && fail "cxr-predict spoke of the device before its missing input"
expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split tset
expect_err "--split: expected train, val or test, got 'tset'"
# a default thread count past what --threads takes (OMP_NUM_THREADS=100000 crashed libgomp in
# cxr-pack): refused naming the variable; --threads given, it is not read
OMP_NUM_THREADS=100000 expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/omp.h5" --size 32
expect_err "cxr-pack: the default thread count (OMP_NUM_THREADS, else the cores) is 100000, outside the 1..1024 that --threads takes"
OMP_NUM_THREADS=100000 expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5"
expect_err "cxr-eval: the default thread count (OMP_NUM_THREADS, else the cores) is 100000"
OMP_NUM_THREADS=100000 expect_rc 2 "$BIN/cxr-predict" "$WORK/ck.h5" "$SAMPLE/test/NORMAL"
expect_err "cxr-predict: the default thread count (OMP_NUM_THREADS, else the cores) is 100000"
OMP_NUM_THREADS=1500 expect_rc 2 "$BIN/cxr-train" "$WORK/s.h5" --epochs 1 --no-checkpoint
expect_err "cxr-train: the default thread count (OMP_NUM_THREADS, else the cores) is 1500"
OMP_NUM_THREADS=100000 expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/omp.h5" --size 32 --threads 2 --quiet
# worker stacks below the 128 KiB the tools need (OMP_STACKSIZE=64K: cxr-pack and cxr-predict
# died of SIGSEGV in the decoder's CLAHE): refused naming the variable, as libgomp reads it
# (GOMP_STACKSIZE where OMP_STACKSIZE is no size); one thread starts no worker, and a value
# libgomp ignores is not looked at
rm -f "$WORK/omp.h5"
OMP_STACKSIZE=64K expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/omp.h5" --size 32 --threads 2 --quiet
expect_err "cxr-pack: OMP_STACKSIZE=64K gives each worker thread a stack of 65536 bytes; they need 128 KiB or more"
[ -e "$WORK/omp.h5" ] && fail "a pack refused for its stack size wrote a store"
OMP_STACKSIZE=x GOMP_STACKSIZE=" 100 k" expect_rc 2 "$BIN/cxr-predict" "$WORK/ck.h5" "$SAMPLE/test/NORMAL" --threads 2
expect_err "cxr-predict: GOMP_STACKSIZE= 100 k gives each worker thread a stack of 102400 bytes"
OMP_STACKSIZE=64K expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/omp.h5" --size 32 --threads 1 --quiet
OMP_STACKSIZE=64KB expect_rc 0 "$BIN/cxr-predict" "$WORK/ck.h5" "$SAMPLE/test/NORMAL" --threads 2 -q
OMP_STACKSIZE=128K expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --threads 2 -q
# ... a sign, as libgomp's strtoul takes it (+64K got past the check and crashed); a size below
# the system's thread minimum, which libgomp ignores ("Stack size less than minimum"), runs
OMP_STACKSIZE=+64K expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --threads 2 -q
expect_err "cxr-eval: OMP_STACKSIZE=+64K gives each worker thread a stack of 65536 bytes"
OMP_STACKSIZE=8K expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --threads 2 -q
# ... and a stack size limit below the 256 KiB they need (ulimit -s 160: cxr-pack died of SIGSEGV
# in its main thread, cxr-train and cxr-eval at 128), any thread count; 256 runs
stack() { expect_rc "$1" bash -c 'ulimit -s "$0" && exec "$@"' "${@:2}"; }
stack 2 160 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/omp.h5" --size 32 --threads 1 --quiet
expect_err "cxr-pack: the stack size limit (ulimit -s) is 160 KiB; the tools need 256 KiB or more"
stack 2 128 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --threads 2 -q
expect_err "cxr-eval: the stack size limit (ulimit -s) is 128 KiB"
stack 0 256 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/omp.h5" --size 32 --threads 2 --quiet
# ... said before main, whose own buffers died of SIGSEGV on entry under ~96 KiB (cxr-pack; 80
# cxr-eval): every tool, --help too
stack 2 64 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/omp.h5" --size 32 --threads 1 --quiet
expect_err "cxr-pack: the stack size limit (ulimit -s) is 64 KiB; the tools need 256 KiB or more"
for t in cxr-train cxr-eval cxr-predict cxr-export cxr-report; do
    stack 2 32 "$BIN/$t" --help
    expect_err "$t: the stack size limit (ulimit -s) is 32 KiB"
done
# options that only qualify another are refused alone rather than ignored, contradictory ones
expect_rc 2 "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 1 --monitor-log "$WORK/m.jsonl"
expect_err "cxr-train: --no-monitor and --monitor-log contradict each other: give one"
expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --format csv
expect_err "cxr-eval: --format applies to --predictions only"
expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --perturb-seed 5
expect_err "cxr-eval: --perturb-seed applies to --perturb only"
expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --perturb none --perturb-seed 5
expect_err "cxr-eval: --perturb-seed with a --perturb that draws nothing"
expect_rc 2 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --perturb aspect=1.25:1.25 --perturb-seed 5
expect_err "cxr-eval: --perturb-seed with a --perturb that draws nothing"
# --json on a full stdout: the reason, not only that it failed
"$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split test --json >/dev/full 2>"$WORK/err"
[ $? -eq 4 ] || fail "cxr-eval --json > /dev/full: not exit 4"
expect_err "--json: cannot write standard output: No space left on device"
cp "$WORK/s.h5" "$WORK/eq7.h5" && "$EDIT" setattr "$WORK/eq7.h5" equalize 7
expect_rc 3 "$BIN/cxr-train" "$WORK/eq7.h5" $T --epochs 1
expect_err "equalize 7 is not 0 (none), 1 (global) or 2 (clahe)"
# checkpoints: a flipped byte in a weight (Fletcher32), a NaN written through HDF5 (checksum
# intact: the value check), each refused by every reader
cp "$WORK/ck.h5" "$WORK/flip.h5" && "$EDIT" flip "$WORK/flip.h5" /params/dense1.w
cp "$WORK/ck.h5" "$WORK/pnan.h5" && "$EDIT" setf "$WORK/pnan.h5" /params/out.w 3 nan
for c in flip pnan; do
    expect_rc 3 "$BIN/cxr-predict" "$WORK/$c.h5" "$SAMPLE/test/NORMAL/IM-0001-0001.jpeg"
    expect_err "$c.h5"
    expect_rc 3 "$BIN/cxr-eval" "$WORK/$c.h5" "$WORK/s.h5"
    expect_rc 3 "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 2 --resume "$WORK/$c.h5"
done
expect_err "pnan.h5: /params/out.w holds a non-finite value nan at element 3"
expect_rc 3 "$BIN/cxr-eval" "$WORK/flip.h5" "$WORK/s.h5"
expect_err "flip.h5: checkpoint: cannot read /params/dense1.w (HDF5: data error detected by Fletcher32"
# a device this build cannot give
if [ "$HAVE_CUDA" != 1 ]; then
    expect_rc 5 "$BIN/cxr-train" "$WORK/s.h5" --device cuda --epochs 1
    expect_err "built without CUDA"
    # a GPU precision where auto found no GPU: the device's fault (5, as bf16 on a CPU without
    # it), said before the run is announced
    mkdir -p "$WORK/prec" && cp "$WORK/s.h5" "$WORK/prec/p.h5"
    expect_rc 5 "$BIN/cxr-train" "$WORK/prec/p.h5" --device auto --precision tf32 --epochs 1
    expect_err "--precision tf32 with --device auto, which found no usable GPU: precision tf32: a GPU tensor-core format"
    grep -q "saving the model" "$WORK/err" && fail "--precision tf32 on the CPU refused after the run was announced"
    [ -z "$(ls "$WORK/prec" | grep model)" ] || fail "a refused --precision left $(ls "$WORK/prec")"
fi
expect_rc 2 "$BIN/cxr-train" "$WORK/s.h5" --device cpu --precision tf32 --epochs 1
expect_err "precision tf32: a GPU tensor-core format"
grep -q "saving the model" "$WORK/err" && fail "--device cpu --precision tf32 refused after the run was announced"
# SIGINT: stops after the current step with exit 130; the last checkpoint stays valid. Job
# control on (set -m): a script's background job otherwise starts with SIGINT ignored, which
# cxr-train keeps ignoring (as under nohup, common/cxr_signals.h)
set -m
"$BIN/cxr-train" "$WORK/s.h5" $T --epochs 500 --checkpoint "$WORK/int.h5" --log "$WORK/int.jsonl" --log-every 5 2>"$WORK/int.err" &
pid=$!
set +m
for i in $(seq 1 600); do [ -s "$WORK/int.h5" ] && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
[ "$rc" = 130 ] || { fail "SIGINT: exit $rc, want 130"; cat "$WORK/int.err" >&2; }
grep -q "interrupted" "$WORK/int.err" || fail "SIGINT: no message"
# ... naming the checkpoint and the epoch it holds (in training or in the epoch's evaluation),
# and how to go on with the run's log, its step lines too (--log-every was left out)
n=$(sed -n "s|.*interrupted .*; the last checkpoint, $WORK/int.h5, holds epoch \([0-9]*\); go on with: cxr-train $WORK/s.h5 --resume $WORK/int.h5 --epochs 500 --log $WORK/int.jsonl --log-every 5 --device cpu --threads 2\$|\1|p" "$WORK/int.err")
[ -n "$n" ] && h5dump -a /epoch "$WORK/int.h5" | grep -q "(0): $n\$" \
    || fail "SIGINT: the message does not name the checkpoint and its epoch: $(cat "$WORK/int.err")"
# ... a command that runs as it is pasted (it named no store: no command), here one epoch more
cmd=$(sed -n 's/.*; go on with: cxr-train //p' "$WORK/int.err")
expect_rc 0 bash -c "exec \"\$0\" $cmd --epochs $((n + 1)) -q" "$BIN/cxr-train"
[ "$(h5dump -a /epoch "$WORK/int.h5" | sed -n 's/.*(0): //p')" = $((n + 1)) ] || fail "the pasted resume did not go on"
expect_rc 0 "$BIN/cxr-eval" "$WORK/int.h5" "$WORK/s.h5" --split val
# (temporaries are .NAME.cxr-tmp-PID-HEX, common/cxr_tmpfile.h; this looked for NAME.tmp.*)
ls -A "$WORK" | grep -q '^\.int\(\.best\)\?\.h5\.cxr-tmp-' && fail "SIGINT left a temporary checkpoint"
# a checkpoint that cannot be written (a file-size limit of half its size gives EFBIG, as a full
# disk gives ENOSPC): exit 4 naming the file and the reason, nothing left behind, and no crash
# on the way out (HDF5 1.10.8's exit handler crashed after a failed close)
mkdir "$WORK/lim"
lim_kb=$(( $(stat -c %s "$WORK/ck.h5") / 2048 ))
expect_rc 4 bash -c 'trap "" XFSZ; ulimit -f "$1"; shift; exec "$@"' limit "$lim_kb" \
    "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 1 --max-steps 1 --checkpoint "$WORK/lim/ck.h5"
expect_err "lim/ck.h5"
expect_err "File too large"
expect_err "; no epoch is complete: nothing to resume"
[ -z "$(ls -A "$WORK/lim")" ] || fail "a failed checkpoint left files: $(ls "$WORK/lim")"
# ... into an earlier run's checkpoint: that it is still there is said, and true
cp "$WORK/ck.h5" "$WORK/lim/ckx.h5"
expect_rc 4 bash -c 'trap "" XFSZ; ulimit -f "$1"; shift; exec "$@"' limit "$lim_kb" \
    "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 1 --max-steps 1 --checkpoint "$WORK/lim/ckx.h5"
expect_err "no epoch is complete: nothing to resume ($WORK/lim/ckx.h5 still holds what it held before this run)"
cmp -s "$WORK/ck.h5" "$WORK/lim/ckx.h5" || fail "a failed rerun changed the earlier checkpoint"
rm "$WORK/lim/ckx.h5"
# ... in a later epoch (here a resume's first): where the run stands, and the resume that goes on
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 1 --max-steps 1 --checkpoint "$WORK/lim1.h5"
expect_rc 4 bash -c 'trap "" XFSZ; ulimit -f "$1"; shift; exec "$@"' limit "$lim_kb" \
    "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 2 --max-steps 1 --resume "$WORK/lim1.h5" \
    --checkpoint "$WORK/lim/ck2.h5" --log "$WORK/lim/l2.jsonl"
expect_err "File too large); the last checkpoint, $WORK/lim1.h5, holds epoch 1; go on with: cxr-train $WORK/s.h5 --resume $WORK/lim1.h5 --epochs 2 --checkpoint $WORK/lim/ck2.h5 --log $WORK/lim/l2.jsonl --device cpu --threads 2"
rm -f "$WORK/lim/l2.jsonl"
# a log line that does not fit is not written in part: the log ends after its last whole line
# (it ended in a torn one, which cxr-report skipped)
expect_rc 4 bash -c 'trap "" XFSZ; ulimit -f 4; exec "$@"' limit "$BIN/cxr-train" "$WORK/s.h5" \
    $T --epochs 4 --no-checkpoint --log "$WORK/lim/torn.jsonl" --log-every 1
expect_err "lim/torn.jsonl: cannot write the log: File too large"
python3 -c 'import json, sys
t = open(sys.argv[1]).read()
assert t and t.endswith("\n"), repr(t[-80:])
for l in t.splitlines(): json.loads(l)' "$WORK/lim/torn.jsonl" || fail "a failed log write left a torn line"
rm -f "$WORK/lim/torn.jsonl"
# the other writers past such a limit: each names its output, not the temporary it removed
lim() { expect_rc 4 bash -c 'trap "" XFSZ; ulimit -f 8; exec "$@"' limit "$@"; }
lim "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/lim/m.onnx"
expect_err "lim/m.onnx: write failed: File too large"
lim "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/lim/e.onnx" --external-data
expect_err "lim/e.onnx.data: write failed: File too large"
lim "$BIN/cxr-report" "$(dirname "$0")/../report/fixtures/cpu2_3ep.jsonl" -o "$WORK/lim/r.html"
expect_err "lim/r.html: write failed: File too large"
grep -q "cxr-tmp" "$WORK/err" && fail "a write failure named the temporary: $(cat "$WORK/err")"
[ -z "$(ls -A "$WORK/lim")" ] || fail "a failed export or report left files: $(ls -A "$WORK/lim")"
# an earlier log or samples file larger than the limit (as on a full disk): the run makes no copy
# of it (it did, and was refused), but writes its own beside it; failing before its first epoch
# (no byte may be written) it leaves the earlier files as they were and nothing beside them
fix="$(dirname "$0")/../report/fixtures/cpu2_3ep.jsonl"
for i in 1 2 3 4 5 6 7 8; do cat "$fix"; done > "$WORK/lim/old.jsonl"
for i in $(seq 400); do echo "{\"t\":$i.0,\"cpu_util\":50.0,\"rss_mb\":100.0}"; done > "$WORK/lim/oldmon.jsonl"
cp "$WORK/lim/old.jsonl" "$WORK/old.keep" && cp "$WORK/lim/oldmon.jsonl" "$WORK/oldmon.keep"
[ "$(stat -c %s "$WORK/old.keep")" -gt 8192 ] && [ "$(stat -c %s "$WORK/oldmon.keep")" -gt 8192 ] \
    || fail "the earlier files are too small to test with"
expect_rc 4 bash -c 'trap "" XFSZ; ulimit -f 0; exec "$@"' limit "$BIN/cxr-train" "$WORK/s.h5" \
    ${T/ --no-monitor/} --epochs 1 --max-steps 1 --no-checkpoint --log "$WORK/lim/old.jsonl" \
    --monitor-log "$WORK/lim/oldmon.jsonl" # (its messages cannot be written either)
for f in old oldmon; do
    cmp -s "$WORK/lim/$f.jsonl" "$WORK/$f.keep" || fail "a failed run changed the earlier $f.jsonl"
done
[ "$(ls -A "$WORK/lim")" = "$(printf 'old.jsonl\noldmon.jsonl')" ] || fail "left behind: $(ls -A "$WORK/lim")"
# ... and the run that fits under the limit replaces them at its first epoch
expect_rc 0 bash -c 'trap "" XFSZ; ulimit -f 8; exec "$@"' limit "$BIN/cxr-train" "$WORK/s.h5" \
    ${T/ --no-monitor/} --epochs 1 --max-steps 1 --no-checkpoint --log "$WORK/lim/old.jsonl" \
    --monitor-log "$WORK/lim/oldmon.jsonl"
[ "$(grep -c '"type":"run"' "$WORK/lim/old.jsonl")" = 1 ] && grep -q '"type":"epoch"' "$WORK/lim/old.jsonl" \
    || fail "the run's log did not replace the earlier one: $(head -c 300 "$WORK/lim/old.jsonl")"
grep -q '"epoch":1' "$WORK/lim/oldmon.jsonl" && ! grep -q '"t":400.0' "$WORK/lim/oldmon.jsonl" \
    || fail "the run's samples file did not replace the earlier one"
[ "$(ls -A "$WORK/lim")" = "$(printf 'old.jsonl\noldmon.jsonl')" ] || fail "left behind: $(ls -A "$WORK/lim")"
cp "$WORK/old.keep" "$WORK/lim/old.jsonl" && cp "$WORK/oldmon.keep" "$WORK/lim/oldmon.jsonl"
# ... held by another run, that is what the run is told (cxr-train's output check finds the lock
# first; cxr_log_open takes it again: common.tmpfile)
lim flock "$WORK/lim/old.jsonl" "$BIN/cxr-train" "$WORK/s.h5" $T --epochs 1 --max-steps 1 \
    --no-checkpoint --log "$WORK/lim/old.jsonl"
expect_err "--log $WORK/lim/old.jsonl: in use by another process"
lim flock "$WORK/lim/oldmon.jsonl" "$BIN/cxr-train" "$WORK/s.h5" ${T/ --no-monitor/} --epochs 1 \
    --max-steps 1 --no-checkpoint --monitor-log "$WORK/lim/oldmon.jsonl"
expect_err "--monitor-log $WORK/lim/oldmon.jsonl: in use by another process"
for f in old oldmon; do
    cmp -s "$WORK/lim/$f.jsonl" "$WORK/$f.keep" || fail "a refused run changed the earlier $f.jsonl"
done
[ "$(ls -A "$WORK/lim")" = "$(printf 'old.jsonl\noldmon.jsonl')" ] || fail "left behind: $(ls -A "$WORK/lim")"
rm "$WORK/lim/old.jsonl" "$WORK/lim/oldmon.jsonl"
# a run that cannot write its log's first line (no byte may be written, its messages included)
# leaves no empty log or samples file it created
expect_rc 4 bash -c 'trap "" XFSZ; ulimit -f 0; exec "$@"' limit "$BIN/cxr-train" "$WORK/s.h5" \
    ${T/ --no-monitor/} --epochs 1 --max-steps 1 --no-checkpoint --log "$WORK/lim/new.jsonl" \
    --monitor-log "$WORK/lim/newmon.jsonl"
[ -z "$(ls -A "$WORK/lim")" ] || fail "a run that wrote nothing left: $(ls -A "$WORK/lim")"
# ... but a log given as a dangling symbolic link stays a link (what it names was created)
ln -s "$WORK/lim/target.jsonl" "$WORK/lim/link.jsonl"
expect_rc 4 bash -c 'trap "" XFSZ; ulimit -f 0; exec "$@"' limit "$BIN/cxr-train" "$WORK/s.h5" \
    $T --epochs 1 --max-steps 1 --no-checkpoint --log "$WORK/lim/link.jsonl"
[ -L "$WORK/lim/link.jsonl" ] || fail "a failed run removed the log's symbolic link"
rm -f "$WORK/lim/link.jsonl" "$WORK/lim/target.jsonl"
# an empty split (its one image could not be decoded): cxr-eval refuses it rather than print
# 0/0 as figures; cxr-train evaluates on test instead and makes no selection on the empty val
mkdir -p "$WORK/ev/val/NORMAL" && cp -r "$SAMPLE/train" "$SAMPLE/test" "$WORK/ev/" \
    && printf 'not a jpeg' > "$WORK/ev/val/NORMAL/bad.jpeg" || fail "tree with an empty val"
"$BIN/cxr-pack" "$WORK/ev" -o "$WORK/ev.h5" --size 32 --shard 8 --threads 2 --quiet >/dev/null 2>&1 \
    || fail "pack with an empty val"
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/ev.h5" --split val
expect_err "$WORK/ev.h5: split 'val' holds no image: nothing to evaluate"
expect_rc 0 "$BIN/cxr-train" "$WORK/ev.h5" $T --epochs 1 --max-steps 1 --no-checkpoint --log "$WORK/ev.jsonl"
expect_err "no model selection (the recipe's val_auc): $WORK/ev.h5 has an empty /val split; selection is made on val only, never on test (pack again with images in val: a larger --val-fraction, or val images that decode)"
grep -q '"eval_split":"test"' "$WORK/ev.jsonl" || fail "cxr-train evaluated an empty val"
# ... and with an empty test split (its one image undecodable), the run's last line names its
# model but gives no command to judge it on test, which cxr-eval would refuse
mkdir -p "$WORK/et/test/NORMAL" && cp -r "$SAMPLE/train" "$WORK/et/" \
    && printf 'not a jpeg' > "$WORK/et/test/NORMAL/bad.jpeg" || fail "tree with an empty test"
"$BIN/cxr-pack" "$WORK/et" -o "$WORK/et.h5" --size 32 --shard 8 --threads 2 --quiet \
    --val-fraction 0.25 >/dev/null 2>&1 || fail "pack with an empty test"
expect_rc 0 "$BIN/cxr-train" "$WORK/et.h5" $T --epochs 1 --max-steps 1 --checkpoint "$WORK/et.model.h5"
expect_err "done: $WORK/et.model.best.h5 holds the best epoch, 1"
grep -q "judge it on test" "$WORK/err" && fail "a store without test images: told to judge on test"
# finite weights that overflow (dense2's first bias near FLT_MAX, read out 10x): NaN
# probabilities are no prediction and no metrics, said with the image, exit 3
cp "$WORK/ck.h5" "$WORK/ovf.h5"
"$EDIT" setf "$WORK/ovf.h5" /params/dense2.b 0 3e38 && "$EDIT" setf "$WORK/ovf.h5" /params/out.w 0 10 \
    || fail "cannot edit ovf.h5"
expect_rc 3 "$BIN/cxr-predict" "$WORK/ovf.h5" "$SAMPLE/test/NORMAL" -o "$WORK/ovf.tsv" --threads 2
expect_err "$SAMPLE/test/NORMAL/IM-0001-0001.jpeg: the model's probabilities are not finite"
[ -e "$WORK/ovf.tsv" ] && fail "cxr-predict wrote a table with no image classified"
expect_err "no image classified (8 skipped, named above): -o $WORK/ovf.tsv left as it was"
expect_rc 3 "$BIN/cxr-eval" "$WORK/ovf.h5" "$WORK/s.h5" --split test --threads 2
expect_err "split test: the probabilities of 16 image(s) are not finite, the first image 0 (test/NORMAL/IM-0001-0001.jpeg)"
# finite logits far apart (out.b's class 0 at 1000: probabilities 1 and 0, both finite): the
# loss is -log softmax from the logits, each shifted by its largest (about 1000 on a class-1
# image, 0 on the others); shifted by the smallest, exp(1000) made it inf (a mutation round)
cp "$WORK/ck.h5" "$WORK/far.h5"
"$EDIT" setf "$WORK/far.h5" /params/out.b 0 1000 || fail "cannot edit far.h5"
expect_rc 0 "$BIN/cxr-eval" "$WORK/far.h5" "$WORK/s.h5" --split test --threads 2 --json
grep -qE '"loss":[1-9][0-9]{2}' "$WORK/out" ||
    fail "far-apart logits: no finite loss in the hundreds: $(cat "$WORK/out")"
# a val image whose pixels no normalization writes (every pixel 3e38: finite, but it would
# overflow the network and read as the model's fault): the store is damaged, and cxr-train and
# cxr-eval refuse it naming the image (3); no model is written
cp "$WORK/s.h5" "$WORK/bigval.h5" && "$EDIT" fill "$WORK/bigval.h5" val 0 3e38 || fail "cannot edit bigval.h5"
expect_rc 3 "$BIN/cxr-train" "$WORK/bigval.h5" $T --epochs 2 --max-steps 1 --checkpoint "$WORK/big.h5"
expect_err "bigval.h5: split 'val' image 0 (train/"
expect_err "out-of-range pixel 3e+38 in image 0 of the chunk at (y 0, x 0) (no normalization writes a magnitude of 512 or more)"
[ -e "$WORK/big.h5" ] || [ -e "$WORK/big.best.h5" ] && fail "a model was written from a damaged store"
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/bigval.h5" --split val
expect_err "bigval.h5: split 'val' image 0 (train/"
cp "$WORK/s.h5" "$WORK/bigtest.h5" && "$EDIT" fill "$WORK/bigtest.h5" test 2 -600 || fail "cannot edit bigtest.h5"
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/bigtest.h5" --split test
expect_err "out-of-range pixel -600"
# a member of an ensemble whose probabilities are NaN: no metrics, the member and image named
cp "$WORK/ck.h5" "$WORK/okm.h5"
expect_rc 3 "$BIN/cxr-eval" "$WORK/okm.h5" "$WORK/s.h5" --ensemble "$WORK/ovf.h5" --split test --threshold 0.5 --threads 2
expect_err "$WORK/ovf.h5 on $WORK/s.h5, split test: the probabilities of 16 image(s) are not finite"
# names that are not UTF-8 (a Latin-1 class folder, which the store escapes as \xE9, and a
# Latin-1 store name): the training log and cxr-eval --json stay valid UTF-8 JSON, with U+FFFD
# in the text and the exact bytes in *_hex
L1=$(printf 'NORM\351L') ST="$WORK/$(printf 'st\351').h5"
mkdir -p "$WORK/lat" && cp -r "$SAMPLE/train" "$SAMPLE/test" "$WORK/lat/" \
    && mv "$WORK/lat/train/NORMAL" "$WORK/lat/train/$L1" && mv "$WORK/lat/test/NORMAL" "$WORK/lat/test/$L1" \
    || fail "latin-1 tree"
"$BIN/cxr-pack" "$WORK/lat" -o "$ST" --size 32 --shard 8 --threads 2 --quiet >/dev/null 2>&1 || fail "pack latin-1 tree"
expect_rc 0 "$BIN/cxr-train" "$ST" $T --epochs 1 --max-steps 1 --checkpoint "$WORK/lat.h5" --log "$WORK/lat.jsonl"
"$BIN/cxr-eval" "$WORK/lat.h5" "$ST" --split test --json --threads 2 > "$WORK/lat.json" 2>/dev/null \
    || fail "cxr-eval --json on the latin-1 store"
python3 - "$WORK/lat.jsonl" "$WORK/lat.json" "$ST" <<'PY' || fail "log or --json not valid UTF-8 JSON with *_hex"
import json, os, sys
store = os.fsencode(sys.argv[3]).hex()
run = json.loads(open(sys.argv[1], "rb").read().decode("utf-8").splitlines()[0])
ev = json.loads(open(sys.argv[2], "rb").read().decode("utf-8"))
assert run["classes"][0] == "NORM\\xE9L", run["classes"]  # the store holds names escaped
assert run["store_hex"] == store and "\ufffd" in run["store"], run
assert ev["classes"][0] == "NORM\\xE9L" and ev["store_hex"] == store and "\ufffd" in ev["store"], ev
PY
finish
