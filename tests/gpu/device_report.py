#!/usr/bin/env python3
"""device_report.py: the comparisons and tables of tests/gpu/device_run.sh, from cxr-train's
JSON Lines logs (specs/log.md) and peer_torch_gpu.py's lines. Standard library only.

  device_report.py same A.jsonl B.jsonl [--from-epoch K]
      exit 0 when the epoch lines (from epoch K on, default 1) are identical as strings once
      the fields that measure time or the machine are removed; else print the first difference
      and exit 1.
  device_report.py averaged A.jsonl B.jsonl
      B is A's run with --average-from 1: exit 0 when epoch 1 is A's but for "averaged": 1 (a
      mean of one epoch is its weights, through the download and upload of the swap) and every
      epoch's training figures are A's (the mean never leaks into training); else exit 1.
  device_report.py loss A.jsonl B.jsonl
      epoch-1 train and eval loss of both runs and their relative difference (always exit 0).
  device_report.py table DIR
      markdown table of DIR/real_*.jsonl (cxr-train: median s/epoch after the first epoch,
      img/s, data wait, GPU memory, eval accuracy) and DIR/torch.jsonl (the PyTorch peer).
  device_report.py study DIR
      epochs done, last train/eval figures of DIR/study.jsonl, and the test split line of
      DIR/study_eval.txt.
  device_report.py default DIR
      epochs done and the kept epoch of DIR/default-s1.jsonl (the default recipe), and the
      figures of DIR/default-s1.val.json and DIR/default-s1.test.json (cxr-eval --json).
"""
import glob
import json
import os
import sys

TIMING = {"epoch_s", "eval_s", "images_per_s", "data_wait_s", "data_wait_frac",
          "gpu_mem_used_mb", "monitor"}


def lines(path):
    """The JSON objects of a JSON Lines file (none when it is absent; bad lines skipped)."""
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def epochs(path):
    return [o for o in lines(path) if isinstance(o, dict) and o.get("type") == "epoch"]


def same(a, b, first=1):
    ea = [e for e in epochs(a) if e["epoch"] >= first]
    eb = [e for e in epochs(b) if e["epoch"] >= first]
    if not ea or len(ea) != len(eb):
        print(f"differ: {len(ea)} epoch lines in {a}, {len(eb)} in {b}")
        return 1
    for x, y in zip(ea, eb):
        sx = json.dumps({k: v for k, v in x.items() if k not in TIMING}, sort_keys=True)
        sy = json.dumps({k: v for k, v in y.items() if k not in TIMING}, sort_keys=True)
        if sx != sy:
            for k in sorted(set(x) | set(y)):
                if k not in TIMING and x.get(k) != y.get(k):
                    print(f"differ: epoch {x['epoch']} {k}: {x.get(k)!r} vs {y.get(k)!r}")
                    return 1
    print(f"identical: {len(ea)} epoch line(s) (timing fields left out)")
    return 0


def averaged(a, b):
    ea, eb = epochs(a), epochs(b)
    if len(ea) < 2 or len(ea) != len(eb):
        print(f"differ: {len(ea)} epoch lines in {a}, {len(eb)} in {b} (want >= 2)")
        return 1
    for k, (x, y) in enumerate(zip(ea, eb)):
        if y.get("averaged") != k + 1 or "averaged" in x:
            print(f"differ: epoch {x['epoch']} averaged {x.get('averaged')!r} vs {y.get('averaged')!r}")
            return 1
        keys = set(x) | set(y) if k == 0 else {"train_loss", "train_acc", "steps", "step_total", "lr"}
        for key in sorted(keys - TIMING - {"averaged"}):
            if x.get(key) != y.get(key):
                print(f"differ: epoch {x['epoch']} {key}: {x.get(key)!r} vs {y.get(key)!r}")
                return 1
    print(f"as expected: epoch 1 identical but for 'averaged', training figures of {len(ea)} "
          "epochs identical")
    return 0


def loss(a, b):
    ea, eb = epochs(a), epochs(b)
    if not ea or not eb:
        print(f"no epoch line in {a if not ea else b}")
        return 0
    for k in ("train_loss", "eval_loss", "eval_acc"):
        x, y = ea[0].get(k), eb[0].get(k)
        if x is None or y is None:
            continue
        rel = abs(x - y) / max(abs(y), 1e-30)
        print(f"epoch 1 {k}: {x:.9g} vs {y:.9g} (relative difference {rel:.2e})")
    return 0


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if v else None


def fmt(v, p):
    return "-" if v is None else f"{v:.{p}f}"


