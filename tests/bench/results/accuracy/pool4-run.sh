#!/bin/sh
# pool4-run.sh: the split check and the runs and probes of pool4-plan.md, one after another.
#   nohup sh pool4-run.sh /work/runs/bin-acfc5ce /work/runs > pool4.out 2>&1 &
set -eu
BIN=$1 OUT=$2
HERE=$(cd "$(dirname "$0")/../.." && pwd)   # tests/bench
PY=${CXR_BENCH_VENV:-/opt/cxr/bench-venv}/bin/python
# the splits hold the same images, in the same order, as cx-128.h5's
"$PY" - "$OUT/cx.h5" "$OUT/cx-128.h5" <<'PY' > "$OUT/pool4-split-check.txt"
import sys, h5py
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
ok = True
for s in ("train", "val", "test"):
    same = list(a[s]["paths"][:]) == list(b[s]["paths"][:]) and list(a[s]["labels"][:]) == list(b[s]["labels"][:])
    print(s, len(a[s]["labels"]), same)
    ok = ok and same
sys.exit(0 if ok else 1)
PY
for seed in 1 2 3; do
    sh "$HERE/accuracy_run.sh" "$BIN" "$OUT/cx.h5" standard "$seed" "$OUT/pool4-s$seed" \
        --threads 2 --epochs 14 --input-pool 4
    for v in none scale=1.25:1.25 border=0.1:0.1; do
        "$BIN/cxr-eval" "$OUT/pool4-s$seed/model.best.h5" "$OUT/cx.h5" --split val \
            --perturb "$v" --json --threads 2 > "$OUT/pool4-s$seed/probe-$v.json" \
            2>> "$OUT/pool4-s$seed/train.out"
    done
    echo "$(date -u +%FT%TZ) pool4-s$seed done"
done
