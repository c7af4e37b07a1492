#!/usr/bin/env python3
"""test_dups.py: cxr-pack's duplicate detection (formats/pack_dups.c, specs/store.md
"Duplicates"), one case per ctest (tests/pack/CMakeLists.txt).

usage: test_dups.py CASE CXR_PACK STORE_DUMP JPEG_MAKE SAMPLE_DIR PLUGIN_DIR FAIL_FSYNC_SO
Trees are data/sample plus copies made here: an exact copy of a train image in test, a copy
under another name in the other train class, a copy in test with a JPEG comment inserted (other
bytes, same pixels), a re-encode at quality 70 (jpeg_make). Exit 0 pass, 1 fail, 77 skip.
"""
import csv
import glob
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

CASE, PACK, DUMP, JMAKE, SAMPLE, PLUGINS, FAIL_FSYNC = sys.argv[1:8]
os.environ["HDF5_PLUGIN_PATH"] = PLUGINS
try:
    import h5py
    import numpy as np
except ImportError:
    print("h5py/numpy not importable: skipped", file=sys.stderr)
    sys.exit(77)
failures = []

A = "train/NORMAL/IM-0115-0001.jpeg"  # copied into test (across splits)
B = "train/NORMAL/IM-0117-0001.jpeg"  # copied into train/PNEUMONIA (within train)
C = "train/NORMAL/IM-0119-0001.jpeg"  # copied into test with a comment inserted
T = "test/PNEUMONIA/person102_bacteria_487.jpeg"  # copied within test
HEADER = ["pixel_hash", "file_hash", "split", "path", "status", "class"]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(args):
    p = subprocess.run([PACK] + args, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def copy(root, src, dst, data=None):
    data = data if data is not None else open(os.path.join(root, src), "rb").read()
    open(os.path.join(root, dst), "wb").write(data)


def with_comment(data):
    """The JPEG with a COM segment after SOI: other bytes, the same image."""
    text = b"cxr test: same pixels, other bytes"
    return data[:2] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + data[2:]


def tree(tmp, exact=True, lossless=False, reencode=False, within_test=False):
    root = os.path.join(tmp, "src")
    shutil.copytree(SAMPLE, root)
    if exact:
        copy(root, A, "test/NORMAL/zz_copy_of_A.jpeg")
        copy(root, B, "train/PNEUMONIA/zz_copy_of_B.jpeg")
    if lossless:
        copy(root, C, "test/NORMAL/zz_comment_C.jpeg", with_comment(open(os.path.join(root, C), "rb").read()))
    if reencode:
        r = subprocess.run([JMAKE, "reencode", os.path.join(root, C),
                            os.path.join(root, "test/NORMAL/zz_q70_C.jpeg"), "70"])
        check(r.returncode == 0, "jpeg_make reencode")
    if within_test:
        copy(root, T, "test/PNEUMONIA/zz_copy_of_T.jpeg")
    return root


def dup_line(stderr):
    m = re.search(r"^cxr-pack: duplicates: (.*)$", stderr, re.M)
    return m.group(1) if m else None


def paths(f, split):
    return [p.decode() for p in f[split]["paths"][...]]


def index_of(f, split, rel):
    p = paths(f, split)
    return p.index(rel) if rel in p else None


def hashes(f, split):
    return f[split]["file_hash"][...], f[split]["pixel_hash"][...]


def attr(f, name):
    v = f.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def read_report(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    check(rows and rows[0] == HEADER, "report header %s" % (rows[:1],))
    return rows[1:]


def case_across(tmp):
    root = tree(tmp)
    out, rep = os.path.join(tmp, "s.h5"), os.path.join(tmp, "dups.tsv")
    rc, _, se = run([root, "-o", out, "--duplicates-report", rep])
    check(rc == 0, "pack rc=%d %s" % (rc, se))
    line = dup_line(se)
    # B's copy is in PNEUMONIA, B in NORMAL: one image under two classes
    want = ("identical files: 2 groups, 2 extra copies (1 of them within a split; 1 groups across "
            "splits: train-test 1; 1 group with different classes); identical pixels: 2 groups, 2 "
            "extra copies (1 of them within a split; 1 groups across splits: train-test 1; 1 group "
            "with different classes); dropped 0")
    check(line == want, "stderr duplicates line %r" % line)
    check("cxr-pack: warning: 1 group of identical images under different classes: one label of "
          "each is wrong; move or remove the wrong copies (the report names each copy's class)"
          in se, "the labels warned of: " + se)
    with h5py.File(out, "r") as f:
        check(attr(f, "duplicates") == want, "store attribute duplicates %r" % attr(f, "duplicates"))
        for split in ("train", "test"):
            fh, ph = hashes(f, split)
            n = len(paths(f, split))
            check(fh.dtype == np.uint64 and fh.shape == (n,) and ph.shape == (n,),
                  "%s hashes uint64 [%d]" % (split, n))
        ftr, ptr = hashes(f, "train")
        fte, pte = hashes(f, "test")
        a, acopy = index_of(f, "train", A), index_of(f, "test", "test/NORMAL/zz_copy_of_A.jpeg")
        check(ftr[a] == fte[acopy] and ptr[a] == pte[acopy], "A and its test copy hash alike")
        check(np.array_equal(f["train"]["images"][a], f["test"]["images"][acopy]), "A's images equal")
        b, bcopy = index_of(f, "train", B), index_of(f, "train", "train/PNEUMONIA/zz_copy_of_B.jpeg")
        check(ftr[b] == ftr[bcopy] and ptr[b] == ptr[bcopy], "B and its copy hash alike")
        allf = list(ftr) + list(fte)
        check(len(set(allf)) == len(allf) - 2, "every other file hash distinct")
        check(len(set(list(ptr) + list(pte))) == len(allf) - 2, "every other pixel hash distinct")
        # hashes follow the store's order: equal pixel hashes <=> equal images, on a few pairs
        imgs = f["train"]["images"][...]
        check(not np.array_equal(imgs[0], imgs[1]) and ptr[0] != ptr[1], "different images, hashes")
    rows = read_report(rep)
    check(sorted((r[2], r[3], r[5]) for r in rows) ==
          sorted([("train", A, "NORMAL"), ("test", "test/NORMAL/zz_copy_of_A.jpeg", "NORMAL"),
                  ("train", B, "NORMAL"),
                  ("train", "train/PNEUMONIA/zz_copy_of_B.jpeg", "PNEUMONIA")]),
          "report members and classes %s" % rows)
    # ... a group whose first and last copies share a class and a middle one does not (B in
    # train/NORMAL, its copy in train/PNEUMONIA, another in test/NORMAL, in the groups' order):
    # every copy is compared, not only the last
    copy(root, B, "test/NORMAL/zz_copy2_of_B.jpeg")
    rc, _, se = run([root, "-o", os.path.join(tmp, "s3.h5")])
    line = dup_line(se) or ""
    check(rc == 0 and line.count("; 1 group with different classes)") == 2,
          "a class differing in the middle of a group: rc=%d %r" % (rc, line))


def case_drop(tmp):
    root = tree(tmp, within_test=True)
    outs = []
    for threads in ("1", "2"):
        out, rep = os.path.join(tmp, "d%s.h5" % threads), os.path.join(tmp, "d%s.tsv" % threads)
        rc, so, se = run([root, "-o", out, "--drop-duplicates", "--duplicates-report", rep,
                          "--threads", threads, "--window", "1", "--shard", "8"])
        check(rc == 0, "pack --drop-duplicates rc=%d %s" % (rc, se))
        outs.append(out)
    check(open(outs[0], "rb").read() == open(outs[1], "rb").read(), "byte-identical at 1 and 2 threads")
    line = dup_line(se)
    check(line is not None and line.endswith("; dropped 2"), "2 dropped: %r" % line)
    check("skip %s/train/NORMAL/IM-0115-0001.jpeg: duplicate of test/NORMAL/zz_copy_of_A.jpeg in test "
          "(identical file)" % root in se, "the train copy of A is dropped, naming the test copy: " + se)
    with h5py.File(outs[0], "r") as f:
        tr, te = paths(f, "train"), paths(f, "test")
        check(A not in tr and "test/NORMAL/zz_copy_of_A.jpeg" in te, "A: the test copy is kept")
        check(B in tr and "train/PNEUMONIA/zz_copy_of_B.jpeg" not in tr, "B: the first in sorted order is kept")
        check(T in te and "test/PNEUMONIA/zz_copy_of_T.jpeg" in te, "test keeps its own duplicates")
        check(len(te) == 16 + 2 and len(tr) == 48 + 1 - 2, "counts train %d test %d" % (len(tr), len(te)))
        sk = list(zip([s.decode() for s in f["skipped"]["split"][...]],
                      [s.decode() for s in f["skipped"]["path"][...]],
                      [s.decode() for s in f["skipped"]["reason"][...]]))
        check(sk == [("train", A, "duplicate of test/NORMAL/zz_copy_of_A.jpeg in test (identical file)"),
                     ("train", "train/PNEUMONIA/zz_copy_of_B.jpeg",
                      "duplicate of %s in train (identical file)" % B)], "skipped %s" % sk)
        check(attr(f, "command_line").endswith(" --drop-duplicates"), "command_line records it")
        check(len(set(hashes(f, "train")[0])) == len(tr), "train holds no duplicate left")
        # the summary's table counts what was packed, as class_counts (the class weights' input)
        # do: not the dropped copies
        for split in ("train", "test"):
            row = [l.split() for l in so.splitlines() if l.split()[:1] == [split]]
            want = [int(c) for c in f[split]["class_counts"][...]]
            check(len(row) == 1 and [int(c) for c in row[0][1:]] == want + [sum(want)],
                  "summary row %s, class_counts %s" % (row, want))
    rows = read_report(rep)
    status = {(r[2], r[3]): r[4] for r in rows}
    check(status.get(("train", A)) == "dropped" and status.get(("test", "test/NORMAL/zz_copy_of_A.jpeg")) == "packed"
          and status.get(("train", "train/PNEUMONIA/zz_copy_of_B.jpeg")) == "dropped"
          and status.get(("test", "test/PNEUMONIA/zz_copy_of_T.jpeg")) == "packed", "report status %s" % status)
    # --strict: a dropped duplicate is not a skip that stops the run
    rc, _, se = run([root, "-o", os.path.join(tmp, "strict.h5"), "--drop-duplicates", "--strict"])
    check(rc == 0, "--strict --drop-duplicates rc=%d %s" % (rc, se))


def case_chain(tmp):
    """One image in train, val and test, the test copy with other bytes (a comment): the val copy
    is dropped for the test copy, so the train copy's reason must name the test copy (identical
    pixels), not the val copy it is byte-identical to (dropped in turn: the reason would name an
    image the store does not hold). The same within one split (below)."""
    root = os.path.join(tmp, "src")
    shutil.copytree(SAMPLE, root)
    data = open(os.path.join(root, C), "rb").read()
    other = open(os.path.join(root, T), "rb").read()

    def dropped_for(val, test, kept, gone):
        """Pack with val/ holding `val` ((class, name, bytes)...) and test/NORMAL `test`; the
        train copy of C and every name in `gone` must be dropped naming `kept`, nothing naming
        a copy in `gone`."""
        shutil.rmtree(os.path.join(root, "val"), ignore_errors=True)
        for cls, name, src in val:
            os.makedirs(os.path.join(root, "val", cls), exist_ok=True)
            copy(root, C, os.path.join("val", cls, name), src)
        for name, src in test:
            copy(root, C, os.path.join("test/NORMAL", name), src)
        rc, _, se = run([root, "-o", os.path.join(tmp, "c.h5"), "--drop-duplicates", "--threads", "2"])
        check(rc == 0, "pack rc=%d %s" % (rc, se))
        for path in [C] + gone:
            check("skip %s/%s: duplicate of %s" % (root, path, kept) in se, "%s names %s: %s" % (path, kept, se))
            check("duplicate of %s in" % path not in se, "no reason names the dropped %s: %s" % (path, se))
        for name, _ in test:
            os.remove(os.path.join(root, "test/NORMAL", name))

    dropped_for([("NORMAL", "v_C.jpeg", data), ("PNEUMONIA", "v_T.jpeg", other)],
                [("zz_comment_C.jpeg", with_comment(data))],
                "test/NORMAL/zz_comment_C.jpeg in test (identical pixels)", ["val/NORMAL/v_C.jpeg"])
    # within one split: val holds the image with a comment (a_pix, first in order, kept) and a
    # byte copy of train's (b_copy, dropped for a_pix): train's copy names a_pix, not b_copy
    dropped_for([("NORMAL", "a_pix.jpeg", with_comment(data)), ("NORMAL", "b_copy.jpeg", data),
                 ("PNEUMONIA", "v_T.jpeg", other)], [],
                "val/NORMAL/a_pix.jpeg in val (identical pixels)", ["val/NORMAL/b_copy.jpeg"])


def case_drop_many(tmp):
    """Many groups, each kept copy another image: past the 100 skips named, stderr counts the
    dropped ones by the kept copy's split and kind (each reason names its kept copy, so a count by
    reason held 16 kept copies and called the rest "other reasons", all duplicates; a scale walk
    of 1000 groups: "17613 x other reasons")."""
    root = os.path.join(tmp, "src")
    shutil.copytree(SAMPLE, root)
    for p in glob.glob(os.path.join(root, "*/*/*.jpeg")):  # a kept copy's name may hold " in "
        os.rename(p, os.path.join(os.path.dirname(p), "x in " + os.path.basename(p)))
    names = sorted(os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "*/*/*.jpeg")))
    for i, rel in enumerate(names):  # 64 groups: a copy of each image in train, its class's
        cls = rel.split(os.sep)[1]
        copy(root, rel, "train/%s/zz_copy%02d.jpeg" % (cls, i))
        # and 64 more: a re-encode (other pixels) in test, its copy in train
        q70 = "test/%s/zz_q70 in %02d.jpeg" % (cls, i)
        r = subprocess.run([JMAKE, "reencode", os.path.join(root, rel), os.path.join(root, q70), "70"])
        check(r.returncode == 0, "jpeg_make reencode %s" % rel)
        copy(root, q70, "train/%s/zz_q70_copy%02d.jpeg" % (cls, i))
    rc, _, se = run([root, "-o", os.path.join(tmp, "m.h5"), "--drop-duplicates", "--size", "32",
                     "--threads", "2"])
    check(rc == 0, "pack rc=%d %s" % (rc, se))
    check(dup_line(se) is not None and dup_line(se).endswith("; dropped 128"), "128 dropped: %s" % dup_line(se))
    m = re.search(r"^cxr-pack: (\d+) more skipped input\(s\) not named here", se, re.M)
    counts = re.findall(r"^cxr-pack:   (\d+) x (.*) \(e\.g\. .*\)$", se, re.M)
    check(m is not None and int(m.group(1)) == 28, "28 skips past the 100 named: %s" % se[-900:])
    check("other reasons" not in se, "no duplicate counted as another reason: %s" % se[-900:])
    check(counts and all(why in ("duplicate of a copy kept in train (identical file)",
                                 "duplicate of a copy kept in test (identical file)") for _, why in counts)
          and sum(int(n) for n, _ in counts) == 28, "counted by the kept copy's split: %s" % counts)


