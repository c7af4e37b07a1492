#!/bin/bash
# flip_sweep_full.sh BUILD_DIR [JOBS]: the full flip sweep, every metadata byte HDF5 reads in a
# small store and a small checkpoint plus 400 data bytes of each (tests/robust/test_flip_sweep.py
# --meta 0), run at nice 19. Hours on two cores; the summary goes to
# tests/bench/results/flip_sweep.txt with the CPU, the commit and the command.
set -eu
BUILD=$(cd "$1" && pwd)
JOBS=${2:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=$ROOT/tests/bench/results/flip_sweep.txt
export HDF5_PLUGIN_PATH=$BUILD/plugins OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
tmp=$(mktemp)
nice -n 19 python3 "$HERE/test_flip_sweep.py" --bin "$BUILD/tools" \
    --readmap "$BUILD/tests/robust/h5_readmap" --sample "$ROOT/data/sample" \
    --meta 0 --data 400 --jobs "$JOBS" --summary "$tmp" && rc=0 || rc=$?
{
    echo "# tests/robust/flip_sweep_full.sh $1 $JOBS, at $(git -C "$ROOT" rev-parse --short HEAD)" \
        "on $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(date -u +%F)"
    cat "$tmp"
} >"$OUT"
rm -f "$tmp"
echo "summary: $OUT (exit $rc)"
exit $rc
