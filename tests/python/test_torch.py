"""test_torch.py STORE: cxr.torch.StoreDataset through torch.utils.data.DataLoader. In-process
batches equal cxr.Loader's; with worker processes every batch comes from one worker's shards
(k % workers), images equal h5py's (copy=False too), augment= gives cxr.Loader's augmented
images, the epoch covers the split exactly once, the same epoch gives the same batches while
another epoch gives another order (persistent workers too), and a cxr.Store or a pathlib path
works as the path; distributed data parallel by rank and world size (disjoint ranks, even
batch counts, or every image once with even=False). Skips without torch."""

import pathlib
import sys

from common import check, damaged_copy, finish, need

np = need("numpy")
h5py = need("h5py")
torch = need("torch")
import cxr  # noqa: E402
from cxr.torch import StoreDataset  # noqa: E402

store = sys.argv[1]
f = h5py.File(store, "r")
train = f["train/images"][:]
train_labels = f["train/labels"][:]
n = train.shape[0]
shard = f["train/images"].chunks[0]


def batches(ds, workers):
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
    return [tuple(t.clone() for t in b) for b in dl]


# in process: the same batches as the numpy loader
ds = StoreDataset(store, "train", batch=5, seed=2, return_indices=True)
ds.set_epoch(3)
got = batches(ds, 0)
with cxr.Loader(store, "train", batch=5, shuffle=True, seed=2) as ld:
    ref = list(ld.epoch(3, copy=True))
check(len(got) == len(ref), "batch count")
for (x, y, i), r in zip(got, ref):
    check(x.dtype == torch.float32 and y.dtype == torch.int64, "dtypes")
    check(np.array_equal(x.numpy(), r.images) and np.array_equal(i.numpy(), r.indices)
          and np.array_equal(y.numpy(), r.labels), "StoreDataset == cxr.Loader")

# augment passes through to cxr.Loader: the same transformed images, which differ from the stored
ds = StoreDataset(store, "train", batch=5, seed=2, return_indices=True, augment="default")
ds.set_epoch(3)
aug = batches(ds, 0)
with cxr.Loader(store, "train", batch=5, shuffle=True, seed=2, augment="default") as ld:
    aref = list(ld.epoch(3, copy=True))
check(len(aug) == len(aref) and all(np.array_equal(x.numpy(), r.images)
                                    for (x, _, _), r in zip(aug, aref)),
      "StoreDataset(augment=) == cxr.Loader(augment=)")
check(any(not np.array_equal(a[0].numpy(), g[0].numpy()) for a, g in zip(aug, got)),
      "augment changes the images")

# mixup passes through too: labels2 and mix after the labels, as cxr.Loader's batch has them
ds = StoreDataset(store, "train", batch=5, seed=2, return_indices=True, mixup=0.4)
ds.set_epoch(3)
mx = batches(ds, 0)
with cxr.Loader(store, "train", batch=5, shuffle=True, seed=2, mixup=0.4) as ld:
    mref = list(ld.epoch(3, copy=True))
check(len(mx) == len(mref) and all(
    len(e) == 5 and e[2].dtype == torch.int64 and e[3].dtype == torch.float32
    and np.array_equal(e[0].numpy(), r.images) and np.array_equal(e[1].numpy(), r.labels)
    and np.array_equal(e[2].numpy(), r.labels2) and np.array_equal(e[3].numpy(), r.mix)
    and np.array_equal(e[4].numpy(), r.indices) for e, r in zip(mx, mref)),
    "StoreDataset(mixup=) == cxr.Loader(mixup=)")

# copy=False in process: the tensor is the loader's buffer, right while it is current
for x, y in StoreDataset(store, "test", batch=4, copy=False):
    check(x.shape[1:] == (1, train.shape[1], train.shape[2]), "test batch shape")

