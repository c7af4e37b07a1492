#!/usr/bin/env python3
"""test_manifest.py: end-to-end tests of cxr-pack --manifest (tests/manifest/CMakeLists.txt runs
one case each) on the fixture that manifest_fixture writes (tests/manifest/fixture.h).

usage: test_manifest.py CASE CXR_PACK MANIFEST_FIXTURE PLUGIN_DIR [CXR_TRAIN]
Stores are read back with h5dump (HDF5_PLUGIN_PATH=PLUGIN_DIR). Exit 0 pass, 1 fail, 77 skip.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CASE, PACK, FIXTURE, PLUGINS = sys.argv[1:5]
TRAIN = sys.argv[5] if len(sys.argv) > 5 else ""
ENV = dict(os.environ, HDF5_PLUGIN_PATH=PLUGINS)
failures = []

# What the fixture holds (derived from the rows in fixture.h).
CLASSES = ["7", "5", "42"]
REASONS = {"image not found": 2, "duplicate id": 1, "bad id": 1, "missing id": 1,
           "missing url and label": 2, "missing label": 1,
           "malformed line: 4 fields, expected 3": 1, "malformed line: unterminated quote": 1}
SUMMARY = ("manifest: 33 rows, 18 planned; skipped: 2 malformed, 4 missing id/url/label, 1 bad "
           "id, 1 duplicate id, 2 image not found; 5 rows of other classes (5 classes in the "
           "manifest)")


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def fnv1a(s):
    h = 14695981039346656037
    for b in s.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def id_order(s):
    """An id's place in the splits (specs/store.md "Splits"): FNV-1a 64 through splitmix64's
    finalizer."""
    m = 0xFFFFFFFFFFFFFFFF
    z = fnv1a(s)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def run(args, exe=None):
    p = subprocess.run([exe or PACK] + args, capture_output=True, text=True, env=ENV)
    return p.returncode, p.stdout, p.stderr


def h5data(path, dset):
    """Values of a dataset as h5dump prints them: list of numbers or strings."""
    out = subprocess.run(["h5dump", "-d", dset, "-w", "0", path], capture_output=True,
                         text=True, env=ENV)
    if out.returncode != 0:
        raise RuntimeError("h5dump %s %s: %s" % (path, dset, out.stderr))
    body = out.stdout.split("DATA {", 1)[1].rsplit("}", 3)[0]
    body = re.sub(r"\(\d+(,\d+)*\):", "", body)
    if '"' in body:
        return re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return [float(x) for x in re.findall(r"[-+]?\d+\.?\d*(?:[eE][-+]?\d+)?", body)]


def h5attr(path, name):
    out = subprocess.run(["h5dump", "-a", "/" + name, "-w", "0", path], capture_output=True,
                         text=True, env=ENV)
    m = re.search(r"\(0\): (.*)", out.stdout)
    return m.group(1).strip().strip('"') if m else None


def fixture(tmp):
    d = os.path.join(tmp, "fx")
    r = subprocess.run([FIXTURE, d])
    if r.returncode != 0:
        print("manifest_fixture failed", file=sys.stderr)
        sys.exit(1)
    return os.path.join(d, "manifest.csv"), os.path.join(d, "images")


def pack(csv, img, out, extra=()):
    return run(["--manifest", csv, "--images", img, "-o", out, "--top-classes", "3",
                "--size", "32", "--threads", "2", "--quiet"] + list(extra))


def case_explore(tmp):
    csv, _ = fixture(tmp)
    rc, out, err = run(["--manifest", csv, "--explore"])
    check(rc == 0, "explore exit 0 (got %d: %s)" % (rc, err))
    want = ("manifest: %s\nrows: 33\ncolumns: landmark_id, id, url\n"
            "malformed lines: 2 (first at line 24)\nmissing values (empty or None):\n"
            "  landmark_id: 3\n  id: 1\n  url: 2\nunique classes: 5\n"
            "top 5 classes (label: usable rows):\n   1. 7: 10\n   2. 5: 6\n   3. 42: 6\n"
            "   4. 100: 3\n   5. abc: 2\nclasses with < 10 images: 4\n"
            "classes with < 100 images: 5\nclasses with < 1000 images: 5\n"
            "classes with >= 1000 images: 0\n") % csv
    check(out == want, "explore output:\n%s\nwant:\n%s" % (out, want))
    # the counts are the CSV's: what a pack would skip beyond them is said (on stderr)
    check("the counts are of usable rows (an id, a url and a label of at most 4096 bytes); a pack "
          "also skips rows of a bad or repeated id" in err, "explore's note: %s" % err)
    # --explore is one pass: it reads a pipe, and standard input given as -, to the same report;
    # packing reads the manifest twice and refuses either, saying why (a new user's walk)
    data = open(csv, "rb").read()
    p = subprocess.run([PACK, "--manifest", "-", "--explore"], input=data, capture_output=True, env=ENV)
    check(p.returncode == 0 and p.stdout.decode() == want.replace(csv, "/dev/stdin"),
          "explore of standard input: %d %r" % (p.returncode, p.stdout.decode()[:200]))
    rfd, wfd = os.pipe()
    fifo = "/dev/fd/%d" % rfd
    with subprocess.Popen([PACK, "--manifest", fifo, "--explore"], pass_fds=(rfd,),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV) as q:
        os.close(rfd)
        os.write(wfd, data)
        os.close(wfd)
        qo, _ = q.communicate()
    check(q.returncode == 0 and qo.decode() == want.replace(csv, fifo),
          "explore of a pipe: %d %r" % (q.returncode, qo.decode()[:200]))
    p = subprocess.run([PACK, "--manifest", "-", "--images", tmp, "-o", os.path.join(tmp, "in.h5")],
                       input=data, capture_output=True, env=ENV)
    check(p.returncode == 2 and b"--manifest -: standard input: packing reads the manifest twice "
          b"and records its name: give the file (--explore reads a pipe or standard input, -)"
          in p.stderr,
          "pack from standard input: %d %r" % (p.returncode, p.stderr))
    # a test.csv (no label column) explores too
    t = os.path.join(tmp, "test.csv")
    with open(t, "w") as f:
        f.write("id,url\r\nx1,http://a\r\nx2,None\r\n")
    rc, out, err = run(["--manifest", t, "--explore"])
    check(rc == 0 and "rows: 2\n" in out and "  url: 1\n" in out and
          "classes: no landmark_id or label column\n" in out and "usable rows" not in err,
          "explore test.csv: %s %s" % (out, err))
    # --strict: the first malformed line is an error naming it
    rc, out, err = run(["--manifest", csv, "--explore", "--strict"])
    check(rc == 3 and "%s: line 24: 4 fields, expected 3" % csv in err, "explore --strict: %d %s" % (rc, err))
    # a wide manifest: every column listed and counted, those past the 64th too (they were
    # dropped unsaid, id, url and label among them, so a missing label went unreported)
    w = os.path.join(tmp, "wide.csv")
    with open(w, "w") as f:
        f.write(",".join(["c%d" % i for i in range(70)] + ["id", "url", "label"]) + "\n")
        f.write(",".join(["x"] * 70 + ["a", "u", "1"]) + "\n")
        f.write(",".join(["x"] * 70 + ["b", "u", ""]) + "\n")
    rc, out, err = run(["--manifest", w, "--explore"])
    check(rc == 0 and ", c69, id, url, label\n" in out and "  c69: 0\n  id: 0\n  url: 0\n"
          "  label: 1\n" in out, "explore of 73 columns: %d %s %s" % (rc, out, err))
    # no url column: exit 3, the file named
    b = os.path.join(tmp, "nourl.csv")
    with open(b, "w") as f:
        f.write("id,landmark_id\n1,2\n")
    rc, out, err = run(["--manifest", b, "--explore"])
    check(rc == 3 and "%s: header has no 'url' column" % b in err, "missing column: %d %s" % (rc, err))
    # the manifest's text is escaped: a terminal escape or CR in a label or column name
    e = os.path.join(tmp, "esc.csv")
    with open(e, "wb") as f:
        f.write(b'id,url,landmark_id,"n\x1b[2J"\na,u,"\x1b[31mred\rx",1\n')
    rc, out, err = run(["--manifest", e, "--explore"])
    check(rc == 0 and "\x1b" not in out and "\r" not in out and "1. \\x1b[31mred\\rx: 1\n" in out
          and ", n\\x1b[2J\n" in out, "explore escapes the manifest's text: %r %s" % (out, err))


def case_pack(tmp):
    csv, img = fixture(tmp)
    # one image that exists but does not decode: the pipeline skips it
    with open(os.path.join(img, "c4201.jpg"), "wb") as f:
        f.write(b"\xff\xd8 not a jpeg")
    out = os.path.join(tmp, "s.h5")
    rc, so, se = pack(csv, img, out)
    check(rc == 0, "pack exit 0 (got %d: %s)" % (rc, se))
    if rc != 0:
        return
    check(SUMMARY in so, "summary line in stdout:\n%s" % so)
    # the whole line: the "; N selected class(es) dropped" clause only when a class was dropped
    check(SUMMARY in so.splitlines(), "no class dropped: the summary line ends there:\n%s" % so)
    check(h5data(out, "/class_names") == CLASSES, "class names %s" % h5data(out, "/class_names"))
    counts = {s: [int(x) for x in h5data(out, "/%s/class_counts" % s)] for s in ("train", "val", "test")}
    # per class 7, 6, 5 usable rows, round(0.1 n) = 1 each to val and test; c4201 failed to decode
    total = [sum(counts[s][c] for s in counts) for c in range(3)]
    check(total == [7, 6, 4], "images per class %s" % total)
    # class 42: planned c4200 c4201 c4202 c4204 c4207; by the id's order the first goes to
    # test, the next to val; c4201 (undecodable) is missing from its split
    order = sorted(["c4200", "c4201", "c4202", "c4204", "c4207"], key=id_order)
    want42 = {"test": order[:1], "val": order[1:2], "train": order[2:]}
    for s in counts:
        check(counts[s][2] == len([i for i in want42[s] if i != "c4201"]),
              "class 42 in %s: %d (order %s)" % (s, counts[s][2], order))
    check(counts["train"][:2] == [5, 4] and counts["val"][:2] == [1, 1] and counts["test"][:2] == [1, 1],
          "stratified split counts %s" % counts)
    reasons = h5data(out, "/skipped/reason")
    got = {r: reasons.count(r) for r in set(reasons)}
    decode = [r for r in reasons if r not in REASONS]
    check(len(decode) == 1, "one decode failure recorded: %s" % reasons)
    for r, n in REASONS.items():
        check(got.get(r) == n, "skip reason %r: %s, want %d" % (r, got.get(r), n))
    paths = h5data(out, "/skipped/path")
    check("%s:24" % csv in paths and "a7001" in paths and "../etc" in paths, "skip paths %s" % paths)
    # a skipped row is named by its id and its line (the store records the id alone)
    check("cxr-pack: skip a7007 (line 9): image not found" in se, "the skip's line: %s" % se)
    # ... a malformed line by "<manifest>:<line>" alone (it has no id, and no line to add)
    check("cxr-pack: skip %s:12: missing id\n" % csv in se and "(line 12)" not in se,
          "a row without id is named by its line once: %s" % se)
    check("cxr-pack: skip %s:24: malformed line" % csv in se and "(line 0)" not in se,
          "the malformed line's skip: %s" % se)
    allpaths = sum((h5data(out, "/%s/paths" % s) for s in counts), [])
    check("a/7/0/a7002.jpg" in allpaths and "b5005.jpg" in allpaths and "b/5/0/b5000.jpg" in allpaths,
          "both layouts in paths %s" % allpaths)
    for s in counts:
        labels = [int(x) for x in h5data(out, "/%s/labels" % s)]
        check([labels.count(c) for c in range(3)] == counts[s], "%s labels match class_counts" % s)
    check(h5attr(out, "normalize") == "zscore255", "manifest default normalize zscore255")
    check(abs(float(h5attr(out, "crop_ratio") or "nan") - 0.2) < 1e-12, "manifest default crop 0.2")
    # folders default to CLAHE (measured on chest X-rays); manifests keep global equalization
    check(h5attr(out, "equalize") == "1", "manifest default equalize 1 (global)")
    check((h5attr(out, "command_line") or "").endswith(" --equalize global"),
          "command_line records the default --equalize global")
    # the nested layout splits an id by characters, as a downloader's id[0], id[1], id[2]: the
    # image of "éab" is at é/a/b/ (it was looked for at \xc3/\xa9/a/); one of 2 characters
    # has only the flat layout
    u = os.path.join(tmp, "utf8")
    os.makedirs(os.path.join(u, "é", "a", "b"))
    shutil.copy(os.path.join(img, "a7000.jpg"), os.path.join(u, "é", "a", "b", "éab.jpg"))
    shutil.copy(os.path.join(img, "a7000.jpg"), os.path.join(u, "xé.jpg"))
    um = os.path.join(tmp, "utf8.csv")
    with open(um, "w", encoding="utf-8") as f:
        f.write("id,url,label\néab,u,1\nxé,u,2\n")
    uo = os.path.join(tmp, "u.h5")
    rc, so, se = run(["--manifest", um, "--images", u, "-o", uo, "--size", "32",
                      "--val-fraction", "0", "--test-fraction", "0", "--quiet"])
    check(rc == 0 and "skip" not in se, "UTF-8 ids found in both layouts (%d: %s)" % (rc, se))
    if rc == 0:
        up = sorted(h5data(uo, "/train/paths"), key=len)  # (h5dump prints non-ASCII in octal)
        check(len(up) == 2 and "/" not in up[0] and up[1].count("/") == 3 and
              "/a/b/" in up[1], "UTF-8 paths: %s" % up)
    # explicit preprocessing options win
    out2 = os.path.join(tmp, "s2.h5")
    rc, so, se = pack(csv, img, out2, ["--normalize", "minmax", "--crop-ratio", "0",
                                       "--test-fraction", "0", "--equalize", "clahe",
                                       "--clahe-clip", "3"])
    check(rc == 0, "pack with options (%s)" % se)
    if rc == 0:
        check(h5attr(out2, "normalize") == "minmax", "--normalize minmax recorded")
        check(float(h5attr(out2, "crop_ratio")) == 0.0, "--crop-ratio 0 recorded")
        check(h5attr(out2, "equalize") == "2", "--equalize clahe recorded as 2")
        check(float(h5attr(out2, "clahe_clip")) == 3.0, "--clahe-clip 3 recorded")
        check(" --equalize clahe --clahe-clip 3" in (h5attr(out2, "command_line") or ""),
              "command_line records --clahe-clip 3")
        check(" --val-fraction 0.1 --test-fraction 0 " in (h5attr(out2, "command_line") or ""),
              "command_line records each fraction under its own name: %s"
              % h5attr(out2, "command_line"))
        check("test" not in subprocess.run(["h5ls", out2], capture_output=True, text=True).stdout,
              "--test-fraction 0: no test split")
    # --val-fraction 0 likewise writes no val split (it was refused: the parser wanted (0, 1))
    out4 = os.path.join(tmp, "s4.h5")
    rc, so, se = pack(csv, img, out4, ["--val-fraction", "0"])
    check(rc == 0, "pack with --val-fraction 0 (%s)" % se)
    if rc == 0:
        groups = subprocess.run(["h5ls", out4], capture_output=True, text=True).stdout
        check("val" not in groups and "train" in groups and "test" in groups,
              "--val-fraction 0: no val split (%s)" % groups)
    # --class-order name: the same three classes (chosen by count) indexed by label id, numbers
    # numerically, each image still labelled with its own class; recorded in command_line
    check(" --class-order count " in (h5attr(out, "command_line") or ""),
          "command_line records the default --class-order count")
    out5 = os.path.join(tmp, "s5.h5")
    rc, so, se = pack(csv, img, out5, ["--class-order", "name"])
    check(rc == 0, "pack with --class-order name (%s)" % se)
    if rc == 0:
        names = h5data(out5, "/class_names")
        check(names == ["5", "7", "42"], "class names by label id %s" % names)
        check(" --class-order name " in (h5attr(out5, "command_line") or ""),
              "command_line records --class-order name")
        for s in ("train", "val", "test"):
            a = dict(zip(h5data(out, "/%s/paths" % s),
                         [CLASSES[int(x)] for x in h5data(out, "/%s/labels" % s)]))
            b = dict(zip(h5data(out5, "/%s/paths" % s),
                         [names[int(x)] for x in h5data(out5, "/%s/labels" % s)]))
            check(a == b and a, "%s: the same images with the same labels (%s / %s)" % (s, a, b))
    # two classes: cxr-pack says which one cxr-eval's binary metrics take as positive (index
    # 1), and, when that is only the rarer one, how to make it the other
    for order, want in (("count", "positive class (index 1, of cxr-eval's binary metrics): 5 "
                         "(the fewer rows; --class-order name makes it 7)\n"),
                        ("name", "positive class (index 1, of cxr-eval's binary metrics): 7\n")):
        rc, so, se = pack(csv, img, out5, ["--top-classes", "2", "--class-order", order])
        check(rc == 0 and want in so, "binary, --class-order %s: %r in\n%s%s" % (order, want, so, se))
    # ... which three classes have none (the line is of binary metrics)
    check("positive class" not in pack(csv, img, out5)[1], "a positive class said of 3 classes")
    # a folder tree says its positive class without a --class-order hint: it has no such option
    # (bytewise, class folder 10 sorts before 9, which is then positive)
    tree = os.path.join(tmp, "tree")
    for split in ("train", "test"):
        for i, c in enumerate(("10", "9")):
            os.makedirs(os.path.join(tree, split, c))
            shutil.copy(os.path.join(img, "a7000.jpg"), os.path.join(tree, split, c, "x.jpg"))
            if i:  # an image of another size: not a pixel duplicate of class 10's
                shutil.copy(os.path.join(img, "b5005.jpg"), os.path.join(tree, split, c, "x.jpg"))
    rc, so, se = run([tree, "-o", os.path.join(tmp, "tree.h5"), "--size", "32", "--quiet"])
    check(rc == 0 and "positive class (index 1, of cxr-eval's binary metrics): 9\n" in so and
          "--class-order" not in so, "a folder tree's positive class: %d %r %r" % (rc, so, se))
    # the clip limit is CLAHE's: refused under the manifests' default (global), no store left
    out3 = os.path.join(tmp, "s3.h5")
    rc, so, se = pack(csv, img, out3, ["--clahe-clip", "3"])
    check(rc == 2 and "--clahe-clip needs CLAHE, but this store's equalization is global" in se,
          "--clahe-clip without CLAHE refused (%d: %s)" % (rc, se))
    check(not os.path.exists(out3), "a refused --clahe-clip left no store")


def case_determinism(tmp):
    csv, img = fixture(tmp)
    outs = [os.path.join(tmp, "d%d.h5" % i) for i in range(2)]
    for i, o in enumerate(outs):
        if i:
            time.sleep(1.1)  # a timestamp in the file would show up as a difference
        rc, so, se = pack(csv, img, o, ["--threads", str(i + 1)])
        check(rc == 0, "pack %d (%s)" % (i, se))
    dumps = [subprocess.run(["h5dump", "-w", "0", o], capture_output=True, text=True, env=ENV).stdout
             .replace(o, "STORE") for o in outs]
    check(dumps[0] == dumps[1] and len(dumps[0]) > 1000, "same content (h5dump) across runs")
    check(subprocess.run(["cmp", outs[0], outs[1]]).returncode == 0,
          "byte-identical stores across runs and --threads")


def case_errors(tmp):
    csv, img = fixture(tmp)
    out = os.path.join(tmp, "e.h5")
    rc, so, se = pack(csv, img, out, ["--strict"])
    check(rc == 3 and "%s: line 9: a7007: image not found (--strict)" % csv in se,
          "--strict: exit 3 naming the line (%d %s)" % (rc, se))
    check(sorted(os.listdir(tmp)) == ["fx"], "no file left: %s" % os.listdir(tmp))
    rc, so, se = run(["--manifest", csv, "-o", out])
    check(rc == 2 and "--images" in se, "no --images: exit 2 (%d %s)" % (rc, se))
    for bad in ("", csv):  # "" searched the images under /; a file is no folder
        rc, so, se = run(["--manifest", csv, "--images", bad, "-o", out])
        check(rc == 2 and "--images '%s': not a directory" % bad in se,
              "--images %r: exit 2 naming it (%d %s)" % (bad, rc, se))
    rc, so, se = run(["--explore"])
    check(rc == 2, "--explore without --manifest: exit 2")
    for extra in (["-o", out], ["--top-classes", "3"], ["--images", img], ["--threads", "2"]):
        rc, so, se = run(["--manifest", csv, "--explore"] + extra)
        check(rc == 2 and "--explore packs nothing: %s does not apply" % extra[0] in se and not so,
              "--explore with %s: refused, not ignored (%d %s)" % (extra[0], rc, se))
    rc, so, se = run(["--manifest", csv, "--images", img, "-o", out, "--top-classes", "x"])
    check(rc == 2 and "--top-classes" in se, "bad --top-classes: exit 2 (%s)" % se)
    rc, so, se = run(["--manifest", csv, "--images", img, "-o", out, "--class-order", "label"])
    check(rc == 2 and "--class-order: expected count or name, got 'label'" in se,
          "bad --class-order: exit 2 (%d %s)" % (rc, se))
    # fractions that leave nothing to train: the two values named, the default that took part
    # said so (it was "bad manifest options (top-classes >= 0, min-count >= 1, ...)")
    for extra, said in ((["--val-fraction", "0.5", "--test-fraction", "0.5"],
                         "--val-fraction 0.5 and --test-fraction 0.5: their sum must be below 1"),
                        (["--val-fraction", "0.9"], "--val-fraction 0.9 and --test-fraction 0.1 "
                         "(the default): their sum must be below 1")):
        rc, so, se = run(["--manifest", csv, "--images", img, "-o", out] + extra)
        check(rc == 2 and said in se, "%s: exit 2 naming both (%d %s)" % (extra, rc, se))
    rc, so, se = run([img, "-o", out, "--class-order", "name"])
    check(rc == 2 and "--class-order (a folder tree's classes are sorted by name) needs "
          "--manifest FILE" in se, "--class-order without --manifest: exit 2 (%d %s)" % (rc, se))
    rc, so, se = run(["--manifest", os.path.join(tmp, "none.csv"), "--images", img, "-o", out])
    check(rc == 4 and "none.csv" in se, "absent manifest: exit 4 naming it (%d %s)" % (rc, se))
    # a second --manifest or --images took the first's place, unsaid (a whole manifest unpacked)
    rc, so, se = run(["--manifest", csv, "--manifest", csv + ".b", "--images", img, "-o", out])
    check(rc == 2 and "--manifest given twice" in se, "two --manifest: exit 2 (%d %s)" % (rc, se))
    rc, so, se = run(["--manifest", csv, "--images", img, "--images", img, "-o", out])
    check(rc == 2 and "--images given twice" in se, "two --images: exit 2 (%d %s)" % (rc, se))
    # no usable row at all: how many rows were not, and the first one's line and reason (it said
    # only "no class with at least 1 usable rows"); a header alone says it has no data rows
    bad_csv = os.path.join(tmp, "bad.csv")
    with open(bad_csv, "w") as f:
        f.write("id,url,label\na1,http://x/?a=1,b=2,5\na2,http://x/?a=1,b=3,5\n")
    rc, so, se = run(["--manifest", bad_csv, "--images", img, "-o", out, "--strict"])
    check(rc == 3 and "2 of its 2 data rows are not usable, the first at line 2: 4 fields, "
          "expected 3\n" in se,
          "all rows malformed: exit 3 with the first's reason (%d %s)" % (rc, se))
    # every class of one row, 20 or more: the labels are said to be rarely the classes (a header
    # naming the columns in another order made each url a class); 19 is left alone
    for n in (19, 20):
        one = os.path.join(tmp, "one%d" % n)
        os.makedirs(one, exist_ok=True)
        with open(bad_csv, "w") as f:
            f.write("id,label,url\n")
            for i in range(n):
                f.write("r%02d,http://x/%d.jpg,5\n" % (i, i))
                open(os.path.join(one, "r%02d.jpg" % i), "w").close()
        rc, so, se = run(["--manifest", bad_csv, "--images", one, "-o", out])
        said = "warning: each of the %d classes holds one row: are the labels" % n in se
        check(said == (n == 20), "%d one-row classes: warned %s (%d %s)" % (n, said, rc, se[-300:]))
        shutil.rmtree(one)
    # ... with the column the labels are read from: landmark_id where both are (a new user's
    # walk: an empty landmark_id beside a full label read as "missing label", unexplained)
    with open(bad_csv, "w") as f:
        f.write("id,url,landmark_id,label\na1,http://x,,5\na2,http://x,,5\n")
    rc, so, se = run(["--manifest", bad_csv, "--images", img, "-o", out])
    check(rc == 3 and "the first at line 2: missing label (labels are read from column "
          "'landmark_id')" in se, "landmark_id empty, label full: %d %s" % (rc, se))
    with open(bad_csv, "w") as f:
        f.write("id,url,label\n")
    rc, so, se = run(["--manifest", bad_csv, "--images", img, "-o", out])
    check(rc == 3 and "(0 data rows)" in se, "header only: exit 3 (%d %s)" % (rc, se))
    check(sorted(os.listdir(tmp)) == ["bad.csv", "fx"], "no file left: %s" % os.listdir(tmp))


def case_long_fields(tmp):
    """Fields no file or store can hold are bad input named as such, not a store that bloats or
    that no reader opens: an id too long to name a file (<id>.jpg over 255 bytes) is skipped as
    `bad id` and recorded by its line, not copied into every row of /skipped; a selected label
    longer than CXR_CLASS_NAME_MAX (4096 bytes) stops the pack (exit 3, naming the manifest)."""
    csv, img = fixture(tmp)
    rows = open(csv, "rb").read().rstrip(b"\n").split(b"\n")
    n = len(rows)
    long_id = "b" * 300
    with open(csv, "ab") as f:
        f.write(("7,%s,http://h/x.jpg\n7,%s,\n" % (long_id, long_id)).encode())  # label,id,url
    out = os.path.join(tmp, "l.h5")
    rc, so, se = pack(csv, img, out)
    check(rc == 0, "long ids: pack (%d %s)" % (rc, se))
    if rc == 0:
        paths = h5data(out, "/skipped/path")
        reasons = h5data(out, "/skipped/reason")
        check(not any(long_id in p for p in paths), "the long id is not copied: %s" % paths)
        byline = dict(zip(paths, reasons))
        check(byline.get("%s:%d" % (csv, n + 1)) == "bad id",
              "the 300-byte id: bad id at its line: %s" % byline)
        check(byline.get("%s:%d" % (csv, n + 2)) == "missing url",
              "the 300-byte id without url: named by its line: %s" % byline)
        widths = subprocess.run(["h5dump", "-H", "-d", "/skipped/path", out], capture_output=True,
                                text=True, env=ENV).stdout
        m = re.search(r"STRSIZE (\d+)", widths)
        check(m is not None and int(m.group(1)) < 300, "/skipped/path rows stay narrow: %s" % widths)
    # a label of 5000 bytes, the most frequent: no class a store can hold, its rows skipped and
    # counted, the pack going on with the other classes (one such row stopped it, exit 3, before
    # 0.24: a new user's walk)
    big = "L" * 5000
    lcsv = os.path.join(tmp, "long_label.csv")
    with open(lcsv, "wb") as f:
        f.write(b"\n".join(rows) + b"\n")
        for i in range(20):
            f.write(("%s,z%d,http://h/z.jpg\n" % (big, i)).encode())
    rc, so, se = pack(lcsv, img, out)
    check(rc == 0 and "; 20 row(s) skipped for a label longer than a class name may be (4096 bytes)"
          in so, "a 5000-byte label: its rows skipped, counted (%d %s %s)" % (rc, so[-300:], se[:300]))
    reasons = h5data(out, "/skipped/reason") if rc == 0 else []
    check(reasons.count("label of 5000 bytes, longer than a class name may be (4096)") == 20,
          "the 5000-byte label's rows in /skipped: %s" % sorted(set(reasons)))
    # an --images path of 1,200 bytes is recorded whole in command_line (it was cut at 1 KB,
    # losing the fractions: the command no longer rebuilt the store)
    deep = os.path.join(tmp, *(["d" * 200] * 6))
    shutil.copytree(img, deep)
    rc, so, se = pack(csv, deep, out)
    cmd = h5attr(out, "command_line") if rc == 0 else ""
    check(rc == 0 and ("--images %s " % deep) in cmd and "--test-fraction" in cmd,
          "a long --images path recorded whole (%d %s): %s" % (rc, se[-200:], cmd[-200:]))
    # paths with a space or a quote are recorded as shell words: the command replays to the
    # same store (it named other files: "--images my imgs" is two words)
    odd_csv, odd_img = os.path.join(tmp, "my list's.csv"), os.path.join(tmp, "my imgs")
    shutil.copy(csv, odd_csv)
    shutil.copytree(img, odd_img)
    rc, so, se = pack(odd_csv, odd_img, out)
    cmd = h5attr(out, "command_line") if rc == 0 else ""
    want_csv = "'" + odd_csv.replace("'", "'\\''") + "'"
    check(rc == 0 and ("--manifest %s " % want_csv) in cmd and ("--images '%s' " % odd_img) in cmd,
          "odd paths recorded as shell words: %s" % cmd)
    replay = os.path.join(tmp, "replay.h5")
    p = subprocess.run(["sh", "-c", PACK + cmd[len("cxr-pack"):] + " -o " + replay + " --quiet"],
                       capture_output=True, text=True, env=ENV)
    check(p.returncode == 0 and open(replay, "rb").read() == open(out, "rb").read(),
          "the recorded command replays to the same store (%d %s)" % (p.returncode, p.stderr))


def case_dropped(tmp):
    """A selected class with too few of its images found (pass 2) is dropped, not packed empty:
    the store has fewer classes, the summary says so, --min-count holds for images found."""
    csv, img = fixture(tmp)
    found = lambda pre: [os.path.join(dp, f) for dp, _, fs in os.walk(img) for f in fs
                         if f.startswith(pre)]
    c42 = sorted(found("c42"))
    check(len(c42) >= 3, "fixture images of class 42: %s" % c42)
    for f in c42[2:]:  # class 42 keeps 2 of its images
        os.unlink(f)
    out = os.path.join(tmp, "m.h5")
    rc, so, se = pack(csv, img, out, ["--min-count", "3"])
    check(rc == 0, "pack --min-count 3 (%d: %s)" % (rc, se))
    if rc == 0:
        check(h5data(out, "/class_names") == ["7", "5"], "class 42 (2 images found) dropped: %s"
              % h5data(out, "/class_names"))
        check("; 1 selected class(es) dropped: too few of their images found" in so,
              "the summary says so: %s" % so)
        labels = sum(([int(x) for x in h5data(out, "/%s/labels" % s)] for s in ("train", "val", "test")), [])
        check(set(labels) == {0, 1}, "labels renumbered within 2 classes: %s" % sorted(set(labels)))
    for f in c42[:2]:  # none of its images: dropped at the default --min-count 1
        os.unlink(f)
    rc, so, se = pack(csv, img, out)
    check(rc == 0 and h5data(out, "/class_names") == ["7", "5"],
          "class 42 without images dropped (%d: %s)" % (rc, se))
    counts = [int(x) for x in h5data(out, "/train/class_counts")] if rc == 0 else []
    check(len(counts) == 2 and min(counts) > 0, "no empty class: %s" % counts)
    # class 5's images all there but none a JPEG: found in pass 2, failing at decode, so the
    # class stays with no image; the warning says what to do in manifest terms (it said "remove
    # its folders", which a manifest has none of)
    for f in found("b5"):
        open(f, "wb").write(b"not a jpeg\n")
    rc, so, se = pack(csv, img, out)
    check(rc == 0, "pack with class 5 undecodable (%d: %s)" % (rc, se))
    check("class '5' has no image in train" in se and "remove its rows from the manifest" in se
          and "folders" not in se, "the warning fits a manifest: %s" % se)


def case_many_skips(tmp):
    """A manifest missing many of its images: stderr names the first 100 skips and counts the
    rest, the store's /skipped holds every one."""
    csv, img = fixture(tmp)
    with open(csv, "a") as f:
        for i in range(2):  # two more bad ids (3 in all, against 1 duplicate id)
            f.write("7,.bad%d,http://h/bad%d.jpg\n" % (i, i))
        for i in range(150):
            f.write("7,zz%04d,http://h/zz%04d.jpg\n" % (i, i))
    out = os.path.join(tmp, "many.h5")
    rc, so, se = pack(csv, img, out)
    check(rc == 0, "pack exit 0 (got %d: %s)" % (rc, se))
    if rc != 0:
        return
    # the summary gives each reason its own count
    check("skipped: 2 malformed, 4 missing id/url/label, 3 bad id, 1 duplicate id, 152 image not "
          "found;" in so, "summary line with 3 bad ids:\n%s" % so)
    total = sum(REASONS.values()) + 152
    named = [l for l in se.splitlines() if l.startswith("cxr-pack: skip ")]
    check(len(named) == 100, "100 skips named, got %d" % len(named))
    want = "cxr-pack: %d more skipped input(s) not named here; %s's /skipped lists every skip " \
           "with its reason" % (total - 100, out)
    check(want in se, "the rest counted (%r):\n%s" % (want, se[-600:]))
    check("cxr-pack:   %d x image not found (e.g. zz" % (total - 100) in se,
          "the rest counted by reason:\n%s" % se[-600:])
    paths = h5data(out, "/skipped/path")
    check(len(paths) == total, "/skipped holds all %d skips, got %d" % (total, len(paths)))
    check(sum(p.startswith("zz") for p in paths) == 150, "the 150 missing rows in /skipped")


