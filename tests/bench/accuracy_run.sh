#!/bin/sh
# accuracy_run.sh BUILD STORE RECIPE SEED OUTDIR [cxr-train options...]
#
# Issue 15's honest protocol for one (recipe, seed): train RECIPE on STORE (packed with
# `cxr-pack ... --val-fraction 0.1`, a patient-grouped val split), then evaluate the model the
# recipe keeps (MODEL.best.h5 when the recipe selects on val, else the last epoch's model.h5)
# on val, and once on test, both with the decision threshold cxr-train chose on val and stored
# in the model. Nothing is chosen by looking at test.
#
# Interrupted runs continue: run the same command again (it resumes from OUTDIR/model.h5).
# Writes OUTDIR/{command.txt, store.txt (h5dump of the store's preprocessing), train.jsonl,
# train.out, model.h5, [model.best.h5], val.json, test.json, val.txt, test.txt}.
# Example (the README's accuracy table):
#   cxr-pack ../shared/data/chest_xray -o chest.h5 --val-fraction 0.1   # CLAHE, the default
#   (the table's global-store rows: the same with --equalize global)
#   nohup sh tests/bench/accuracy_run.sh build chest.h5 standard 1 runs/standard-s1 &
set -eu
[ $# -ge 5 ] || { echo "usage: $0 BUILD STORE RECIPE SEED OUTDIR [cxr-train options]" >&2; exit 2; }
build=$1 store=$2 recipe=$3 seed=$4 out=$5
shift 5
tools=$build/tools
[ -x "$tools/cxr-train" ] || tools=$build   # a folder holding the binaries themselves
mkdir -p "$out"
# which images the store holds (its file name does not say): its preprocessing and provenance
h5dump -a equalize -a clahe_clip -a normalize -a image_size -a command_line "$store" > "$out/store.txt" 2>&1 || true
{
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cpus"
    echo "# commit $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    # the environment that picks the CPU path (train.jsonl's run line names the path itself)
    echo "# environment: $(env | grep -E '^(CXR_|ONEDNN_|DNNL_|OPENBLAS_|OMP_)' | sort | tr '\n' ' ')"
    echo "cxr-train $store --recipe $recipe --seed $seed --log $out/train.jsonl --checkpoint $out/model.h5 $*"
} >> "$out/command.txt"

if [ -f "$out/model.h5" ]; then
    # A resume takes recipe, seed and the rest from the checkpoint; a finished run stops at once.
    "$tools/cxr-train" "$store" --resume "$out/model.h5" --log "$out/train.jsonl" \
        --checkpoint "$out/model.h5" "$@" >> "$out/train.out" 2>&1
else
    "$tools/cxr-train" "$store" --recipe "$recipe" --seed "$seed" --log "$out/train.jsonl" \
        --checkpoint "$out/model.h5" "$@" >> "$out/train.out" 2>&1
fi

model=$out/model.h5
[ -f "$out/model.best.h5" ] && model=$out/model.best.h5
echo "# evaluated: $model (threshold: the one stored in it, chosen on val)" >> "$out/command.txt"
for split in val test; do
    "$tools/cxr-eval" "$model" "$store" --split "$split" --json > "$out/$split.json" 2>> "$out/train.out"
    "$tools/cxr-eval" "$model" "$store" --split "$split" > "$out/$split.txt" 2>> "$out/train.out"
done
