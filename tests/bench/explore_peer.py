#!/usr/bin/env python3
"""explore_peer.py: the same counts as `cxr-pack --manifest FILE --explore`, in Python, as a
reference for bench_explore.sh: pandas when it is installed, else the csv module. Missing means
empty or "None" (as in cxr-pack); classes count the usable rows (an id, a url and the label, the
rows packing can use). Prints rows, unique classes, missing per column, the top 20
and the cumulative < 10 / < 100 / < 1000 / >= 1000 class counts.

usage: explore_peer.py FILE [--csv]   (--csv forces the csv-module version)
"""
import collections
import csv
import sys


def report(rows, columns, missing, counts):
    print("rows: %d" % rows)
    for c in columns:
        print("  %s: %d" % (c, missing[c]))
    print("unique classes: %d" % len(counts))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], int(kv[0]) if kv[0].isdigit() else 0))[:20]
    for i, (k, v) in enumerate(top):
        print("  %2d. %s: %d" % (i + 1, k, v))
    vals = list(counts.values())
    for lim in (10, 100, 1000):
        print("classes with < %d images: %d" % (lim, sum(v < lim for v in vals)))
    print("classes with >= 1000 images: %d" % sum(v >= 1000 for v in vals))


def with_csv(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        columns = next(r)
        li = columns.index("landmark_id") if "landmark_id" in columns else columns.index("label")
        missing = collections.Counter()
        counts = collections.Counter()
        rows = 0
        for row in r:
            rows += 1
            for c, v in zip(columns, row):
                if v == "" or v == "None":
                    missing[c] += 1
            v = row[li]
            usable = [x for x in (row[columns.index("id")], row[columns.index("url")], v)
                      if x != "" and x != "None" and (x is not v or len(v.encode()) <= 4096)]
            if len(usable) == 3:
                counts[v] += 1
    report(rows, columns, missing, counts)


def with_pandas(path):
    import pandas as pd
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=["", "None"])
    label = "landmark_id" if "landmark_id" in df.columns else "label"
    counts = df.dropna(subset=["id", "url", label])[label].value_counts()  # usable rows
    report(len(df), list(df.columns), df.isnull().sum().to_dict(), counts.to_dict())


if __name__ == "__main__":
    use_csv = "--csv" in sys.argv
    if not use_csv:
        try:
            import pandas  # noqa: F401
        except ImportError:
            use_csv = True
    print("peer: %s" % ("csv module" if use_csv else "pandas"))
    (with_csv if use_csv else with_pandas)(sys.argv[1])
