#!/bin/sh
# bench_study.sh: the study's comparisons in one go: epoch time on CPU vs GPU (GPU only when
# cxr-train can use one) and with the loader's prefetch on vs off. Trains once per
# configuration with cxr-train (logs OUT/<device>-<prefetch>.jsonl and .samples.jsonl), prints
# a table, appends one `benchmark` line per configuration (specs/log.md) to the first
# configuration's log (OUT/cpu-prefetch.jsonl) and draws OUT/study.html with cxr-report.
#
# usage: tests/bench/bench_study.sh [--store STORE.h5] [--epochs N] [--threads N]
#                                   [--max-steps N] [--build DIR] [--out DIR] [--no-gpu]
#   --store     a store made by cxr-pack; default: data/sample packed at 128 px into OUT
#   --epochs    epochs per configuration (default 3; >= 2 so that "later epochs" exist)
#   --build     the build folder holding tools/cxr-train, cxr-pack, cxr-report (default: build)
#   --out       results folder (default tests/bench/results/study-<date>)
# Not a ctest test: it takes minutes on a real store. Needs python3 for the summary.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
store="" epochs=3 threads="" max_steps="" build="$root/build" out="" try_gpu=1
while [ $# -gt 0 ]; do
    case $1 in
    --store) store=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --max-steps) max_steps=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-gpu) try_gpu=0; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench_study.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$epochs" -ge 2 ] || { echo "bench_study.sh: --epochs must be >= 2" >&2; exit 2; }
train=$build/tools/cxr-train pack=$build/tools/cxr-pack report=$build/tools/cxr-report
for t in "$train" "$report"; do
    [ -x "$t" ] || { echo "bench_study.sh: $t not built (cmake --build $build)" >&2; exit 2; }
done
[ -n "$out" ] || out="$here/results/study-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
if [ -z "$store" ]; then
    store="$out/sample128.h5"
    "$pack" "$root/data/sample" -o "$store" --size 128 --quiet >/dev/null
fi
[ -f "$store" ] || { echo "bench_study.sh: no store $store" >&2; exit 2; }

extra=""
[ -n "$threads" ] && extra="$extra --threads $threads"
[ -n "$max_steps" ] && extra="$extra --max-steps $max_steps"

configs="cpu:prefetch cpu:no-prefetch"
if [ "$try_gpu" = 1 ]; then
    # a one-step probe: cxr-train exits 5 when built without CUDA or no GPU answers
    if "$train" "$store" --device cuda --epochs 1 --max-steps 1 --no-monitor -q \
        >"$out/gpu_probe.log" 2>&1; then
        configs="$configs gpu:prefetch gpu:no-prefetch"
    else
        echo "bench_study.sh: no GPU run ($(tail -1 "$out/gpu_probe.log")); CPU only" >&2
    fi
fi

logs="" samples=""
for c in $configs; do
    dev=${c%%:*} pf=${c#*:}
    name="$dev-$pf"
    flag=""
    [ "$pf" = no-prefetch ] && flag="--no-prefetch"
    cudadev=cpu
    [ "$dev" = gpu ] && cudadev=cuda
    echo "== $dev $pf: cxr-train $store --device $cudadev --epochs $epochs${flag:+ $flag}$extra" >&2
    # shellcheck disable=SC2086
    "$train" "$store" --device "$cudadev" --epochs "$epochs" $flag $extra -q \
        --log "$out/$name.jsonl" --monitor-log "$out/$name.samples.jsonl"
    logs="$logs $out/$name.jsonl"
    samples="$samples $out/$name.samples.jsonl"
done

# One benchmark line per configuration, appended to the first configuration's log.
# shellcheck disable=SC2086
python3 - $logs <<'EOF'
import json, sys
logs = sys.argv[1:]
rows = []
for path in logs:
    lines = [json.loads(l) for l in open(path) if l.strip()]
    eps = [l for l in lines if l.get("type") == "epoch"]
    later = eps[1:]
    mean = lambda k, e: sum(x[k] for x in e) / len(e) if e and all(k in x for x in e) else None
    name = path.rsplit("/", 1)[-1][:-len(".jsonl")]
    dev, pf = name.split("-", 1)
    rows.append({"type": "benchmark", "config": "%s %s" % (dev, pf),
                 "first_epoch_s": eps[0]["epoch_s"], "later_epoch_s": mean("epoch_s", later),
                 "images_per_s": mean("images_per_s", later),
                 "data_wait_frac": mean("data_wait_frac", later)})
with open(logs[0], "a") as f:
    for l in rows:
        f.write(json.dumps(l, separators=(",", ":")) + "\n")
fmt = "%-18s %14s %16s %12s %11s"
print(fmt % ("config", "first epoch s", "later epochs s", "images/s", "data wait"))
for r in rows:
    g = lambda k, f: (f % r[k]) if r[k] is not None else "-"
    print(fmt % (r["config"], g("first_epoch_s", "%.2f"), g("later_epoch_s", "%.2f"),
                 g("images_per_s", "%.1f"), g("data_wait_frac", "%.3f")))
by = {r["config"]: r["later_epoch_s"] for r in rows}
for slow, fast, what in (("cpu no-prefetch", "cpu prefetch", "prefetch on vs off, CPU"),
                         ("gpu no-prefetch", "gpu prefetch", "prefetch on vs off, GPU"),
                         ("cpu prefetch", "gpu prefetch", "GPU vs CPU, prefetch")):
    if by.get(slow) and by.get(fast):
        print("%-26s %.2fx (later epochs %.2f s -> %.2f s)" % (what, by[slow] / by[fast], by[slow], by[fast]))
EOF
# shellcheck disable=SC2086
"$report" $logs --samples $samples -o "$out/study.html"
echo "bench_study.sh: logs (benchmark lines in cpu-prefetch.jsonl) and study.html in $out" >&2
