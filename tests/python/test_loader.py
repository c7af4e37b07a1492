"""test_loader.py STORE: the cxr Python package against h5py on the same store. Batches equal
h5py's rows (images and labels, shuffled and sequential, prefetch on and off), orders follow
(seed, epoch), parts are disjoint and cover the split, arrays are zero-copy read-only views
(copy=True ones survive later batches), augmentation is cxr_augment_image of h5py's image,
errors are CxrError with the library's message; misuse (a split that is not a string, integers
ctypes would wrap, an abandoned epoch's iterator, a second thread, a close() racing a call or
ending an epoch, a loader used after a fork) raises instead of crashing, hanging or answering
wrongly; a fork during an HDF5 read does not hang the child; paths may be str, bytes or
PathLike."""

import os
import pathlib
import pickle
import shutil
import sys
import tempfile
import threading
import time

from common import check, damaged_copy, finish, need

np = need("numpy")
h5py = need("h5py")
import cxr  # noqa: E402

store = sys.argv[1]
f = h5py.File(store, "r")  # held open while cxr opens the same file (same close degree)
train = f["train/images"][:]  # h5py through the HDF5 plugin: (n, S, S)
train_labels = f["train/labels"][:]
n, size = train.shape[0], train.shape[1]
shard = f["train/images"].chunks[0]
n_shards = (n + shard - 1) // shard
check(n_shards >= 4, f"the store needs several shards (has {n_shards})")

# metadata
s = cxr.Store(store)
check(s.classes == [c.decode() for c in f["class_names"][:]], "class names")
check(s.split_info("train") == {"n": n, "n_shards": n_shards, "shard": shard, "size": size},
      "split_info")
check(np.array_equal(s.labels("train"), train_labels), "labels")
check(s.image_path("train", 3) == f["train/paths"][3].decode(), "image_path")
check(np.array_equal(s.read_image("train", 5), train[5]), "read_image == h5py")
check(s.splits() == [x for x in ("train", "val", "test") if x in f], "splits")
check(cxr.version.count(".") == 2, "version")


def run(loader, epoch, copy=False):
    """Indices of one epoch, checking every batch against h5py while it is current."""
    out, steps = [], 0
    for b in loader.epoch(epoch, copy=copy):
        check(b.step == steps, "step numbers")
        check(b.images.dtype == np.float32 and b.images.shape == (len(b), 1, size, size),
              "image batch shape")
        check(np.array_equal(b.images[:, 0], train[b.indices]), f"epoch {epoch} batch {steps} "
              "images == h5py")
        check(np.array_equal(b.labels, train_labels[b.indices]), "labels == h5py")
        out.extend(b.indices.tolist())
        steps += 1
    check(steps == loader.n_batches, "batch count")
    return out


