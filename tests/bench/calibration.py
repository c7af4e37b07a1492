#!/usr/bin/env python3
"""calibration.py PRED.tsv [PRED.tsv ...]: are a two-class model's probabilities calibrated?

Reads the TSV that `cxr-eval MODEL STORE --split S --predictions FILE` writes (columns path,
label, class, p_<class0>, p_<class1>, threshold) and prints, for p = p[class 1]:
- a reliability table: 10 equal-width bins of p, with the images in each, the mean p and the
  observed fraction of class 1 (a calibrated model has the two equal);
- the expected calibration error ECE = sum over bins of (n_bin / n) * |mean p - fraction|;
- the Brier score mean (p - y)^2 and the log loss;
- saturation: the share of images with p < 0.01 or p > 0.99, and the share of those that are
  wrong (a saturated wrong answer is what makes the loss large and the threshold meaningless)."""
import csv
import math
import sys


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    head, rows = rows[0], rows[1:]
    pcols = [i for i, h in enumerate(head) if h.startswith("p_")]
    if len(pcols) != 2:
        sys.exit("%s: want two p_ columns (a two-class model), found %d" % (path, len(pcols)))
    pos = head[pcols[1]][2:]
    li = head.index("label")
    return pos, [(float(r[pcols[1]]), 1 if r[li] == pos else 0) for r in rows]


def report(path):
    pos, data = load(path)
    n = len(data)
    print("%s: %d images, p = p_%s" % (path, n, pos))
    print("  %-11s %6s %8s %9s" % ("bin of p", "images", "mean p", "observed"))
    ece = 0.0
    for b in range(10):
        lo, hi = b / 10, (b + 1) / 10
        xs = [(p, y) for p, y in data if lo <= p < hi or (b == 9 and p == 1.0)]
        if not xs:
            print("  [%.1f, %.1f) %6d" % (lo, hi, 0))
            continue
        mp = sum(p for p, _ in xs) / len(xs)
        fy = sum(y for _, y in xs) / len(xs)
        ece += len(xs) / n * abs(mp - fy)
        print("  [%.1f, %.1f) %6d %8.3f %9.3f" % (lo, hi, len(xs), mp, fy))
    brier = sum((p - y) ** 2 for p, y in data) / n
    eps = 1e-7
    logloss = -sum(math.log(max(p, eps)) if y else math.log(max(1 - p, eps)) for p, y in data) / n
    sat = [(p, y) for p, y in data if p < 0.01 or p > 0.99]
    wrong = [1 for p, y in sat if (p > 0.5) != (y == 1)]
    print("  ECE %.4f  Brier %.4f  log loss %.4f" % (ece, brier, logloss))
    print("  saturated (p < 0.01 or > 0.99): %d of %d (%.1f%%), of which wrong: %d" %
          (len(sat), n, 100 * len(sat) / n, len(wrong)))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for a in sys.argv[1:]:
        report(a)
