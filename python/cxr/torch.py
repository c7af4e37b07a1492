"""cxr.torch: a cxr store split as a PyTorch IterableDataset of whole batches.

    from cxr.torch import StoreDataset
    ds = StoreDataset("store.h5", "train", batch=64, shuffle=True, seed=1)
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    for epoch in range(10):
        ds.set_epoch(epoch)
        for images, labels in dl:   # float32 (n, 1, S, S), int64 (n,)
            ...

Each DataLoader worker runs its own C loader (cxr.Loader) on the shards k with
k % num_workers == worker id: the workers read disjoint shard sets that together cover the
split, so an epoch delivers every image once. Within a worker the order is the loader's
shard-window shuffle from (seed, epoch); the DataLoader interleaves the workers' batches.
Batches are made by the C loader (batch_size=None in the DataLoader); each worker's last batch
may be short. Each worker also runs `threads` decode threads. set_epoch reaches the workers
through shared memory, persistent_workers=True included.

Distributed data parallel (one process per GPU; opt in with distributed=True, which takes
rank and world size from torch.distributed, initialised first, or give rank= and world_size=;
without either every process reads the whole split, e.g. for evaluation): rank r's worker w
reads the shards k with k % (world_size * num_workers) == r * num_workers + w, so the ranks
read disjoint shard sets that together cover the split. DDP needs every rank to take the same number of steps, so with
even=True (the default) each worker stops at the batch count of the smallest of those shard
sets: an epoch then leaves out the tails of the larger sets (at most a shard's worth of images
a worker, others each epoch when shuffled); even=False delivers every image, in uneven counts.
A split with fewer shards than world_size * num_workers is refused (some worker would read
none).
"""

import itertools
import multiprocessing
import os

import numpy as np
import torch
import torch.utils.data

from . import _INT_MAX, Loader, Store, _int, _loader_options, _writable_view


class StoreDataset(torch.utils.data.IterableDataset):
    """Batches of one split of a cxr store (`path`: a path or a cxr.Store). Options as
    cxr.Loader; shuffle defaults to True for "train" and False otherwise. copy=True (default)
    gives tensors that own their memory; copy=False, in the DataLoader's own process only
    (num_workers=0), gives an image tensor that aliases the loader's buffer and is overwritten
    by the next batch (a worker copies anyway: its batch is sent to the main process after the
    worker has moved on). return_indices adds the int64 image numbers as the last
    element. augment (None: off; a spec as cxr-train's --augment, e.g. "default") transforms
    each image as cxr.Loader's augment does: the bits cxr-train trains on. mixup (0.0: off; A
    in (0, 4], as cxr.Loader's) mixes each batch in pairs, and each element then also holds
    labels2 (int64, each image's partner's label) and mix (float32, the weight of its own
    image): (images, labels, labels2, mix[, indices])."""

    def __init__(self, path, split="train", batch=64, shuffle=None, seed=1, window=0,
                 threads=2, depth=3, prefetch=True, copy=True, return_indices=False,
                 augment=None, mixup=0.0, distributed=False, rank=None, world_size=None,
                 even=True):
        super().__init__()
        self.path = path.path if isinstance(path, Store) else os.fspath(path)
        self.split = split
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither")
        if rank is None and distributed:
            dist = torch.distributed
            if not (dist.is_available() and dist.is_initialized()):
                raise RuntimeError("distributed=True: torch.distributed is not initialised "
                                   "(call init_process_group first, or give rank and world_size)")
            rank, world_size = dist.get_rank(), dist.get_world_size()
        elif rank is None:
            rank, world_size = 0, 1
        self.world_size = _int(world_size, "world_size", 1, _INT_MAX)
        self.rank = _int(rank, "rank", 0, self.world_size - 1)
        self.even = bool(even)
        self.batch = _int(batch, "batch", 1, _INT_MAX)
        with Store(self.path) as st:  # the split's shape, for the parts' batch counts
            self._info = st.split_info(split)
        self.kw = dict(batch=batch, shuffle=split == "train" if shuffle is None else shuffle,
                       seed=seed, window=window, threads=threads, depth=depth,
                       prefetch=prefetch, augment=augment, mixup=mixup)
        _loader_options(**self.kw, where=f"{self.path}: split '{split}'")  # not in every worker
        self.copy, self.return_indices = copy, return_indices
        # shared with the workers, which keep their copy of the dataset (persistent_workers)
        self._epoch = multiprocessing.Value("q", 0, lock=False)

    @property
    def epoch(self):
        return self._epoch.value

    def set_epoch(self, epoch):
        """The epoch (shuffle) of the next iteration; call before each epoch's DataLoader
        loop."""
        self._epoch.value = _int(epoch, "epoch", 0, _INT_MAX)  # refused here, not in a worker

    def _part_batches(self, parts):
        """Batches of each of `parts` parts of the split (shards k % parts == p)."""
        n, n_shards, shard = self._info["n"], self._info["n_shards"], self._info["shard"]
        out = []
        for p in range(parts):
            ks = range(p, n_shards, parts)
            images = sum(min(shard, n - k * shard) for k in ks)
            out.append(-(-images // self.batch))
        return out

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        part, parts = self.rank * workers + wid, self.world_size * workers
        limit = None
        if self.world_size > 1:
            if self._info["n_shards"] < parts:
                raise ValueError(
                    f"{self.path}: split {self.split!r} has {self._info['n_shards']} shards, "
                    f"fewer than world_size x num_workers = {parts}: every worker needs one "
                    f"(fewer workers, or repack with a smaller --shard)")
            if self.even:
                limit = min(self._part_batches(parts))
        loader = Loader(self.path, self.split, part=part, parts=parts, **self.kw)
        try:
            for b in itertools.islice(loader.epoch(self.epoch), limit):
                if self.copy or info is not None:
                    images = torch.from_numpy(np.array(b.images))
                else:
                    # the loader's buffer; torch wants a writable array, and nobody writes
                    images = torch.from_numpy(_writable_view(b.images))
                out = (images, torch.from_numpy(b.labels.astype(np.int64)))
                if b.mix is not None:
                    out += (torch.from_numpy(b.labels2.astype(np.int64)),
                            torch.from_numpy(np.array(b.mix)))
                if self.return_indices:
                    out += (torch.from_numpy(np.array(b.indices)),)
                yield out
        finally:
            loader.close()

