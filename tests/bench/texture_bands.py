#!/usr/bin/env python3
"""texture_bands.py STORE.h5 SPLIT... [--predictions=SPLIT=FILE.tsv]: how well simple image statistics alone separate the
classes of a cxr store's split (issue 15: looking for acquisition shortcuts from train and val,
never test). Per image: mean, standard deviation, and the energy of each band of a 2x2-box
pyramid (band 0: what 256 px hold and 128 px do not, ...), also after a Gaussian blur of sigma
1 and 2 px. Prints each statistic's class medians and the ROC AUC of the statistic alone for
class 1 (0.5: no separation; a blur that leaves a band's AUC unchanged shows that band's class
difference is not a pixel-scale artifact). --predictions (a cxr-eval --predictions TSV of that
split) adds, within each class, the Spearman correlation of band 2's energy with the model's
p of class 1: whether the model's answers follow the statistic. Needs h5py and numpy, and HDF5_PLUGIN_PATH naming
the folder of the zstd filter (build/plugins)."""
import csv
import sys

import h5py
import numpy as np


def auc(s, y):
    o = np.argsort(s, kind="stable")
    r = np.empty(len(s))
    r[o] = np.arange(1, len(s) + 1)
    p = y.sum()
    n = len(y) - p
    return (r[y == 1].sum() - p * (p + 1) / 2) / (p * n)


def gblur(x, s):
    if s == 0:
        return x
    r = int(np.ceil(3 * s))
    t = np.arange(-r, r + 1)
    k = np.exp(-t * t / (2 * s * s))
    k /= k.sum()
    p = np.pad(x, ((0, 0), (r, r), (0, 0)), mode="edge")
    x = sum(k[i] * p[:, i:i + x.shape[1], :] for i in range(2 * r + 1))
    p = np.pad(x, ((0, 0), (0, 0), (r, r)), mode="edge")
    return sum(k[i] * p[:, :, i:i + x.shape[2]] for i in range(2 * r + 1))


def ranks(v):
    o = np.argsort(v, kind="stable")
    r = np.empty(len(v))
    r[o] = np.arange(len(v))
    return r


def follow(f, split, energy, y, path):
    """Within each class, Spearman(energy, p of class 1) from a cxr-eval predictions TSV."""
    rows = list(csv.reader(open(path), delimiter="\t"))
    head, rows = rows[0], rows[1:]
    stored = [p.decode() if isinstance(p, bytes) else p for p in f[split + "/paths"][:]]
    if [r[0] for r in rows] != stored:
        sys.exit("%s: not the rows of split %s in order" % (path, split))
    p1 = np.array([float(r[4]) for r in rows])  # path, label, class, p_0, p_1
    for c in (0, 1):
        m = y == c
        rho = np.corrcoef(ranks(energy[m]), ranks(p1[m]))[0, 1]
        print("  within class %d (%d images): Spearman(band 2 energy, %s) %.3f"
              % (c, m.sum(), head[4], rho))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--predictions")]
    preds = dict(a.split("=", 1)[1].split("=", 1) for a in sys.argv[1:]
                 if a.startswith("--predictions="))
    f = h5py.File(args[0], "r")
    for split in args[1:]:
        images, y = f[split + "/images"], f[split + "/labels"][:]
        stats = {}
        for i0 in range(0, len(y), 200):
            x = images[i0:i0 + 200].astype(np.float32)
            stats.setdefault("mean", []).append(x.mean(axis=(1, 2)))
            stats.setdefault("std", []).append(x.std(axis=(1, 2)))
            for s in (0, 1, 2):
                cur = gblur(x, s)
                for band in range(4):
                    d = (cur[:, 0::2, 0::2] + cur[:, 1::2, 0::2] + cur[:, 0::2, 1::2]
                         + cur[:, 1::2, 1::2]) / 4
                    up = np.repeat(np.repeat(d, 2, 1), 2, 2)
                    key = "band %d energy, blur sigma %d" % (band, s)
                    stats.setdefault(key, []).append(((cur - up) ** 2).mean(axis=(1, 2)))
                    cur = d
        print("%s: %d images (%d of class 1)" % (split, len(y), int(y.sum())))
        for k, v in stats.items():
            v = np.concatenate(v)
            print("  %-30s median class 0 %9.5f  class 1 %9.5f  AUC alone %.3f"
                  % (k, np.median(v[y == 0]), np.median(v[y == 1]), auc(v, y)))
        if split in preds:
            follow(f, split, np.concatenate(stats["band 2 energy, blur sigma 0"]), y,
                   preds[split])


if __name__ == "__main__":
    main()