def case_train(tmp):
    if not TRAIN:
        print("cxr-train not built", file=sys.stderr)
        sys.exit(77)
    csv, img = fixture(tmp)
    out = os.path.join(tmp, "t.h5")
    rc, so, se = pack(csv, img, out)
    check(rc == 0, "pack (%s)" % se)
    log = os.path.join(tmp, "log.jsonl")
    p = subprocess.run([TRAIN, out, "--device", "cpu", "--epochs", "1", "--batch", "4",
                        "--threads", "2", "--no-monitor", "--log", log, "-q"],
                       capture_output=True, text=True, env=ENV)
    check(p.returncode == 0, "cxr-train one epoch exit 0 (%d: %s)" % (p.returncode, p.stderr))
    lines = [json.loads(l) for l in open(log)] if os.path.exists(log) else []
    run_ = [l for l in lines if l.get("type") == "run"]
    epochs = [l for l in lines if l.get("type") == "epoch"]
    check(len(run_) == 1 and run_[0].get("classes") == CLASSES, "log classes = original ids")
    check(run_ and run_[0].get("train_images") == 12 and run_[0].get("eval_images") == 3,
          "train/eval images 12/3")
    check(len(epochs) == 1 and all(math.isfinite(epochs[0].get(k, float("nan")))
                                   for k in ("train_loss", "eval_loss", "eval_acc")),
          "one epoch with finite loss and accuracy")
    if epochs:
        conf = epochs[0].get("confusion", [])
        check(len(conf) == 3 and all(len(r) == 3 for r in conf) and sum(map(sum, conf)) == 3,
              "3x3 confusion over the 3 eval images")


