"""test_predict.py BIN SAMPLE: cxr-predict on folders and many files, its output formats, and
the same formats for cxr-eval --predictions.

- folders are walked recursively in bytewise name order, .jpg/.jpeg in any case, hidden
  entries and other files ignored, mixed with files given directly, in argument order; a
  folder given as "dir/" names its images "dir/x.jpg";
- a bad image, a dangling link and a symlink loop are each named on stderr and counted,
  the others classified, exit 3; a folder without images is exit 3; the summary line parts
  the seconds finding the images from those loading the model;
- the rows do not depend on --threads or --batch, and equal a one-image run's;
- tsv and csv carry a header and read back with Python's csv module (a comma, a quote, a tab
  in a name); jsonl reads back with json, a control character and invalid UTF-8 in a name
  included (path_hex gives the exact bytes);
- -o FILE through a temporary renamed into place (a new inode), refused on the model or an
  image, and written with standard output closed (exit 0); a mistyped --device is exit 2
  before any work, and so is --threshold for a model of three classes; cxr-eval --predictions the same in every format."""

import csv
import io
import json
import math
import os
import re
import shutil
import struct
import subprocess
import tempfile

from clitest import BIN, SAMPLE, fail, finish, run


W = tempfile.mkdtemp(prefix="cxr-predict.")

def redecided(rows, ci, pi, ti):
    """Rows whose printed class is not what the printed numbers decide: the tool compares the
    float p_PNEUMONIA (as a double) with the double threshold, and the file must carry both
    exactly (%.6f printed a saturated model's threshold of 4e-23 as 0.000000)."""
    out = []
    for x in rows:
        p = struct.unpack("f", struct.pack("f", float(x[pi])))[0]
        if (p >= float(x[ti])) != (x[ci] == "PNEUMONIA"):
            out.append((x[ci], x[pi], x[ti]))
    return out