# worker processes: disjoint shard sets, covering, equal to h5py, reproducible
for workers in (2, 3):
    ds = StoreDataset(store, "train", batch=3, seed=5, return_indices=True)
    ds.set_epoch(1)
    e1 = batches(ds, workers)
    seen = []
    for x, y, i in e1:
        idx = i.numpy()
        residues = {int(k) // shard % workers for k in idx}
        check(len(residues) == 1, f"{workers} workers: a batch from one worker's shards")
        check(np.array_equal(x.numpy()[:, 0], train[idx]), "worker batch images == h5py")
        check(np.array_equal(y.numpy(), train_labels[idx]), "worker batch labels == h5py")
        seen += idx.tolist()
    check(sorted(seen) == list(range(n)), f"{workers} workers: every image exactly once")
    again = batches(ds, workers)
    check(len(again) == len(e1) and all(torch.equal(a[2], b[2]) for a, b in zip(again, e1)),
          f"{workers} workers: the same epoch again, the same batches")
    ds.set_epoch(2)
    e2 = batches(ds, workers)
    check([b[2].tolist() for b in e2] != [b[2].tolist() for b in e1],
          f"{workers} workers: another epoch, another order")
# copy=False with workers: a worker's batch leaves after the worker moved on, so it is a copy
# (small batches and a shallow ring overwrote 72 of 120 aliased batches before it was)
ds = StoreDataset(store, "train", batch=2, depth=2, seed=3, copy=False, return_indices=True)
wrong = 0
for epoch in range(3):
    ds.set_epoch(epoch)
    for x, y, i in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2):
        wrong += not np.array_equal(x.numpy()[:, 0], train[i.numpy()])
check(wrong == 0, f"copy=False with 2 workers: {wrong} batches with other images than h5py's")

# set_epoch reaches persistent workers, which keep their copy of the dataset
ds = StoreDataset(store, "train", batch=3, seed=5, return_indices=True)
dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, persistent_workers=True)


def order(epoch):
    ds.set_epoch(epoch)
    return [b[2].tolist() for b in dl]


o1, o2, o1b = order(1), order(2), order(1)
check(o1 != o2 and o1 == o1b, "persistent workers: set_epoch changes the order, and repeats it")
# a cxr.Store (as cxr.Loader takes) or a pathlib path in place of the path
for src in (cxr.Store(store), pathlib.Path(store)):
    ds = StoreDataset(src, "train", batch=5, seed=2, return_indices=True)
    ds.set_epoch(3)
    check([b[2].tolist() for b in batches(ds, 0)] == [b[2].tolist() for b in got],
          f"StoreDataset({type(src).__name__}) == StoreDataset(path)")
# a bad epoch is refused by set_epoch, not later in a worker
for bad, err in ((-1, ValueError), (2.5, TypeError), (2**31, ValueError)):
    try:
        ds.set_epoch(bad)
        check(False, f"set_epoch({bad!r}) accepted")
    except err:
        pass
check(ds.epoch == 3, "a refused set_epoch changed the epoch")
# bad loader options are refused when the dataset is made, not later in every worker
for kw, err in (({"seed": -1}, ValueError), ({"threads": 0}, cxr.CxrError),
                ({"depth": 1}, ValueError), ({"window": "x"}, TypeError),
                ({"augment": "bogus"}, cxr.CxrError)):
    try:
        StoreDataset(store, "train", **kw)
        check(False, f"StoreDataset({kw}) accepted")
    except err:
        pass
# a worker's CxrError reaches the caller as a CxrError with its status (torch re-raises it
# from its text: before, as a RuntimeError without .status)
import tempfile  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    dmg = damaged_copy(store, f["train/shard_index"], 1, f"{tmp}/dmg.h5")
    for workers in (0, 2):
        try:
            batches(StoreDataset(dmg, "train", batch=4), workers)
            check(False, f"a damaged chunk read with {workers} workers raises")
        except cxr.CxrError as e:
            check(e.status == "checksum", f"{workers} workers: status {e.status}: {e}")
        except RuntimeError as e:
            check(False, f"{workers} workers: not a CxrError: {type(e).__name__}: {e}")