def case_empty_split(tmp):
    """A fraction too small for every class leaves its split empty: said, as folders say it."""
    csv, img = fixture(tmp)
    out = os.path.join(tmp, "v.h5")
    rc, so, se = pack(csv, img, out, ["--val-fraction", "0.01"])
    check(rc == 0 and "cxr-pack: warning: --val-fraction 0.01 leaves the val split empty" in se,
          "an empty val: exit 0 and a warning (%d %s)" % (rc, se))
    check("test split empty" not in se, "a test split that has images was said empty: %s" % se)
    rc, so, se = pack(csv, img, out, ["--test-fraction", "0.01"])
    check(rc == 0 and "cxr-pack: warning: --test-fraction 0.01 leaves the test split empty" in se
          and "val split empty" not in se, "an empty test: exit 0 and a warning (%d %s)" % (rc, se))
    rc, so, se = pack(csv, img, out)
    check(rc == 0 and "warning" not in se, "the defaults warned: %d %s" % (rc, se))


def main():
    tmp = tempfile.mkdtemp(prefix="cxr-manifest-")
    try:
        {"explore": case_explore, "pack": case_pack, "determinism": case_determinism,
         "errors": case_errors, "train": case_train, "dropped": case_dropped,
         "long_fields": case_long_fields, "many_skips": case_many_skips,
         "empty_split": case_empty_split}[CASE](tmp)
    finally:
        if not failures:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept", tmp, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
