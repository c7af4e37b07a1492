#!/bin/bash
# bench_shuffle_window.sh STORE BIN [STEPS] [ROUNDS]: what --shuffle-window split costs against
# auto (the peer, alternated with it in the same run): peak RSS and wall time of cxr-train's
# first STEPS steps (default 16; one epoch, val evaluated) and the loader's data wait of that
# epoch (from the log: split decodes the whole split before its first batch). ROUNDS (default 2)
# pairs. Prints one line per run and the CPU.
set -eu
store=$1 bin=$2 steps=${3:-16} rounds=${4:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/bench-window.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
    for w in auto split; do
        /usr/bin/time -v "$bin/cxr-train" "$store" --device cpu --threads 2 --epochs 1 \
            --max-steps "$steps" --shuffle-window $w --no-checkpoint --no-monitor -q \
            --log "$work/log.jsonl" 2>"$work/err" >/dev/null || { cat "$work/err" >&2; exit 1; }
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/err")
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/err")
        wait=$(grep '"type":"epoch"' "$work/log.jsonl" | tail -1 | grep -o '"data_wait_s":[^,]*' || true)
        echo "round $r $w: peak RSS $((rss / 1024)) MB, wall $wall, $wait"
        rm -f "$work/log.jsonl"
    done
done
