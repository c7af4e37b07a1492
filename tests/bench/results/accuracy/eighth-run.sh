#!/bin/sh
# eighth-run.sh: the split check and the runs and probes of eighth-plan.md, one after another.
#   nohup sh eighth-run.sh /work/runs/bin-acfc5ce /work/runs > eighth.out 2>&1 &
set -eu
BIN=$1 OUT=$2
HERE=$(cd "$(dirname "$0")/../.." && pwd)   # tests/bench
"$BIN/cxr-pack" /work/shared/data/chest_xray -o "$OUT/cx-32.h5" --val-fraction 0.1 --size 32 \
    > "$OUT/cx-32.pack.out" 2>&1
PY=${CXR_BENCH_VENV:-/opt/cxr/bench-venv}/bin/python
# the splits hold the same images, in the same order, as cx-128.h5's
"$PY" - "$OUT/cx-32.h5" "$OUT/cx-128.h5" <<'PY' > "$OUT/eighth-split-check.txt"
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
    sh "$HERE/accuracy_run.sh" "$BIN" "$OUT/cx-32.h5" standard "$seed" "$OUT/eighth-s$seed" \
        --threads 2 --epochs 14
    for v in none scale=1.25:1.25 border=0.1:0.1; do
        "$BIN/cxr-eval" "$OUT/eighth-s$seed/model.best.h5" "$OUT/cx-32.h5" --split val \
            --perturb "$v" --json --threads 2 > "$OUT/eighth-s$seed/probe-$v.json" \
            2>> "$OUT/eighth-s$seed/train.out"
    done
    echo "$(date -u +%FT%TZ) eighth-s$seed done"
done
