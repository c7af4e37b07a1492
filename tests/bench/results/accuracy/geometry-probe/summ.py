"""Tables of the geometry probe from cxr-eval's JSON and --predictions TSVs (522 rows each,
in /work/runs or the folder given as the second argument; not committed).
  summ.py [TSV_DIR]        the default models, default-s4..s6 (geometry-probe.md, summary.md here)
  summ.py geom [TSV_DIR]   the geom models, geom-s1..s2 (README.md; ../geom-probe/summary.md)
  summ.py detail [TSV_DIR] the default models under a detail gain (../detail-probe.md; its
                           unperturbed rows are this probe's `none`)
  summ.py border [TSV_DIR] the default models with the periphery hidden (../border-probe.md;
                           likewise)
  summ.py broad [TSV_DIR]  the broad models, broad-s1..s2 (../broad-plan.md; ../broad-probe/)"""
import csv
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
which = args.pop(0) if args and args[0] in ("geom", "defaults", "detail", "border", "broad") else "defaults"
tsv_dir = args[0] if args else "/work/runs"
if which == "geom":
    jdir, seeds, label = os.path.join(here, "..", "geom-probe"), (1, 2), "geom-s%d"
    views = ("none", "scale=1.25:1.25", "aspect=0.8:0.8")
    jname, tname, head = "probe-geom-s%d-%s.json", "gprobe-s%d-%s.tsv", "model"
elif which == "broad":
    jdir, seeds, label = os.path.join(here, "..", "broad-probe"), (1, 2), "broad-s%d"
    views = ("none", "scale=1.25:1.25", "border=0.1:0.1", "aspect=0.8:0.8")
    jname, tname, head = "probe-broad-s%d-%s.json", "brprobe-s%d-%s.tsv", "model"
elif which == "detail":
    jdir, seeds, label = os.path.join(here, "..", "detail-probe"), (4, 5, 6), "%d"
    views = ("none", "detail=0.5:0.5", "detail=0.7:0.7", "detail=1.4:1.4", "detail=2:2")
    jname, tname, head = "probe-s%d-%s.json", "dprobe-s%d-%s.tsv", "seed"
elif which == "border":
    jdir, seeds, label = os.path.join(here, "..", "border-probe"), (4, 5, 6), "%d"
    views = ("none", "border=0.05:0.05", "border=0.1:0.1", "border=0.2:0.2")
    jname, tname, head = "probe-s%d-%s.json", "bprobe-s%d-%s.tsv", "seed"
else:
    jdir, seeds, label = here, (4, 5, 6), "%d"
    views = ("none", "aspect=0.8:0.8", "aspect=1.25:1.25", "scale=0.8:0.8", "scale=1.25:1.25")
    jname, tname, head = "probe-s%d-%s.json", "probe-s%d-%s.tsv", "seed"
print("| %s | view | val AUC | sensitivity | specificity | mean p(PNEUMONIA), NORMAL | "
      "mean p(PNEUMONIA), PNEUMONIA |" % head)
print("|---|---|---|---|---|---|---|")
for s in seeds:
    for v in views:
        jd, tn = (here, "probe-s%d-%s.tsv") if which in ("detail", "border") and v == "none" else (jdir, tname)
        j = json.load(open(os.path.join(jd, jname % (s, v))))
        rows = list(csv.DictReader(open(os.path.join(tsv_dir, tn % (s, v))), delimiter="\t"))
        m = {}
        for lab in ("NORMAL", "PNEUMONIA"):
            ps = [float(r["p_PNEUMONIA"]) for r in rows if r["label"] == lab]
            m[lab] = sum(ps) / len(ps)
        print("| %s | %s | %.4f | %.4f | %.4f | %.4f | %.4f |" % (
            label % s, v, j["roc_auc"], j["recall"], j["specificity"], m["NORMAL"], m["PNEUMONIA"]))
