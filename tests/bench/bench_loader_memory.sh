#!/bin/bash
# bench_loader_memory.sh SRC_DIR OLD_BIN NEW_BIN [SHARDS]: peak RSS of cxr-train's first steps
# (--max-steps 4, one epoch, val evaluated) on stores of SRC_DIR packed with each --shard of
# SHARDS (default "64 1024"), with two builds alternated in the same run: the peer is OLD_BIN.
# The loader's buffers grow with the shard size; the rest of the process does not. Prints one
# line per run and the CPU.
set -eu
src=$1 old=$2 new=$3 shards=${4:-64 1024}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-loadmem.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for sh in $shards; do
    "$new/cxr-pack" "$src" -o "$work/s$sh.h5" --shard "$sh" --val-fraction 0.1 --quiet >/dev/null 2>&1
    for b in old new; do
        bin=$old; [ $b = new ] && bin=$new
        /usr/bin/time -v "$bin/cxr-train" "$work/s$sh.h5" --device cpu --threads 2 --epochs 1 \
            --max-steps 4 --no-checkpoint --no-monitor -q 2>"$work/err" >/dev/null ||
            { cat "$work/err" >&2; exit 1; }
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/err")
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/err")
        echo "shard $sh $b ($bin): peak RSS $((rss / 1024)) MB, wall $wall"
    done
done
