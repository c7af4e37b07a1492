#!/usr/bin/env python3
"""peer_skimage.py: the chest X-ray study's own preprocessing as a Python peer for
bench_pack.sh: skimage imread, rgb2gray, resize to SIZE x SIZE with anti_aliasing,
equalize_hist, min-max to [-1,1], single process, written with h5py (float32, uncompressed).

usage: peer_skimage.py SRC_DIR OUT.h5 [SIZE]   (SRC_DIR/{train,test}/<class>/*.jpg)
Prints one line: "peer_skimage: N images in T s: R img/s, M MB/s".
"""
import os
import sys
import time

import h5py
import numpy as np
from skimage import exposure, io
from skimage.color import rgb2gray
from skimage.transform import resize

from peer_common import listing


def prep(path, size):
    img = io.imread(path)
    if img.ndim == 3:
        img = rgb2gray(img[..., :3])
    img = resize(img, (size, size), anti_aliasing=True)
    img = exposure.equalize_hist(img)
    lo, hi = img.min(), img.max()
    img = (img - lo) / (hi - lo) * 2 - 1 if hi > lo else np.zeros_like(img)
    return img.astype(np.float32)


def main():
    src, out = sys.argv[1], sys.argv[2]
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    items = listing(src)
    t0 = time.time()
    nbytes = 0
    with h5py.File(out, "w") as f:
        for split in ("train", "val", "test"):
            sel = [(p, l) for s, p, l in items if s == split]
            if not sel:
                continue
            ds = f.create_dataset(split + "/images", (len(sel), size, size), dtype="f4",
                                  chunks=(min(64, len(sel)), size, size))
            for i, (p, _) in enumerate(sel):
                ds[i] = prep(p, size)
                nbytes += os.path.getsize(p)
            f.create_dataset(split + "/labels", data=np.array([l for _, l in sel], dtype="i4"))
    dt = time.time() - t0
    print("peer_skimage: %d images in %.2f s: %.1f img/s, %.2f MB/s" %
          (len(items), dt, len(items) / dt, nbytes / 1e6 / dt))


if __name__ == "__main__":
    main()
