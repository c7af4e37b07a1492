#!/usr/bin/env python3
"""test_flip_sweep.py: flip single bytes of a small cxr store and a small checkpoint and run every
reader on each damaged copy. Each run must give a clean refusal (our tools: exit 3 with a
message naming the file; h5dump: its error exit) or exactly the intact file's result; never a
crash (a signal) or a hang (the timeout), never exit 0 with another result, never another
exit code.

Which bytes: h5_readmap lists every byte range HDF5 reads when it visits the whole file:
"meta" (superblock, object headers, B-trees, heaps, chunk indexes) and "data" (dataset
values: image chunks, tensors, labels...). --meta N flips N of the meta bytes drawn at random
(seeded; 0 = every one), --data N flips N data bytes, each in another data range read (drawn at
random, seeded; a range may give several when there are fewer ranges). Each byte is
XORed with one of 0xFF, 0x01, 0x80, 0x10, 0x04, 0x40, 0x02, 0x20 (chosen by a hash of its
offset), so whole-byte and single-bit damage both occur.

Readers: on the store, cxr-eval (with the intact checkpoint), cxr-train (one step) and
h5dump -b; on the checkpoint, cxr-eval, cxr-train --resume (one step), cxr-predict (two
images) and h5dump -b. Results compared: cxr-eval's and cxr-predict's stdout, the epoch line
of cxr-train's log without its timings, h5dump's stdout and binary output.

Usage: test_flip_sweep.py --bin BUILD/tools --readmap BUILD/tests/robust/h5_readmap --sample
       data/sample [--meta N] [--data N] [--jobs J] [--seed S] [--timeout T] [--summary FILE]
       [--state DIR --part K/N]
--state DIR --part K/N runs the K-th of N interleaved parts of the plan and keeps its outcomes
in DIR/part-K-of-N.json; the damaged files come from DIR/base, made by the first part and
reused by the others (so every part flips the same files), and a part already in DIR is not run
again. Once every part is there, the summary covers all of them (the full sweep takes hours: it
can be spread over several sessions). Exit 0 when every run is a refusal or identical."""
import argparse
import concurrent.futures as cf
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MASKS = [0xFF, 0x01, 0x80, 0x10, 0x04, 0x40, 0x02, 0x20]
TIMINGS = {"epoch_s", "eval_s", "images_per_s", "data_wait_s", "data_wait_frac", "monitor"}


def mask_for(off):
    return MASKS[((off * 2654435761) >> 13) % len(MASKS)]


def run(cmd, cwd, timeout):
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return None, b"", b""


