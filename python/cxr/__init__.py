"""cxr: read cxr stores (specs/store.md) from Python through the C library, libcxr.

    import cxr
    with cxr.Loader("store.h5", "train", batch=64, shuffle=True, seed=1) as loader:
        for epoch in range(10):
            for b in loader.epoch(epoch):
                b.images   # numpy float32 (n, 1, S, S), a view of the loader's buffer
                b.labels   # numpy int32 (n,)
                b.indices  # numpy int64 (n,): image numbers within the split

The loader is the C shard loader (runtime/cxr_loader.h): the file is mmapped, each chunk's
Fletcher32 is verified, chunks are zstd-decoded on worker threads (threads=) ahead of the
consumer (depth= batches), and with shuffle=True the order is a shard-window shuffle drawn from
(seed, epoch) alone, so an epoch can be replayed. Batches are zero-copy: the arrays are
read-only views of the loader's batch buffer, valid until the next batch is asked for (pass
copy=True to keep them longer; a Batch kept past it raises RuntimeError for its arrays rather
than hand out another batch's data, since 0.23). parts=/part= split the shards between loaders
(e.g. processes), disjoint and covering; cxr.torch.StoreDataset does that for DataLoader workers.

Store gives the metadata (classes, splits, paths, labels) and reads single images through
HDF5 (with the library's own zstd filter: no plugin needed).

Processes: a loader's decode threads do not survive a fork, so a loader is used in the process
that created it (cxr.torch.StoreDataset creates one in each DataLoader worker); a forked child
gets RuntimeError from epoch() instead of waiting forever, and its close() only lets go. A
CxrError raised in a worker reaches the DataLoader's caller as a CxrError with its status. The HDF5 calls (Store open, close,
read_image) run without the GIL; a fork waits until none is running, so that the child does
not inherit HDF5's lock held by a thread it does not have.
"""

import ctypes
import os
import re
import threading

import numpy as np

from ._lib import ABI, AugmentParams, BatchStruct, LoaderOptions, SplitInfo, lib

__all__ = ["Batch", "CxrError", "Loader", "Store", "augment_image", "augment_params", "augment_spec",
           "library_path", "version"]

version = lib.cxr_version_string().decode()
__version__ = version
library_path = lib.path


_STATUS = {}  # cxr_status name -> code
for _c in range(64):
    _n = lib.cxr_status_name(_c).decode()
    if _n == "unknown":
        break
    _STATUS[_n] = _c


class CxrError(RuntimeError):
    """A libcxr call failed: .status is the cxr_status name ("checksum", "io", ...), the
    message is the library's (it names the file, split and shard)."""

    def __init__(self, code=None, message=None):
        self._text = code is None or isinstance(code, str)
        if self._text:
            # rebuilt from a text alone: torch's DataLoader re-raises a worker's exception as
            # type(e)(text), a text that holds the original's "... [status]"
            text = code if isinstance(code, str) else ("" if message is None else str(message))
            found = re.findall(r"\[(" + "|".join(map(re.escape, _STATUS)) + r")\]", text)
            self.code = _STATUS.get(found[-1] if found else "", _STATUS["internal"])
            self.status = lib.cxr_status_name(self.code).decode()
            tail = f" [{self.status}]"
            self.message = text[: -len(tail)] if text.endswith(tail) else text
            super().__init__(text)
            return
        self.code = code
        self.message = message
        self.status = lib.cxr_status_name(code).decode()
        super().__init__(f"{message} [{self.status}]")

    def __reduce__(self):
        # rebuilt as it was made, so it crosses a process boundary (multiprocessing, DataLoader
        # workers) as itself with the same text: args alone holds only the formatted text
        if self._text:
            return (CxrError, (str(self),))
        return (CxrError, (self.code, self.message))


def _check(code, where=None, path=None):
    """Raise CxrError for a failed call; `where` (e.g. the store's path) prefixes a message
    that does not name `path` (default: where) already, compared as bytes: a path that is not
    UTF-8 reads differently in the two texts."""
    if code != 0:
        raw = lib.cxr_last_error()
        msg = raw.decode("utf-8", "replace")
        if where and os.fsencode(where if path is None else path) not in raw:
            msg = f"{os.fsencode(where).decode('utf-8', 'replace')}: {msg}"
        raise CxrError(code, msg)