try:
    Wb = os.fsencode(W)
    store, ck, log = f"{W}/s.h5", f"{W}/ck.h5", f"{W}/run.jsonl"
    run("cxr-pack", SAMPLE, "-o", store, "--size", "32", "--shard", "8", "--val-fraction",
        "0.25", "--threads", "2", "--quiet")
    T = ["--device", "cpu", "--batch", "8", "--threads", "2", "--lr", "0.001", "--no-monitor",
         "-q", "--max-steps", "2"]

    run("cxr-train", store, *T, "--epochs", "1", "--checkpoint", ck)

    # ---- a folder tree
    D = os.path.join(Wb, b"imgs")
    srcs = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(SAMPLE + "/test") for f in fs)
    names = [b"b/2.jpg", b"b/B/1.JPEG", b"b/10.jpeg", b"a.jpg", b"c,q\"x\ty.jpg", b".hid.jpg",
             b"b/.hid/3.jpg", b"notes.txt", b"bad.jpg", b"ctl\x01\xffz.jpeg"]
    for i, n in enumerate(names):
        p = os.path.join(D, n)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if n == b"bad.jpg":
            open(p, "wb").write(b"not a jpeg")
        else:
            shutil.copy(srcs[i % len(srcs)], p)
    os.symlink(b"..", os.path.join(D, b"b/loop"))
    os.symlink(b"nowhere.jpg", os.path.join(D, b"dangling.jpg"))
    single = os.fsencode(srcs[-1])

    def walk_order(root):
        out = []
        for n in sorted(os.listdir(root)):
            if n.startswith(b"."):
                continue
            p = os.path.join(root, n)
            if os.path.isdir(p):
                if n != b"loop":
                    out += walk_order(p)
            elif n.lower().endswith((b".jpg", b".jpeg")) and os.path.isfile(p):
                out.append(p)
        return out

    want_ok = [p for p in walk_order(D) if not p.endswith(b"bad.jpg")]
    want_ok = [os.path.join(D, b"a.jpg"), single] + want_ok  # the two files, then D's
    args = [os.path.join(D, b"a.jpg"), single, D]
    r = run("cxr-predict", ck, *args, "--device", "cpu", "--threads", "2", want=3)
    err = r.stderr
    for what in (b"bad.jpg", b"loop", b"dangling.jpg", b"3 skipped"):
        if what not in err:
            fail(f"stderr lacks {what!r}: {err!r}")
    if b"\x01" in err or b"\xff" in err:
        fail("a control byte of a name reached stderr raw")
    # the summary's seconds before the first image: the folder walk (seconds at a million
    # files) apart from the model's loading, which it was once counted in
    if not re.search(rb"cxr-predict: \d+ image\(s\) classified, 3 skipped, [0-9.]+ s \([0-9.]+ "
                     rb"img/s\) after [0-9.]+ s finding the images and [0-9.]+ s loading the "
                     rb"model\n$", err):
        fail(f"the summary does not part finding the images from loading the model: {err!r}")
    rows = list(csv.reader(io.StringIO(r.stdout.decode("utf-8", "surrogateescape")),
                           delimiter="\t"))
    if rows[:1] != [["path", "class", "probability", "p_NORMAL", "p_PNEUMONIA", "threshold"]]:
        fail(f"tsv header: {rows[:1]}")
    bad = redecided(rows[1:], 1, 4, 5)
    if bad:
        fail(f"cxr-predict: p >= threshold on the file gives another class: {bad}")
    got = [os.fsencode(x[0]) for x in rows[1:]]
    if got != want_ok:
        fail(f"walk order:\n  got  {got}\n  want {want_ok}")
    tsv = r.stdout
    loop_why = b"/b/loop: folder loop (a symbolic link to a folder above it): not searched\n"
    if loop_why not in err:
        fail(f"the symlink loop is not named as one: {err!r}")

    # a folder given with a trailing '/' ("imgs/") names its images without a doubled slash
    # ("imgs/b/2.jpg", not "imgs//b/2.jpg"), and its loop likewise
    here = os.getcwd()
    os.chdir(W)
    try:
        r = run("cxr-predict", ck, "imgs/", "--device", "cpu", "--threads", "2", want=3)
    finally:
        os.chdir(here)
    got = [os.fsencode(x[0]) for x in
           list(csv.reader(io.StringIO(r.stdout.decode("utf-8", "surrogateescape")),
                           delimiter="\t"))[1:]]
    want = [os.path.relpath(p, Wb) for p in walk_order(D) if not p.endswith(b"bad.jpg")]
    if got != want:
        fail(f"a folder given as 'imgs/':\n  got  {got}\n  want {want}")
    if b"cxr-predict: imgs" + loop_why not in r.stderr:
        fail(f"a folder given as 'imgs/': its loop: {r.stderr!r}")

    # "probability" is the named class's p, whichever class: at a threshold of the largest
    # p_PNEUMONIA some images are NORMAL (a smaller p), at 0 every image is PNEUMONIA
    top = max(rows[1:], key=lambda x: float(x[4]))[4]
    named = set()
    for t in (top, "0"):
        r = run("cxr-predict", ck, *args, "--device", "cpu", "--threshold", t, want=3)
        out = list(csv.reader(io.StringIO(r.stdout.decode("utf-8", "surrogateescape")),
                              delimiter="\t"))
        for x in out[1:]:
            named.add(x[1])
            if x[2] != x[out[0].index("p_" + x[1])]:
                fail(f"--threshold {t}: the probability is not the named class's p: {x}")
    if named != {"NORMAL", "PNEUMONIA"}:
        fail(f"the probability column was checked for {named} only (p_PNEUMONIA all {top}?)")

    # a folder reached through two links is searched once, by the first path in walk order
    G = os.path.join(W, "dag")
    os.makedirs(os.path.join(G, "sub"))
    shutil.copy(srcs[0], os.path.join(G, "sub", "1.jpg"))
    os.symlink("sub", os.path.join(G, "x"))
    os.symlink("sub", os.path.join(G, "y"))
    r = run("cxr-predict", ck, G, "--device", "cpu", want=3)
    rows = r.stdout.decode().splitlines()[1:]
    if [x.split("\t")[0] for x in rows] != [os.path.join(G, "sub", "1.jpg")]:
        fail(f"a folder reached through two links: rows {rows}")
    if r.stderr.count(b"folder searched already") != 2:
        fail(f"the two links are not named: {r.stderr!r}")
    # ... and across the paths given: a folder, then it again through a link, inside another
    # given path, or as itself
    r = run("cxr-predict", ck, os.path.join(G, "sub"), os.path.join(G, "x"), G,
            os.path.join(G, "sub"), "--device", "cpu", want=3)
    rows = r.stdout.decode().splitlines()[1:]
    if [x.split("\t")[0] for x in rows] != [os.path.join(G, "sub", "1.jpg")]:
        fail(f"a folder given again: rows {rows}")
    if r.stderr.count(b"folder searched already") != 5:
        fail(f"the folders given again are not named: {r.stderr!r}")

    # a skip is named by its path, even where the reason's text contains the path's ("a" in
    # "not a regular file (a FIFO)"); nothing left to classify is exit 3
    os.mkfifo(os.path.join(W, "a"))
    here = os.getcwd()
    os.chdir(W)
    r = run("cxr-predict", ck, "a", "--device", "cpu", want=3)
    os.chdir(here)
    if not r.stderr.startswith(b"cxr-predict: a: not a regular file (a FIFO)\n"):
        fail(f"the FIFO's skip does not name it: {r.stderr!r}")
    if b"no .jpg/.jpeg image to classify in the 1 path(s) given (the skips are above)" not in r.stderr:
        fail(f"no image left: {r.stderr!r}")
    # "-" is no standard input here: said so where no file of that name exists
    os.chdir(W)
    r = run("cxr-predict", ck, "-", "--device", "cpu", want=3)
    os.chdir(here)
    if not r.stderr.startswith(b"cxr-predict: -: cannot open: No such file or directory "
                               b"(standard input is not read: give image files or folders)\n"):
        fail(f"'-' not said to be no standard input: {r.stderr!r}")

    # the same rows at another thread count; at other batch sizes the same paths and classes
    # and probabilities within 2e-6 (the network's forward is not bit-identical across batch
    # sizes: its dense kernels block by batch); a one-image run agrees likewise
    def parsed(out):
        rows = list(csv.reader(io.StringIO(out.decode("utf-8", "surrogateescape")),
                               delimiter="\t"))[1:]
        return [(x[0], x[1], [float(v) for v in x[2:]]) for x in rows]

    def close(a, b):
        return len(a) == len(b) and all(
            x[0] == y[0] and x[1] == y[1] and max(abs(u - v) for u, v in zip(x[2], y[2])) <= 2e-6
            for x, y in zip(a, b))

    r2 = run("cxr-predict", ck, *args, "--device", "cpu", "--threads", "1", want=3)
    if r2.stdout != tsv:
        fail("rows differ between --threads 1 and 2")
    for extra in (["--threads", "1", "--batch", "1"], ["--threads", "2", "--batch", "3"]):
        r2 = run("cxr-predict", ck, *args, "--device", "cpu", *extra, want=3)
        if not close(parsed(r2.stdout), parsed(tsv)):
            fail(f"rows differ with {extra}")
    r1 = run("cxr-predict", ck, single, "--device", "cpu")
    one = parsed(r1.stdout)
    if not one or not any(close(one, [row]) for row in parsed(tsv)):
        fail(f"one-image row {one} not among the folder's rows")
    # the float p is compared with the double threshold: one a quarter of a float step above p
    # (a double that rounds to p as a float, as a midpoint of two close scores can) is above it
    rows = [x.split(b"\t") for x in tsv.splitlines()[1:]]
    mid = [x for x in rows if 0 < float(x[4]) < 1]
    if not mid:
        fail(f"no image with p_PNEUMONIA inside (0, 1): {[x[4] for x in rows]}")
    img, f = mid[0][0], struct.unpack("f", struct.pack("f", float(mid[0][4])))[0]
    up = struct.unpack("f", struct.pack("I", struct.unpack("I", struct.pack("f", f))[0] + 1))[0]
    t = f + (up - f) / 4
    if struct.unpack("f", struct.pack("f", t))[0] != f:
        fail(f"the test's threshold {t!r} does not round to p {f!r} as a float")
    r = run("cxr-predict", ck, img, "--device", "cpu", "--threshold", repr(t))
    row = r.stdout.decode().splitlines()[1].split("\t")
    if row[1] != "NORMAL" or float(row[5]) != t:
        fail(f"p {f!r} against threshold {t!r}: {row[1]}, threshold column {row[5]}")

    # csv: RFC 4180 through Python's csv module
    r = run("cxr-predict", ck, *args, "--device", "cpu", "--format", "csv", want=3)
    rows = list(csv.reader(io.StringIO(r.stdout.decode("utf-8", "surrogateescape"))))
    if rows[0][:3] != ["path", "class", "probability"] or len(rows) != len(want_ok) + 1:
        fail(f"csv: header {rows[0]}, {len(rows)} rows")
    elif [os.fsencode(x[0]) for x in rows[1:]] != want_ok:
        fail("csv: paths do not read back (comma, quote or tab in a name)")
    elif any(len(x) != 6 or abs(float(x[3]) + float(x[4]) - 1) > 2e-6 for x in rows[1:]):
        fail("csv: a row without 6 fields or probabilities that do not sum to 1")

    # jsonl: valid JSON and UTF-8 for any name; path_hex carries the exact bytes
    r = run("cxr-predict", ck, *args, "--device", "cpu", "--format", "jsonl", want=3)
    try:
        objs = [json.loads(x) for x in r.stdout.decode("utf-8").splitlines()]
    except ValueError as e:
        fail(f"jsonl does not parse as UTF-8 JSON lines: {e}")
        objs = []
    paths = [bytes.fromhex(o["path_hex"]) if "path_hex" in o else o["path"].encode()
             for o in objs]
    if objs and paths != want_ok:
        fail(f"jsonl paths: {paths}")
    if objs and list(objs[0]) != ["path", "class", "probability", "p_NORMAL", "p_PNEUMONIA",
                                  "threshold"]:
        fail(f"jsonl keys: {list(objs[0])}")
    hexed = [o for o in objs if "path_hex" in o]
    if len(hexed) != 1 or "\ufffd" not in hexed[0]["path"] or "\x01" not in hexed[0]["path"]:
        fail(f"jsonl: the invalid UTF-8 name: {hexed}")

    # -o: a temporary renamed into place (a new inode), no temporary left; never an input
    out = f"{W}/pred.csv"
    open(out, "w").write("old\n")
    ino = os.stat(out).st_ino
    r = run("cxr-predict", ck, single, "--device", "cpu", "-o", out, "--format", "csv")
    if r.stdout or os.stat(out).st_ino == ino or not open(out).read().startswith("path,"):
        fail("-o FILE: not written through a renamed temporary")
    if [f for f in os.listdir(W) if "cxr-tmp" in f]:
        fail("-o FILE left a temporary")
    # ... which needs no standard output: a closed one is no failure (it was exit 4)
    r = subprocess.run([os.path.join(BIN, "cxr-predict"), ck, single, "--device", "cpu", "-q",
                        "-o", f"{W}/closed.tsv"], capture_output=False, stderr=subprocess.PIPE,
                       preexec_fn=lambda: os.close(1), timeout=120)
    if r.returncode != 0 or not open(f"{W}/closed.tsv").read().startswith("path\t"):
        fail(f"-o FILE with standard output closed: exit {r.returncode}: {r.stderr!r}")
    if r.stderr:  # -q: neither the summary nor the threshold line
        fail(f"-q: stderr not empty: {r.stderr!r}")
    # a write that fails (a 4 KiB file-size limit, as a full disk) stops the run at the next
    # batch, naming the file, nothing left at the output (it went through all 300 before)
    lim = f"{W}/lim.tsv"
    r = subprocess.run(["bash", "-c", 'trap "" XFSZ; ulimit -f 4; exec "$@"', "lim",
                        os.path.join(BIN, "cxr-predict"), ck] + [single] * 300 +
                       ["--device", "cpu", "-q", "--batch", "10", "-o", lim],
                       capture_output=True, timeout=300)
    err = r.stderr.decode(errors="replace")
    if r.returncode != 4 or "lim.tsv: write failed: File too large" not in err or "of 300 images)" not in err \
            or int(err.split("(stopped after ")[1].split()[0]) >= 300 or os.path.exists(lim):
        fail(f"a failed write: exit {r.returncode}, {err!r}")
    run("cxr-predict", ck, single, "--device", "cpu", "-o", ck, want=2)
    run("cxr-predict", ck, D, "--device", "cpu", "-o", os.path.join(D, b"a.jpg"), want=2)
    run("cxr-predict", ck, single, "--format", "xml", want=2)
    empty = f"{W}/empty"
    os.mkdir(empty)
    open(f"{empty}/x.png", "w").write("x")
    r = run("cxr-predict", ck, empty, "--device", "cpu", want=3)
    if b"no .jpg" not in r.stderr:
        fail(f"empty folder: {r.stderr!r}")
    # --threshold is for two classes: with three it would be ignored, so it is refused
    k3 = f"{W}/k3"
    for split in ("train", "test"):
        for c in ("A", "B", "C"):
            os.makedirs(f"{k3}/{split}/{c}")
        for i, src in enumerate(sorted(os.listdir(f"{SAMPLE}/{split}/NORMAL"))[:6]):
            shutil.copy(f"{SAMPLE}/{split}/NORMAL/{src}", f"{k3}/{split}/{'ABC'[i % 3]}/{src}")
    run("cxr-pack", k3, "-o", f"{W}/k3.h5", "--size", "32", "--shard", "8", "--quiet")
    run("cxr-train", f"{W}/k3.h5", *T, "--epochs", "1", "--checkpoint", f"{W}/k3m.h5",
        "--select", "none")
    for tool, args in (("cxr-predict", [f"{W}/k3m.h5", single]),
                       ("cxr-eval", [f"{W}/k3m.h5", f"{W}/k3.h5", "--split", "test"])):
        r = run(tool, *args, "--threshold", "0.3", "--device", "cpu", want=2)
        if b"--threshold applies to a model of two classes; " not in r.stderr or b"has 3" not in r.stderr:
            fail(f"{tool} --threshold on 3 classes: {r.stderr!r}")
        run(tool, *args, "--device", "cpu")
    # a mistyped device is a usage error before any folder is walked (it was "no image", 3);
    # cxr-eval and cxr-train say the same
    for tool, args in (("cxr-predict", [ck, empty]), ("cxr-eval", [ck, store]),
                       ("cxr-train", [store])):
        for dev in ("gpu", "cuda:", "cuda:x"):
            r = run(tool, *args, "--device", dev, want=2)
            if f"--device {dev}: ".encode() not in r.stderr:
                fail(f"{tool} --device {dev}: {r.stderr!r}")

    # ---- cxr-eval --predictions: header and formats, through a temporary
    base = None
    for fmt in ("tsv", "csv", "jsonl"):
        p = f"{W}/ev.{fmt}"
        open(p, "w").write("old\n")
        ino = os.stat(p).st_ino
        run("cxr-eval", ck, store, "--split", "test", "--device", "cpu", "--predictions", p,
            "--format", fmt)
        if os.stat(p).st_ino == ino:
            fail(f"--predictions ({fmt}): the file was not replaced by a renamed temporary")
        text = open(p).read()
        if fmt == "jsonl":
            rows = [[str(v) for v in json.loads(x).values()] for x in text.splitlines()]
            keys = list(json.loads(text.splitlines()[0]))
        else:
            rows = list(csv.reader(io.StringIO(text), delimiter="\t" if fmt == "tsv" else ","))
            keys, rows = rows[0], rows[1:]
        if keys != ["path", "label", "class", "p_NORMAL", "p_PNEUMONIA", "threshold"]:
            fail(f"--predictions ({fmt}): columns {keys}")
        if len(rows) != 16:
            fail(f"--predictions ({fmt}): {len(rows)} rows, want 16")
        bad = redecided(rows, 2, 4, 5)
        if bad:
            fail(f"--predictions ({fmt}): p >= threshold on the file gives another class: {bad}")
        paths = [x[0] for x in rows]
        if base is None:
            base = paths
        elif paths != base:
            fail(f"--predictions ({fmt}): other paths than tsv")
    if [f for f in os.listdir(W) if "cxr-tmp" in f]:
        fail("--predictions left a temporary")

    # ---- cxr-eval's loss is the class-weighted cross-entropy of training (weights N / (C n_c)
    # of the train split), here with 8 NORMAL against 24 PNEUMONIA train images: weights 2 and
    # 2/3; recomputed from the probabilities it prints (a mutant dropping the weights passed)
    im = f"{W}/imb"
    shutil.copytree(SAMPLE, im)
    for f in sorted(os.listdir(f"{im}/train/NORMAL"))[8:]:
        os.remove(f"{im}/train/NORMAL/{f}")
    run("cxr-pack", im, "-o", f"{W}/imb.h5", "--size", "32", "--shard", "8", "--threads", "2",
        "--quiet")
    run("cxr-train", f"{W}/imb.h5", *T, "--epochs", "1", "--checkpoint", f"{W}/imbm.h5")
    r = run("cxr-eval", f"{W}/imbm.h5", f"{W}/imb.h5", "--split", "test", "--device", "cpu",
            "--json", "--predictions", f"{W}/imb.tsv")
    loss = json.loads(r.stdout)["loss"]
    rows = list(csv.reader(open(f"{W}/imb.tsv"), delimiter="\t"))[1:]
    w = {"NORMAL": 2.0, "PNEUMONIA": 2.0 / 3}
    ce = [(w[x[1]], -math.log(float(x[3] if x[1] == "NORMAL" else x[4]))) for x in rows]
    weighted = sum(a * b for a, b in ce) / sum(a for a, _ in ce)
    plain = sum(b for _, b in ce) / len(ce)
    if abs(plain - weighted) <= 1e-3 * weighted:
        fail(f"class weights change this loss too little to be checked: {plain} / {weighted}")
    if abs(loss - weighted) > 1e-5 * weighted:
        fail(f"cxr-eval's loss {loss} is not the class-weighted cross-entropy {weighted} "
             f"(unweighted: {plain})")
finally:
    shutil.rmtree(W, ignore_errors=True)
finish()
