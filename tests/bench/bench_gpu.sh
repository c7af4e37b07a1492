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
# tests/bench/results/<device>-<date>/.
set -uo pipefail
[ $# -eq 1 ] || { sed -n 2,19p "$0"; exit 2; }
out=$1
mkdir -p "$out"
here=$(cd "$(dirname "$0")" && pwd)
data=${CXR_DATA:-../shared/data/chest_xray}
epochs=${BENCH_EPOCHS:-3}
py=${PYTHON:-python3}
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

if [ "$epochs" -gt 0 ]; then
# cxr-train runs: one JSON Lines log each
for prec in fp32 tf32 bf16; do
  for res in on off; do
    name=cxr_${prec}_resident-${res}
    log "cxr-train $prec resident=$res ($epochs epochs)"
    cxr-train "$store" --device cuda --precision "$prec" --resident "$res" --epochs "$epochs" \
      --log "$out/$name.jsonl" -q > "$out/$name.out" 2>&1 || log "$name failed: $(tail -1 "$out/$name.out")"
  done
done

# PyTorch peers
: > "$out/torch.jsonl"
for v in eager channels_last compile; do
  for prec in fp32 tf32 bf16; do
    log "torch $v $prec"
    timeout 1200 $py "$here/peer_torch_gpu.py" --variant "$v" --precision "$prec" \
      --epochs $((epochs > 1 ? epochs - 1 : 1)) >> "$out/torch.jsonl" 2> "$out/torch_${v}_${prec}.err" \
      || echo "{\"impl\":\"torch\",\"variant\":\"$v\",\"precision\":\"$prec\",\"error\":\"exit $?\"}" >> "$out/torch.jsonl"
  done
done

# the table
$py - "$out" > "$out/table.md" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "cxr_*.jsonl"))):
    ep = [json.loads(l) for l in open(f) if l.strip()]
    ep = [e for e in ep if e.get("type") == "epoch"]
    name = os.path.basename(f)[4:-6]
    if not ep:
        rows.append(("cxr-train " + name, None, None, None, None, "no epoch finished"))
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
fi # BENCH_EPOCHS > 0

# the study's recipe, 26 epochs, then the test split
if [ "${FULL:-1}" = 1 ]; then
  log "full run: cxr-train defaults (26 epochs, fp32) on the GPU"
  cxr-train "$store" --device cuda --log "$out/full.jsonl" --checkpoint "$out/full.h5" -q \
    > "$out/full.out" 2>&1 || log "full run failed: $(tail -1 "$out/full.out")"
  cxr-eval "$out/full.h5" "$store" --split test --device cuda > "$out/full_eval.txt" 2>&1 \
    || log "cxr-eval failed: $(tail -1 "$out/full_eval.txt")"
  echo "== study recipe, 26 epochs on the GPU (study: test accuracy 85.94%) =="
  grep -iE "accuracy|auc" "$out/full_eval.txt" | head -5
fi
log "raw output in $out"
