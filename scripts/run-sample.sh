#!/usr/bin/env bash
# run-sample.sh: the main job on the sample bundled in data/sample, from a fresh Debian 12
# machine (run as root). Installs missing packages, builds, then:
#   1. packs data/sample into out/sample.h5, a quarter of train carved as val (grouped by
#      patient), and shows it with h5dump (through our zstd plugin)
#   2. trains the study's CNN briefly (CPU, or the GPU when one answers), with a checkpoint,
#      keeping the epoch of the best val AUC and the threshold chosen on val (out/model.best.h5)
#   3. evaluates that model on the test split, once, and classifies two JPEGs with it
#   4. writes out/report.html (loss/accuracy curves, ROC, confusion matrix, resource use)
# Everything lands in out/ (git-ignored). EPOCHS=N changes the training length (default 3),
# BATCH=N the batch size (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --run   # the test suite's packages are scripts/test.sh's
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${CXR_CMAKE_ARGS:-} >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
bin=build/tools
out=out
mkdir -p "$out"
export HDF5_PLUGIN_PATH=$PWD/build/plugins   # lets h5dump and h5py read the zstd chunks

echo "== 1. pack data/sample -> $out/sample.h5"
$bin/cxr-pack data/sample -o $out/sample.h5 --val-fraction 0.25
echo
echo "== h5dump: classes, counts, weights, and the first 8 values of the first training image"
h5dump -d /class_names -d /class_weights -d /train/class_counts $out/sample.h5 | grep -v '^ *$'
h5dump -d /train/images -s 0,0,0 -c 1,1,8 $out/sample.h5 | sed -n '/DATA {/,/}/p'
echo
echo "== 2. train ${EPOCHS:-3} epochs, batch ${BATCH:-8} (log $out/train.jsonl, checkpoint $out/model.h5)"
rm -f $out/train.jsonl
# batch 8, not the study's 64: the sample's 36 training images (48 less the 12 of val) would
# make one step per epoch, which leaves the model untrained; five steps per epoch give a model
# that separates the classes a little. Measured (Intel Xeon, 2 threads, 3 epochs): the kept
# epoch 1 (val AUC 0.833 on 12 images, the same in all three epochs) scores test accuracy
# 0.750, AUC 0.828 at the threshold chosen on val, 7.5e-09 (the probabilities of so short a run
# are saturated, and 12 val images leave a threshold anywhere between two of them). 16 test
# images and 12 of val: these figures move with any change; a demo of the method (model and
# threshold chosen on val, test looked at once), not of accuracy
$bin/cxr-train $out/sample.h5 --epochs "${EPOCHS:-3}" --batch "${BATCH:-8}" --log $out/train.jsonl \
    --checkpoint $out/model.h5 --monitor-log $out/monitor.jsonl
echo
echo "== 3. evaluate the kept model on test (once), and classify two test images"
$bin/cxr-eval $out/model.best.h5 $out/sample.h5 --split test
first() { find "data/sample/test/$1" -name '*.jp*g' | LC_ALL=C sort | head -1; }
$bin/cxr-predict $out/model.best.h5 "$(first NORMAL)" "$(first PNEUMONIA)"
echo
echo "== 4. report"
$bin/cxr-report $out/train.jsonl --samples $out/monitor.jsonl -o $out/report.html
echo "open $out/report.html in a browser"
