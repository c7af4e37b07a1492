#!/usr/bin/env python3
"""gen_manifest.py: write a landmark-style train.csv for benchmarking cxr-pack --explore.

Same shape as the Kaggle Google Landmark Recognition Challenge train.csv: header id,url,
landmark_id; 1,225,029 rows by default; labels over 14,952 classes with a Zipf-like
distribution (weight of rank r ~ 1/(r+10)^1.1, labels are shuffled integer ids); about 9,260
rows with "None" for url and landmark_id; 16-hex-digit ids and ~100-byte URLs. Deterministic
for a given --seed. Standard library only.

usage: gen_manifest.py OUT.csv [--rows N] [--classes K] [--none N] [--seed S]
"""
import argparse
import bisect
import itertools
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=1225029)
    ap.add_argument("--classes", type=int, default=14952)
    ap.add_argument("--none", type=int, default=9260)
    ap.add_argument("--seed", type=int, default=2018)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    weights = [1.0 / (r + 10) ** 1.1 for r in range(a.classes)]
    cum = list(itertools.accumulate(weights))
    total = cum[-1]
    label_ids = rng.sample(range(a.classes * 2), a.classes)  # non-contiguous label ids
    none_rows = set(rng.sample(range(a.rows), a.none))
    # every class gets at least one row: the first `classes` labelled rows go round-robin
    out = open(a.out, "w", newline="")
    out.write("id,url,landmark_id\n")
    lines = []
    seen = 0
    for i in range(a.rows):
        rid = "%016x" % rng.getrandbits(64)
        if i in none_rows:
            lines.append("%s,None,None\n" % rid)
            continue
        if seen < a.classes:
            k = seen
        else:
            k = bisect.bisect_left(cum, rng.random() * total)
        seen += 1
        url = "https://lh3.googleusercontent.com/-%s/%s/AAAAAAAAAAA/%s/s1600/" % (
            rid[:11], rid[5:16], rid[::-1][:11])
        lines.append("%s,%s,%d\n" % (rid, url, label_ids[k]))
        if len(lines) >= 65536:
            out.writelines(lines)
            lines.clear()
    out.writelines(lines)
    out.close()


if __name__ == "__main__":
    main()
