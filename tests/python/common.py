"""common.py: shared setup of the Python-package tests. Arguments: STORE (packed from
data/sample with --shard 8 by the python.store fixture). Environment: PYTHONPATH holds
<repo>/python, CXR_LIBRARY the built libcxr, HDF5_PLUGIN_PATH the built plugin (for h5py).
Exit codes: 0 pass, 1 fail, 77 skip."""

import sys

SKIP = 77
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, file=sys.stderr)
    return cond


def damaged_copy(store, index, shard, path):
    """A copy of `store` at `path` with one byte flipped in the middle of train chunk `shard`
    (`index`: the store's /train/shard_index as read by h5py): its Fletcher32 fails."""
    import shutil

    shutil.copy(store, path)
    off, nbytes = (int(x) for x in index[shard])
    with open(path, "r+b") as g:
        g.seek(off + nbytes // 2)
        byte = g.read(1)
        g.seek(off + nbytes // 2)
        g.write(bytes([byte[0] ^ 0xFF]))
    return path


def need(module):
    try:
        return __import__(module)
    except ImportError as e:
        print(f"skipped: {module} is not installed ({e})")
        sys.exit(SKIP)


def finish(name):
    if failures:
        print(f"{name}: {failures} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print(f"{name}: ok")
    sys.exit(0)
