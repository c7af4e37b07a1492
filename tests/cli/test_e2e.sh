#!/bin/bash
# test_e2e.sh BIN SAMPLE EDIT: data/sample end to end: pack, train 1 epoch (log, checkpoint,
# monitor samples), eval on val, apply its best threshold to test, predict on JPEGs.
BIN=$1 SAMPLE=$2 EDIT=$3
. "$(dirname "$0")/common.sh"
pack_sample "$WORK/s.h5"
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" --device auto --epochs 1 --batch 8 --threads 2 --lr 0.001 \
    --log "$WORK/run.jsonl" --checkpoint "$WORK/ck.h5" --monitor-log "$WORK/mon.jsonl"
# one device line: the GPU and its library versions when one is used; "the GPU cannot be used
# (why)" when one is there but fails; else the CPU, and nothing about GPUs that are not there
if grep -q "device cuda:" "$WORK/err"; then
    expect_err "cuDNN"
elif ! grep -q "the GPU cannot be used" "$WORK/err"; then
    expect_err "device cpu ("
    ! grep -qE "device auto|NVIDIA|CUDA" "$WORK/err" || fail "auto: a notice about a GPU that is not there"
fi
expect_err "epoch 1/1: train loss"
# off a terminal one line an epoch, and within a long epoch a heartbeat a minute (none here);
# CXR_PROGRESS_S=0 (a test knob) gives one at every step and evaluation batch, before the line
grep -q "cxr-train: epoch 1/1: step" "$WORK/err" && fail "a heartbeat within a short epoch"
cp "$WORK/err" "$WORK/err.run"
expect_rc 0 env CXR_PROGRESS_S=0 "$BIN/cxr-train" "$WORK/s.h5" --device cpu --epochs 1 --batch 8 \
    --threads 2 --no-checkpoint --no-monitor
expect_err "cxr-train: epoch 1/1: step 1/"
expect_err " evaluated, "
grep -n "" "$WORK/err" | grep -E "step [0-9]+/|evaluated, |epoch 1/1: train loss" | tail -1 |
    grep -q "epoch 1/1: train loss" || fail "the heartbeats do not come before the epoch's line"
cp "$WORK/err.run" "$WORK/err"
[ -s "$WORK/ck.h5" ] || fail "no checkpoint"
[ "$(grep -c '"type":"run"' "$WORK/run.jsonl")" = 1 ] || fail "log: no run line"
# the run line says what computed: the CPU backend's path (a GPU's otherwise) and the CPU
grep '"type":"run"' "$WORK/run.jsonl" | grep -q '"kernels":"[^"]' || fail "log: no kernels"
if ! grep -q "device cuda:" "$WORK/err"; then
    grep '"type":"run"' "$WORK/run.jsonl" | grep -q '"kernels":"[^"]*denormals' ||
        fail "log: the run line lacks the CPU kernels"
fi
grep -q 'model name' /proc/cpuinfo 2>/dev/null && { grep '"type":"run"' "$WORK/run.jsonl" |
    grep -q '"cpu_model":"[^"]' || fail "log: the run line lacks cpu_model"; }
[ "$(grep -c '"type":"epoch"' "$WORK/run.jsonl")" = 1 ] || fail "log: not one epoch line"
for k in train_loss train_acc eval_loss eval_acc recall specificity f1 auc per_class \
         confusion roc epoch_s eval_s images_per_s data_wait_s data_wait_frac monitor; do
    grep '"type":"epoch"' "$WORK/run.jsonl" | grep -q "\"$k\":" || fail "log: epoch line lacks $k"
done
# precision is there when some image was called positive (the confusion's second column), else
# undefined and absent (since 0.22), whichever a run's kernels make of the first epoch
called=$(grep '"type":"epoch"' "$WORK/run.jsonl" |
    sed -E 's/.*"confusion":\[\[[0-9]+,([0-9]+)\],\[[0-9]+,([0-9]+)\]\].*/\1 \2/')