def table(d):
    rows = []
    for f in sorted(glob.glob(os.path.join(d, "real_*.jsonl"))):
        name = os.path.basename(f)[5:-6]
        ep = epochs(f)
        if not ep:
            rows.append((f"cxr-train {name}", None, None, None, None, "no epoch finished"))
            continue
        timed = ep[1:] or ep
        s = median([e["epoch_s"] for e in timed])
        ips = median([e["images_per_s"] for e in timed])
        wait = median([e.get("data_wait_frac", 0.0) for e in timed])
        mem = max(e.get("gpu_mem_used_mb", 0.0) for e in ep)
        gpu_mon = any("gpu_util_mean" in e.get("monitor", {}) for e in ep)
        note = (f"{len(ep)} epoch(s), first left out; eval_acc {ep[-1].get('eval_acc', float('nan')):.4f}"
                f"; monitor GPU fields {'present' if gpu_mon else 'ABSENT'}")
        rows.append((f"cxr-train {name}", s, ips, wait, mem, note))
    tj = os.path.join(d, "torch.jsonl")
    if os.path.exists(tj):
        for line in open(tj):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            name = f"{r.get('impl', 'torch')} {r.get('variant')} {r.get('precision')}"
            if "error" in r:
                rows.append((name, None, None, None, None, r["error"][:90]))
            else:
                rows.append((name, r["s_per_epoch"], r["img_per_s"], r["data_wait_frac"],
                             r["gpu_mem_mb"], "synthetic data resident on the GPU"
                             + (f"; {r['device']}" if r.get("device") else "")))
    print("| run | s/epoch | img/s | data wait | GPU MiB | note |")
    print("|---|---|---|---|---|---|")
    for n, s, i, w, m, note in rows:
        print(f"| {n} | {fmt(s, 3)} | {fmt(i, 0)} | {fmt(w, 4)} | {fmt(m, 0)} | {note} |")
    return 0


def study(d):
    ep = epochs(os.path.join(d, "study.jsonl"))
    if not ep:
        print("study recipe: no epoch finished")
    else:
        e = ep[-1]
        print(f"study recipe: {len(ep)} epoch(s) of 26 on the GPU; last: train_loss "
              f"{e.get('train_loss', float('nan')):.4f}, eval_acc {e.get('eval_acc', float('nan')):.4f}, "
              f"auc {e.get('auc', float('nan')):.4f}, {e.get('epoch_s', float('nan')):.2f} s/epoch")
    ev = os.path.join(d, "study_eval.txt")
    if os.path.exists(ev):
        for line in open(ev):
            if line.startswith(("accuracy", "roc_auc", "store")):
                print("study test split: " + line.rstrip())
    return 0


def num(d, key):
    """d[key] as a float; NaN when absent or null (cxr-eval writes null for NaN)."""
    v = d.get(key)
    return float(v) if isinstance(v, (int, float)) else float("nan")


def default(d):
    log = os.path.join(d, "default-s1.jsonl")
    ep = epochs(log)
    if not ep:
        print("default recipe: no epoch finished")
        return 0
    runs = [o for o in lines(log) if isinstance(o, dict) and o.get("type") == "run"]
    planned = (runs[0].get("recipe") or {}).get("epochs") if runs else None
    e = ep[-1]
    print(f"default recipe, seed 1: {len(ep)} epoch(s) of {planned} on the GPU, "
          f"{num(e, 'epoch_s'):.2f} s the last; kept epoch {e.get('best_epoch')} "
          f"(val AUC {num(e, 'best_value'):.4f})")
    if planned is None or len(ep) < planned:
        print("default recipe: INCOMPLETE (stopped by the deadline): not evaluated, not a result")
        return 0
    for split in ("val", "test"):
        try:
            with open(os.path.join(d, f"default-s1.{split}.json")) as f:
                r = json.load(f)
        except (OSError, ValueError) as err:
            print(f"{split}: not evaluated ({err})")
            continue
        print(f"{split}: accuracy {num(r, 'accuracy'):.4f}, ROC AUC {num(r, 'roc_auc'):.4f}, "
              f"sensitivity {num(r, 'recall'):.4f}, specificity {num(r, 'specificity'):.4f}, "
              f"threshold {num(r, 'threshold'):.4f}")
    return 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "same":
        first = int(argv[4]) if len(argv) >= 5 and argv[3] == "--from-epoch" else 1
        return same(argv[1], argv[2], first)
    if len(argv) == 3 and argv[0] == "averaged":
        return averaged(argv[1], argv[2])
    if len(argv) == 3 and argv[0] == "loss":
        return loss(argv[1], argv[2])
    if len(argv) == 2 and argv[0] == "table":
        return table(argv[1])
    if len(argv) == 2 and argv[0] == "study":
        return study(argv[1])
    if len(argv) == 2 and argv[0] == "default":
        return default(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