# HDF5's global lock and fork: a thread inside an HDF5 call (ctypes released the GIL) holds it,
# and a child forked meanwhile (a DataLoader worker) would wait for it forever. The HDF5 calls
# made from here hold _hdf5_lock, and a fork takes it first (it waits for the call to end).
_hdf5_lock = threading.RLock()


def _fork_before():
    _hdf5_lock.acquire()


def _fork_after_parent():
    _hdf5_lock.release()


def _fork_after_child():
    global _hdf5_lock
    _hdf5_lock = threading.RLock()  # the parent's is held by the forking thread


os.register_at_fork(before=_fork_before, after_in_parent=_fork_after_parent,
                    after_in_child=_fork_after_child)


def _hdf5(fn, *args):
    """fn(*args) (a libcxr call that enters HDF5) under _hdf5_lock."""
    with _hdf5_lock:
        return fn(*args)


class _Handle:
    """Owns one C object; destroys it when the last Python reference (the owner object, or a
    zero-copy array into its memory) goes away. `deps` are kept alive as long as it lives.
    In a forked child the C object is left alone: a loader's threads are not there to stop."""

    def __init__(self, ptr, destroy, deps=(), hdf5=False):
        self.ptr, self._destroy, self._deps = ptr, destroy, deps
        self._hdf5, self.pid = hdf5, os.getpid()

    @property
    def _as_parameter_(self):
        # ctypes passes the handle itself: the call's arguments then hold it, so a close() in
        # another thread cannot destroy the C object while the call runs
        return self.ptr

    def __del__(self, _getpid=os.getpid, _locked=_hdf5):  # bound now: at exit globals may go
        if getattr(self, "ptr", None) and self.pid == _getpid():  # (not set: __init__ failed)
            if self._hdf5:
                _locked(self._destroy, self.ptr)
            else:
                self._destroy(self.ptr)
        self.ptr = None


class _View:
    """An __array_interface__ over C memory that keeps the memory's owner alive."""

    def __init__(self, addr, shape, typestr, owner, readonly=True):
        self.__array_interface__ = {"version": 3, "shape": shape, "typestr": typestr,
                                    "data": (addr, readonly)}
        self._owner = owner


def _writable_view(a):
    """The memory of array `a` (kept alive) as a writable array: for torch.from_numpy, which
    refuses read-only arrays."""
    return np.asarray(_View(a.ctypes.data, a.shape, a.dtype.str, a, readonly=False))


def _array(ptr, shape, dtype, owner):
    addr = ctypes.cast(ptr, ctypes.c_void_p).value
    if not addr or 0 in shape:
        return np.empty(shape, dtype)
    return np.asarray(_View(addr, shape, np.dtype(dtype).str, owner))


def _no_nul(b):
    """C stops at the first NUL: refused, as open() refuses it, rather than cut short."""
    if b"\0" in b:
        raise ValueError(f"embedded null byte in {b!r}")
    return b


def _path(p):
    """A file system path (str, bytes or os.PathLike) as bytes for C, as os.fsencode does."""
    return _no_nul(os.fsencode(os.fspath(p)))


def _enc(s):
    if isinstance(s, str):
        return _no_nul(s.encode())
    if isinstance(s, bytes):
        return _no_nul(s)
    raise TypeError(f"expected a str, got {type(s).__name__}")


def _int(v, what, lo, hi):
    """v as an int in [lo, hi] (what ctypes would silently wrap is refused)."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{what}: expected an integer, got {type(v).__name__}")
    v = int(v)  # first: numpy compares uint64 with a large int in float64 (2**63 "fits" 2**63-1)
    if not lo <= v <= hi:
        raise ValueError(f"{what}: {v} is outside [{lo}, {hi}]")
    return v


_INT_MAX, _INT64_MAX, _UINT64_MAX = 2**31 - 1, 2**63 - 1, 2**64 - 1


class _Closable:
    """An object over a _Handle (self._h): close() drops it (the C object goes once no
    dependent object or array still holds it); a context manager."""

    def close(self):
        self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def _ptr(self):
        """The C object for a call: its _Handle, which the call's arguments keep alive."""
        h = self._h
        if h is None:
            raise ValueError(f"{self!r} is closed")
        return h


