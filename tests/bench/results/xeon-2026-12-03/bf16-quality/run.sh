#!/bin/sh
# bf16 vs fp32 quality (issue 13): standard recipe, 3 epochs, seed 1, one thread each, side by side
cd /work/runs/q
export HDF5_PLUGIN_PATH=/work/lb/plugins
for p in fp32 bf16; do
  mkdir -p $p
  nohup /work/lb/tools/cxr-train /work/runs/cx.h5 --device cpu --precision $p --epochs 3 --seed 1 --threads 1 \
    --log $p/train.jsonl --checkpoint $p/model.h5 > $p/train.out 2>&1 &
done
wait