for prefetch in (True, False):
    with cxr.Loader(s, "train", batch=5, shuffle=True, seed=3, window=2,
                    prefetch=prefetch) as ld:
        e0, e1, e0b = run(ld, 0), run(ld, 1), run(ld, 0)
        check(sorted(e0) == list(range(n)), "each image once per epoch")
        check(e0 == e0b, "same (seed, epoch): same order")
        check(e0 != e1, "another epoch: another order")
        check(e0 != sorted(e0), "shuffled")
        check(ld.epoch_order(1).tolist() == e1, "epoch_order == delivered order")
    with cxr.Loader(store, "train", batch=5, shuffle=True, seed=3, window=2) as other:
        check(other.epoch_order(0).tolist() == e0, "a new loader, same seed: same order")
    with cxr.Loader(store, "train", batch=5, shuffle=True, seed=4, window=2) as other:
        check(other.epoch_order(0).tolist() != e0, "another seed: another order")
    # "split": the whole split in one window, the order of a window of every shard
    with cxr.Loader(store, "train", batch=5, shuffle=True, seed=3, window="split") as sp, \
            cxr.Loader(store, "train", batch=5, shuffle=True, seed=3, window=10**6) as big:
        check(sp.epoch_order(0).tolist() == big.epoch_order(0).tolist(), "split == all shards")
        check(sp.epoch_order(0).tolist() != e0, "split != a window of 2")
    # "auto" is 0, as cxr-train's --shuffle-window auto (it was refused, a user's walk)
    with cxr.Loader(store, "train", batch=5, shuffle=True, seed=3, window="auto") as au, \
            cxr.Loader(store, "train", batch=5, shuffle=True, seed=3) as de:
        check(au.window == de.window and au.epoch_order(0).tolist() == de.epoch_order(0).tolist(),
              "window='auto' is the default window")
    # another word is refused naming "split" (it said "expected an integer", a scale walk)
    for w in ("whole", "Split", b"split"):
        try:
            cxr.Loader(store, "train", shuffle=True, window=w)
            check(False, f"window={w!r} refused")
        except TypeError as e:
            check(repr(w) in str(e) and '"split"' in str(e), f"window={w!r}: {e}")
    with cxr.Loader(store, "train", batch=7, prefetch=prefetch) as seq:
        check(run(seq, 2) == list(range(n)), "sequential without shuffle")
        # without shuffle the default window is as few shards as keep 2 decode threads busy
        check(seq.window == 1, f"unshuffled window: {seq.window} shards")
    with cxr.Loader(store, "train", batch=7, shuffle=True, prefetch=prefetch) as sh:
        check(sh.window == min(4, max(1, 256 // shard)), f"shuffled window: {sh.window} shards")

# augmentation: the C loader's workers transform each image as cxr_augment_image(spec, seed,
# epoch, index) of h5py's image; deterministic, epoch-dependent, off by default
spec = "rotate=10,scale=0.9:1.1,translate=0.08,brightness=0.1,contrast=0.1"
check(cxr.augment_spec(cxr.augment_params("default")) == spec + ",hflip=0", "default spec")
check(cxr.augment_spec(cxr.augment_params(spec)) == spec + ",hflip=0", "spec round trip")
# the longest canonical spec (every key, exponent forms) comes back whole: a 256-byte buffer cut
# it after CXR_AUGMENT_SPEC_MAX became 320, sometimes into another valid spec
long_spec = ("rotate=1.2345678e-37,scale=0.51234567:1.9234567,translate=1.2345678e-37,"
             "brightness=1.2345678e-37,contrast=1.2345678e-37,hflip=1,aspect=0.51234567:1.9234567,"
             "detail=0.25123457:3.9234567,border=1.2345678e-37:0.32345679,"
             "erase=1.2345678e-37:0.32345679,erase_p=0.98765433")
lp = cxr.augment_params(long_spec)
ls = cxr.augment_spec(lp)
check(len(ls) > 256 and bytes(cxr.augment_params(ls)) == bytes(lp),
      f"the longest spec round-trips ({len(ls)} bytes): {ls}")
# refused as cxr-train refuses them: a number below the least normal float (the loader's threads
# flush it to 0, augment_image in this thread did not), a probability without an erase range
for bad, want_text in (("rotate=1e-39", "below the least normal float"),
                       ("default,erase=1e-39:0.1", "below the least normal float"),
                       ("erase_p=0.5", "erase_p without erase")):
    for call in (lambda b: cxr.augment_params(b),
                 lambda b: cxr.augment_image(np.zeros((8, 8), np.float32), b, 1, 0, 0)):
        try:
            call(bad)
            check(False, f"augment {bad!r} raises")
        except cxr.CxrError as e:
            check(e.status == "argument" and want_text in str(e), f"augment {bad!r}: {e}")
# a CxrError crosses a process boundary as itself (pickle: multiprocessing, DataLoader workers)
try:
    cxr.Store("/nonexistent/cxr-test.h5")
except cxr.CxrError as e:
    e2 = pickle.loads(pickle.dumps(e))
    check(type(e2) is cxr.CxrError and e2.code == e.code and e2.status == e.status
          and str(e2) == str(e), f"CxrError after pickling: {e2!r}")
    # ... and rebuilt from its text alone, as torch's DataLoader re-raises a worker's error
    e3 = cxr.CxrError(f"Caught CxrError in DataLoader worker process 1.\nOriginal {e}\n")
    check(type(e3) is cxr.CxrError and e3.status == e.status == "io" and str(e) in str(e3),
          f"CxrError from its text: {e3.status} {e3!r}")
    e4 = pickle.loads(pickle.dumps(cxr.CxrError(str(e))))  # a text that ends with its status
    check(str(e4) == str(e) and e4.message == e.message and e4.status == "io",
          f"CxrError from its text, pickled: {e4!r} / {e.message!r}")
# every status survives the rebuild from text ("hdf5" has a digit, "no device" a space)
for code in cxr._STATUS.values():
    e5 = cxr.CxrError(code, "s.h5: a failure")
    e6 = cxr.CxrError(f"Caught CxrError in DataLoader worker process 0.\nOriginal {e5}\n")
    check(e6.code == code and e6.status == e5.status,
          f"status {e5.status!r} rebuilt from text as {e6.status!r}")
# a message names the store once (the loader prefixed "STORE: split 'x'" to a text that named
# the store already: "S.h5: split 'foo': S.h5: no split 'foo'")
try:
    cxr.Loader(store, "foo")
    check(False, "a split the store lacks raises")
except cxr.CxrError as e:
    check(str(e).count(store) == 1 and "no split 'foo'" in str(e), f"the store named once: {e}")
aug = {}
for prefetch in (True, False):
    with cxr.Loader(s, "train", batch=5, shuffle=True, seed=3, window=2, augment=spec,
                    prefetch=prefetch) as ld:
        for e in (0, 1):
            for b in ld.epoch(e, copy=True):
                for k, i in enumerate(b.indices.tolist()):
                    want = cxr.augment_image(train[i], spec, 3, e, i)
                    check(np.array_equal(b.images[k, 0], want),
                          f"augmented image {i} of epoch {e} == augment_image (prefetch {prefetch})")
                    check(aug.setdefault((e, i), b.images[k, 0]).tobytes() ==
                          b.images[k, 0].tobytes(), "the same bits with prefetch on and off")
changed = sum(not np.array_equal(aug[(0, i)], train[i]) for i in range(n))
check(changed == n, f"augmentation changes every image ({changed} of {n})")
check(sum(not np.array_equal(aug[(0, i)], aug[(1, i)]) for i in range(n)) == n,
      "another epoch: another transform")
with cxr.Loader(s, "train", batch=5, augment="none") as ld:
    check(all(np.array_equal(b.images[:, 0], train[b.indices]) for b in ld.epoch(0)),
          "augment='none' leaves the images alone")
try:
    cxr.Loader(s, "train", augment="rotate=90")
    check(False, "an out-of-range augmentation raises")
except cxr.CxrError as e:
    check(e.status == "argument" and "rotate" in str(e), f"bad augmentation message: {e}")

# mixup: the plain loader's batches mixed in pairs (i, n-1-i) by the documented formula, in
# float32 as the C loader computes it, to the bit; labels2 the partners' labels; none without
# shuffle or out of range
with cxr.Loader(s, "train", batch=5, shuffle=True, seed=4, window=2) as plain, \
        cxr.Loader(s, "train", batch=5, shuffle=True, seed=4, window=2, mixup=0.4) as mixed:
    mixed_batches = 0
    for p, m in zip(plain.epoch(1, copy=True), mixed.epoch(1, copy=True)):
        check(p.mix is None and p.labels2 is None, "no mixup: no labels2 or mix")
        k = len(m)
        partner = np.arange(k)[::-1]
        check(np.array_equal(m.labels, p.labels) and np.array_equal(m.labels2, p.labels[partner]),
              "mixup: labels unchanged, labels2 the partners'")
        check(m.mix.dtype == np.float32 and bool(np.all((m.mix >= 0) & (m.mix <= 1))),
              f"mixup weights in [0,1]: {m.mix}")
        xi, xj = p.images, p.images[partner]
        want = xj + m.mix[:, None, None, None] * (xi - xj)
        if k % 2:
            want[k // 2] = xi[k // 2]  # its own partner
        check(want.dtype == np.float32 and want.tobytes() == m.images.tobytes(),
              f"mixup batch {m.step}: x_j + mix_i (x_i - x_j) to the bit")
        mixed_batches += 1
    check(mixed_batches == plain.n_batches, "mixup: as many batches")
try:  # positive, but 0 once a float32: mixup would be silently off
    cxr.Loader(s, "train", shuffle=True, mixup=1e-46)
    check(False, "mixup=1e-46 raises")
except ValueError as e:
    check("mixup 1e-46" in str(e), f"tiny mixup message: {e}")
try:  # above 4, though 4 once a float32
    cxr.Loader(s, "train", shuffle=True, mixup=4.0000001)
    check(False, "mixup=4.0000001 raises")
except ValueError as e:
    check("mixup 4.0000001: above 4" in str(e), f"mixup just above 4: {e}")
# ... below the least normal float (the threads flush it: labels2 and mix were left unwritten)
for bad, kw in ((0.4, {}), (4.5, {"shuffle": True}), (float("nan"), {"shuffle": True}),
                (1e-40, {"shuffle": True})):
    try:
        cxr.Loader(s, "train", mixup=bad, **kw)
        check(False, f"mixup={bad} {kw} raises")
    except cxr.CxrError as e:
        check(e.status == "argument" and "mixup" in str(e), f"bad mixup message: {e}")
        # the reason given is the one that holds: shuffle off, or the value's range
        check(("needs shuffle on" in str(e)) == (not kw), f"mixup={bad} {kw}: the reason: {e}")

# parts: disjoint and covering, for images and shards
for parts in (1, 2, 3, n_shards, n_shards + 1):
    seen, shards = [], []
    for part in range(parts):
        with cxr.Loader(store, "train", batch=4, shuffle=True, seed=9, part=part,
                        parts=parts) as ld:
            idx = run(ld, 5)
            sh = ld.epoch_shards(5).tolist()
            check(all(k % parts == part for k in sh), f"part {part}/{parts}: its own shards")
            check(sorted({i // shard for i in idx}) == sorted(sh), "images of its shards")
            check(ld.n_images == len(idx), "n_images")
            seen += idx
            shards += sh
    check(sorted(seen) == list(range(n)), f"{parts} parts cover the split exactly once")
    check(sorted(shards) == list(range(n_shards)), f"{parts} parts: shards disjoint, covering")

# a ring deeper than an epoch's batches is as deep as they are: the same batches, no refusal
with cxr.Loader(store, "train", batch=4, depth=2) as ld:
    want = [b.indices.copy() for b in ld.epoch(0)]
with cxr.Loader(store, "train", batch=4, depth=2**31 - 1) as ld:
    got = [b.indices.copy() for b in ld.epoch(0)]
check(len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want)),
      "depth 2^31-1: the batches of depth 2")

# zero-copy views: read-only, overwritten later; copies survive
with cxr.Loader(store, "train", batch=4, depth=2) as ld:
    views, copies = [], []
    for b in ld.epoch(0):
        check(not b.images.flags.writeable, "views are read-only")
        check(not b.images.flags.owndata, "views do not own their data")
        views.append(b.images)
        copies.append(b.images.copy())
    stale = sum(not np.array_equal(v, c) for v, c in zip(views, copies))
    check(stale > 0, "views alias the loader's ring buffer (some were overwritten)")
    kept = [b.images for b in ld.epoch(0, copy=True)]
    check(all(np.array_equal(k[:, 0], train[4 * i:4 * i + len(k)]) for i, k in enumerate(kept)),
          "copy=True batches survive later batches")
    # a Batch kept past the next batch refuses its arrays (list(epoch) handed out overwritten
    # data, silently); copy=True ones do not; the current one does
    held = list(ld.epoch(0))
    for name in ("images", "labels", "indices", "mix"):
        try:
            getattr(held[0], name)
            check(False, f"a stale batch's {name} raises")
        except RuntimeError as e:
            check("batch 0 is stale" in str(e) and "copy=True" in str(e), f"stale message: {e}")
    check(len(held[0]) == 4, "a stale batch's len() stays")
    try:
        held[-1].images  # the epoch's end asked the C loader once more: its buffer is not ours
        check(False, "the last batch of an ended epoch is stale")
    except RuntimeError:
        pass
    it = ld.epoch(1)
    first = next(it)
    check(np.array_equal(first.images[:, 0], train[first.indices]), "the current batch reads")
    images, labels = first  # unpacks while current
    import copy as copymod
    dup = copymod.copy(first)  # copies of its arrays: no view that later batches overwrite
    back = pickle.loads(pickle.dumps(first))  # pickled as its arrays, without the loader
    check(np.array_equal(back.images, first.images) and np.array_equal(back.indices, first.indices)
          and back.step == first.step and back.mix is None, "a current batch pickles")
    next(it)
    try:
        pickle.dumps(first)
        check(False, "a stale batch does not pickle")
    except RuntimeError:
        pass
    check(np.array_equal(back.images[:, 0], train[back.indices]), "an unpickled batch keeps its data")
    next(it)
    next(it)
    check(np.array_equal(dup.images[:, 0], train[dup.indices]), "a copy.copy of a batch keeps its data")
    try:
        first.labels
        check(False, "the batch before the current one is stale")
    except RuntimeError:
        pass
    del it
    held = list(ld.epoch(0, copy=True))
    check(all(np.array_equal(h.images[:, 0], train[h.indices]) for h in held),
          "copy=True batches kept in a list read")
    cur = next(iter(ld.epoch(2)))
# ... and the current batch stays readable once its loader is closed (its arrays keep it)
check(np.array_equal(cur.images[:, 0], train[cur.indices]), "the current batch reads after close()")
v = views[0]
del ld, b
check(v.shape == (4, 1, size, size) and np.isfinite(v).all(), "a view outlives its loader")

# errors
try:
    cxr.Loader(store, "nope")
    check(False, "a missing split raises")
except cxr.CxrError as e:
    check(e.status == "format" and "nope" in str(e), f"missing split message: {e}")
try:
    cxr.Store(store + ".missing")
    check(False, "a missing file raises")
except cxr.CxrError as e:
    check(store + ".missing" in str(e), f"missing file message: {e}")
try:
    cxr.Loader(store, "train", part=2, parts=2)
    check(False, "a bad part raises")
except cxr.CxrError as e:
    check(e.status == "argument" and store in str(e), f"bad part: status and file: {e}")
with cxr.Store(store) as st:
    try:
        st.image_path("nope", 0)
        check(False, "image_path of a missing split raises")
    except cxr.CxrError as e:
        check("nope" in str(e) and store in str(e), f"image_path missing split message: {e}")
    n_train = len(st.labels("train"))
    try:
        st.image_path("train", n_train)  # one past the last
        check(False, "image_path past the split's end raises IndexError")
    except IndexError as e:
        check(f"has no image {n_train}" in str(e), f"image_path past the end: {e}")
# a library that is not libcxr (or an older one lacking a function): a clear OSError at import,
# not an AttributeError from the first prototype bound
import ctypes.util  # noqa: E402
import subprocess  # noqa: E402
libz = ctypes.util.find_library("z")
if libz:
    r = subprocess.run([sys.executable, "-c", "import cxr"], capture_output=True, text=True,
                       env=dict(os.environ, CXR_LIBRARY=libz))
    check(r.returncode != 0 and "OSError: cannot load libcxr" in r.stderr and "not libcxr" in r.stderr,
          f"a library that is not libcxr: {r.stderr[-300:]}")
# a NUL inside a path or a split name is refused, not cut short there (C would open "s.h5")
for call in (lambda: cxr.Store(store + "\0x"), lambda: cxr.Store(store).has_split("train\0x")):
    try:
        call()
        check(False, "an embedded NUL raises")
    except ValueError as e:
        check("null byte" in str(e), f"embedded NUL message: {e}")
# paths as bytes and os.PathLike, as open() takes them
for p in (os.fsencode(store), pathlib.Path(store)):
    with cxr.Store(p) as st:
        check(st.path == store and st.classes == list(cxr.Store(store).classes),
              f"Store({type(p).__name__}) opens the store")

# misuse raises instead of crashing the interpreter or wrapping silently
for args, kw, exc in (((store, None), {}, TypeError),            # a NULL split crashed in C
                      ((store, "train"), {"batch": 2**32 + 1}, ValueError),  # wrapped to 1
                      ((store, "train"), {"batch": True}, TypeError),  # a bool is no count
                      ((store, "train"), {"seed": -1}, ValueError),
                      ((store, "train"), {"parts": 0}, ValueError)):  # not C's CxrError
    try:
        cxr.Loader(*args, **kw)
        check(False, f"Loader{args} {kw} raises {exc.__name__}")
    except exc:
        pass
    except Exception as e:  # noqa: BLE001 -- the wrong kind is a failed check, not a crash
        check(False, f"Loader{args} {kw} raises {type(e).__name__}, not {exc.__name__}: {e}")
with cxr.Store(store) as st:
    # numpy's uint64 just past 2**63-1 compared as float64 "fits" (and ctypes wrapped it negative)
    for i, exc in ((2**63, ValueError), (-1, ValueError), ("0", TypeError),
                   (np.uint64(2**63), ValueError), (np.uint64(2**63) + np.uint64(500), ValueError)):
        try:
            st.read_image("train", i)
            check(False, f"read_image({i!r}) raises {exc.__name__}")
        except exc:
            pass
        except Exception as e:  # noqa: BLE001 -- C's CxrError: the range check was passed
            check(False, f"read_image({i!r}) raises {type(e).__name__}, not {exc.__name__}: {e}")
try:
    cxr.augment_image(np.ones((8, 8), np.float32), "default", 1, 0, np.uint64(2**63))
    check(False, "augment_image with index np.uint64(2**63) raises ValueError")
except ValueError:
    pass
# augment_image takes an (S, S) image: a (4, 8) one would be read as 4x4 or 8x8 in C
for shape in ((4, 8), (16,), (2, 4, 4)):
    try:
        cxr.augment_image(np.zeros(shape, np.float32), "default", 1, 0, 0)
        check(False, f"augment_image of shape {shape} raises ValueError")
    except ValueError as e:
        check("want an (S, S) image" in str(e), f"augment_image {shape}: {e}")
# a CxrError's status is the last bracketed word (a path may hold brackets of its own)
check(cxr.CxrError("/data/[io] runs/s.h5: shard 3 [checksum]").status == "checksum",
      "CxrError.status is the message's last [status]")
with cxr.Loader(store, "train", batch=4) as ld:
    try:
        ld.epoch_order(2**40)  # ctypes made it epoch 0
        check(False, "epoch_order(2**40) raises")
    except ValueError:
        pass
    # an abandoned epoch's iterator raises, not deliver the new epoch's batches
    it1 = ld.epoch(0)
    next(it1)
    it2 = ld.epoch(1)
    got2 = sum(len(b) for b in it2)
    check(got2 == n, f"the new epoch delivers all its images ({got2})")
    try:
        next(it1)
        check(False, "the abandoned iterator raises")
    except RuntimeError as e:
        check("abandoned" in str(e), f"abandoned iterator message: {e}")
    # an iterator made earlier and first started later raises, and leaves the current epoch
    # as it was (it restarted the C loader at epoch 0 under epoch 1's iterator)
    want = [b.indices.copy() for b in ld.epoch(1)]
    old = ld.epoch(0)
    it = ld.epoch(1)
    first = next(it).indices.copy()
    try:
        next(old)
        check(False, "an iterator of an abandoned epoch raises when first started")
    except RuntimeError:
        pass
    rest = [b.indices.copy() for b in it]
    got = [first] + rest
    check(len(want) >= 2 and len(got) == len(want) and
          all((a == b).all() for a, b in zip(got, want)),
          "the current epoch is undisturbed by a stale iterator")
    # one thread iterates a loader: another thread is refused, not left waiting forever
    err = []

    def other():
        try:
            next(ld.epoch(2))
        except RuntimeError as e:
            err.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join(10)
    check(not t.is_alive() and err and isinstance(err[0], RuntimeError),
          f"a second thread iterating the loader is refused: {err}")
    # ... also when it advances an iterator the owner made (it would race the owner's epoch())
    it, err = ld.epoch(3), []

    def advance():
        try:
            next(it)
        except RuntimeError as e:
            err.append(e)

    t = threading.Thread(target=advance)
    t.start()
    t.join(10)
    check(not t.is_alive() and err and "another thread" in str(err[0]),
          f"another thread advancing the owner's iterator is refused: {err}")
# a loader used by one thread after another (each ended before the next began): each may
# iterate, whatever ident the OS gives it (Python reuses an ended thread's ident: this was
# refused or not by chance)
with cxr.Loader(store, "train", batch=8) as ld:
    res = []

    def whole_epoch(e):
        try:
            res.append(sum(len(b) for b in ld.epoch(e)))
        except RuntimeError as ex:
            res.append(str(ex))

    for e in range(6):
        t = threading.Thread(target=whole_epoch, args=(e,))
        t.start()
        t.join(20)
    check(res == [n] * 6, f"successive threads each iterate a whole epoch: {res}")
# a close() in another thread while a call runs: the call keeps the C object alive
for trial in range(30):
    st = cxr.Store(store)
    errs = []

    def reader():
        try:
            for i in range(200):
                st.read_image("train", i % n)
        except ValueError:
            pass  # closed before the call began: refused cleanly
        except Exception as e:  # noqa: BLE001 (what the C side says if the store was freed)
            errs.append(e)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.001)
    st.close()
    t.join()
    check(not errs, f"trial {trial}: a read raced with close(): {errs[:1]}")
    if errs:
        break

# ... deterministically, a close() between a call's own steps: labels() holds the store until
# its copy is made (it read freed memory: garbage labels), and epoch() begins no epoch on a
# loader closed after its first look (it delivered the whole epoch)
import gc  # noqa: E402

st = cxr.Store(store)
want = st.labels("train")
real_info = st._info


def info_then_close(split, *h):
    i = real_info(split, *h)
    st.close()
    gc.collect()
    return i


st._info = info_then_close
got = st.labels("train")
check(np.array_equal(got, want), f"labels() across a close(): {got[:6]} for {want[:6]}")
ld = cxr.Loader(store, "train", batch=2)
real_int = cxr._int


def int_then_close(v, what, lo, hi):
    if what == "epoch":
        ld.close()
    return real_int(v, what, lo, hi)


cxr._int = int_then_close
try:
    it = ld.epoch(0)
    check(False, f"epoch() began on a loader closed meanwhile: {sum(len(b) for b in it)} images")
except ValueError as e:
    check("closed" in str(e), f"epoch() after a close: {e}")
finally:
    cxr._int = real_int
# bad loader options are named, by Python or by the C check
for kw, want_text in (({"depth": 1}, "depth: 1 is outside [2,"), ({"mixup": True}, "mixup: expected"),
                      ({"mixup": "0.5"}, "mixup: expected"), ({"mixup": 0.2j}, "mixup: expected"),
                      ({"mixup": np.complex64(0.2)}, "mixup: expected"),
                      ({"threads": 0}, "threads 0: need >= 1 with prefetch")):
    try:
        cxr.Loader(store, "train", shuffle=True, **kw).close()
        check(False, f"Loader({kw}) accepted")
    except (ValueError, TypeError, cxr.CxrError) as e:
        check(want_text in str(e), f"Loader({kw}): {e}")

# ... and a real number of another kind float() takes is taken as it was
import fractions  # noqa: E402

for mx in (np.array(0.25), fractions.Fraction(1, 4), np.float16(0.25)):
    with cxr.Loader(store, "train", batch=4, shuffle=True, mixup=mx) as ld:
        bt = next(iter(ld))
        check(bt.mix is not None, f"mixup={mx!r}: no mixing")

# close() during an epoch: the iterator raises at its next batch instead of going on
ld = cxr.Loader(store, "train", batch=2)
it = ld.epoch(0)
b = next(it)
ld.close()
try:
    next(it)
    check(False, "an epoch's iterator raises after close()")
except ValueError as e:
    check("closed" in str(e), f"iterator after close message: {e}")
del it, b

# close() closes the store the loader opened from a path, not one it was given
ld = cxr.Loader(store, "train", batch=2)
own = ld.store
ld.close()
check(own._h is None, "close() left the store it opened from a path open")
given = cxr.Store(store)
cxr.Loader(given, "train", batch=2).close()
check(given._h is not None and given.has_split("train"), "close() closed a store it was given")
given.close()


def wait_child(pid, seconds):
    """The child's exit code, or None if it still runs after `seconds` (then it is killed)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


def raises_in_child(fn):
    """fn() run in a forked child: its exit code, 0 when fn raised RuntimeError, 1 when it
    returned, 2 on another exception, None when it hung (killed after 20 s)."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
            os._exit(1)
        except RuntimeError:
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(2)
    return wait_child(pid, 20)


# a loader used in a forked child (its worker threads are not there): RuntimeError, not a hang
with cxr.Loader(store, "train", batch=4) as ld:
    code = raises_in_child(lambda: next(ld.epoch(0)))
    check(code == 0, f"a forked child's epoch() raises RuntimeError (exit {code}, None: hung)")
    check(sum(len(b) for b in ld.epoch(0)) == n, "the parent's loader still works after a fork")
    # an iterator begun before the fork and advanced in the child: RuntimeError, not a hang
    # (the child had the one batch in the ring, then waited forever on the missing threads)
    it = ld.epoch(1)
    next(it)
    code = raises_in_child(lambda: [None for _ in it])
    check(code == 0, f"a forked child's inherited iterator raises RuntimeError (exit {code})")
    del it

# close() in a forked child whose parent had a thread inside epoch() at the fork (it holds the
# loader's lock across cxr_loader_begin_epoch): the child returns, it does not wait for a lock no
# thread of its own will release (before: 6 of 40 such children hung)
with cxr.Loader(store, "train", batch=4) as ld:
    with ld._lock:  # as a parent's thread inside epoch() holds it
        pid = os.fork()
        if pid == 0:
            ld.close()
            os._exit(0)
        code = wait_child(pid, 10)
    check(code == 0, f"a forked child's close() returns (exit {code}, None: hung)")
    check(sum(len(b) for b in ld.epoch(0)) == n, "the parent's loader works after the child closed")

# a fork while another thread reads through HDF5 (ctypes released the GIL): the child does not
# inherit HDF5's lock held by a thread it lacks (before: 5 of 30 children hung)
st = cxr.Store(store)
stop = threading.Event()


def hdf5_reader():
    while not stop.is_set():
        st.read_image("train", 0)


t = threading.Thread(target=hdf5_reader)
t.start()
hung = 0
for trial in range(40):
    pid = os.fork()
    if pid == 0:
        with cxr.Store(store) as s2:
            os._exit(0 if np.array_equal(s2.read_image("train", 1), train[1]) else 1)
    code = wait_child(pid, 5)
    hung += code is None
    check(code in (0, None), f"fork trial {trial}: child exit {code}")
stop.set()
t.join()
st.close()
check(hung == 0, f"children forked during HDF5 reads: {hung} of 40 hung")


def batches_until_error(ld):
    """Epoch 0's batches until the CxrError that ends it: (batches before it, the error or
    None when the epoch ended without one)."""
    got = 0
    try:
        for _ in ld.epoch(0):
            got += 1
    except cxr.CxrError as e:
        return got, e
    return got, None


with tempfile.TemporaryDirectory() as tmp:
    bad = damaged_copy(store, f["train/shard_index"], 2, os.path.join(tmp, "bad.h5"))
    with cxr.Loader(bad, "train", batch=shard, window=1) as ld:
        got, e = batches_until_error(ld)
        check(e is not None and e.status == "checksum" and bad in str(e) and "shard 2" in str(e),
              f"corrupted chunk message: {e}")
        check(got == 2, f"the two good shards come first ({got})")

# a store cut short in place while a loader maps it: pages inside shard 2's chunk are gone, and
# reading them is SIGBUS, which the library's guard turns into a CxrError (faulthandler's SIGBUS
# handler, installed first, stays behind it for faults that are not the guard's)
import faulthandler  # noqa: E402

faulthandler.enable()
with tempfile.TemporaryDirectory() as tmp:
    cut = os.path.join(tmp, "cut.h5")
    shutil.copy(store, cut)
    off, nbytes = (int(x) for x in f["train/shard_index"][2])
    page = os.sysconf("SC_PAGE_SIZE")
    at = (off + page - 1) // page * page + page
    check(at + page < off + nbytes, f"shard 2's chunk spans pages past the cut ({nbytes} bytes)")
    for prefetch in (True, False):
        with cxr.Loader(cut, "train", batch=shard, window=1, prefetch=prefetch) as ld:
            os.truncate(cut, at)
            got, e = batches_until_error(ld)
            check(e is not None and e.status == "io" and cut in str(e) and "shard 2" in str(e)
                  and "cut to" in str(e), f"cut store message: {e}")
            check(got == 2, f"the two shards before the cut come first ({got})")
        shutil.copy(store, cut)
finish("python.loader")