class Store(_Closable):
    """An open cxr store (cxr_store_open: format, version, shapes and index validated).

    HDF5 keeps one open file per inode in a process: a store rewritten in place (`cp` over it)
    while a Store on it is open is read through the old one's cached state, and a new Store of
    it may fail its checksums; close the old Store first. cxr-pack renames a new file into
    place (a new inode), which is safe."""

    def __init__(self, path):
        h = ctypes.c_void_p()
        path_b = _path(path)
        self.path = os.fsdecode(path_b)
        _check(_hdf5(lib.cxr_store_open, ctypes.byref(h), path_b), self.path)
        self._h = _Handle(h, lib.cxr_store_close, hdf5=True)

    def __repr__(self):
        return f"cxr.Store({self.path!r})"

    @property
    def classes(self):
        """Class names, index = label."""
        return [lib.cxr_store_class_name(self._ptr, k).decode("utf-8", "replace")
                for k in range(lib.cxr_store_n_classes(self._ptr))]

    def has_split(self, split):
        return bool(lib.cxr_store_has_split(self._ptr, _enc(split)))

    def splits(self):
        return [s for s in ("train", "val", "test") if self.has_split(s)]

    def _info(self, split, h=None):
        info = SplitInfo()
        _check(lib.cxr_store_split(self._ptr if h is None else h, _enc(split), ctypes.byref(info)))
        return info

    def split_info(self, split):
        """dict(n, n_shards, shard, size) of a split."""
        i = self._info(split)
        return {"n": i.n, "n_shards": i.n_shards, "shard": i.shard, "size": i.size}

    def labels(self, split):
        """int32 (n,) labels of a split (a copy)."""
        # the handle held until the copy is made: i.labels points into the C store, which a
        # close() in another thread would otherwise free under the copy
        h = self._ptr
        i = self._info(split, h)
        return np.ctypeslib.as_array(i.labels, (i.n,)).copy() if i.n else np.empty(0, np.int32)

    def image_path(self, split, i):
        """Source-relative path of image i of a split."""
        self._info(split)  # a missing split: CxrError naming it
        p = lib.cxr_store_image_path(self._ptr, _enc(split), _int(i, "image", 0, _INT64_MAX))
        if p is None:
            raise IndexError(f"{self.path}: split '{split}' has no image {i}")
        return p.decode("utf-8", "replace")

    def read_image(self, split, i):
        """Image i of a split as float32 (S, S), read through HDF5."""
        size = self._info(split).size
        out = np.empty((size, size), np.float32)
        _check(_hdf5(lib.cxr_store_read_image, self._ptr, _enc(split),
                     _int(i, "image", 0, _INT64_MAX),
                     out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))))
        return out


class Batch:
    """One batch: images float32 (n, 1, S, S), labels int32 (n,), indices int64 (n,) (image
    numbers within the split), step (0-based batch number within the epoch); with a loader's
    mixup, labels2 int32 (n,) (each image's partner's label) and mix float32 (n,) (the weight
    of labels[i]; 1 - mix of labels2[i]), else None.

    A batch of Loader.epoch(copy=False) holds views of the loader's buffer, which the next batch
    asked for overwrites: its arrays are then refused (RuntimeError), not handed out holding
    another batch's data (list(loader.epoch(e)) kept every batch but the last few overwritten,
    silently). Arrays taken out of it before stay views: copy them, or use copy=True."""

    __slots__ = ("_arrays", "step", "_n", "_owner", "_seq")

    def __init__(self, images, labels, indices, step, labels2=None, mix=None, owner=None, seq=0):
        self._arrays = (images, labels, indices, labels2, mix)
        self.step, self._n, self._owner, self._seq = step, len(labels), owner, seq

    def _get(self, k):
        o = self._owner
        if o is not None and o._taken != self._seq:
            raise RuntimeError(
                f"batch {self.step} is stale: its arrays were views of the loader's buffer, "
                "which a later batch (or epoch) has overwritten; copy what a batch "
                "holds before asking for the next, or iterate with epoch(e, copy=True)")
        return self._arrays[k]

    images = property(lambda self: self._get(0))
    labels = property(lambda self: self._get(1))
    indices = property(lambda self: self._get(2))
    labels2 = property(lambda self: self._get(3))
    mix = property(lambda self: self._get(4))

    def __len__(self):
        return self._n

    def __reduce__(self):
        # pickled, and copied (copy.copy, deepcopy), as copies of its arrays, without its loader:
        # a copy holding the views would read what later batches write; a stale one refuses
        c = [None if a is None else np.array(a, copy=True) for a in
             (self.images, self.labels, self.indices, self.labels2, self.mix)]
        return (Batch, (c[0], c[1], c[2], self.step, c[3], c[4]))

    def __iter__(self):  # images, labels = batch
        return iter((self.images, self.labels))