class Sweep:
    def __init__(self, a):
        self.a = a
        self.tools = a.bin
        self.work = tempfile.mkdtemp(prefix="cxr-flip.")
        imgs = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(os.path.join(a.sample, "test"))
                      for f in fs if f.endswith(".jpeg"))
        self.images = [imgs[0], imgs[-1]]

    def tool(self, name):
        return os.path.join(self.tools, name)

    # ------------------------------------------------------------------ the readers
    def readers(self, which):
        """(name, command, files whose bytes form the result) for the damaged file `which`."""
        cpu = ["--device", "cpu", "--threads", "1"]
        ev = ("cxr-eval", [self.tool("cxr-eval"), "model.h5", "store.h5", "--batch", "8"] + cpu, [])
        h5 = ("h5dump", ["h5dump", "-b", "LE", "-o", "dump.bin", which], ["dump.bin"])
        tr = [self.tool("cxr-train"), "store.h5", "--batch", "8", "--max-steps", "1", "-q",
              "--no-monitor", "--log", "run.jsonl"] + cpu
        if which == "store.h5":
            return [ev, ("cxr-train", tr + ["--epochs", "1"], ["run.jsonl"]), h5]
        pr = ("cxr-predict", [self.tool("cxr-predict"), "model.h5"] + self.images + cpu, [])
        # the resumed run saves elsewhere: the readers after it read model.h5 as it was
        # (cxr-predict reads the parameters alone, so damage to the Adam state leaves its
        # result the intact file's)
        return [ev, ("cxr-train", tr + ["--epochs", "2", "--resume", "model.h5", "--checkpoint",
                                        "resumed.h5"], ["run.jsonl"]), pr, h5]

    def result(self, cwd, rc, out, files):
        """What a successful run produced, comparable across copies."""
        parts = [re.sub(rb"\([0-9.]+ s on ", b"(", out)]  # cxr-eval's timing
        for f in files:
            p = os.path.join(cwd, f)
            data = open(p, "rb").read() if os.path.exists(p) else b""
            if f.endswith(".jsonl"):  # the epoch lines without their timings
                lines = []
                for line in data.splitlines():
                    try:
                        j = json.loads(line)
                    except ValueError:
                        continue
                    if j.get("type") == "epoch":
                        lines.append({k: v for k, v in j.items() if k not in TIMINGS})
                data = json.dumps(lines, sort_keys=True).encode()
            parts.append(data)
            if os.path.exists(p):
                os.unlink(p)
        return b"\0".join(parts)

    def run_readers(self, cwd, which):
        res = []
        for name, cmd, files in self.readers(which):
            rc, out, err = run(cmd, cwd, self.a.timeout)
            res.append((name, rc, self.result(cwd, rc, out, files) if rc == 0 else b"", err))
        return res

    # ------------------------------------------------------------------ setup
    def setup(self):
        base = os.path.join(self.a.state or self.work, "base")
        if self.a.state and os.path.exists(os.path.join(base, "model.h5")):
            self.files = {w: os.path.join(base, w) for w in ("store.h5", "model.h5")}
            self.run_baselines()
            return
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(base)
        env_quiet = dict(os.environ)
        subprocess.run([self.tool("cxr-pack"), self.a.sample, "-o", os.path.join(base, "store.h5"),
                        "--size", "16", "--shard", "8", "--val-fraction", "0.25", "--threads", "1",
                        "--quiet"], check=True, stdout=subprocess.DEVNULL, env=env_quiet)
        subprocess.run([self.tool("cxr-train"), "store.h5", "--device", "cpu", "--threads", "1",
                        "--batch", "8", "--epochs", "1", "--max-steps", "1", "-q", "--no-monitor",
                        "--checkpoint", "model.h5"], check=True, cwd=base)
        self.files = {w: os.path.join(base, w) for w in ("store.h5", "model.h5")}
        self.run_baselines()

    def run_baselines(self):
        self.baseline = {}
        for which in self.files:
            d = self.fresh_dir("baseline-" + which)
            for name, rc, res, err in self.run_readers(d, which):
                if rc != 0:
                    sys.exit("baseline %s on intact %s: exit %s: %s" % (name, which, rc, err.decode()))
                self.baseline[(which, name)] = res
            shutil.rmtree(d)

    def fresh_dir(self, tag):
        d = tempfile.mkdtemp(prefix=tag + ".", dir=self.work)
        for w, p in self.files.items():
            os.symlink(p, os.path.join(d, w))
        return d

    def byte_map(self, which):
        out = subprocess.run([self.a.readmap, self.files[which]], capture_output=True, text=True,
                             check=True).stdout
        meta, data = set(), {}
        for line in out.splitlines():
            off, n, kind = line.split()
            off, n = int(off), int(n)
            if kind == "meta":
                meta.update(range(off, off + n))
            else:
                data[off] = max(n, data.get(off, 0))
        return sorted(meta), sorted(data.items())

    def plan(self):
        rng = random.Random(self.a.seed)
        flips = []
        self.counts = {}
        for which in self.files:
            meta, data = self.byte_map(which)
            m = meta if self.a.meta == 0 or self.a.meta >= len(meta) else sorted(
                rng.sample(meta, self.a.meta))
            order, d = rng.sample(data, len(data)), set()
            for i in range(self.a.data if order else 0):
                off, n = order[i % len(order)]
                d.add(off + rng.randrange(n))
            d -= set(meta)
            flips += [(which, o, "meta") for o in m] + [(which, o, "data") for o in sorted(d)]
            self.counts[which] = (len(meta), sum(n for _, n in data), len(m), len(d))
        return flips

    # ------------------------------------------------------------------ one flip
    def flip(self, job):
        which, off, kind = job
        d = self.fresh_dir("flip")
        p = os.path.join(d, which)
        os.unlink(p)
        shutil.copyfile(self.files[which], p)
        mask = mask_for(off)
        with open(p, "r+b") as f:
            f.seek(off)
            b = f.read(1)[0]
            f.seek(off)
            f.write(bytes([b ^ mask]))
        out = []
        for name, rc, res, err in self.run_readers(d, which):
            if rc is None:
                outcome = "HANG"
            elif rc < 0:
                outcome = "CRASH " + signal.Signals(-rc).name
            elif rc == 0:
                outcome = "same" if res == self.baseline[(which, name)] else "DIFFERENT"
            elif name == "h5dump":
                outcome = "refused" if rc == 1 else "EXIT %d" % rc
            else:
                outcome = "refused" if rc == 3 and which.encode() in err else "EXIT %d" % rc
            first = err.decode(errors="replace").strip().splitlines()
            msg = first[-1] if first else ""
            out.append((which, off, kind, mask, name, outcome, msg))
        shutil.rmtree(d)
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--readmap", required=True)
    ap.add_argument("--sample", required=True)
    ap.add_argument("--meta", type=int, default=40, help="meta bytes per file (0 = all)")
    ap.add_argument("--data", type=int, default=8, help="data bytes per file")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--summary", help="also write the summary to this file")
    ap.add_argument("--state", help="folder that keeps the base files and each part's outcomes")
    ap.add_argument("--part", default="1/1", help="K/N: run the K-th of N parts (with --state)")
    a = ap.parse_args()
    try:
        k, n = (int(v) for v in a.part.split("/"))
        assert 1 <= k <= n
    except (ValueError, AssertionError):
        sys.exit("--part: want K/N with 1 <= K <= N, not %r" % a.part)
    if n > 1 and not a.state:
        sys.exit("--part K/N needs --state DIR")
    if a.state:
        os.makedirs(a.state, exist_ok=True)
    s = Sweep(a)
    t0 = time.time()
    part_file = os.path.join(a.state, "part-%d-of-%d.json" % (k, n)) if a.state else None
    try:
        s.setup()
        flips = s.plan()
        results = []
        if part_file and os.path.exists(part_file):
            print("part %d/%d: already in %s" % (k, n, part_file), flush=True)
        else:
            mine = flips[k - 1::n]
            with cf.ThreadPoolExecutor(a.jobs) as ex:
                for i, r in enumerate(ex.map(s.flip, mine)):
                    results += r
                    if a.meta == 0 and i % 500 == 499:
                        print("%d/%d flips, %.0f s" % (i + 1, len(mine), time.time() - t0), flush=True)
            if part_file:
                with open(part_file + ".tmp", "w") as f:
                    json.dump({"planned": len(flips), "flips": len(mine), "seconds": time.time() - t0,
                               "counts": s.counts, "results": results}, f)
                os.replace(part_file + ".tmp", part_file)
    finally:
        shutil.rmtree(s.work, ignore_errors=True)
    seconds, nflips = time.time() - t0, len(flips)
    if part_file:  # the summary covers every part, once all are there
        parts = [os.path.join(a.state, "part-%d-of-%d.json" % (i, n)) for i in range(1, n + 1)]
        missing = [i + 1 for i, q in enumerate(parts) if not os.path.exists(q)]
        if missing:
            print("part %d/%d done; parts still to run: %s" % (k, n, " ".join(map(str, missing))))
            return 1 if any(r[5] not in ("same", "refused") for r in results) else 0
        results, seconds, nflips = [], 0, 0
        for q in parts:
            j = json.load(open(q))
            if j["planned"] != len(flips) or j["counts"] != {w: list(c) for w, c in s.counts.items()}:
                sys.exit("%s was planned on other files (remove %s and run again)" % (q, a.state))
            results += [tuple(r) for r in j["results"]]
            seconds += j["seconds"]
            nflips += j["flips"]
    lines = ["flip sweep: %d flips in %.0f s (--meta %s --data %d --seed %d, timeout %g s%s)" %
             (nflips, seconds, a.meta or "all", a.data, a.seed, a.timeout,
              ", %d parts" % n if n > 1 else "")]
    for which, (nm, nd, fm, fd) in s.counts.items():
        lines.append("%s: %d meta bytes (flipped %d), %d data bytes read (flipped %d)" %
                     (which, nm, fm, nd, fd))
    table = {}
    for which, off, kind, mask, name, outcome, msg in results:
        key = (which, kind, name)
        table.setdefault(key, {}).setdefault(outcome.split(" ")[0], 0)
        table[key][outcome.split(" ")[0]] += 1
    lines.append("%-9s %-5s %-12s %s" % ("file", "bytes", "reader", "outcomes"))
    for key in sorted(table):
        lines.append("%-9s %-5s %-12s %s" % (key + (", ".join(
            "%s %d" % kv for kv in sorted(table[key].items())),)))
    bad = [r for r in results if r[5] not in ("same", "refused")]
    lines.append("bad outcomes: %d" % len(bad))
    for which, off, kind, mask, name, outcome, msg in bad:
        lines.append("  %s byte %d (%s) ^0x%02x: %s: %s: %s" %
                     (which, off, kind, mask, name, outcome, msg))
    refusals = {}
    for r in results:
        if r[5] == "refused" and r[4] != "h5dump":
            refusals.setdefault(r[6].split(": ", 2)[-1][:100], r)
    lines.append("distinct refusal messages of our tools (first 25 of %d):" % len(refusals))
    for m in sorted(refusals)[:25]:
        r = refusals[m]
        lines.append("  %s byte %d %s: %s" % (r[0], r[1], r[4], r[6][:160]))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.summary:
        with open(a.summary, "w") as f:
            f.write(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
