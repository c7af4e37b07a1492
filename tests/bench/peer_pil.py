#!/usr/bin/env python3
"""peer_pil.py: a tuned Python peer for bench_pack.sh: PIL decode with Image.draft('L',
(SIZE,SIZE)) (libjpeg DCT scaling straight to gray), antialiased resize (Image.BILINEAR with
reduction), numpy histogram equalization, min-max to [-1,1], a multiprocessing Pool of 2
workers, written with h5py (float32, uncompressed).

usage: peer_pil.py SRC_DIR OUT.h5 [SIZE] [WORKERS]
Prints one line: "peer_pil: N images in T s: R img/s, M MB/s".
"""
import os
import sys
import time
from multiprocessing import Pool

import h5py
import numpy as np
from PIL import Image

from peer_common import listing

SIZE = 256


def prep(path):
    im = Image.open(path)
    im.draft("L", (SIZE, SIZE))
    im = im.convert("L").resize((SIZE, SIZE), Image.BILINEAR, reducing_gap=2.0)
    a = np.asarray(im, dtype=np.uint8)
    hist = np.bincount(a.ravel(), minlength=256)
    cdf = np.cumsum(hist).astype(np.float64)
    cdf /= cdf[-1]
    e = cdf[a]
    lo, hi = e.min(), e.max()
    e = (e - lo) / (hi - lo) * 2 - 1 if hi > lo else np.zeros_like(e)
    return e.astype(np.float32), os.path.getsize(path)


def main():
    global SIZE
    src, out = sys.argv[1], sys.argv[2]
    SIZE = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    items = listing(src)
    t0 = time.time()
    nbytes = 0
    with Pool(workers) as pool, h5py.File(out, "w") as f:
        for split in ("train", "val", "test"):
            sel = [(p, l) for s, p, l in items if s == split]
            if not sel:
                continue
            ds = f.create_dataset(split + "/images", (len(sel), SIZE, SIZE), dtype="f4",
                                  chunks=(min(64, len(sel)), SIZE, SIZE))
            for i, (img, nb) in enumerate(pool.imap(prep, [p for p, _ in sel], chunksize=16)):
                ds[i] = img
                nbytes += nb
            f.create_dataset(split + "/labels", data=np.array([l for _, l in sel], dtype="i4"))
    dt = time.time() - t0
    print("peer_pil: %d images in %.2f s: %.1f img/s, %.2f MB/s" %
          (len(items), dt, len(items) / dt, nbytes / 1e6 / dt))


if __name__ == "__main__":
    main()