def augment_params(spec):
    """The cxr_augment_params of an augmentation spec ("default", "none", "key=value,..."; see
    cxr-train --help); CxrError (argument) naming the bad part, as cxr-train refuses it (a
    number below the least normal float too: the loader's threads would flush it to 0)."""
    p = AugmentParams()
    _check(lib.cxr_augment_parse(_enc(spec), ctypes.byref(p)))
    _check(lib.cxr_augment_check_normal(_enc(spec)))
    return p


def augment_spec(params):
    """The canonical spec of cxr_augment_params (parsing it gives the same params back)."""
    # well above CXR_AUGMENT_SPEC_MAX (320 in ABI 0.11): a cut spec could parse as another one
    buf = ctypes.create_string_buffer(1024)
    lib.cxr_augment_format(ctypes.byref(params), buf, len(buf))
    if len(buf.value) >= len(buf) - 1:
        raise RuntimeError("augment_spec: the canonical spec does not fit 1024 bytes")
    return buf.value.decode()


def augment_image(image, spec, seed, epoch, index):
    """Image `index` of a split (an (S, S) float32 array) as the loader with `augment=spec`
    delivers it in `epoch` under `seed`: a new array."""
    src = np.ascontiguousarray(image, dtype=np.float32)
    if src.ndim != 2 or src.shape[0] != src.shape[1]:
        raise ValueError("augment_image: want an (S, S) image, got shape %s" % (src.shape,))
    dst = np.empty_like(src)
    fp = ctypes.POINTER(ctypes.c_float)
    p = augment_params(spec)
    seed, epoch = _int(seed, "seed", 0, _UINT64_MAX), _int(epoch, "epoch", 0, _INT_MAX)
    index = _int(index, "index", 0, _INT64_MAX)
    lib.cxr_augment_image(ctypes.byref(p), seed, epoch, index, src.ctypes.data_as(fp),
                          dst.ctypes.data_as(fp), src.shape[0])
    return dst


def _loader_options(batch=64, shuffle=False, seed=1, window=0, threads=2, depth=3, prefetch=True,
                    part=0, parts=1, augment=None, mixup=0.0, where=None):
    """The cxr_loader_options of Loader's arguments, checked as cxr_loader_create checks them
    (ValueError, TypeError, CxrError naming the bad one, after `where`), and the augment
    params they point to (keep them alive with the options)."""
    o = LoaderOptions()
    lib.cxr_loader_options_defaults(ctypes.byref(o))
    o.batch = _int(batch, "batch", 1, _INT_MAX)
    if window == "auto":  # cxr-train's --shuffle-window auto: the default, 0
        window = 0
    if isinstance(window, (str, bytes)) and window != "split":  # _int's "expected an integer"
        raise TypeError(f'window {window!r}: expected "auto", "split" or an integer, the shards '
                        f'per window (0: the default, as --shuffle-window auto)')
    o.window = -1 if window == "split" else _int(window, "window", 0, _INT_MAX)
    o.shuffle, o.seed = int(bool(shuffle)), _int(seed, "seed", 0, _UINT64_MAX)
    # threads 0: only without prefetch (the C check says so, by name)
    o.threads, o.depth = _int(threads, "threads", 0, _INT_MAX), _int(depth, "depth", 2, _INT_MAX)
    o.prefetch = int(bool(prefetch))
    o.part, o.parts = _int(part, "part", 0, _INT_MAX), _int(parts, "parts", 1, _INT_MAX)
    # a real number of any kind float() takes (a 0-d array, a Fraction, a torch scalar), not a
    # bool, a string or a complex (whose imaginary part float() would drop)
    if isinstance(mixup, (bool, np.bool_, str, bytes, complex, np.complexfloating)):
        raise TypeError(f"mixup: expected a real number, got {type(mixup).__name__}")
    o.mixup = float(mixup)  # the C check takes the range (a NaN too; one below FLT_MIN)
    if o.mixup == 0 and float(mixup) != 0:
        raise ValueError(f"mixup {mixup!r}: not 0 (none), and too small for a float32 (the "
                         "range is (0, 4])")
    if float(mixup) > 4 >= o.mixup:  # 4.0000001 rounds to 4 as a float32
        raise ValueError(f"mixup {mixup!r}: above 4 (the range is (0, 4])")
    aug = None
    if augment is not None:
        aug = augment_params(augment)
        o.augment = ctypes.cast(ctypes.pointer(aug), ctypes.c_void_p)  # copied by the loader
    _check(lib.cxr_loader_options_check(ctypes.byref(o)), where)
    return o, aug


