#!/usr/bin/env bash
# bench_gpu.sh: the GPU benchmark of cxr-train against PyTorch on the same card (not a ctest;
# specs/gpu.md "Benchmark"). Run on the GPU machine, from the repository root, after
# sourcing the device bundle's env.sh (tests/bench/gpu_bundle.sh), which puts cxr-pack,
# cxr-train and cxr-eval on PATH:
#
#   tests/bench/bench_gpu.sh OUT_DIR
#
# 1. packs $CXR_DATA (default ../shared/data/chest_xray, 5216 train images) with cxr-pack;
# 2. times $BENCH_EPOCHS epochs (default 3; 0 skips 2-3; the first is warm-up, not in the mean)
#    of cxr-train for fp32, tf32, bf16 x resident on/off, and tests/bench/peer_torch_gpu.py
#    (eager, channels_last, compile x fp32, tf32, bf16) when python3 has torch with CUDA;
# 3. prints the table: s/epoch, img/s, data-wait fraction, GPU memory;
# 4. trains the study's recipe (cxr-train defaults: 26 epochs, fp32) and prints test accuracy
#    and AUC next to the study's 85.94% (skip with FULL=0).
# Raw output (logs, JSON lines, nvidia-smi, the table) goes to OUT_DIR, to be copied into
# tests/bench/results/<device>-<date>/. The table is written after the cxr-train runs and again
# after the PyTorch peers, so a run cut short by the caller's time limit still leaves one.
# Each PyTorch variant gets at most $TORCH_TIMEOUT seconds (default 240).
# Exit status: 0 when every cxr-pack/cxr-train/cxr-eval run succeeded, 1 otherwise (a PyTorch
# variant that fails is reported in the table, not in the status), 2 on a usage error.
set -uo pipefail
[ $# -eq 1 ] || { sed -n 2,21p "$0"; exit 2; }
out=$1
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
data=${CXR_DATA:-../shared/data/chest_xray}
epochs=${BENCH_EPOCHS:-3}
py=${PYTHON:-python3}
torch_timeout=${TORCH_TIMEOUT:-240}
fails=0
store=$out/chest_xray.h5
log() { echo "[bench_gpu $(date +%T)] $*" | tee -a "$out/bench.log" >&2; }

for t in cxr-pack cxr-train cxr-eval; do
  command -v $t > /dev/null || { echo "bench_gpu: $t not on PATH (source the bundle's env.sh)" >&2; exit 2; }
done
{ nvidia-smi || true; uname -a; nproc; } > "$out/machine.txt" 2>&1

if [ ! -f "$store" ]; then
  log "packing $data"
  /usr/bin/env time -v cxr-pack "$data" -o "$store" > "$out/pack.log" 2>&1 \
    || cxr-pack "$data" -o "$store" > "$out/pack.log" 2>&1 \
    || { log "cxr-pack failed (see $out/pack.log)"; exit 1; }
fi

# the table of whatever runs have finished (called after the cxr-train runs and after the peers)
table() {
$py - "$out" > "$out/table.md" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "cxr_*.out"))):
    jl = f[:-4] + ".jsonl"  # a run that failed early has its .out but no log
    ep = [json.loads(l) for l in open(jl) if l.strip()] if os.path.exists(jl) else []
    ep = [e for e in ep if e.get("type") == "epoch"]
    name = os.path.basename(f)[4:-4]
    if not ep:
        last = [l.strip() for l in open(f) if l.strip()][-1:] or [""]
        rows.append(("cxr-train " + name, None, None, None, None, ("no epoch finished: " + last[0])[:80]))
        continue
    timed = ep[1:] or ep
    s = sum(e["epoch_s"] for e in timed) / len(timed)
    ips = sum(e["images_per_s"] for e in timed) / len(timed)
    wait = sum(e.get("data_wait_frac", 0) for e in timed) / len(timed)
    mem = max(e.get("gpu_mem_used_mb", 0) for e in timed)
    rows.append(("cxr-train " + name, s, ips, wait, mem, f"eval_acc {ep[-1].get('eval_acc', float('nan')):.4f}"))
for l in open(os.path.join(out, "torch.jsonl")):
    if not l.strip():
        continue
    r = json.loads(l)
    name = f"{r.get('impl','torch')} {r['variant']} {r['precision']}"
    if "error" in r:
        rows.append((name, None, None, None, None, r["error"][:80]))
    else:
        rows.append((name, r["s_per_epoch"], r["img_per_s"], r["data_wait_frac"], r["gpu_mem_mb"],
                     "synthetic resident data; mem = max allocated"))
print("| run | s/epoch | img/s | data wait | GPU MiB | note |")
print("|---|---|---|---|---|---|")
f = lambda v, p: "-" if v is None else f"{v:.{p}f}"
for n, s, i, w, m, note in rows:
    print(f"| {n} | {f(s,3)} | {f(i,0)} | {f(w,4)} | {f(m,0)} | {note} |")
PY
cat "$out/table.md"
}

if [ "$epochs" -gt 0 ]; then
# cxr-train runs: one JSON Lines log each
for prec in fp32 tf32 bf16; do
  for res in on off; do
    name=cxr_${prec}_resident-${res}
    log "cxr-train $prec resident=$res ($epochs epochs)"
    cxr-train "$store" --device cuda --precision "$prec" --resident "$res" --epochs "$epochs" \
      --log "$out/$name.jsonl" -q > "$out/$name.out" 2>&1 \
      || { log "$name failed: $(tail -1 "$out/$name.out")"; fails=$((fails + 1)); }
  done
done
: > "$out/torch.jsonl"
table

# PyTorch peers
for v in eager channels_last compile; do
  for prec in fp32 tf32 bf16; do
    log "torch $v $prec"
    timeout "$torch_timeout" $py "$here/peer_torch_gpu.py" --variant "$v" --precision "$prec" \
      --epochs $((epochs > 1 ? epochs - 1 : 1)) >> "$out/torch.jsonl" 2> "$out/torch_${v}_${prec}.err" \
      || echo "{\"impl\":\"torch\",\"variant\":\"$v\",\"precision\":\"$prec\",\"error\":\"exit $?\"}" >> "$out/torch.jsonl"
  done
done

table
fi # BENCH_EPOCHS > 0

# the study's recipe, 26 epochs, then the test split
if [ "${FULL:-1}" = 1 ]; then
  log "full run: cxr-train defaults (26 epochs, fp32) on the GPU"
  cxr-train "$store" --device cuda --log "$out/full.jsonl" --checkpoint "$out/full.h5" -q \
    > "$out/full.out" 2>&1 || { log "full run failed: $(tail -1 "$out/full.out")"; fails=$((fails + 1)); }
  cxr-eval "$out/full.h5" "$store" --split test --device cuda > "$out/full_eval.txt" 2>&1 \
    || { log "cxr-eval failed: $(tail -1 "$out/full_eval.txt")"; fails=$((fails + 1)); }
  echo "== study recipe, 26 epochs on the GPU (study: test accuracy 85.94%) =="
  grep -iE "accuracy|auc" "$out/full_eval.txt" | head -5
fi
log "raw output in $out ($fails failed run(s))"
[ "$fails" -eq 0 ]
