#!/bin/bash
# flip_sweep_full.sh BUILD_DIR [JOBS] [PARTS]: the full flip sweep, every metadata byte HDF5 reads
# in a small store and a small checkpoint plus 400 data bytes of each
# (tests/robust/test_flip_sweep.py --meta 0), run at nice 19 in PARTS interleaved parts
# (default 8). Hours on two cores, so it can stop and go on: each finished part is kept in
# BUILD_DIR/flip-sweep (with the damaged files' originals), and a later call runs only the parts
# still missing. Once all are there, the summary goes to tests/bench/results/flip_sweep.txt with
# the CPU, the commit and the command. Remove BUILD_DIR/flip-sweep to start over (after a
# change to the tools or the file format).
set -eu
BUILD=$(cd "$1" && pwd)
JOBS=${2:-2}
PARTS=${3:-8}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$ROOT/tests/bench/results/flip_sweep.txt
STATE=$BUILD/flip-sweep
export HDF5_PLUGIN_PATH=$BUILD/plugins OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$STATE"
[ -f "$STATE/commit" ] || git -C "$ROOT" rev-parse --short HEAD >"$STATE/commit"
tmp=$(mktemp)
rc=0
for k in $(seq 1 "$PARTS"); do
    echo "part $k/$PARTS, $(date -u +%T)"
    nice -n 19 python3 "$HERE/test_flip_sweep.py" --bin "$BUILD/tools" \
        --readmap "$BUILD/tests/robust/h5_readmap" --sample "$ROOT/data/sample" \
        --meta 0 --data 400 --jobs "$JOBS" --state "$STATE" --part "$k/$PARTS" \
        --summary "$tmp" || rc=$?
done
if [ -s "$tmp" ]; then
    {
        echo "# tests/robust/flip_sweep_full.sh $1 $JOBS $PARTS, tools at $(cat "$STATE/commit")" \
            "on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(date -u +%F)"
        cat "$tmp"
    } >"$OUT"
    echo "summary: $OUT (exit $rc)"
fi
rm -f "$tmp"
exit $rc
