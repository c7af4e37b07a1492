#!/bin/bash
# bench_mixup.sh STORE BIN [STEPS] [ROUNDS] [TRAIN OPTIONS...]: what --mixup 0.2 costs against
# no mixup (the peer, alternated with it in the same run): the training throughput of
# cxr-train's first STEPS steps (default 48; one epoch, then val), the loader's data wait of
# that epoch and peak RSS. The mixing runs on the loader's assembler thread, so it costs the
# step only when the loader falls behind. ROUNDS (default 3) pairs; options after them go to
# cxr-train (e.g. --input-pool 4, the accuracy probes' setting). Prints one line per run, the
# medians and the CPU.
set -eu
store=$1 bin=$2 steps=${3:-48} rounds=${4:-3}
shift $(($# < 4 ? $# : 4))
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-mixup.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "options: --steps $steps $*"
for r in $(seq "$rounds"); do
    for m in 0 0.2; do
        /usr/bin/time -v "$bin/cxr-train" "$store" --device cpu --threads 2 --epochs 1 \
            --max-steps "$steps" --mixup $m --no-checkpoint --no-monitor -q \
            --log "$work/log.jsonl" "$@" 2>"$work/err" >/dev/null || { cat "$work/err" >&2; exit 1; }
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/err")
        line=$(grep '"type":"epoch"' "$work/log.jsonl" | tail -1)
        ips=$(echo "$line" | grep -o '"images_per_s":[^,]*' | cut -d: -f2)
        wait=$(echo "$line" | grep -o '"data_wait_s":[^,]*' | cut -d: -f2)
        printf 'round %d mixup %s: %.1f img/s, data wait %.2f s, peak RSS %d MB\n' "$r" "$m" \
            "$ips" "$wait" $((rss / 1024)) | tee -a "$work/lines"
        rm -f "$work/log.jsonl"
    done
done
for m in 0 0.2; do
    grep "mixup $m:" "$work/lines" | awk '{print $5}' | sort -n | awk -v m=$m '{v[NR] = $1} END {
        printf "median mixup %s: %.1f img/s over %d runs\n", m, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, NR}'
done
