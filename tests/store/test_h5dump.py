#!/usr/bin/env python3
"""test_h5dump.py: h5dump must print the real image values of a cxr store when
HDF5_PLUGIN_PATH points at the zstd plugin (without it h5dump prints an empty DATA block and
still exits 0, so the values themselves are compared).
Usage: test_h5dump.py STORE_MAKE_SAMPLE OUT.cxr H5DUMP"""
import os
import re
import subprocess
import sys

SHARD, SIZE = 4, 6
SPLITS = {"train": (0, 10), "val": (1, 4)}


def value(k, i, y, x):
    return ((k * 131 + i * 7 + y * 3 + x) % 97) * 0.25 - 12.0


def main():
    maker, out, h5dump = sys.argv[1:4]
    if not h5dump or h5dump.endswith("NOTFOUND"):
        print("h5dump not found (install hdf5-tools)", file=sys.stderr)
        return 1
    if not os.environ.get("HDF5_PLUGIN_PATH"):
        print("HDF5_PLUGIN_PATH is not set", file=sys.stderr)
        return 1
    subprocess.run([maker, out], check=True)
    failures = 0
    for split, (k, n) in SPLITS.items():
        r = subprocess.run([h5dump, "-d", f"/{split}/images", out], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"h5dump exit {r.returncode}: {r.stderr}", file=sys.stderr)
            return 1
        m = re.search(r"DATA \{(.*?)\n\s*\}", r.stdout, re.S)
        if not m:
            print(f"no DATA block for /{split}/images:\n{r.stdout[:2000]}", file=sys.stderr)
            return 1
        body = re.sub(r"\(\d+,\d+,\d+\):", " ", m.group(1))
        got = [float(t) for t in re.findall(r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?", body)]
        want = [value(k, i, y, x) for i in range(n) for y in range(SIZE) for x in range(SIZE)]
        if len(got) != len(want):
            print(f"/{split}/images: h5dump printed {len(got)} values, expected {len(want)}",
                  file=sys.stderr)
            failures += 1
            continue
        bad = [j for j, (a, b) in enumerate(zip(got, want)) if a != b]
        if bad:
            j = bad[0]
            print(f"/{split}/images: {len(bad)} values differ, first at {j}: {got[j]} != {want[j]}",
                  file=sys.stderr)
            failures += 1
        else:
            print(f"/{split}/images: {len(got)} values from h5dump match")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
