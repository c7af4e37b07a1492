#!/usr/bin/env python3
"""test_h5py.py: a cxr store read with h5py (filters through HDF5_PLUGIN_PATH) holds the
images, labels, paths, classes, weights, attributes and shard index the C writer put there.
Exit 77 (skipped) only when h5py cannot be imported or cannot read raw chunks (h5py < 2.10).
Usage: test_h5py.py STORE_MAKE_SAMPLE OUT.cxr"""
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    print(f"skipped: {e}", file=sys.stderr)
    sys.exit(77)

if not hasattr(h5py.h5d.DatasetID, "read_direct_chunk"):  # h5py < 2.10
    print(f"skipped: h5py {h5py.__version__} cannot read raw chunks", file=sys.stderr)
    sys.exit(77)
HAVE_CHUNK_INFO = hasattr(h5py.h5d.DatasetID, "get_chunk_info_by_coord")

SHARD, SIZE, C = 4, 6, 3
SPLITS = {"train": (0, 10), "val": (1, 4)}


def s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    maker, out = sys.argv[1:3]
    subprocess.run([maker, out], check=True)
    fails = []

    def check(cond, what):
        if not cond:
            fails.append(what)

    with h5py.File(out, "r") as f:
        a = f.attrs
        check(s(a["format"]) == "cxr-store", "format attribute")
        check(int(a["format_version"]) == 2, "format_version")
        check(int(a["image_size"]) == SIZE, "image_size")
        check(int(a["shard_size"]) == SHARD, "shard_size")
        check(s(a["normalize"]) in ("minmax", "zscore255", "none"), "normalize")
        check(s(a["command_line"]) == "test_store --synthetic", "command_line attribute")
        check(s(a["source"]) == "/synthetic/root", "source attribute")
        names = [s(x) for x in f["class_names"][()]]
        check(names == [f"class{c:02d}" for c in range(C)], f"class_names {names}")
        ntr = SPLITS["train"][1]
        tr_labels = [(i * 5 + 0) % C for i in range(ntr)]
        counts = np.bincount(tr_labels, minlength=C)
        w = f["class_weights"][()]
        check(w.dtype == np.float32, "class_weights dtype")
        want_w = np.where(counts > 0, ntr / (C * np.maximum(counts, 1)), 0).astype(np.float32)
        check(np.allclose(w, want_w, rtol=1e-6, atol=0), f"class_weights {w} vs {want_w}")
        for split, (k, n) in SPLITS.items():
            g = f[split]
            img = g["images"]
            check(img.shape == (n, SIZE, SIZE) and img.dtype == np.float32, f"{split} images shape")
            check(img.chunks == (SHARD, SIZE, SIZE), f"{split} chunks")
            i, y, x = np.meshgrid(np.arange(n), np.arange(SIZE), np.arange(SIZE), indexing="ij")
            want = (((k * 131 + i * 7 + y * 3 + x) % 97) * 0.25 - 12.0).astype(np.float32)
            got = img[()]
            check(np.array_equal(got, want), f"/{split}/images values "
                  f"({int((got != want).sum())} differ)")
            labels = g["labels"][()]
            check(labels.dtype == np.int32 and list(labels) == [(j * 5 + k) % C for j in range(n)],
                  f"{split} labels")
            paths = [s(p) for p in g["paths"][()]]
            check(paths == [f"{split}/c{labels[j]}/img{j:05d}.jpeg" for j in range(n)],
                  f"{split} paths")
            check(list(g["class_counts"][()]) == list(np.bincount(labels, minlength=C)),
                  f"{split} class_counts")
            ix = g["shard_index"][()]
            nsh = (n + SHARD - 1) // SHARD
            check(ix.shape == (nsh, 2) and ix.dtype == np.uint64, f"{split} shard_index shape")
            # each shard_index entry (offset, size) holds exactly the bytes of its chunk as
            # HDF5 stores them (h5py's raw chunk read); with HDF5 >= 1.10.5 also its chunk info
            dsid = img.id
            with open(out, "rb") as raw:
                for c in range(nsh):
                    _, chunk = dsid.read_direct_chunk((c * SHARD, 0, 0))
                    raw.seek(int(ix[c, 0]))
                    check(int(ix[c, 1]) == len(chunk) and raw.read(int(ix[c, 1])) == chunk,
                          f"{split} shard_index[{c}] vs the chunk's bytes")
                    if HAVE_CHUNK_INFO:
                        info = dsid.get_chunk_info_by_coord((c * SHARD, 0, 0))
                        check(int(ix[c, 0]) == info.byte_offset and int(ix[c, 1]) == info.size,
                              f"{split} shard_index[{c}] vs h5py chunk info")
            check(all(int(o) % 4096 == 0 for o in ix[:, 0]), f"{split} alignment")
        sk = f["skipped"]
        check([s(x) for x in sk["path"][()]] == ["train/c0/broken.jpeg"], "skipped/path")
        check([s(x) for x in sk["reason"][()]] == ["not a JPEG"], "skipped/reason")
        check([s(x) for x in sk["split"][()]] == ["train"], "skipped/split")
    for m in fails:
        print("FAIL:", m, file=sys.stderr)
    if not fails:
        print("h5py read of the store matches")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
