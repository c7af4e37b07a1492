#!/bin/bash
# bench_input_scale.sh SRC OLD_BUILD NEW_BUILD: what the input scale (specs/model.md "Input
# scale") changes for a store of [0, 255] pixels. SRC is a Kaggle-style tree (train/<class>/*.jpeg,
# e.g. ../shared/data/chest_xray); its train images are listed in a CSV manifest (id,url,label;
# the images linked as DIR/<id>.jpg) and packed twice through cxr-pack --manifest: with the
# manifests' default --normalize zscore255 ([0, 255]) and with --normalize minmax ([-1, 1]), the
# peer. For each build (OLD_BUILD before the change, NEW_BUILD after; the build folders, with
# tools/ and tests/train/init_loss): the eval-mode loss at initialisation on the 256 px stores' val
# split (seeds 1-3), and two epochs of cxr-train's default recipe at 64 px (--threads 2). Prints the
# CPU and every figure. Takes about 10 minutes on 2 cores.
set -eu
src=$1 old=$2 new=$3
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-inscale.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir "$work/imgs"
echo "id,url,label" > "$work/m.csv"
for f in "$src"/train/*/*.jpeg "$src"/train/*/*.jpg; do
    [ -e "$f" ] || continue
    id=$(basename "${f%.*}")
    ln -s "$(realpath "$f")" "$work/imgs/$id.jpg"
    echo "$id,https://example.org/$id.jpg,$(basename "$(dirname "$f")")" >> "$work/m.csv"
done
echo "manifest: $(($(wc -l < "$work/m.csv") - 1)) rows from $src/train"
for norm in zscore255 minmax; do
    for size in 256 64; do
        "$new/tools/cxr-pack" --manifest "$work/m.csv" --images "$work/imgs" --normalize $norm \
            --size $size -o "$work/$norm-$size.h5" --quiet > /dev/null
    done
done
for b in old new; do
    bin=$old; [ $b = new ] && bin=$new
    for norm in zscore255 minmax; do
        echo "== $b ($bin), --normalize $norm"
        "$bin/tests/train/init_loss" "$work/$norm-256.h5" val 2>&1 | sed 's/^/  256 px /'
        "$bin/tools/cxr-train" "$work/$norm-64.h5" --device cpu --threads 2 --epochs 2 \
            --no-checkpoint --no-monitor 2>&1 | grep '^epoch' | sed 's/^/  64 px /'
    done
done
