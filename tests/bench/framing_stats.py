#!/usr/bin/env python3
"""framing_stats.py STORE.h5: does the body's box in the frame differ by class? (issue 15: a
look at train and val, never test, before building a body crop into cxr-pack.) For each image
of /train and /val of a store packed with --equalize none (plain gray, min-max to [-1,1]): an
Otsu threshold splits body from background; the body's box spans the columns and rows where
over 20% of the pixels are body. Prints, per statistic, the class medians and the ROC AUC of
the statistic alone for class 1 (mid-ranks for ties; 0.5: no separation): the box's area,
width and height as fractions of the side, the body's share of the image, the mean of a
25-pixel border, and the centre's mean (the middle 128 x 128) minus the border's. Needs h5py
and numpy, and HDF5_PLUGIN_PATH naming the folder of the zstd filter (build/plugins)."""
import sys

import h5py
import numpy as np


def auc(s, y):
    s = np.asarray(s, float)
    _, inv = np.unique(s, return_inverse=True)
    cnt = np.bincount(inv)
    r = (np.cumsum(cnt) - cnt + (cnt + 1) / 2)[inv]  # mid-ranks
    p = y.sum()
    n = len(y) - p
    return (r[y == 1].sum() - p * (p + 1) / 2) / (p * n)


def otsu(v, bins=64):
    h, e = np.histogram(v, bins)
    c = (e[:-1] + e[1:]) / 2
    w = h / h.sum()
    best, t = -1.0, c[0]
    for i in range(1, bins):
        w0, w1 = w[:i].sum(), w[i:].sum()
        if w0 == 0 or w1 == 0:
            continue
        m0 = (w[:i] * c[:i]).sum() / w0
        m1 = (w[i:] * c[i:]).sum() / w1
        b = w0 * w1 * (m0 - m1) ** 2
        if b > best:
            best, t = b, c[i]
    return t


def span(profile, side):
    idx = np.where(profile > 0.2)[0]
    return (idx[-1] - idx[0] + 1) / side if len(idx) else 0.0


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    f = h5py.File(sys.argv[1], "r")
    for split in ("train", "val"):
        images, y = f[split]["images"], np.asarray(f[split]["labels"])
        names = ("box area", "box width", "box height", "body share", "border mean",
                 "centre - border")
        st = {k: [] for k in names}
        for i in range(0, len(y), 256):
            block = np.asarray(images[i:i + 256])
            side = block.shape[-1]
            for im in block.reshape(-1, side, side):
                m = im > otsu(im.ravel())
                w, h = span(m.mean(0), side), span(m.mean(1), side)
                b = np.concatenate([im[:25].ravel(), im[-25:].ravel(), im[:, :25].ravel(),
                                    im[:, -25:].ravel()])
                q = side // 4
                for k, v in zip(names, (w * h, w, h, m.mean(), b.mean(),
                                        im[q:side - q, q:side - q].mean() - b.mean())):
                    st[k].append(v)
        print("%s: %d images (%d of class 1)" % (split, len(y), int(y.sum())))
        for k in names:
            v = np.array(st[k])
            print("  %-16s median class 0 %7.3f  class 1 %7.3f  AUC alone %.3f"
                  % (k, np.median(v[y == 0]), np.median(v[y == 1]), auc(v, y)))


if __name__ == "__main__":
    main()