def case_report(tmp):
    root = tree(tmp, within_test=True)
    tabbed = "test/NORMAL/zz tab\tname.jpeg"  # a field the TSV must quote
    copy(root, A, tabbed)
    out, rep = os.path.join(tmp, "s.h5"), os.path.join(tmp, "dups.tsv")
    rc, _, se = run([root, "-o", out, "--duplicates-report", rep])
    check(rc == 0, "pack rc=%d %s" % (rc, se))
    rows = read_report(rep)
    check(all(len(r) == 6 for r in rows), "6 fields per line")
    check(all(re.fullmatch(r"[0-9a-f]{16}", r[0]) and re.fullmatch(r"[0-9a-f]{16}", r[1]) for r in rows),
          "hashes are 16 hex digits")
    check(all(r[2] in ("train", "test") and r[4] == "packed" for r in rows), "split, status fields")
    groups, seen = [], set()
    for r in rows:  # a group's lines are contiguous
        if not groups or groups[-1][0][0] != r[0]:
            check(r[0] not in seen, "group %s contiguous" % r[0])
            seen.add(r[0])
            groups.append([])
        groups[-1].append(r)
    check([len(g) for g in groups] == [3, 2, 2], "groups A (3), B (2), T (2) in plan order: %s" % groups)
    for g in groups:
        data = [open(os.path.join(root, r[3]), "rb").read() for r in g]
        check(all(d == data[0] for d in data) and len({r[1] for r in g}) == 1, "group members identical")
    check(any(r[3] == tabbed for r in rows), "the name with a tab reads back through csv")
    raw = open(rep).read()
    check('"%s"' % tabbed in raw, "that field is quoted")
    # the report is not written over an input, and a failed run leaves none
    rc, _, se = run([root, "-o", out, "--duplicates-report", os.path.join(root, A)])
    check(rc == 2 and "inside" in se, "report inside the source refused: rc=%d %s" % (rc, se))
    rep2 = os.path.join(tmp, "none.tsv")
    rc, _, se = run([root, "-o", os.path.join(tmp, "nodir", "x.h5"), "--duplicates-report", rep2])
    check(rc != 0 and not os.path.exists(rep2), "no report when the store fails (rc=%d)" % rc)
    # a store that fails while written, up to its last bytes (a file-size limit standing in for
    # a full disk): the earlier store and report stay as they were, whatever step failed
    size = os.path.getsize(out)
    old_store, old_report = open(out, "rb").read(), b"the earlier report\n"
    open(rep, "wb").write(old_report)
    for cut in (size // 2, size - 65536, size - 8192, size - 2048, size - 512, size - 64):
        def limit(n=cut):
            resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        p = subprocess.run([PACK, root, "-o", out, "--duplicates-report", rep], capture_output=True,
                           text=True, preexec_fn=limit)
        check(p.returncode == 4, "a limit of %d bytes: exit 4 (got %d: %s)" % (cut, p.returncode, p.stderr))
        check(open(out, "rb").read() == old_store and open(rep, "rb").read() == old_report,
              "a limit of %d bytes changed the earlier store or report (%s)" % (cut, p.stderr))
    # the store's bytes fail to become durable (fsync: EIO, a device losing its last writes):
    # nothing is renamed into place, the report included, and no temporary is left; the same
    # when the report's fsync fails, which is named
    for what, pattern, named in (("store", ".s.h5.cxr-tmp-", "s.h5: cannot sync it to disk"),
                                 ("report", ".dups.tsv.cxr-tmp-", "dups.tsv")):
        env = dict(os.environ, LD_PRELOAD=FAIL_FSYNC, CXR_TEST_FAIL_FSYNC=pattern)
        p = subprocess.run([PACK, root, "-o", out, "--duplicates-report", rep], capture_output=True,
                           text=True, env=env)
        check(p.returncode == 4 and named in p.stderr and "Input/output error" in p.stderr
              and "cxr-tmp" not in p.stderr,
              "a failing fsync of the %s: exit 4 naming it (got %d: %s)" % (what, p.returncode, p.stderr))
        check(open(out, "rb").read() == old_store and open(rep, "rb").read() == old_report,
              "a failing fsync of the %s changed the earlier store or report (%s)" % (what, p.stderr))
        check(not [f for f in os.listdir(tmp) if "cxr-tmp" in f],
              "temporaries left: %s" % [f for f in os.listdir(tmp) if "cxr-tmp" in f])
    # ... and with no earlier report: a store that cannot be made durable leaves none (the
    # report goes into place only once the store is on disk: a report beside the earlier store
    # would describe a store that is not there)
    os.unlink(rep)
    env = dict(os.environ, LD_PRELOAD=FAIL_FSYNC, CXR_TEST_FAIL_FSYNC=".s.h5.cxr-tmp-")
    p = subprocess.run([PACK, root, "-o", out, "--duplicates-report", rep], capture_output=True,
                       text=True, env=env)
    check(p.returncode == 4 and "s.h5: cannot sync it to disk" in p.stderr,
          "a failing fsync of the store, no earlier report: exit 4 naming it (got %d: %s)"
          % (p.returncode, p.stderr))
    check(not os.path.exists(rep) and open(out, "rb").read() == old_store,
          "a failing fsync of the store left a report, or changed the earlier store (%s)" % p.stderr)


def case_lossless(tmp):
    root = tree(tmp, exact=False, lossless=True)
    out = os.path.join(tmp, "s.h5")
    rc, _, se = run([root, "-o", out])
    check(rc == 0, "pack rc=%d %s" % (rc, se))
    want = ("identical files: 0 groups, 0 extra copies (0 of them within a split; 0 groups across "
            "splits); identical pixels: 1 groups, 1 extra copies (0 of them within a split; 1 groups "
            "across splits: train-test 1); dropped 0")
    check(dup_line(se) == want, "found by the pixel hash only: %r" % dup_line(se))
    check("different classes" not in se, "no labels warned of: " + se)
    with h5py.File(out, "r") as f:
        c, cc = index_of(f, "train", C), index_of(f, "test", "test/NORMAL/zz_comment_C.jpeg")
        check(hashes(f, "train")[0][c] != hashes(f, "test")[0][cc], "file hashes differ")
        check(hashes(f, "train")[1][c] == hashes(f, "test")[1][cc], "pixel hashes equal")
    rc, _, se = run([root, "-o", out, "--drop-duplicates"])
    check(rc == 0 and "duplicate of test/NORMAL/zz_comment_C.jpeg in test (identical pixels)" in se,
          "dropped as identical pixels: " + se)


def case_reencode(tmp):
    """A re-encode at quality 70 has other pixels: the exact hashes do not find it (documented)."""
    root = tree(tmp, exact=False, reencode=True)
    out = os.path.join(tmp, "s.h5")
    rc, _, se = run([root, "-o", out])
    check(rc == 0, "pack rc=%d %s" % (rc, se))
    check(dup_line(se) is not None and dup_line(se).startswith("identical files: 0 groups") and
          "identical pixels: 0 groups" in dup_line(se), "not found: %r" % dup_line(se))
    with h5py.File(out, "r") as f:
        c, cq = index_of(f, "train", C), index_of(f, "test", "test/NORMAL/zz_q70_C.jpeg")
        a, b = f["train"]["images"][c], f["test"]["images"][cq]
        d = float(np.abs(a - b).mean())
        other = float(np.abs(a - f["train"]["images"][c + 1]).mean())
        print("re-encode: mean |diff| %.4f (another image: %.4f)" % (d, other))
        # equalization spreads JPEG's small errors over the levels: 0.0123 vs 0.2768 on the sample
        # (CLAHE, the default; 0.064 vs 0.229 with --equalize global)
        check(0 < d < other / 2, "a near copy: mean |diff| %.4f vs %.4f" % (d, other))
        check(hashes(f, "train")[1][c] != hashes(f, "test")[1][cq], "pixel hashes differ")


def case_nohash(tmp):
    root = tree(tmp)
    out, ref = os.path.join(tmp, "n.h5"), os.path.join(tmp, "h.h5")
    rc, _, se = run([root, "-o", out, "--no-duplicate-check"])
    check(rc == 0 and dup_line(se) is None, "pack --no-duplicate-check rc=%d %s" % (rc, se))
    rc, _, se2 = run([root, "-o", ref])
    check(rc == 0, "pack rc=%d" % rc)
    with h5py.File(out, "r") as f:
        check("file_hash" not in f["train"] and "pixel_hash" not in f["test"], "no hash datasets")
        check("duplicates" not in f.attrs, "no duplicates attribute")
        check(attr(f, "command_line").endswith(" --no-duplicate-check"), "command_line records it")
        n = f["train"]["images"].shape[0]
    # the library's reader and h5dump read a store without hashes; the images are the same
    for split in ("train", "test"):
        r1 = subprocess.run([DUMP, out, split, os.path.join(tmp, "n.f32")], capture_output=True, text=True)
        r2 = subprocess.run([DUMP, ref, split, os.path.join(tmp, "h.f32")], capture_output=True, text=True)
        check(r1.returncode == 0 and r2.returncode == 0, "store_dump %s: %s %s" % (split, r1.stderr, r2.stderr))
        check(r1.stdout == r2.stdout and open(os.path.join(tmp, "n.f32"), "rb").read() ==
              open(os.path.join(tmp, "h.f32"), "rb").read(), "%s: same images with and without hashes" % split)
    h = subprocess.run(["h5dump", "-H", out], capture_output=True, text=True)
    check(h.returncode == 0 and "file_hash" not in h.stdout, "h5dump -H reads it")
    h = subprocess.run(["h5dump", "-d", "/train/file_hash", ref], capture_output=True, text=True)
    check(h.returncode == 0 and "H5T_STD_U64LE" in h.stdout, "h5dump reads the hashes: %s" % h.stderr)
    check(n == 49, "49 train images")
    rc, _, se = run([root, "-o", out, "--no-duplicate-check", "--drop-duplicates"])
    check(rc == 2, "--no-duplicate-check with --drop-duplicates refused (rc=%d)" % rc)
    rep = os.path.join(tmp, "nohash.tsv")
    rc, _, se = run([root, "-o", out, "--no-duplicate-check", "--duplicates-report", rep])
    check(rc == 2 and not os.path.exists(rep),
          "--no-duplicate-check with --duplicates-report refused, nothing written (rc=%d)" % rc)


def main():
    with tempfile.TemporaryDirectory(prefix="cxr_dups_") as tmp:
        globals()["case_" + CASE](tmp)
    if failures:
        print("%d failure(s)" % len(failures), file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
