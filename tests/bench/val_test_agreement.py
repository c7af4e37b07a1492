#!/usr/bin/env python3
"""val_test_agreement.py [RESULTS_DIR]: does val rank the runs as test does?

Reads every RUN/val.json and RUN/test.json (cxr-eval --json) under RESULTS_DIR (default: the
committed tests/bench/results/accuracy) and prints, over all runs and over the runs whose val
AUC passes 0.99, the Spearman rank correlation of each val metric with test AUC and test
accuracy, with a two-sided permutation p-value (10,000 shuffles, fixed seed).

A measurement of issue 15's protocol, not a way to choose: the runs are screened on val, and
this asks whether the screen can see what test sees. Nothing here picks a model or a recipe.
Needs numpy.
"""
import glob
import json
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results", "accuracy")
runs = []
for d in sorted(glob.glob(os.path.join(root, "*", ""))):
    try:
        with open(d + "val.json") as f:
            v = json.load(f)
        with open(d + "test.json") as f:
            t = json.load(f)
    except (OSError, ValueError):
        continue
    keys = ("roc_auc", "loss", "balanced_accuracy")
    if all(k in v for k in keys) and "roc_auc" in t and "accuracy" in t:
        runs.append((os.path.basename(d.rstrip("/")), v, t))


def ranks(x):
    """Ranks from 0, ties given their mean rank (test accuracy takes few values: 624 images)."""
    x = np.asarray(x)
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    for v in np.unique(x):
        r[x == v] = r[x == v].mean()
    return r


def spearman(x, y, rng, shuffles=10000):
    rx, ry = ranks(x), ranks(y)
    r = np.corrcoef(rx, ry)[0, 1]
    null = np.array([np.corrcoef(rx, rng.permutation(ry))[0, 1] for _ in range(shuffles)])
    return r, (np.sum(np.abs(null) >= abs(r)) + 1) / (shuffles + 1)


print(f"# {len(runs)} runs with val.json and test.json under {os.path.relpath(root)}")
rng = np.random.default_rng(15)
for label, keep in (("all runs", lambda v: True), ("val AUC > 0.99", lambda v: v["roc_auc"] > 0.99)):
    sel = [(v, t) for _, v, t in runs if keep(v)]
    if len(sel) < 4:
        print(f"{label}: {len(sel)} runs, too few")
        continue
    print(f"{label} (n = {len(sel)}): Spearman rho [permutation p]")
    for vk, sign in (("roc_auc", 1), ("balanced_accuracy", 1), ("loss", -1)):
        x = np.array([sign * v[vk] for v, _ in sel])
        cells = []
        for tk in ("roc_auc", "accuracy"):
            r, p = spearman(x, np.array([t[tk] for _, t in sel]), rng)
            cells.append(f"test {tk} {r:+.2f} [{p:.3f}]")
        name = "val " + vk if sign > 0 else "val -loss"
        print(f"  {name:22s} " + "   ".join(cells))
top = sorted(runs, key=lambda r: -r[1]["roc_auc"])[:10]
print("the 10 runs of highest val AUC: run, val AUC, test AUC, test accuracy")
for name, v, t in top:
    print(f"  {name:22s} {v['roc_auc']:.4f} {t['roc_auc']:.4f} {t['accuracy']:.4f}")
