#!/usr/bin/env python3
"""test_pack.py: end-to-end tests of cxr-pack (tests/pack/CMakeLists.txt runs one case each).

usage: test_pack.py CASE CXR_PACK STORE_DUMP SAMPLE_DIR PLUGIN_DIR [JPEG_MAKE (case nomem)]
Stores are inspected with h5dump (HDF5_PLUGIN_PATH=PLUGIN_DIR for the zstd filter), with the
library's reader (STORE_DUMP) and, in the h5py case, with h5py. Exit 0 pass, 1 fail, 77 skip.
"""
import array
import glob
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

CASE, PACK, DUMP, SAMPLE, PLUGINS = sys.argv[1:6]
JMAKE = sys.argv[6] if len(sys.argv) > 6 else ""
ENV = dict(os.environ, HDF5_PLUGIN_PATH=PLUGINS)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(args, env=None, **kw):
    p = subprocess.run([PACK] + args, capture_output=True, text=True, env=env or ENV, **kw)
    return p.returncode, p.stdout, p.stderr


def h5data(path, dset, extra=()):
    """Values of a dataset as h5dump prints them: list of numbers or strings."""
    out = subprocess.run(["h5dump", "-y", "-w", "0", "-d", dset] + list(extra) + [path],
                         capture_output=True, text=True, env=ENV)
    if out.returncode != 0:
        raise RuntimeError("h5dump %s %s: %s" % (path, dset, out.stderr))
    m = re.search(r"DATA \{(.*)\}\s*\}\s*\}?", out.stdout, re.S)
    body = m.group(1) if m else ""
    if '"' in body:
        return re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return [float(x) for x in re.findall(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|inf|nan)", body)]


def folder_counts(root, split):
    d = os.path.join(root, split)
    out = {}
    for c in sorted(os.listdir(d)):
        if os.path.isdir(os.path.join(d, c)) and not c.startswith("."):
            out[c] = sorted(f for f in os.listdir(os.path.join(d, c))
                            if f.lower().endswith((".jpg", ".jpeg")) and not f.startswith("."))
    return out


def no_temp_left(d, keep=()):
    left = [f for f in os.listdir(d) if f not in keep]
    check(not left, "files left in %s: %s" % (d, left))


def make_bad_tree(tmp):
    """Sample train/test copied, plus bad inputs in train/NORMAL. Returns (root, bad names)."""
    root = os.path.join(tmp, "src")
    shutil.copytree(SAMPLE, root)
    nd = os.path.join(root, "train", "NORMAL")
    good = os.path.join(nd, sorted(os.listdir(nd))[0])
    data = open(good, "rb").read()
    bad = {}
    open(os.path.join(nd, "bad_empty.jpeg"), "wb").close()
    bad["bad_empty.jpeg"] = "empty"
    open(os.path.join(nd, "bad_truncated.jpeg"), "wb").write(data[: len(data) // 3])
    bad["bad_truncated.jpeg"] = ""
    open(os.path.join(nd, "bad_text.jpg"), "w").write("this is not a JPEG\n" * 20)
    bad["bad_text.jpg"] = ""
    # SOF0/SOF2 with 60000 x 60000 declared
    b = bytearray(data)
    i = 2
    while i < len(b) - 9:
        if b[i] == 0xFF and b[i + 1] in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", b, i + 5, 60000, 60000)
            break
        i += 2 + struct.unpack_from(">H", b, i + 2)[0] if b[i] == 0xFF else 1
    open(os.path.join(nd, "bad_huge.jpeg"), "wb").write(bytes(b))
    bad["bad_huge.jpeg"] = ""
    # headers intact, entropy-coded data replaced by garbage
    sos = data.find(b"\xff\xda")
    rnd = bytes((j * 7919 + 13) % 251 for j in range(len(data) - sos - 40))
    open(os.path.join(nd, "bad_garbage.jpeg"), "wb").write(data[: sos + 20] + rnd + b"\xff\xd9")
    bad["bad_garbage.jpeg"] = ""
    open(os.path.join(nd, "notes.txt"), "w").write("hello\n")
    bad["notes.txt"] = "not a .jpg/.jpeg file"
    for sysf in (".DS_Store", "Thumbs.db"):
        open(os.path.join(nd, sysf), "wb").write(b"\0" * 100)
    return root, bad


def case_sample(tmp):
    out = os.path.join(tmp, "s.h5")
    # shard 3: a chunk (768 KB) fits HDF5's default 1 MB chunk cache, else h5dump decompresses
    # the whole chunk again for every row it prints (minutes); 16 = 5 x 3 + 1 leaves a partial
    # OpenMP grants the 2 threads asked for (no thread limit, no dynamic teams): the summary
    # says the team it ran with, in the plural (cli.runtime_env: a team cut short is said)
    env = {k: v for k, v in ENV.items() if k not in ("OMP_THREAD_LIMIT", "OMP_DYNAMIC")}
    rc, so, se = run([SAMPLE, "-o", out, "--threads", "2", "--shard", "3"], env=env)
    check(rc == 0, "pack sample rc=%d: %s" % (rc, se))
    check(" with 2 threads\n" in so, "the summary's thread count: %r" % so[:300])
    if rc:
        return
    classes = sorted(set(folder_counts(SAMPLE, "train")) | set(folder_counts(SAMPLE, "test")))
    check(h5data(out, "/class_names") == classes, "class_names == sorted folders %s" % classes)
    for split in ("train", "test"):
        fc = folder_counts(SAMPLE, split)
        counts = h5data(out, "/%s/class_counts" % split)
        check(counts == [len(fc.get(c, [])) for c in classes],
              "%s class_counts %s == folder counts" % (split, counts))
        labels = h5data(out, "/%s/labels" % split)
        paths = h5data(out, "/%s/paths" % split)
        want = [("%s/%s/%s" % (split, c, f), classes.index(c)) for c in classes for f in fc.get(c, [])]
        check(list(zip(paths, [int(x) for x in labels])) == want,
              "%s paths/labels follow the folders in sorted order" % split)
        n = len(paths)
        # h5dump (through the zstd plugin) on the first and the last image: one per chunk end
        for i in (0, n - 1):
            vals = h5data(out, "/%s/images" % split, ["-s", "%d,0,0" % i, "-c", "1,256,256"])
            check(len(vals) == 256 * 256, "%s image %d has %d values" % (split, i, len(vals)))
            check(all(-1.0 <= v <= 1.0 for v in vals), "%s image %d within [-1,1]" % (split, i))
            check(min(vals) == -1.0 and max(vals) == 1.0, "%s image %d min-max reaches -1 and 1" % (split, i))
            nonzero = sum(1 for v in vals if v != 0.0)
            check(nonzero > len(vals) // 2, "%s image %d mostly non-zero (%d)" % (split, i, nonzero))
        # every image, through the library's reader
        raw = os.path.join(tmp, split + ".f32")
        d = subprocess.run([DUMP, out, split, raw], capture_output=True, text=True, env=ENV)
        check(d.returncode == 0, "store_dump %s: %s" % (split, d.stderr))
        a = array.array("f")
        with open(raw, "rb") as f:
            a.frombytes(f.read())
        check(len(a) == n * 256 * 256, "%s holds %d images" % (split, len(a) // 65536))
        for i in range(n):
            img = a[i * 65536:(i + 1) * 65536]
            if not (min(img) == -1.0 and max(img) == 1.0):
                check(False, "%s image %d spans [-1,1] (%g..%g)" % (split, i, min(img), max(img)))
    w = h5data(out, "/class_weights")
    check(len(w) == len(classes) and all(0 < x < 1e30 for x in w), "class_weights finite %s" % w)
    check("ratio" in so and "img/s" in so, "summary printed: " + so)
    m = re.search(r"raw float32 (\d+) bytes -> stored chunks (\d+) bytes, ratio ([0-9.]+)", so)
    check(m is not None and abs(float(m.group(3)) - int(m.group(1)) / int(m.group(2))) < 0.006,
          "the ratio is raw over stored: " + (m.group(0) if m else so))
    # off a terminal: a line per split, and within a split a heartbeat a minute (none in this
    # short pack); CXR_PROGRESS_S=0 (the test knob) gives one at every progress report
    check("so far" not in se, "a heartbeat line within a minute: " + se)
    beat = dict(env, CXR_PROGRESS_S="0")
    rc, so, se = run([SAMPLE, "-o", os.path.join(tmp, "b.h5"), "--threads", "2", "--shard", "3"],
                     env=beat)
    done = [int(x) for x in re.findall(r"cxr-pack: train: (\d+)/64 overall so far, 0 skipped, ", se)]
    check(rc == 0 and len(done) >= 3 and done == sorted(done) and done[-1] < 48,
          "heartbeats within train, growing, before its line: %s" % se)
    check(se.index("overall so far") < se.index("cxr-pack: train: 48 inputs done"),
          "the heartbeats come before the split's line: " + se)


def case_h5py(tmp):
    try:
        import h5py
        import numpy as np
    except ImportError:
        print("h5py/numpy not importable: skipped", file=sys.stderr)
        sys.exit(77)
    out = os.path.join(tmp, "s.h5")
    rc, _, se = run([SAMPLE, "-o", out, "--shard", "7"])
    check(rc == 0, "pack rc=%d %s" % (rc, se))
    if rc:
        return
    os.environ["HDF5_PLUGIN_PATH"] = PLUGINS
    with h5py.File(out, "r") as f:
        for split in ("train", "test"):
            raw = os.path.join(tmp, split + ".f32")
            d = subprocess.run([DUMP, out, split, raw], capture_output=True, text=True, env=ENV)
            check(d.returncode == 0, "store_dump %s: %s" % (split, d.stderr))
            ours = np.fromfile(raw, dtype="<f4")
            theirs = f[split]["images"][...]
            check(theirs.dtype == np.float32 and theirs.shape[1:] == (256, 256), "h5py shape")
            check(np.array_equal(ours, theirs.reshape(-1)), "%s: h5py images == library reader" % split)
            lab = [int(l.split()[2]) for l in d.stdout.splitlines() if l.startswith("label ")]
            check(lab == list(f[split]["labels"][...]), "%s labels agree" % split)


def case_determinism(tmp):
    root, _ = make_bad_tree(tmp)  # failures exercise the compaction and carry-over paths
    outs = []
    for i, extra in enumerate([["--threads", "1"], ["--threads", "2"], ["--threads", "2", "--window", "1"],
                               ["--threads", "2", "--window", "3"], ["--threads", "3", "--window", "2"]]):
        d = os.path.join(tmp, "o%d" % i)
        os.mkdir(d)
        out = os.path.join(d, "s.h5")
        rc, _, se = run([root, "-o", out, "--shard", "5"] + extra)
        check(rc == 0, "pack %s rc=%d %s" % (extra, rc, se))
        outs.append(out)
    # a window larger than the set needs: the rounds take what there is, within 16 GB of
    # address space (2 x 4097 mapped chunks of 5 images, 21 GB, before)
    d = os.path.join(tmp, "ow")
    os.mkdir(d)
    out = os.path.join(d, "s.h5")
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    cap = 16 << 30 if hard == resource.RLIM_INFINITY else min(16 << 30, hard)
    lim = lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    rc, _, se = run([root, "-o", out, "--shard", "5", "--threads", "2", "--window", "4096"],
                    preexec_fn=lim)
    check(rc == 0, "pack --window 4096 under 16 GB rc=%d %s" % (rc, se))
    outs.append(out)
    # the default window is lowered to what the memory free holds (2 x 30 shuffled and
    # compressed images of 256 KiB, 15 MiB, at --threads 2; 10 MiB at a window of 1), not the
    # store; a given --window, or a shard no window of 1 fits, is refused before any work
    mem = lambda mb: dict(ENV, CXR_MEM_AVAILABLE_MB=str(mb))
    d = os.path.join(tmp, "om")
    os.mkdir(d)
    out = os.path.join(d, "s.h5")
    p = subprocess.run([PACK, root, "-o", out, "--shard", "5", "--threads", "2"], env=mem(12),
                       capture_output=True, text=True)
    check(p.returncode == 0, "pack in 12 MiB rc=%d %s" % (p.returncode, p.stderr))
    check("1 shard(s) a round instead of 2, for the memory free" in p.stderr,
          "the lowered window is said: %s" % p.stderr)
    outs.append(out)
    for mb, extra, opt in ((12, ["--window", "2"], "--window or --shard"), (8, [], "--shard")):
        o2 = os.path.join(d, "r.h5")
        p = subprocess.run([PACK, root, "-o", o2, "--shard", "5", "--threads", "2"] + extra,
                           env=mem(mb), capture_output=True, text=True)
        check(p.returncode == 1 and "more than the %.1f MiB this machine has free: give a smaller %s"
              % (mb, opt) in p.stderr and o2 in p.stderr,
              "%s in %d MiB: refused naming the output and %s (%d): %s" % (extra, mb, opt, p.returncode, p.stderr))
        check(not os.path.exists(o2), "%s in %d MiB: no store" % (extra, mb))
    no_temp_left(d, keep=("s.h5",))
    for o in outs[1:]:
        same = subprocess.run(["cmp", outs[0], o]).returncode == 0
        check(same, "%s byte-identical to %s" % (o, outs[0]))


def case_bad_inputs(tmp):
    root, bad = make_bad_tree(tmp)
    # entries that are not files: said, not dropped in silence (a FIFO would block a reader)
    nd = os.path.join(root, "train", "NORMAL")
    os.mkfifo(os.path.join(nd, "bad_fifo.jpeg"))
    bad["bad_fifo.jpeg"] = "not a regular file (a FIFO)"
    os.symlink(os.path.join(tmp, "nowhere.jpeg"), os.path.join(nd, "bad_link.jpeg"))
    bad["bad_link.jpeg"] = "No such file or directory"
    os.mkdir(os.path.join(nd, "bad_dir.jpeg"))
    bad["bad_dir.jpeg"] = "a folder inside a class folder"
    # a class folder that is a dangling link (storage not mounted): said, not a class lost
    os.symlink(os.path.join(tmp, "unmounted"), os.path.join(root, "train", "bad_class"))
    bad["bad_class"] = "not a class folder: cannot stat: No such file or directory"
    out = os.path.join(tmp, "s.h5")
    rc, so, se = run([root, "-o", out, "--shard", "4"])
    check(rc == 0, "pack rc=%d %s" % (rc, se))
    if rc:
        return
    for name, why in bad.items():
        lines = [l for l in se.splitlines() if l.startswith("cxr-pack: skip ") and name in l]
        check(len(lines) == 1, "one skip line for %s (got %s)" % (name, lines))
        if lines and why:
            check(why in lines[0], "%s reason mentions '%s': %s" % (name, why, lines[0]))
        # named as it can be opened: under SRC like the decoder's skips, not relative to it
        shown = lines[0][len("cxr-pack: skip "):].split(": ")[0] if lines else ""
        check(os.path.lexists(shown), "%s named by a path that exists: %s" % (name, shown))
    for sysf in (".DS_Store", "Thumbs.db"):
        check(sysf not in se, "%s ignored silently" % sysf)
    skipped = h5data(out, "/skipped/path")
    check(sorted(os.path.basename(p) for p in skipped) == sorted(bad),
          "/skipped/path lists the bad files: %s" % skipped)
    reasons = h5data(out, "/skipped/reason")
    check(len(reasons) == len(bad) and all(reasons), "a reason for each skip")
    good = folder_counts(SAMPLE, "train")
    counts = h5data(out, "/train/class_counts")
    check(counts == [len(good[c]) for c in sorted(good)], "valid images stored: %s" % counts)
    paths = h5data(out, "/train/paths")
    check(not any("bad_" in p for p in paths), "no bad file among the stored paths")
    check(re.search(r"skipped %d\b" % len(bad), so) is not None, "summary counts %d skips" % len(bad))
    # the progress line's numbers add up: train's inputs less their skips are its images, the
    # files skipped as the folders were listed (not inputs) counted apart
    m = re.search(r"cxr-pack: train: (\d+) inputs done, (\d+) skipped \(\d+/\d+ overall; "
                  r"(\d+) more skipped as the inputs were listed\)", se)
    check(m is not None and int(m.group(1)) - int(m.group(2)) == sum(counts)
          and int(m.group(2)) + int(m.group(3)) == len(bad),
          "train's progress line adds up to %d images, %d skips: %s" % (sum(counts), len(bad), se))
    se0 = se
    # ... also for a split with no input, said before any skip was counted (it read "-2 of them
    # skipped")
    t2 = os.path.join(tmp, "t2")
    for c in ("A", "B"):
        os.makedirs(os.path.join(t2, "train", c))
        open(os.path.join(t2, "train", c, c + ".txt"), "w").write("not an image\n")
    shutil.copytree(os.path.join(SAMPLE, "test"), os.path.join(t2, "test"))
    rc, _, se = run([t2, "-o", os.path.join(tmp, "t2.h5")])
    check(re.search(r"cxr-pack: train: 0 inputs done, 0 skipped \(0/\d+ overall", se)
          is not None and "-" not in "".join(re.findall(r"(-?\d+) skipped \(", se)),
          "an empty train split's progress line: %s" % se)
    # ... and each split's line counts its own skips, not those of the splits before (a walk
    # read train's 3 skips on test's line)
    m = re.search(r"cxr-pack: test: (\d+) inputs done, (\d+) skipped \(", se0)
    check(m is not None and int(m.group(2)) == 0, "test's line counts test's skips: %s" % se0)


def case_strict(tmp):
    root, _ = make_bad_tree(tmp)
    d = os.path.join(tmp, "out")
    os.mkdir(d)
    rc, _, se = run([root, "-o", os.path.join(d, "s.h5"), "--strict"])
    check(rc == 3, "--strict exits 3 (got %d)" % rc)
    check("skip" in se, "the fatal skip is reported: " + se)
    no_temp_left(d)
    # a decode failure (not a planning skip) under --strict
    os.remove(os.path.join(root, "train", "NORMAL", "notes.txt"))
    rc, _, se = run([root, "-o", os.path.join(d, "s.h5"), "--strict", "--threads", "2"])
    check(rc == 3, "--strict on a decode failure exits 3 (got %d): %s" % (rc, se))
    check("bad_" in se, "names the bad file: " + se)
    no_temp_left(d)


def big_tree(tmp, copies):
    root = os.path.join(tmp, "big")
    for split in ("train", "test"):
        for c, files in folder_counts(SAMPLE, split).items():
            d = os.path.join(root, split, c)
            os.makedirs(d)
            for k in range(copies if split == "train" else 1):
                for f in files:
                    os.symlink(os.path.abspath(os.path.join(SAMPLE, split, c, f)),
                               os.path.join(d, "%04d_%s" % (k, f)))
    return root


def start_packing(args, out):
    """Start cxr-pack writing `out` and return it once it is packing: its temporary store
    (.NAME.cxr-tmp-PID-*, common/cxr_tmpfile.h) exists, so the signal handlers are in place and
    the pipeline runs. Waiting on
    that, not on a fixed delay, keeps a loaded machine from signalling a process that has not
    started yet (or has not reached the pipeline); it only makes the wait longer."""
    p = subprocess.Popen([PACK] + args + ["-o", out], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=ENV, text=True)
    pattern = os.path.join(os.path.dirname(out) or ".",
                           ".%s.cxr-tmp-%d-*" % (os.path.basename(out), p.pid))
    deadline = time.time() + 100
    while not glob.glob(pattern) and p.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    check(p.poll() is None and bool(glob.glob(pattern)),
          "pack running, its temporary store there, when signalled (rc %s)" % p.poll())
    return p


def case_interrupt(tmp):
    # 2,400 inputs, >= 0.8 s at 3,000 img/s: still packing when signalled (start_packing); the
    # links cost ~0.3 s, but seconds when other jobs load the disk (200 copies took 31-44 s)
    root = big_tree(tmp, 50)
    d = os.path.join(tmp, "out")
    os.mkdir(d)
    out = os.path.join(d, "s.h5")
    p = start_packing([root, "--threads", "2"], out)
    p.send_signal(signal.SIGINT)
    t0 = time.time()
    so, se = p.communicate(timeout=60)
    check(p.returncode == 130, "SIGINT -> exit 130 (got %d): %s" % (p.returncode, se))
    check(time.time() - t0 < 10, "stopped promptly (%.1f s)" % (time.time() - t0))
    check(not os.path.exists(out), "no file at the output path")
    no_temp_left(d)
    # SIGTERM likewise
    p = start_packing([root, "--threads", "1"], out)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    check(p.returncode == 130, "SIGTERM -> exit 130 (got %d)" % p.returncode)
    no_temp_left(d)


def case_write_error(tmp):
    """A write that fails (the file-size limit here, EFBIG, as a full disk gives ENOSPC) ends
    with exit 4 and one message naming the file and the reason, and leaves nothing behind. It
    used to end in SIGSEGV after the message: HDF5 1.10.8's atexit cleanup after a failed
    H5Fclose."""
    root = big_tree(tmp, 4)  # ~200 images, ~40 MB of store
    d = os.path.join(tmp, "out")
    os.mkdir(d)
    out = os.path.join(d, "s.h5")
    limit = 8 << 20

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    for threads in ("1", "2"):
        p = subprocess.run([PACK, root, "-o", out, "--shard", "8", "--threads", threads],
                           capture_output=True, text=True, env=ENV, preexec_fn=limited)
        check(p.returncode == 4, "write failure -> exit 4 (got %d): %s" % (p.returncode, p.stderr))
        check("File too large" in p.stderr, "names the reason: " + p.stderr)
        check(out in p.stderr, "names the file: " + p.stderr)
        check("cxr-tmp" not in p.stderr, "names the temporary, not the output: " + p.stderr)
        check(not os.path.exists(out), "no file at the output path")
        no_temp_left(d)


def case_nomem(tmp):
    """Memory that runs out while an input is read is the machine's failure, not the input's:
    the pack stops (exit 1, naming the file, the reason and the limit, nothing written), rather than
    skipping the image and writing a store that silently lacks it (the outcome would then
    depend on the memory free at the time). The file: a sample JPEG followed by zeros to 60 MB
    (sparse; under the 64 MiB input cap), read whole (75 MB with the buffer's slack). The limit:
    the smallest address-space limit under which the sample alone packs (found here, 4 MB
    steps), plus 32 MB. Then (with JPEG_MAKE) libjpeg's own allocation, for a progressive file.
    Also on the path that hashes the later splits first (--drop-duplicates). First: file
    descriptors (ulimit -n), whose want is no fault of the input either."""
    root = os.path.join(tmp, "src")
    shutil.copytree(SAMPLE, root)
    d = os.path.join(tmp, "out")
    os.mkdir(d)
    out = os.path.join(d, "s.h5")

    def packs(limit, extra=()):
        lim = lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        return run([root, "-o", out, "--threads", "1"] + list(extra), preexec_fn=lim)

    # running out of file descriptors (ulimit -n) is the process's failure too: under limits
    # of 4 to 12 descriptors a run fails or packs everything, never skips an input it could
    # not open (an exit 0 replaced the store with one lacking most images) and never replaces
    # the output when it fails. Some limit must stop the pack at an input, but only at
    # --threads 1 is that certain: at --threads 2 the first round creates the store while the
    # other thread reads inputs, so under the limit that leaves one descriptor beyond the
    # store's, the store's creation fails instead (exit 4, "cannot create its temporary file")
    # when an input holds that descriptor at that moment (no limit then stopped the pack at an
    # input: 5 runs of this case in 452 on a loaded 2-core machine, and once in a parallel ctest)
    stopped = 0
    for threads in ("1", "2"):
        for n in range(4, 13):
            with open(out, "w") as f:
                f.write("OLD")
            lim = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            rc, _, se = run([root, "-o", out, "--threads", threads], preexec_fn=lim)
            what = "ulimit -n %d, --threads %s" % (n, threads)
            check(not ("cxr-pack: skip " in se and "Too many open files" in se),
                  "%s: an input skipped for want of descriptors (exit %d): %s" % (what, rc, se))
            if rc != 0:
                check(open(out, "rb").read() == b"OLD", "%s: exit %d replaced the output" % (what, rc))
            stopped += (threads == "1" and rc == 1 and "Too many open files" in se
                        and "not the file's fault" in se)
            no_temp_left(d, keep=("s.h5",))
    check(stopped > 0, "no descriptor limit of 4 to 12 stopped the pack at an input (--threads 1)")
    os.remove(out)

    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    lo, hi = 16 << 20, 2048 << 20
    if hard != resource.RLIM_INFINITY and hard < hi:
        print("skipped: an address-space limit of %d bytes is already set" % hard)
        sys.exit(77)
    for extra in ([], ["--drop-duplicates"]):
        a, b = lo, hi  # packs at b, not at a
        check(packs(b, extra)[0] == 0, "%s the sample packs under %d MB" % (extra, b >> 20))
        while b - a > (4 << 20):
            m = (a + b) // 2
            if packs(m, extra)[0] == 0:
                b = m
            else:
                a = m
        if os.path.exists(out):
            os.remove(out)
        first = sorted(glob.glob(os.path.join(root, "test", "NORMAL", "*.jp*g")))[0]
        big = os.path.join(root, "test", "NORMAL", "zz_big.jpeg")
        shutil.copyfile(first, big)
        os.truncate(big, 60 << 20)
        rc, _, se = packs(b + (32 << 20), extra)
        check(rc == 1, "%s out of memory reading an input under %d MB: exit 1 (got %d): %s"
              % (extra, (b >> 20) + 32, rc, se))
        check("zz_big.jpeg" in se and "out of memory" in se,
              "%s names the file and the reason: %s" % (extra, se))
        check("address space is limited to %.0f MiB: ulimit -v" % ((b + (32 << 20)) / 1048576.0) in se,
              "%s names the limit: %s" % (extra, se))
        check("cxr-pack: skip " not in se, "%s nothing skipped: %s" % (extra, se))
        check(not os.path.exists(out), "%s no store written" % extra)
        no_temp_left(d)
        # without the limit the same tree packs (the big file decoded, or skipped as a bad
        # input): the failure above was the memory
        rc, _, se = run([root, "-o", out, "--threads", "1"] + extra)
        check(rc == 0, "%s without the limit: exit 0 (got %d): %s" % (extra, rc, se))
        os.remove(out)
        os.remove(big)
        if not JMAKE:
            continue
        # libjpeg's own allocation: a progressive 5000x5000 file (a few hundred KB) makes the
        # decoder buffer 50 MB of coefficients, over the 32 MB margin ("Insufficient memory")
        prog = os.path.join(root, "test", "NORMAL", "zz_prog.jpeg")
        r = subprocess.run([JMAKE, "progressive", "5000", "5000", prog])
        check(r.returncode == 0, "jpeg_make progressive")
        rc, _, se = packs(b + (32 << 20), extra)
        check(rc == 1 and "zz_prog.jpeg" in se and "out of memory" in se and "ulimit -v" in se
              and "cxr-pack: skip " not in se,
              "%s out of memory inside the JPEG decoder: exit 1 naming the file (got %d): %s" % (extra, rc, se))
        check(not os.path.exists(out), "%s no store written (decoder)" % extra)
        rc, _, se = run([root, "-o", out, "--threads", "1"] + extra)
        check(rc == 0 and "zz_prog.jpeg" not in se, "%s without the limit the progressive file packs (%d): %s"
              % (extra, rc, se))
        os.remove(out)
        os.remove(prog)


def case_odd_names(tmp):
    """File and folder names that are not valid UTF-8 (from a file system in another encoding)
    are packed; the store keeps every string valid UTF-8, each offending byte written \\xNN."""
    root = os.path.join(tmp, "odd")
    shutil.copytree(SAMPLE, root)
    src = os.path.join(root, "train", "NORMAL", folder_counts(SAMPLE, "train")["NORMAL"][0])
    nb = os.path.join(os.fsencode(root), b"train", b"NORMAL")
    try:
        shutil.copy(src, os.path.join(nb, b"bad\xff\xfename.jpeg"))
    except OSError as e:  # a file system that only takes UTF-8 names (EILSEQ)
        print("cannot create a non-UTF-8 file name here (%s): skipped" % e, file=sys.stderr)
        sys.exit(77)
    shutil.copy(src, os.path.join(nb, "\u00fcn\u00efcode name.jpeg".encode()))
    os.mkdir(os.path.join(os.fsencode(root), b"train", b"CL\xe9SS"))
    shutil.copy(src, os.path.join(os.fsencode(root), b"train", b"CL\xe9SS", b"x.jpeg"))
    out = os.path.join(tmp, "s.h5")
    rc, so, se = run([root, "-o", out], errors="backslashreplace")  # it prints names as they are
    check(rc == 0, "pack rc=%d %s" % (rc, se))
    if rc:
        return
    d = subprocess.run([DUMP, out, "train", os.path.join(tmp, "t.f32")], capture_output=True, env=ENV)
    check(d.returncode == 0, "store_dump: %s" % d.stderr)
    paths = [l.split(b" ", 3)[3] for l in d.stdout.splitlines() if l.startswith(b"label ")]
    check(len(paths) == sum(len(v) for v in folder_counts(SAMPLE, "train").values()) + 3,
          "every image packed (%d)" % len(paths))
    for p in paths:
        try:
            p.decode("utf-8")
        except UnicodeDecodeError:
            check(False, "stored path is valid UTF-8: %r" % p)
    check(b"train/NORMAL/bad\\xFF\\xFEname.jpeg" in paths, "invalid bytes escaped: %r" % paths[:3])
    check("train/NORMAL/\u00fcn\u00efcode name.jpeg".encode() in paths, "valid UTF-8 kept as is")
    check(b"train/CL\\xE9SS/x.jpeg" in paths, "folder name escaped too")
    names = h5data(out, "/class_names")
    check("CL\\\\xE9SS" in names or "CL\\xE9SS" in names, "class name escaped: %s" % names)
    # the summary table stays aligned with class names past 12 characters and of UTF-8 (its
    # columns were 12 bytes wide: a new user's walk), the widest cut at 24 columns
    wide = os.path.join(tmp, "wide")
    shutil.copytree(SAMPLE, wide)
    for split in ("train", "test"):
        os.rename(os.path.join(wide, split, "NORMAL"), os.path.join(wide, split, "Lungen\u00f6dem, akut"))
        os.rename(os.path.join(wide, split, "PNEUMONIA"),
                  os.path.join(wide, split, "PNEUMONIA " + "x" * 30))
    rc, so, se = run([wide, "-o", os.path.join(tmp, "w.h5")])
    table = [l for l in so.splitlines() if l.split(" ", 1)[0] in ("split", "train", "test")]
    check(rc == 0 and len(table) == 3 and len(set(len(l) for l in table)) == 1 and
          "Lungen\u00f6dem, akut" in table[0] and "PNEUMONIA xxxx" in table[0] and
          "x" * 30 not in table[0],
          "the summary table with wide names: %d\n%s" % (rc, "\n".join(table)))


def case_options(tmp):
    """Options that would destroy the output, make flat images, do nothing, or ask for the
    impossible are refused (exit 2), before anything is written."""
    out = os.path.join(tmp, "s.h5")
    refused = [
        (["--duplicates-report", os.path.join(tmp, ".", "s.h5")], "the same file; give each its own"),
        (["--size", "8"], "CLAHE's 8x8 tiles need at least 16 pixels a side"),
        (["--top-classes", "1"], "--top-classes needs --manifest FILE"),
        (["--images", tmp], "--images needs --manifest FILE"),
        (["--min-count", "2"], "--min-count needs --manifest FILE"),
        (["--test-fraction", "0.5"], "--test-fraction needs --manifest FILE"),
        (["--size", "4096", "--shard", "65536"], "exceeds HDF5's 4 GiB chunk limit"),
    ]
    for extra, why in refused:
        rc, so, se = run([SAMPLE, "-o", out] + extra)
        check(rc == 2 and why in se, "%s: exit 2 with '%s' (got %d: %s)" % (extra, why, rc, se))
        no_temp_left(tmp)
    # a side refused is not first warned about as "written all the same"
    rc, so, se = run([SAMPLE, "-o", out, "--size", "15"])
    check(rc == 2 and "tiles need at least 16" in se and "written all the same" not in se,
          "--size 15: one refusal, no warning (%d: %s)" % (rc, se))
    rc, so, se = run([SAMPLE, "-o", out, "--size", "8", "--equalize", "global", "--quiet"])
    check(rc == 0, "--size 8 without CLAHE packs (%d: %s)" % (rc, se))
    # two class names that are stored alike (a non-UTF-8 byte is stored as its \xNN escape)
    root = os.path.join(os.fsencode(tmp), b"esc")
    one = os.path.join(os.fsencode(SAMPLE), b"train", b"NORMAL")
    src = os.path.join(one, sorted(os.listdir(one))[0])
    try:
        for cls in (b"A\xff", b"A\\xFF"):
            for split in (b"train", b"test"):
                os.makedirs(os.path.join(root, split, cls))
                shutil.copy(src, os.path.join(root, split, cls, b"x.jpeg"))
    except OSError as e:  # a file system that only takes UTF-8 names (EILSEQ)
        print("cannot create a non-UTF-8 folder name here (%s): skipped" % e, file=sys.stderr)
        return
    out = os.path.join(tmp, "esc.h5")
    rc, so, se = run([os.fsdecode(root), "-o", out, "--size", "32"], errors="backslashreplace")
    # the input's names: bad input data; the message is escaped as every line on stderr is, its
    # backslash doubled (the stored name is the 5 characters A\xFF)
    check(rc == 3 and "are both stored as 'A\\\\xFF'" in se,
          "class names equal once escaped: exit 3 (got %d: %s)" % (rc, se))
    check(not os.path.exists(out), "no store left by a refused class name")


def case_untouched(tmp):
    d = os.path.join(tmp, "out")
    os.mkdir(d)
    out = os.path.join(d, "s.h5")
    open(out, "w").write("precious\n")
    root, _ = make_bad_tree(tmp)
    rc, _, _ = run([root, "-o", out, "--strict"])
    check(rc == 3, "strict failure exits 3")
    rc, _, se = run([os.path.join(tmp, "nothing"), "-o", out])
    check(rc == 2 and "nothing: No such file or directory" in se,
          "missing source exits 2 saying so (got %d): %s" % (rc, se))
    rc, _, se = run([out, "-o", os.path.join(d, "t.h5")])  # a file as the source
    check(rc == 2 and "s.h5: not a directory" in se,
          "a file as the source exits 2 saying so (got %d): %s" % (rc, se))
    rc, _, se = run([os.path.join(out, "train"), "-o", os.path.join(d, "t.h5")])  # a path through it
    check(rc == 2 and "s.h5/train: Not a directory" in se,
          "a path through a file as the source exits 2 saying so (got %d): %s" % (rc, se))
    rc, _, se = run([SAMPLE, "-o", d])  # a directory as the output: said before any work
    check(rc == 2 and "is a directory" in se, "-o DIR exits 2 naming it (got %d): %s" % (rc, se))
    big = big_tree(tmp, 50)  # as in case_interrupt
    p = start_packing([big], out)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    check(p.returncode == 130, "interrupted run exits 130 (got %d)" % p.returncode)
    check(open(out).read() == "precious\n", "existing output untouched by failed runs")
    no_temp_left(d, keep=("s.h5",))
    # a source whose every input is skipped (without --strict): exit 3, said, nothing written;
    # one that lists no image at all: the same
    junk = os.path.join(tmp, "junk")
    for split in ("train", "test"):
        for c in ("A", "B"):
            os.makedirs(os.path.join(junk, split, c))
            open(os.path.join(junk, split, c, "x.jpg"), "w").write("not a jpeg\n")
    rc, _, se = run([junk, "-o", out, "--threads", "2"])
    check(rc == 3 and "no image to pack: all 4 input(s) were skipped" in se,
          "all inputs skipped: exit 3, said (got %d): %s" % (rc, se))
    # ... past 100 of them: the rest counted by reason with an example, as no store holds them
    for k in range(120):
        open(os.path.join(junk, "train", "A", "y%03d.jpg" % k), "w").write("not a jpeg\n")
    rc, _, se = run([junk, "-o", out, "--threads", "2"])
    named = [l for l in se.splitlines() if l.startswith("cxr-pack: skip ")]
    check(rc == 3 and len(named) == 100 and "cxr-pack: 24 more skipped input(s) not named here:\n"
          "cxr-pack:   24 x not a readable JPEG: Not a JPEG file: starts with 0x6e 0x6f (a JPEG "
          "with 0xff 0xd8) (e.g. "
          in se and "no image to pack: all 124 input(s) were skipped" in se,
          "124 inputs skipped: 100 named, 24 counted by reason (got %d): %s" % (rc, se[-700:]))
    for k in range(120):
        os.remove(os.path.join(junk, "train", "A", "y%03d.jpg" % k))
    # a file of one byte is said as such (libjpeg named its fill byte as the second: "starts
    # with 0x78 0xff")
    open(os.path.join(junk, "train", "A", "one.jpg"), "w").write("x")
    rc, _, se = run([junk, "-o", out, "--threads", "2"])
    check(rc == 3 and "one.jpg: not a readable JPEG: Not a JPEG file: 1 byte (0x78); a JPEG starts "
          "with 0xff 0xd8\n" in se, "a 1-byte file (got %d): %s" % (rc, se))
    os.remove(os.path.join(junk, "train", "A", "one.jpg"))
    for split in ("train", "test"):
        for c in ("A", "B"):
            os.remove(os.path.join(junk, split, c, "x.jpg"))
    rc, _, se = run([junk, "-o", out])
    check(rc == 3 and "no image to pack: it lists none" in se,
          "no inputs: exit 3, said (got %d): %s" % (rc, se))
    check(open(out).read() == "precious\n", "existing output untouched by failed runs")
    no_temp_left(d, keep=("s.h5",))
    # and replaced by a successful one
    rc, _, se = run([SAMPLE, "-o", out])
    check(rc == 0 and open(out, "rb").read(4) == b"\x89HDF", "successful run replaces it: " + se)


def patient(p):
    b = os.path.splitext(os.path.basename(p))[0]
    m = re.match(r"(person\d+)_", b) or re.match(r"((?:NORMAL2-)?IM-\d+)-", b)
    return m.group(1) if m else b


def case_val_fraction(tmp):
    outs = []
    for i in range(2):
        out = os.path.join(tmp, "v%d.h5" % i)
        rc, so, se = run([SAMPLE, "-o", out, "--val-fraction", "0.25", "--threads", str(i + 1)])
        check(rc == 0, "pack --val-fraction rc=%d %s" % (rc, se))
        if rc:
            return
        outs.append(out)
    check(subprocess.run(["cmp", outs[0], outs[1]]).returncode == 0, "--val-fraction deterministic")
    # command_line records the fraction as given (0.1, not 0.10000000000000001)
    rc, so, se = run([SAMPLE, "-o", os.path.join(tmp, "v01.h5"), "--val-fraction", "0.1", "--quiet"])
    cl = subprocess.run(["h5dump", "-a", "/command_line", os.path.join(tmp, "v01.h5")],
                        capture_output=True, text=True).stdout
    check(rc == 0 and re.search(r'--val-fraction 0\.1"', cl) is not None,
          "command_line's --val-fraction: %s" % cl)
    check("warning" not in se, "no warning at 0.25: %s" % se)
    # fractions that leave a class nothing to train on, or val empty, are said (still packed)
    for frac, want in (("0.95", "moved every train image of class 'PNEUMONIA'"),
                       ("0.001", "--val-fraction 0.001 leaves the val split empty")):
        rc, so, se = run([SAMPLE, "-o", os.path.join(tmp, "w.h5"), "--val-fraction", frac])
        check(rc == 0 and "cxr-pack: warning: " in se and want in se,
              "--val-fraction %s: rc=%d, warning %r in %s" % (frac, rc, want, se))
    # a class of few, large patients (3 of 8 images each): val takes a whole one, 8 images for
    # a target of 2, which is said
    src = os.path.join(tmp, "bigpatients")
    shutil.copytree(SAMPLE, src)
    pd = os.path.join(src, "train", "PNEUMONIA")
    for i, f in enumerate(sorted(os.listdir(pd))):
        os.rename(os.path.join(pd, f), os.path.join(pd, "person%d_bacteria_%d.jpeg" % (i % 3 + 1, i)))
    n_pn = len(os.listdir(pd))
    rc, so, se = run([src, "-o", os.path.join(tmp, "big.h5"), "--val-fraction", "0.1"])
    want = "--val-fraction 0.1 took %d of the %d images of class 'PNEUMONIA'" % (n_pn // 3, n_pn)
    check(rc == 0 and want in se and "few, large ones" in se and "NORMAL" not in se,
          "large patients: rc=%d, %r not in %s" % (rc, want, se))
    tr, va = h5data(outs[0], "/train/paths"), h5data(outs[0], "/val/paths")
    n_train = sum(len(v) for v in folder_counts(SAMPLE, "train").values())
    check(len(tr) + len(va) == n_train, "train+val = original train (%d+%d)" % (len(tr), len(va)))
    check(0.1 * n_train <= len(va) <= 0.4 * n_train, "val size %d near 25%% of %d" % (len(va), n_train))
    both = {patient(p) for p in tr} & {patient(p) for p in va}
    check(not both, "no patient in both train and val: %s" % both)
    vc = h5data(outs[0], "/val/class_counts")
    check(all(c > 0 for c in vc), "val stratified, every class present: %s" % vc)
    # a source with val/ already
    src = os.path.join(tmp, "withval")
    shutil.copytree(SAMPLE, src)
    shutil.copytree(os.path.join(SAMPLE, "test"), os.path.join(src, "val"))
    rc, _, se = run([src, "-o", os.path.join(tmp, "x.h5"), "--val-fraction", "0.2"])
    check(rc == 2 and "val" in se, "val/ with --val-fraction is an error (rc=%d): %s" % (rc, se))
    check(not os.path.exists(os.path.join(tmp, "x.h5")), "no output")
    # ... also an empty val/ (it passed for no val/)
    src = os.path.join(tmp, "emptyval")
    shutil.copytree(SAMPLE, src)
    os.mkdir(os.path.join(src, "val"))
    rc, _, se = run([src, "-o", os.path.join(tmp, "x.h5"), "--val-fraction", "0.2"])
    check(rc == 2 and "already has a val split" in se,
          "an empty val/ with --val-fraction is an error (rc=%d): %s" % (rc, se))


def case_missing_split(tmp):
    src = os.path.join(tmp, "src")
    shutil.copytree(os.path.join(SAMPLE, "test"), os.path.join(src, "test"))
    rc, _, se = run([src, "-o", os.path.join(tmp, "x.h5")])
    check(rc == 3, "missing train/ exits 3 (got %d)" % rc)
    check(os.path.join(src, "train") in se, "message names the missing folder: " + se)
    # a val/ that is there but no folder (a link to a disk not mounted, a link loop, a file) is
    # said, exit 3, never dropped unseen (the store had no val split and a word of none)
    shutil.copytree(os.path.join(SAMPLE, "train"), os.path.join(src, "train"))
    val = os.path.join(src, "val")
    for make, why in ((lambda: os.symlink("/nonexistent/cxr-val", val), "dangling"),
                      (lambda: os.symlink("val", val), "Too many levels of symbolic links"),
                      (lambda: open(val, "w").write("x\n"), "a file")):
        make()
        out = os.path.join(tmp, "v.h5")
        rc, _, se = run([src, "-o", out, "--size", "32"])
        check(rc == 3 and val + ": not a folder: " in se and why in se and not os.path.exists(out),
              "val/ that is no folder (%s): rc=%d: %s" % (why, rc, se))
        os.remove(val)
    # an empty test/ is a test split of no image, as test/ of empty class folders is (the store
    # lacked /test)
    os.mkdir(os.path.join(tmp, "src2"))
    shutil.copytree(os.path.join(SAMPLE, "train"), os.path.join(tmp, "src2", "train"))
    os.mkdir(os.path.join(tmp, "src2", "test"))
    rc, _, se = run([os.path.join(tmp, "src2"), "-o", os.path.join(tmp, "e.h5"), "--size", "32"])
    check(rc == 0, "an empty test/ packs (rc=%d): %s" % (rc, se))
    check(rc == 0 and h5data(os.path.join(tmp, "e.h5"), "/test/class_counts") == [0, 0],
          "an empty test/ is an empty /test split")
    rc, _, se = run(["-o", os.path.join(tmp, "x.h5")])
    check(rc == 2, "no SRC_DIR is a usage error (got %d)" % rc)
    rc, _, se = run([src, "-o", os.path.join(tmp, "x.h5"), "--threads", "zero"])
    check(rc == 2, "bad --threads is a usage error (got %d)" % rc)
    rc, so, _ = run(["--help"])
    check(rc == 0 and "Exit codes" in so and "--val-fraction" in so, "--help documents options")
    check(not os.path.exists(os.path.join(tmp, "x.h5")), "no output")


def case_empty_class(tmp):
    # a class without training images (train/EMPTY empty, test/EMPTY with one): a class of the
    # store, count 0, finite weights; a folder without an image in any split (HOLLOW) is none
    src = os.path.join(tmp, "src")
    shutil.copytree(SAMPLE, src)
    os.makedirs(os.path.join(src, "train", "EMPTY"))
    os.makedirs(os.path.join(src, "test", "EMPTY"))
    os.makedirs(os.path.join(src, "train", "HOLLOW"))
    first = sorted(os.listdir(os.path.join(src, "test", "NORMAL")))[0]
    shutil.copy(os.path.join(src, "test", "NORMAL", first), os.path.join(src, "test", "EMPTY", "e.jpeg"))
    out = os.path.join(tmp, "e.h5")
    rc, so, se = run([src, "-o", out])
    check(rc == 0, "pack with an empty class rc=%d %s" % (rc, se))
    if rc:
        return
    check("skip %s: a class folder without a .jpg/.jpeg file in any split" % os.path.join(src, "train", "HOLLOW")
          in se, "the empty folder's skip not said: %s" % se)
    names = h5data(out, "/class_names")
    check(names == ["EMPTY", "NORMAL", "PNEUMONIA"], "class names %s" % names)
    check(h5data(out, "/train/class_counts")[0] == 0, "empty class count 0")
    w = h5data(out, "/class_weights")
    check(len(w) == 3 and all(x == x and abs(x) < 1e30 for x in w), "class weights finite: %s" % w)


def main():
    tmp = tempfile.mkdtemp(prefix="cxr_pack_%s_" % CASE)
    try:
        globals()["case_" + CASE](tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        sys.exit(1)
    print("ok")


main()