# distributed data parallel: rank r, worker w reads part r * workers + w of world_size * workers;
# ranks disjoint, and with even=True every rank takes the same number of batches (each worker
# the smallest part's count, as cxr.Loader counts them); even=False covers the split once
def rank_batches(rank, world, workers, even):
    ds = StoreDataset(store, "train", batch=3, seed=5, return_indices=True, rank=rank,
                      world_size=world, even=even)
    ds.set_epoch(1)
    return [b[2].tolist() for b in batches(ds, workers)]


for world, workers in ((2, 1), (2, 2), (3, 2)):
    parts = world * workers
    counts = []
    for p in range(parts):
        with cxr.Loader(store, "train", batch=3, part=p, parts=parts) as ld:
            counts.append(ld.n_batches)
    for even in (True, False):
        got = [rank_batches(r, world, workers, even) for r in range(world)]
        flat = [[i for b in g for i in b] for g in got]
        check(all(not set(flat[a]) & set(flat[b]) for a in range(world) for b in range(a)),
              f"DDP {world}x{workers} even={even}: ranks share no image")
        for r in range(world):
            residues = {k // shard % parts for k in flat[r]}
            check(residues <= set(range(r * workers, (r + 1) * workers)),
                  f"DDP {world}x{workers}: rank {r} reads its own parts only")
        if even:
            check(all(len(g) == workers * min(counts) for g in got),
                  f"DDP {world}x{workers}: every rank {workers} x {min(counts)} batches: "
                  f"{[len(g) for g in got]}")
        else:
            check(sorted(i for f_ in flat for i in f_) == list(range(n)),
                  f"DDP {world}x{workers} even=False: every image exactly once")
            check(sum(len(g) for g in got) == sum(counts), "DDP even=False: all batches")
# distributed=True takes them from torch.distributed (gloo, one process here), and is refused
# before it is initialised; without it a process reads the whole split (evaluation)
dist = torch.distributed
if dist.is_available():
    import tempfile
    try:
        StoreDataset(store, "train", distributed=True)
        check(False, "distributed=True accepted without a process group")
    except RuntimeError as e:
        check("not initialised" in str(e), str(e))
    with tempfile.TemporaryDirectory() as d:
        dist.init_process_group("gloo", init_method="file://" + d + "/pg", rank=0, world_size=1)
        ds = StoreDataset(store, "train", batch=3, distributed=True)
        check((ds.rank, ds.world_size) == (0, 1), "rank and world size from torch.distributed")
        # as rank 1 of 2 would see it (get_rank/get_world_size stood in for)
        real = dist.get_rank, dist.get_world_size
        dist.get_rank, dist.get_world_size = (lambda: 1), (lambda: 2)
        try:
            ds = StoreDataset(store, "train", batch=3, distributed=True)
            check((ds.rank, ds.world_size) == (1, 2), "rank 1 of 2 from torch.distributed")
            ds = StoreDataset(store, "test", batch=3)
            check((ds.rank, ds.world_size) == (0, 1), "without distributed=True the whole split")
        finally:
            dist.get_rank, dist.get_world_size = real
        dist.destroy_process_group()
# bad arguments are refused when the dataset is made, or (too few shards) when it is read
for kw, err in (({"rank": 0}, ValueError), ({"rank": 2, "world_size": 2}, ValueError),
                ({"rank": 0, "world_size": 0}, ValueError), ({"rank": 0.5, "world_size": 2}, TypeError)):
    try:
        StoreDataset(store, "train", **kw)
        check(False, f"StoreDataset({kw}) accepted")
    except err:
        pass
try:
    batches(StoreDataset(store, "test", rank=0, world_size=3), 1)  # 2 test shards, 3 parts
    check(False, "a split with fewer shards than parts was read")
except ValueError as e:
    check("has 2 shards, fewer than world_size x num_workers = 3" in str(e), str(e))
try:
    StoreDataset(store, "nosuch")
    check(False, "a missing split was accepted")
except cxr.CxrError:
    pass
finish("python.torch")
