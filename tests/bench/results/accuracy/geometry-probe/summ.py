"""Table of geometry-probe.md from the cxr-eval JSON here and the --predictions TSVs
(in /work/runs, or the folder given as the first argument; not committed)."""
import csv
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
tsv_dir = sys.argv[1] if len(sys.argv) > 1 else "/work/runs"
views = ("none", "aspect=0.8:0.8", "aspect=1.25:1.25", "scale=0.8:0.8", "scale=1.25:1.25")
print("| seed | view | val AUC | sensitivity | specificity | mean p(PNEUMONIA), NORMAL | mean p(PNEUMONIA), PNEUMONIA |")
print("|---|---|---|---|---|---|---|")
for s in (4, 5, 6):
    for v in views:
        j = json.load(open(os.path.join(here, "probe-s%d-%s.json" % (s, v))))
        rows = list(csv.DictReader(open(os.path.join(tsv_dir, "probe-s%d-%s.tsv" % (s, v))), delimiter="\t"))
        m = {}
        for lab in ("NORMAL", "PNEUMONIA"):
            ps = [float(r["p_PNEUMONIA"]) for r in rows if r["label"] == lab]
            m[lab] = sum(ps) / len(ps)
        print("| %d | %s | %.4f | %.4f | %.4f | %.4f | %.4f |" % (
            s, v, j["roc_auc"], j["recall"], j["specificity"], m["NORMAL"], m["PNEUMONIA"]))