class Loader(_Closable):
    """The C shard loader over one split. close(): no epoch begins and a running epoch's
    iterator raises; the C loader with its worker threads and buffers goes once no zero-copy
    batch array uses it (copy=True arrays use none). Options as cxr_loader_options (runtime/cxr_loader.h):
    batch (64), shuffle (False), seed (1), window (0 or "auto": the shards holding 256
    images, 1 to 4, as cxr-train's --shuffle-window auto; "split": the whole split up to 2 GiB of images,
    as --shuffle-window split; else shards per shuffle window; without shuffle, 0 and "split"
    take as few shards as keep the decode threads busy: the order is the file's anyway), threads (2 decode
    workers), depth (3 batches in the ring), prefetch (True), part/parts (0/1: this loader
    reads the shards k with k % parts == part), augment (None: off; else a spec as cxr-train's
    --augment: "default", "none", "rotate=10,scale=0.9:1.1,..."; image i of epoch e is then
    transformed as cxr_augment_image(params, seed, e, i), the bits cxr-train trains on),
    mixup (0.0: off; A in (0, 4] with shuffle: each batch mixed in pairs with Beta(A, A)
    weights, as cxr-train's --mixup; Batch.labels2 and Batch.mix say how).
    `store` is a path or a Store (one opened from a path is closed by close(); a Store given
    stays open). The loader is used in the process that created it (its
    workers are threads, which a fork does not copy)."""

    def __init__(self, store, split="train", batch=64, shuffle=False, seed=1, window=0,
                 threads=2, depth=3, prefetch=True, part=0, parts=1, augment=None, mixup=0.0):
        split_b = _enc(split)
        path = store.path if isinstance(store, Store) else os.fsdecode(_path(store))
        o, self.augment = _loader_options(batch, shuffle, seed, window, threads, depth, prefetch,
                                          part, parts, augment, mixup, f"{path}: split '{split}'")
        self._own_store = not isinstance(store, Store)  # opened here: closed by close()
        self.store = Store(store) if self._own_store else store
        self.split = split
        self.options = o
        h = ctypes.c_void_p()
        sh = self.store._h  # once: a close() in another thread meanwhile cannot split the two
        if sh is None:
            raise ValueError(f"{self.store!r} is closed")
        _check(lib.cxr_loader_create(ctypes.byref(h), sh, split_b, ctypes.byref(o)),
               f"{self.store.path}: split '{split}'", self.store.path)
        self._h = _Handle(h, lib.cxr_loader_destroy, deps=(sh,))
        self.size = self.store._info(split).size
        self._epoch = 0
        self._generation = 0  # epoch() calls so far: an abandoned iterator sees a newer one
        self._taken = 0  # calls that may overwrite the batch buffer: a Batch of another is stale
        self._thread = None  # the one thread that iterates (the C loader has one consumer)
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def close(self):
        if self._pid != os.getpid():
            # a forked child: a parent's thread may have held the lock at the fork (inside
            # begin_epoch) and no thread here ever releases it; nothing of the C loader is the
            # child's to stop (_Handle leaves it alone)
            self._generation += 1
            self._h = None
            if self._own_store:
                self.store.close()
            return
        with self._lock:
            self._generation += 1  # a running epoch's iterator raises at its next batch
            self._h = None  # its last batch's arrays keep the C loader, and their data, alive
            if self._own_store:
                self.store.close()  # the C store goes with the C loader, which holds it

    def __repr__(self):
        return f"cxr.Loader({self.store.path!r}, {self.split!r})"

    @property
    def n_images(self):
        """Images per epoch (this part's)."""
        return lib.cxr_loader_n_images(self._ptr)

    @property
    def n_batches(self):
        return lib.cxr_loader_n_batches(self._ptr)

    @property
    def n_shards(self):
        return lib.cxr_loader_n_shards(self._ptr)

    @property
    def window(self):
        """Shards per window, window=0 or "split" resolved (without shuffle: as few as keep the
        decode threads busy, cxr_loader_window)."""
        return lib.cxr_loader_window(self._ptr)

    def __len__(self):
        return self.n_batches

    def wait_seconds(self):
        """Seconds spent waiting for batches since the epoch began."""
        return lib.cxr_loader_wait_seconds(self._ptr)

    def epoch_order(self, epoch):
        """int64 (n_images,): the image order of `epoch` (what epoch(epoch) delivers)."""
        out = np.empty(self.n_images, np.int64)
        _check(lib.cxr_loader_epoch_order(self._ptr, _int(epoch, "epoch", 0, _INT_MAX),
                                          out.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))))
        return out

    def epoch_shards(self, epoch):
        """int64 (n_shards,): the shards this loader reads in `epoch`, in reading order."""
        out = np.empty(self.n_shards, np.int64)
        _check(lib.cxr_loader_epoch_shards(self._ptr, _int(epoch, "epoch", 0, _INT_MAX),
                                           out.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))))
        return out

    def set_epoch(self, epoch):
        """The epoch that iter(loader) runs next."""
        self._epoch = _int(epoch, "epoch", 0, _INT_MAX)

    def __iter__(self):
        return self.epoch(self._epoch)

    def epoch(self, epoch, copy=False):
        """Iterate over the batches of `epoch`. Without copy, each Batch's arrays are read-only
        views of the loader's buffer, overwritten once the next batch is asked for. One epoch
        at a time: starting another abandons the one in progress (its iterator then raises
        RuntimeError). One thread iterates a loader (the first to call epoch(), until that thread
        ends; another gets RuntimeError): the C loader has one consumer."""
        h = self._h
        if h is None:
            raise ValueError("loader is closed")
        if self._pid != os.getpid():
            raise RuntimeError(f"{self!r} was created in process {self._pid}, whose worker threads "
                               "a fork does not copy: create the loader in this process")
        epoch = _int(epoch, "epoch", 0, _INT_MAX)
        with self._lock:
            if self._h is not h:  # closed by another thread since: no epoch begins
                raise ValueError("loader is closed")
            # the thread itself, not its ident: Python reuses an ended thread's ident
            me = threading.current_thread()
            if self._thread is None or not self._thread.is_alive():
                self._thread = me
            elif self._thread is not me:
                raise RuntimeError(f"{self!r}: iterated by another thread; one thread per loader "
                                   "(make one loader per thread, with part=/parts=)")
            self._generation += 1
            self._taken += 1  # begin_epoch refills the buffer: the last epoch's batches are stale
            gen = self._generation
            # begun here, not at the iterator's first next(): an iterator made earlier and
            # started later must not restart the C loader under the current one
            _check(lib.cxr_loader_begin_epoch(h, epoch))
        return self._batches(h, epoch, gen, copy)

    def _batches(self, h, epoch, gen, copy):
        b = BatchStruct()
        s = self.size
        while True:
            # checked at every batch, not only in epoch(): an iterator carried into a forked
            # child would wait forever for worker threads the child does not have, and one
            # advanced from another thread would race the owner's next epoch() in the C loader
            if self._pid != os.getpid():
                raise RuntimeError(f"{self!r} was created in process {self._pid}, whose worker "
                                   "threads a fork does not copy: create the loader in this "
                                   "process")
            if threading.current_thread() is not self._thread:
                raise RuntimeError(f"{self!r}: iterated by another thread; one thread per loader "
                                   "(make one loader per thread, with part=/parts=)")
            if gen != self._generation:
                if self._h is None:
                    raise ValueError(f"{self!r} was closed during epoch {epoch}")
                raise RuntimeError(f"{self!r}: epoch {epoch} was abandoned (another epoch() began)")
            self._taken += 1  # the buffer the last batch's views read is the C loader's now
            _check(lib.cxr_loader_next_batch(h, ctypes.byref(b)))
            if b.n == 0:
                return
            n = b.n
            images = _array(b.images, (n, 1, s, s), np.float32, h)
            labels = _array(b.labels, (n,), np.int32, h)
            indices = _array(b.indices, (n,), np.int64, h)
            labels2 = mix = None
            if b.mix:
                labels2 = _array(b.labels2, (n,), np.int32, h)
                mix = _array(b.mix, (n,), np.float32, h)
            if copy:
                images, labels, indices = images.copy(), labels.copy(), indices.copy()
                if mix is not None:
                    labels2, mix = labels2.copy(), mix.copy()
            yield Batch(images, labels, indices, b.step, labels2, mix,
                        None if copy else self, self._taken)
