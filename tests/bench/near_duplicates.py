#!/usr/bin/env python3
"""near_duplicates.py: look for near-duplicates across splits of a cxr store, which the exact
hashes of cxr-pack (file_hash, pixel_hash) cannot find: a re-encode at another quality, a
slightly different export of the same radiograph. Offline, for a report, not a test.

Each image becomes a 16x16 thumbnail (means of 16x16 blocks of the stored 256x256 image); for
every image of SPLIT (default test) the nearest image of the other splits and of its own split
(mean |diff| of the thumbnails, on the store's [-1, 1] scale) is printed, smallest first, with
quantiles. With --calibrate DIR: DIR is a store of originals (train) and their re-encodes
(test, named q<Q>_<original name>) packed by cxr-pack, and the distances of each re-encode to its
original are printed, i.e. the scale at which a re-encode sits.

usage: HDF5_PLUGIN_PATH=build/plugins python3 tests/bench/near_duplicates.py STORE [SPLIT] [N]
       ... near_duplicates.py --calibrate STORE
"""
import os
import sys

import h5py
import numpy as np


def thumbs(ds):
    n, out = ds.shape[0], np.empty((ds.shape[0], 256), np.float32)
    for a in range(0, n, 64):
        x = ds[a:a + 64]
        out[a:a + len(x)] = x.reshape(len(x), 16, 16, 16, 16).mean(axis=(2, 4)).reshape(len(x), 256)
    return out


def nearest(a, b, exclude_self=False):
    best, arg = np.full(len(a), np.inf), np.zeros(len(a), int)
    for i in range(0, len(b), 256):
        d = np.abs(a[:, None, :] - b[None, i:i + 256, :]).mean(axis=2)
        if exclude_self:
            for k in range(d.shape[1]):
                if i + k < len(a):
                    d[i + k, k] = np.inf
        m = d.min(axis=1)
        w = m < best
        best[w], arg[w] = m[w], d.argmin(axis=1)[w] + i
    return best, arg


def main():
    if sys.argv[1] == "--calibrate":
        f = h5py.File(sys.argv[2], "r")
        tr, te = thumbs(f["train/images"]), thumbs(f["test/images"])
        rp = [p.decode().split("/")[-1] for p in f["train/paths"][...]]
        tp = [p.decode().split("/")[-1] for p in f["test/paths"][...]]
        by_q = {}
        for i, p in enumerate(tp):
            q, orig = p.split("_", 1)
            by_q.setdefault(q, []).append((float(np.abs(te[i] - tr[rp.index(orig)]).mean()), p))
        for q, v in sorted(by_q.items()):
            d = sorted(x for x, _ in v)
            print("%s: %d re-encodes, distance to the original: median %.4f, max %.4f (%s)"
                  % (q, len(d), d[len(d) // 2], d[-1], max(v)[1]))
        return
    store, split = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "test"
    show = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    f = h5py.File(store, "r", rdcc_nbytes=64 << 20)
    names = [s for s in ("train", "val", "test") if s in f]
    th = {s: thumbs(f[s]["images"]) for s in names}
    paths = {s: [p.decode() for p in f[s]["paths"][...]] for s in names}
    others = [s for s in names if s != split]
    ob = np.concatenate([th[s] for s in others])
    op = sum((paths[s] for s in others), [])
    for what, (d, a, p) in (("other splits (%s)" % "+".join(others), nearest(th[split], ob) + (op,)),
                            ("%s itself" % split, nearest(th[split], th[split], True) + (paths[split],))):
        o = np.argsort(d, kind="stable")
        q = np.quantile(d, [0, 0.01, 0.05, 0.5])
        print("%s -> nearest in %s: min %.4f, 1%% %.4f, 5%% %.4f, median %.4f; smallest:"
              % (split, what, *q))
        for k in o[:show]:
            print("  %.4f  %s  ~  %s" % (d[k], paths[split][k], p[a[k]]))


if __name__ == "__main__":
    main()
