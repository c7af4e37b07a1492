#!/usr/bin/env python3
"""accuracy_table.py RUNDIR [RUNDIR ...]: issue 15's tables from accuracy_run.sh's outputs.

For each RUNDIR (written by tests/bench/accuracy_run.sh: train.jsonl, or train.jsonl.gz as
committed, val.json, test.json):
the per-epoch val table from train.jsonl, then one summary table with a row per run and split
(the model and threshold the run kept), then, for each recipe with more than one seed, the
mean, sample standard deviation, minimum and maximum of each test metric. Runs are grouped by
their whole run definition (the log's recipe object less seed, threads and prefetch, plus the
store's equalization, or its file name for logs and run folders that do not say), so a run of
`standard` with another --augment, --weight-decay or store is its own group, labelled with the
fields in which it differs from the other runs of that recipe name. Markdown on stdout.
Standard library only; reads nothing but the files named. The same logs drawn as curves
(loss, ROC, time per epoch): `cxr-report RUNDIR/train.jsonl ... -o report.html` (a committed
log: `gunzip -k RUNDIR/train.jsonl.gz` first).
"""
import gzip
import json
import os
import re
import statistics
import sys


def read_jsonl(path):
    """PATH's JSON lines; PATH.gz when PATH is not there (the committed runs' logs are gzipped)."""
    f = open(path) if os.path.exists(path) else gzip.open(path + ".gz", "rt")
    with f:
        return [json.loads(line) for line in f if line.strip()]


def equalize_label(name, clip):
    """"global", "none", or "clahe clip C" (files of before clahe_clip used clip limit 2)."""
    return f"clahe clip {clip if clip is not None else 2:g}" if name == "clahe" else name


def store_equalize(rundir):
    """The equalization from RUNDIR/store.txt (h5dump output) as equalize_label, or None."""
    try:
        text = open(os.path.join(rundir, "store.txt")).read()
    except OSError:
        return None
    m = re.search(r'ATTRIBUTE "equalize" \{[^}]*?\(0\): (\d+)', text)
    c = re.search(r'ATTRIBUTE "clahe_clip" \{[^}]*?\(0\): ([0-9.eE+-]+)', text)
    name = {"0": "none", "1": "global", "2": "clahe"}.get(m.group(1)) if m else None
    return equalize_label(name, float(c.group(1)) if c else None) if name else None


def run_info(rundir):
    lines = read_jsonl(os.path.join(rundir, "train.jsonl"))
    runs = [d for d in lines if d.get("type") == "run"]
    epochs = {}
    for d in lines:  # a resumed run may log an epoch twice: the last line wins
        if d.get("type") == "epoch":
            epochs[d["epoch"]] = d
    recipe = dict(runs[0]["recipe"]) if runs else {}
    if recipe.get("label_smoothing") == 0:  # logged since 0.8; the logs of before trained without
        del recipe["label_smoothing"]
    if "name" not in recipe:  # logs of before issue 15 name no recipe: take it from RUNDIR
        recipe["name"] = os.path.basename(os.path.normpath(rundir)).split("-s")[0]
    # Another store is another run definition. Which images it holds: the run line's
    # `preprocessing` (cxr-train since 2026-12-03), else accuracy_run.sh's store.txt, else (runs of
    # before both) the store's file name.
    pp = (runs[0].get("preprocessing") or {}) if runs else {}
    equalize = pp.get("equalize") and equalize_label(pp["equalize"], pp.get("clahe_clip"))
    equalize = equalize or store_equalize(rundir)
    if equalize:
        recipe["store"] = "equalize " + equalize
    elif runs and runs[0].get("store"):
        recipe["store"] = os.path.basename(runs[0]["store"])
    # another image size is another definition too (256, every run's until half-s*, unnamed)
    size = runs[0].get("image_size") if runs else None
    if size and size != 256:
        recipe["store"] = f"{recipe.get('store', 'store')}, {size} px"
    evals = {}
    for split in ("val", "test"):
        p = os.path.join(rundir, split + ".json")
        if os.path.exists(p):
            with open(p) as f:
                evals[split] = json.load(f)
    return recipe, [epochs[k] for k in sorted(epochs)], evals


def thr(d):
    return f"{d['threshold']:.4f}" if "threshold" in d else "(none logged)"


def epoch_table(name, label, recipe, epochs):
    print(f"### {name}: recipe {label}, seed {recipe.get('seed')}, "
          f"{recipe.get('threads')} thread(s)\n")
    print("| epoch | lr | train loss | val loss | val acc (0.5) | val AUC | val bal. acc | "
          "threshold chosen on val | epoch s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for d in epochs:
        print(f"| {d['epoch']} | {d['lr']:.3g} | {d['train_loss']:.4f} | {d['eval_loss']:.4f} | "
              f"{d['eval_acc']:.3f} | {d['auc']:.4f} | {d['balanced_accuracy']:.3f} | "
              f"{thr(d)} | {d['epoch_s']:.0f} |")
    if epochs and "best_epoch" in epochs[-1]:
        print(f"\nKept by val: epoch {epochs[-1]['best_epoch']} "
              f"(value {epochs[-1]['best_value']:.4f}).")
    print()


# Fields of the log's recipe object that do not define the recipe: runs differing only in these
# are seeds of the same recipe.
NOT_DEFINING = ("seed", "threads", "prefetch")


def definition(recipe):
    return tuple(sorted((k, json.dumps(v)) for k, v in recipe.items() if k not in NOT_DEFINING))


def labels(recipes):
    """A label per run: the recipe name, plus the fields that differ among runs of that name."""
    out = []
    for r in recipes:
        same = [q for q in recipes if q.get("name") == r.get("name")]
        keys = sorted({k for q in same for k in q if k not in NOT_DEFINING
                       and any(p.get(k) != q.get(k) for p in same)})
        extra = ", ".join(f"{k} {r.get(k)}" for k in keys)
        out.append(f"`{r.get('name')}`" + (f" ({extra})" if extra else ""))
    return out


METRICS = ("accuracy", "roc_auc", "recall", "specificity", "balanced_accuracy")


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    rows, by_recipe = [], {}
    runs = [(os.path.basename(os.path.normpath(d)),) + run_info(d) for d in argv]
    for (name, recipe, epochs, evals), label in zip(runs, labels([r[1] for r in runs])):
        epoch_table(name, label, recipe, epochs)
        for split in ("val", "test"):
            if split in evals:
                rows.append((name, split, evals[split]))
        if "test" in evals:
            group = by_recipe.setdefault(definition(recipe), (label, []))
            group[1].append(evals["test"])

    print("| run | split | model epoch | accuracy | ROC AUC | sensitivity | specificity | "
          "balanced acc. | threshold |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, split, e in rows:
        print(f"| {name} | {split} | {e.get('epoch')} | {e['accuracy']:.4f} | "
              f"{e['roc_auc']:.4f} | {e['recall']:.4f} | {e['specificity']:.4f} | "
              f"{e['balanced_accuracy']:.4f} | {e['threshold']:.4f} |")
    print()

    for label, tests in by_recipe.values():
        if len(tests) < 2:
            continue
        print(f"Test over {len(tests)} seeds, recipe {label} (mean ± sample sd [min, max]):\n")
        for m in METRICS:
            v = [t[m] for t in tests]
            print(f"- {m}: {statistics.mean(v):.4f} ± {statistics.stdev(v):.4f} "
                  f"[{min(v):.4f}, {max(v):.4f}]")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