top=$(grep '"type":"epoch"' "$WORK/run.jsonl" | sed 's/"per_class".*//') # per_class has its own
if [ $((${called% *} + ${called#* })) -gt 0 ]; then
    echo "$top" | grep -q '"precision":' || fail "log: epoch line lacks precision"
else
    echo "$top" | grep -q '"precision":' && fail "log: precision of no positive call"
fi
grep -q '"eval_split":"val"' "$WORK/run.jsonl" || fail "log: eval split is not val"
grep -q '"train_images":36' "$WORK/run.jsonl" || fail "log: train_images is not 36"
[ -s "$WORK/mon.jsonl" ] || fail "no monitor samples"
# the checkpoint is plain HDF5 with the documented content
h5dump -A "$WORK/ck.h5" > "$WORK/dump" || fail "h5dump cannot read the checkpoint"
for k in '"cxr-checkpoint"' 'ATTRIBUTE "normalize"' 'DATASET "conv2.w"' 'GROUP "adam_v"' 'DATASET "class_names"'; do
    grep -qF "$k" "$WORK/dump" || fail "checkpoint lacks $k"
done
# eval on val, then apply the best threshold to test
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split val --threads 2
cat "$WORK/out"
grep -q "^roc_auc" "$WORK/out" || fail "eval prints no AUC"
grep -q "^specificity" "$WORK/out" || fail "eval prints no specificity"
t=$(sed -n 's/^best threshold on val by balanced accuracy: \([0-9.e+-]*\) .*/\1/p' "$WORK/out")
# the model's threshold was chosen on this val: no command to paste, it is applied already
grep -q "^the one applied above, which --split test applies too" "$WORK/out" ||
    fail "cxr-eval --split val with the model's val threshold: $(tail -3 "$WORK/out")"
[ -n "$t" ] || { fail "eval prints no best threshold"; t=0.5; }
# ... but given as --threshold it is the user's, not the model's: the command is offered (what
# --split test applies by itself is the model's threshold, which may differ)
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split val --threads 2 --json
tx=$(python3 -c 'import json, sys; print(repr(json.load(open(sys.argv[1]))["threshold"]))' "$WORK/out")
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split val --threads 2 --threshold "$tx"
grep -q "^(to apply it to test: cxr-eval " "$WORK/out" ||
    fail "cxr-eval --split val --threshold: no command offered: $(tail -3 "$WORK/out")"
# a cut between two scores of this model's val predictions: a probability, never above 1
awk "BEGIN{exit !($t >= 0 && $t <= 1)}" || fail "best threshold $t is not in [0, 1]"
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split test --threshold "$t"
grep -q "^threshold $t " "$WORK/out" || fail "test eval did not use threshold $t"
grep -q "split test: 16 images" "$WORK/out" || fail "test eval did not see 16 images"
# on test, the threshold that would suit test is a labelled diagnostic, never a command to paste
grep -q -- "--split test --threshold" "$WORK/out" && fail "test eval suggests a threshold chosen on test"
grep -q "^balanced accuracy at the best threshold chosen on test itself" "$WORK/out" ||
    fail "test eval lacks the labelled diagnostic"
# --json: the same figures as one JSON object (threshold and accuracy as the text report's)
acc=$(awk '/^accuracy/ {print $2}' "$WORK/out")
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split test --threshold "$t" --json
python3 - "$WORK/out" "$t" "$acc" <<'PY' || fail "cxr-eval --json: not one JSON object with the metrics"
import json, sys
d = json.loads(open(sys.argv[1]).read())
for k in ("loss", "accuracy", "balanced_accuracy", "macro_f1", "threshold", "precision", "recall",
          "specificity", "f1", "roc_auc", "confusion", "per_class", "images", "classes"):
    assert k in d, k
assert d["images"] == 16 and abs(d["threshold"] - float(sys.argv[2])) < 1e-6 * max(1, float(sys.argv[2]))
assert sum(map(sum, d["confusion"])) == 16
assert abs(d["accuracy"] - float(sys.argv[3])) <= 5e-5, (d["accuracy"], sys.argv[3])
PY
# predict: one line per good image, an error line naming the bad one, exit 3
good1="$SAMPLE/test/NORMAL/IM-0001-0001.jpeg" good2="$SAMPLE/test/PNEUMONIA/person10_virus_35.jpeg"
printf 'not a jpeg' > "$WORK/bad.jpeg"
expect_rc 0 "$BIN/cxr-predict" "$WORK/ck.h5" "$good1" "$good2"
head -1 "$WORK/out" | grep -qx $'path\tclass\tprobability\tp_NORMAL\tp_PNEUMONIA\tthreshold' || fail "predict: no header"
[ "$(grep -cE $'\t(NORMAL|PNEUMONIA)\t[0-9.e+-]+\t[0-9.e+-]+\t[0-9.e+-]+\t[0-9.e+-]+$' "$WORK/out")" = 2 ] || { fail "predict output"; cat "$WORK/out"; }
cp "$WORK/out" "$WORK/pred_ok"
expect_rc 3 "$BIN/cxr-predict" "$WORK/ck.h5" "$good1" "$WORK/bad.jpeg" "$good2"
expect_err "$WORK/bad.jpeg"
cmp -s "$WORK/out" "$WORK/pred_ok" || fail "a bad image changed the other answers"
# predict preprocesses exactly as the store did: its probabilities for test JPEGs equal those
# cxr-eval computed from the store's copies of the same images
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split test --predictions "$WORK/pred.tsv"
[ "$(wc -l < "$WORK/pred.tsv")" = 17 ] || fail "predictions: not a header and 16 lines"
# predict_like_eval CHECKPOINT PREDICTIONS.tsv WHAT REL...: cxr-predict's class and
# probabilities for each test JPEG REL equal those of cxr-eval --predictions on the store, the
# class exactly and the probabilities within 1e-6 (the batch of one against the store's batches
# changes their last bits; the files print 9 digits, where 6 decimals hid it)
predict_like_eval() {
    ck=$1 tsv=$2 what=$3
    shift 3
    for rel in "$@"; do
        want=$(awk -F'\t' -v p="$rel" '$1 == p {print $3, $4, $5}' "$tsv")
        expect_rc 0 "$BIN/cxr-predict" "$ck" "$SAMPLE/$rel"
        got=$(awk -F'\t' 'NR > 1 {print $2, $4, $5}' "$WORK/out")
        [ -n "$want" ] && awk -v a="$got" -v b="$want" 'BEGIN { split(a, x, " "); split(b, y, " ")
            d1 = x[2] - y[2]; d2 = x[3] - y[3]
            exit !(x[1] == y[1] && d1 * d1 <= 1e-12 && d2 * d2 <= 1e-12) }' ||
            fail "$what: predict $rel: '$got', eval on the store: '$want'"
    done
}
TWO="test/NORMAL/IM-0001-0001.jpeg test/PNEUMONIA/person10_virus_35.jpeg"
predict_like_eval "$WORK/ck.h5" "$WORK/pred.tsv" default $TWO test/PNEUMONIA/person123_bacteria_587.jpeg
# --equalize: CLAHE is the folders' default (equalize 2, named in command_line, so the command
# replays to the same store); the study's global equalization stays one option away: equalize 1
# in the store and the checkpoint, other tensors, and cxr-predict applies it to new images as
# the store did
expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/bad-eq.h5" --equalize CLAHE
expect_err "--equalize: expected global, clahe or none, got 'CLAHE'"
[ ! -e "$WORK/bad-eq.h5" ] || fail "a refused --equalize left a store"
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/g.h5" --size 32 --shard 8 --val-fraction 0.25 \
    --threads 2 --quiet --equalize global
h5dump -a equalize "$WORK/s.h5" | grep -q "(0): 2$" || fail "default store: equalize is not 2 (clahe)"
h5dump -a equalize "$WORK/g.h5" | grep -q "(0): 1$" || fail "global store: equalize is not 1"
h5dump -a command_line "$WORK/s.h5" | grep -q -- "--size 32 --equalize clahe --clahe-clip 2 --val-fraction 0.25\"" \
    || fail "default store: command_line does not record --equalize clahe --clahe-clip 2"
h5dump -a clahe_clip "$WORK/s.h5" | grep -q "(0): 2$" || fail "default store: clahe_clip is not 2"
h5dump -a command_line "$WORK/g.h5" | grep -q -- "--size 32 --equalize global --val-fraction 0.25\"" \
    || fail "global store: command_line does not record --equalize global"
# the default and an explicit --equalize clahe make the same bytes (command_line included)
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/c.h5" --size 32 --shard 8 --val-fraction 0.25 \
    --threads 2 --quiet --equalize clahe
cmp -s "$WORK/s.h5" "$WORK/c.h5" || fail "an explicit --equalize clahe store differs from the default one"
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/n.h5" --size 32 --shard 8 --val-fraction 0.25 \
    --threads 2 --quiet --equalize none
h5dump -a equalize "$WORK/n.h5" | grep -q "(0): 0$" || fail "--equalize none: equalize is not 0"
h5dump -a command_line "$WORK/n.h5" | grep -q -- "--equalize none" || fail "--equalize none: not in command_line"
# --clahe-clip: CLAHE's clip limit, in (0, 256], CLAHE only; recorded in the store
# (clahe_clip, command_line) and the checkpoint; other tensors; cxr-predict applies it; a model
# of another clip limit is refused. 64, because at --size 32 a tile holds 4 x 4 pixels and caps its
# bins at max(1, floor(c * 16 / 256)) counts: 1 for every c < 32, clip 2's included
! h5dump -a clahe_clip "$WORK/g.h5" >/dev/null 2>&1 || fail "global store: has a clahe_clip"
for bad in 0 -1 257 nan x; do
    expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/bad-clip.h5" --clahe-clip "$bad"
    expect_err "--clahe-clip: expected a number in (0, 256], got '$bad'"
done
expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/bad-clip.h5" --equalize global --clahe-clip 64
expect_err "--clahe-clip needs CLAHE, but this store's equalization is global (add --equalize clahe)"
[ ! -e "$WORK/bad-clip.h5" ] || fail "a refused --clahe-clip left a store"
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/c64.h5" --size 32 --shard 8 --val-fraction 0.25 \
    --threads 2 --quiet --clahe-clip 64
h5dump -a clahe_clip "$WORK/c64.h5" | grep -q "(0): 64$" || fail "--clahe-clip 64: clahe_clip is not 64"
h5dump -a command_line "$WORK/c64.h5" | grep -q -- "--equalize clahe --clahe-clip 64 " \
    || fail "--clahe-clip 64: not in command_line"
# the stores' tensors (h5dump's first line names the file: left out); two dumps of equal stores
# are equal, so an inequality below is the tensors'
images() { h5dump -d test/images "$1" | tail -n +2; }
images "$WORK/s.h5" > "$WORK/img-clahe" && images "$WORK/c.h5" > "$WORK/img-c"
images "$WORK/c64.h5" > "$WORK/img-c64" && images "$WORK/g.h5" > "$WORK/img-global"
[ -s "$WORK/img-clahe" ] && cmp -s "$WORK/img-clahe" "$WORK/img-c" || fail "equal stores: their tensors' dumps differ"
! cmp -s "$WORK/img-c64" "$WORK/img-clahe" || fail "--clahe-clip 64: the same tensors as clip 2"
! cmp -s "$WORK/img-global" "$WORK/img-clahe" || fail "global store: the same tensors as the clahe store"
expect_rc 0 "$BIN/cxr-train" "$WORK/c64.h5" --device cpu --epochs 1 --batch 8 --threads 2 --lr 0.001 \
    --max-steps 2 --no-monitor -q --checkpoint "$WORK/ck64.h5"
h5dump -a clahe_clip "$WORK/ck64.h5" | grep -q "(0): 64$" || fail "clip-64 checkpoint: clahe_clip is not 64"
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck64.h5" "$WORK/c64.h5" --split test --predictions "$WORK/pred64.tsv"
predict_like_eval "$WORK/ck64.h5" "$WORK/pred64.tsv" "clip 64" $TWO
# a CLAHE store or checkpoint written before clahe_clip existed used clip limit 2: it reads so
cp "$WORK/s.h5" "$WORK/old-s.h5" && "$EDIT" delattr "$WORK/old-s.h5" clahe_clip
cp "$WORK/ck.h5" "$WORK/old-ck.h5" && "$EDIT" delattr "$WORK/old-ck.h5" clahe_clip
expect_rc 0 "$BIN/cxr-eval" "$WORK/old-ck.h5" "$WORK/s.h5" --split test
expect_rc 0 "$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/old-s.h5" --split test
expect_rc 3 "$BIN/cxr-eval" "$WORK/old-ck.h5" "$WORK/c64.h5" --split test
expect_err "(equalize clahe clip 2/clahe clip 64,"
expect_rc 3 "$BIN/cxr-eval" "$WORK/ck64.h5" "$WORK/s.h5" --split test
expect_err "(equalize clahe clip 64/clahe clip 2, normalize minmax/minmax"
expect_rc 3 "$BIN/cxr-train" "$WORK/c64.h5" --device cpu --epochs 2 --batch 8 --threads 2 --no-monitor \
    -q --resume "$WORK/ck.h5"
expect_err "resume: checkpoint $WORK/ck.h5 was trained on other preprocessing"
expect_rc 3 "$BIN/cxr-predict" "$WORK/ck.h5" "$SAMPLE/test/NORMAL/IM-0001-0001.jpeg" --ensemble "$WORK/ck64.h5"
expect_err "equalize clahe clip 64/clahe clip 2"
expect_rc 0 "$BIN/cxr-train" "$WORK/g.h5" --device cpu --epochs 1 --batch 8 --threads 2 --lr 0.001 \
    --max-steps 2 --no-monitor -q --checkpoint "$WORK/ckg.h5"
h5dump -a equalize "$WORK/ckg.h5" | grep -q "(0): 1$" || fail "global checkpoint: equalize is not 1"
h5dump -a equalize "$WORK/ck.h5" | grep -q "(0): 2$" || fail "default checkpoint: equalize is not 2"
expect_rc 0 "$BIN/cxr-eval" "$WORK/ckg.h5" "$WORK/g.h5" --split test --predictions "$WORK/predg.tsv"
predict_like_eval "$WORK/ckg.h5" "$WORK/predg.tsv" global $TWO
# the ONNX export names the kind for other runtimes
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/c.onnx"
grep -qaF '"image_size":32,"equalization":"clahe","clahe_clip":2,' "$WORK/c.onnx" || fail "clahe: the ONNX metadata does not name clahe (alone) with its clip limit"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck64.h5" -o "$WORK/c64.onnx"
grep -qaF '"equalization":"clahe","clahe_clip":64,' "$WORK/c64.onnx" || fail "clip 64: the ONNX metadata does not name clip limit 64"
# the weights-only file keeps the clip limit: accepted on its store, refused on clip 2's
expect_rc 0 "$BIN/cxr-export" "$WORK/ck64.h5" --weights -o "$WORK/w64.h5"
h5dump -a clahe_clip "$WORK/w64.h5" | grep -q "(0): 64$" || fail "clip-64 weights: clahe_clip is not 64"
expect_rc 0 "$BIN/cxr-eval" "$WORK/w64.h5" "$WORK/c64.h5" --split test
expect_rc 3 "$BIN/cxr-eval" "$WORK/w64.h5" "$WORK/s.h5" --split test
expect_err "(equalize clahe clip 64/clahe clip 2,"
expect_rc 0 "$BIN/cxr-export" "$WORK/ckg.h5" -o "$WORK/g.onnx"
grep -qaF '"equalize":true,"equalization":"global"' "$WORK/g.onnx" || fail "global: the ONNX metadata does not name global"
# A --batch larger than the data: buffers for the images there are, not for --batch (at 256 px
# a batch of 4096 took 17 GB and failed; under a 6 GB address-space limit here), and the same
# results as a batch of all the images
pack_sample "$WORK/s256.h5" 256
B="--device cpu --threads 2 --no-monitor -q --recipe study --epochs 1"
expect_rc 0 "$BIN/cxr-train" "$WORK/s256.h5" $B --batch 64 --log "$WORK/b64.jsonl" --checkpoint "$WORK/b.h5"
expect_rc 0 bash -c "ulimit -v 6000000; exec \"\$@\"" - "$BIN/cxr-train" "$WORK/s256.h5" $B \
    --batch 4096 --log "$WORK/b4096.jsonl" --no-checkpoint
[ "$(epoch_losses "$WORK/b64.jsonl")" = "$(epoch_losses "$WORK/b4096.jsonl")" ] ||
    fail "--batch 4096 trained otherwise than a batch of the whole split"
expect_rc 0 "$BIN/cxr-eval" "$WORK/b.h5" "$WORK/s256.h5" --device cpu --batch 64 --predictions "$WORK/b64.tsv"
expect_rc 0 bash -c "ulimit -v 6000000; exec \"\$@\"" - "$BIN/cxr-eval" "$WORK/b.h5" "$WORK/s256.h5" \
    --device cpu --batch 4096 --predictions "$WORK/b4096.tsv"
cmp -s "$WORK/b64.tsv" "$WORK/b4096.tsv" || fail "cxr-eval --batch 4096 differs from a batch of the split"
expect_rc 0 bash -c "ulimit -v 6000000; exec \"\$@\"" - "$BIN/cxr-predict" "$WORK/b.h5" "$SAMPLE/test" \
    --device cpu --batch 4096
# many classes (65: one past what the text report's matrix shows): the matrix is named in the
# text report and whole in --json
for c in $(seq -w 1 65); do
    mkdir -p "$WORK/k65/train/c$c" "$WORK/k65/test/c$c"
    ln "$SAMPLE/train/NORMAL/IM-0115-0001.jpeg" "$WORK/k65/train/c$c/a$c.jpeg" 2>/dev/null ||
        cp "$SAMPLE/train/NORMAL/IM-0115-0001.jpeg" "$WORK/k65/train/c$c/a$c.jpeg"
    cp "$WORK/k65/train/c$c/a$c.jpeg" "$WORK/k65/test/c$c/b$c.jpeg"
done
expect_rc 0 "$BIN/cxr-pack" "$WORK/k65" -o "$WORK/k65.h5" --size 16 --quiet --no-duplicate-check
expect_rc 0 "$BIN/cxr-train" "$WORK/k65.h5" --device cpu --epochs 1 --max-steps 1 --batch 8 \
    --recipe study --no-monitor -q --checkpoint "$WORK/k65m.h5"
expect_rc 0 "$BIN/cxr-eval" "$WORK/k65m.h5" "$WORK/k65.h5" --device cpu
grep -q "^confusion: 65 x 65, printed up to 64 classes (--json has it)$" "$WORK/out" ||
    fail "cxr-eval's text report with 65 classes: $(grep -c . "$WORK/out") lines"
expect_rc 0 "$BIN/cxr-eval" "$WORK/k65m.h5" "$WORK/k65.h5" --device cpu --json
python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["confusion"]; sys.exit(not (len(m) == 65 and all(len(r) == 65 for r in m) and sum(map(sum, m)) == 65))' \
    "$WORK/out" || fail "cxr-eval --json's confusion with 65 classes"
# a store of [0, 255] pixels (--normalize zscore255, the manifests' default) trains as its
# [-1, 1] twin: the network reads x * 2/255 - 1 (specs/model.md "Input scale"; unscaled, the
# first losses were about 100 times the twin's)
for n in minmax zscore255; do
    "$BIN/cxr-pack" "$SAMPLE" -o "$WORK/n-$n.h5" --size 32 --shard 8 --val-fraction 0.25 \
        --threads 2 --normalize $n --quiet >/dev/null || fail "pack --normalize $n"
    expect_rc 0 "$BIN/cxr-train" "$WORK/n-$n.h5" --device cpu --epochs 1 --max-steps 3 --batch 8 \
        --threads 2 --no-monitor --checkpoint "$WORK/n-$n.ck.h5" --log "$WORK/n-$n.jsonl"
    if [ $n = minmax ]; then
        ! grep -q "holds pixels in" "$WORK/err" || fail "a [-1, 1] store was said to be scaled"
        h5dump -a input_scale "$WORK/n-$n.ck.h5" >/dev/null 2>&1 && fail "a plain model has an input_scale"
    fi
done
expect_err "n-zscore255.h5 holds pixels in [0, 255] (normalize zscore255): the network reads each as x * 0.00784313772 - 1, in [-1, 1]"
h5dump -a input_scale "$WORK/n-zscore255.ck.h5" | grep -q '(0): 0.0078431' ||
    fail "the zscore255 model's checkpoint lacks its input_scale"
grep '"type":"run"' "$WORK/n-zscore255.jsonl" | grep -q '"input_scale":0.007843138,"input_shift":-1' ||
    fail "the zscore255 run's log line lacks its input scale"
grep '"type":"run"' "$WORK/n-minmax.jsonl" | grep -q '"input_scale"' && fail "a plain run's log names an input scale"
python3 - "$WORK/n-minmax.jsonl" "$WORK/n-zscore255.jsonl" <<'PY' || fail "the zscore255 store did not train as its minmax twin"
import json, sys
a, b = ([json.loads(l) for l in open(f) if '"type":"epoch"' in l][0] for f in sys.argv[1:])
for k in ("train_loss", "eval_loss"):
    print(k, a[k], b[k])
    if not (a[k] < 5 and abs(a[k] - b[k]) <= 1e-4 * a[k]):
        sys.exit(1)
PY
# a checkpoint of 0.16 or before (format version 2, no scale) trained on such a store resumes
# unscaled, as its weights were learned, and says so; its file stays version 2
cp "$WORK/n-zscore255.ck.h5" "$WORK/old.h5"
"$EDIT" delattr "$WORK/old.h5" input_scale input_shift && "$EDIT" setattr "$WORK/old.h5" format_version 2 ||
    fail "cannot make a version 2 checkpoint"
expect_rc 0 "$BIN/cxr-train" "$WORK/n-zscore255.h5" --device cpu --epochs 2 --max-steps 3 --batch 8 \
    --threads 2 --no-monitor --resume "$WORK/old.h5"
expect_err "resume: the network of $WORK/old.h5 reads $WORK/n-zscore255.h5's pixels in [0, 255] unscaled"
expect_err "and its augmentation's contrast and brightness now act in the image's own range"
h5dump -a format_version "$WORK/old.h5" | grep -q '(0): 2$' || fail "the resumed old checkpoint is not version 2"
h5dump -a input_scale "$WORK/old.h5" >/dev/null 2>&1 && fail "the resumed old checkpoint got an input_scale"
for tool in cxr-train cxr-eval cxr-predict; do
    expect_rc 0 "$BIN/$tool" --help
    grep -q "Exit codes" "$WORK/out" || fail "$tool --help documents no exit codes"
done
finish
