#!/bin/bash
# bench_loader_cold.sh STORE MODEL OLD_BIN NEW_BIN [ROUNDS]: what the loader reads of a store
# from a cold page cache: `cxr-eval MODEL STORE --split val` (one split of the file) after
# dropping the caches, the two builds alternated ROUNDS times (default 2): wall time and the
# growth of the page cache over the run (free's buff/cache: the store and the programs'
# libraries) and, with util-linux's fincore, how much of the store is cached. Needs root (drop_caches); drops
# every cache of the machine, so run it on a machine of your own.
set -eu
store=$1 model=$2 old=$3 new=$4 rounds=${5:-2}
[ -w /proc/sys/vm/drop_caches ] || { echo "bench_loader_cold: needs root (drop_caches)" >&2; exit 77; }
cache() { free -m | awk '/^Mem:/ {print $6}'; }
resident() { command -v fincore > /dev/null && fincore -nb -o RES "$store" | awk '{printf ", store cached %d MB", $1 / 1048576}' || true; }
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; store $(du -m "$store" | cut -f1) MB"
for r in $(seq "$rounds"); do
    for b in old new; do
        bin=$old; [ $b = new ] && bin=$new
        sync; echo 3 > /proc/sys/vm/drop_caches; sleep 1
        c0=$(cache); t0=$(date +%s.%N)
        "$bin/cxr-eval" "$model" "$store" --split val > /dev/null 2>&1
        t1=$(date +%s.%N); sleep 2; c1=$(cache)
        printf 'round %d %s (%s): wall %.2f s, page cache +%d MB%s\n' "$r" "$b" "$bin" \
            "$(awk "BEGIN {print $t1 - $t0}")" $((c1 - c0)) "$(resident)"
    done
done
