#!/usr/bin/env python3
"""test_html: runs cxr-report on the fixture logs, parses the HTML (html.parser) and checks
every chart against the fixtures read independently with the json module: ids present, one
polyline per series per run with one point per epoch, legends naming each run, ROC polylines
for binary runs only, KxK confusion cells holding the fixture's counts, benchmark bars and
speed-ups, the "not available" GPU note, and no external resource.
usage: test_html.py CXR_REPORT FIXTURE_DIR WORK_DIR
"""
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


class Page(HTMLParser):
    """Collects svg charts (id -> polylines, legend texts, bar rects, viewBox) and tables."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.svgs = {}
        self.cur_svg = None
        self.in_legend = False
        self.in_text = None
        self.tables = {}
        self.cur_table = None
        self.cell = None
        self.na_notes = []
        self.in_na = False
        self.stack = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "").split()
        if tag == "svg":
            self.cur_svg = {"id": a.get("id"), "polylines": [], "legend": [], "bars": [],
                            "w": float(a["width"]), "h": float(a["height"])}
            self.svgs[a.get("id")] = self.cur_svg
        elif self.cur_svg is not None:
            if tag == "polyline":
                pts = [tuple(map(float, p.split(","))) for p in a["points"].split()]
                self.cur_svg["polylines"].append({"cls": cls, "run": int(a["data-run"]),
                                                  "pts": pts})
            elif tag == "g" and "legend" in cls:
                self.in_legend = True
            elif tag == "text" and self.in_legend:
                self.in_text = ""
            elif tag == "rect" and "bar" in cls:
                self.cur_svg["bars"].append(a)
        if tag == "table":
            self.cur_table = {"cells": []}
            self.tables[a.get("id") or "t%d" % len(self.tables)] = self.cur_table
            if "confusion" in cls:
                self.cur_table["k"] = int(a["data-k"])
        elif tag == "td" and self.cur_table is not None:
            self.cell = {"cls": cls, "row": a.get("data-row"), "col": a.get("data-col"), "text": ""}
        elif tag in ("div", "p") and "na" in cls:
            self.in_na = True
            self.na_notes.append("")

    def handle_endtag(self, tag):
        if tag == "svg":
            self.cur_svg = None
        elif tag == "g":
            self.in_legend = False
        elif tag == "text" and self.in_text is not None:
            self.cur_svg["legend"].append(self.in_text)
            self.in_text = None
        elif tag == "table":
            self.cur_table = None
        elif tag == "td" and self.cell is not None:
            self.cur_table["cells"].append(self.cell)
            self.cell = None
        elif tag in ("div", "p"):
            self.in_na = False

    def handle_data(self, data):
        if self.in_text is not None:
            self.in_text += data
        if self.cell is not None:
            self.cell["text"] += data
        if self.in_na:
            self.na_notes[-1] += data


def load(path):
    lines = [json.loads(l) for l in open(path) if l.strip()]
    return ([l for l in lines if l.get("type") == "epoch"],
            [l for l in lines if l.get("type") == "benchmark"])


def report(tool, out, args):
    r = subprocess.run([tool] + args + ["-o", out], capture_output=True, text=True)
    check(r.returncode == 0, "cxr-report %s exited %d: %s" % (args, r.returncode, r.stderr))
    html = open(out, encoding="utf-8").read() if r.returncode == 0 else ""
    p = Page()
    p.feed(html)
    return html, p


EPOCH = {"type": "epoch", "epoch": 1, "train_loss": 0.5, "eval_acc": 0.8, "auc": 0.9,
         "confusion": [[5, 1], [2, 6]], "roc": [[0, 0], [0.2, 0.7], [1, 1]]}


def write_log(path, lines, end="\n"):
    with open(path, "w", newline="") as f:
        for l in lines:
            f.write((l if isinstance(l, str) else json.dumps(l)) + end)


def hostile_and_odd(tool, work):
    """Text from a log is escaped wherever it lands (the recipe, the GPU note); a log edited on
    Windows (CRLF) or with a tab after an object reads as it is; a line whose epoch is not an
    integer is skipped, not taken for an epoch; two logs of the same name are told apart by their
    folders; a run without non-finite probabilities gets no note about them."""
    def page(name, lines, end="\n", extra=()):
        log = os.path.join(work, name + ".jsonl")
        write_log(log, lines, end)
        html, pg = report(tool, os.path.join(work, name + ".html"), [log] + list(extra))
        return html, pg

    run = {"type": "run", "device": "cpu", "classes": ["NORMAL", "PNEUMONIA"],
           "recipe": {"note": "<script>alert(1)</script>"}}
    ep = dict(EPOCH, monitor={"samples": 2, "cpu_util_mean": 90.0, "cpu_util_max": 99.0,
                              "rss_mb_mean": 100.0, "rss_mb_max": 110.0,
                              "gpu": "not available: <img src=x onerror=alert(1)>"})
    html, _ = page("hostile", [run, ep])
    check("<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html,
          "the recipe's text is not escaped")
    check("<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html,
          "the GPU note is not escaped")
    # the recipe reads as "key value" pairs in the log's order, not as JSON
    html, _ = page("recipe", [dict(run, recipe={"name": "standard", "batch": 64, "lr": 0.0001,
                                                "seed": 2147483647, "prefetch": True,
                                                "augment": "rotate=10"}), EPOCH])
    check("recipe <code>name standard, batch 64, lr 0.0001, seed 2147483647, prefetch true, "
          "augment rotate=10</code>" in html, "the recipe is not shown as key value pairs")
    check("non-finite" not in html, "a note about non-finite probabilities no run had")
    check("(mean of" not in html, "a run of no averaged weights said to be a mean")

    two = dict(EPOCH, epoch=2, train_loss=0.4)
    for name, end in (("crlf", "\r\n"), ("tab", "\t\n")):
        html, pg = page(name, [run, EPOCH, two], end)
        check("malformed" not in html, "%s: lines skipped: a log ending lines with %r" % (name, end))
        check(len(pg.svgs.get("chart-loss", {"polylines": [{"pts": []}]})["polylines"][0]["pts"])
              == 2, "%s: the loss curve lacks its 2 epochs" % name)

    half = dict(EPOCH, epoch=1.5, train_loss=9.0)
    html, pg = page("half", [run, EPOCH, half])
    check("1 malformed line(s) skipped" in html, "an epoch of 1.5 was not skipped")
    check("9.0000" not in html and "0.5000" in html, "an epoch of 1.5 replaced epoch 1")

    # what an epoch's figures say: averaged weights, the share of time waiting for data;
    # a run never resumed says nothing of resumes; a DEL byte in a name shows as U+FFFD
    run_del = dict(run, device="cpu\u007fX")
    html, _ = page("figures", [run_del, dict(EPOCH, averaged=1, data_wait_frac=0.02)])
    check("1 (mean of 1 epochs)" in html, "an epoch of averaged weights does not say so")
    check("2.0%" in html, "data_wait_frac 0.02 is not shown as 2.0%")
    check("resumed" not in html, "a run never resumed says it was")
    check("\x7f" not in html and "cpu&#xFFFD;X" in html, "a DEL byte reached the page")
    # a run line that is skipped changes nothing of the run its valid line described
    html, _ = page("badrun", [dict(run, tool="good"), EPOCH,
                              dict(run, tool="EVIL", device=5)])
    check("1 malformed line(s) skipped" in html and "EVIL" not in html and "good" in html,
          "a skipped run line changed the run")

    # the store's name and the selected metric are escaped too (in the file note and in the kept
    # model's cell); a no-break space is text, a noncharacter past the first plane is U+FFFD
    html, _ = page("store", [dict(run, store="<b>st</b>.h5", device="a\u00a0b\U0001fffec",
                                  recipe={"select": "<i>v</i>"}),
                             dict(EPOCH, best_epoch=1, best_value=0.5)])
    check("<b>st</b>" not in html and "store <code>&lt;b&gt;st&lt;/b&gt;.h5</code>" in html,
          "the store's name is not escaped")
    check("<i>v" not in html and "epoch 1 (best &lt;i&gt;v&lt;/i&gt; 0.5000)" in html,
          "the kept model's metric is not escaped")
    # ... and its value shown as the other cells show one: a value the log lacks is not "nan", a
    # huge one is not 301 digits (a mutation round)
    for bv, want in ((None, "epoch 1 (best val_loss)"), (1e300, "epoch 1 (best val_loss 1e+300)")):
        h2, _ = page("kept", [dict(run, recipe={"select": "val_loss"}),
                              dict(EPOCH, best_epoch=1, best_value=bv)])
        check(want in h2, "the kept model's value %r: %s" % (bv, re.findall(r"epoch 1 \(best[^<]*", h2)))
    check("a\u00a0b&#xFFFD;c" in html, "a no-break space or U+1FFFE: %r" %
          re.findall(r"a.b[^<]{0,12}", html)[:2])
    # a log without a run line (no class names) still gets its per-class table, classes numbered
    pc = [{"precision": 0.5, "recall": 0.6, "f1": 0.55}, {"precision": 0.7, "recall": 0.8, "f1": 0.75}]
    html, _ = page("noclasses", [dict(EPOCH, per_class=pc)])
    rows = re.findall(r'<tr><td class="l">([^<]*)</td><td>0\.[57]000</td>', html)
    check(rows == ["0", "1"], "per-class rows of a log without class names: %s" % rows)

    # a step logged twice (a resume replays its epoch's steps) keeps its last loss: the curve
    # falls from step 1's 1.0 to step 2's 0.7 (SVG y grows downward), not up to the first 5.0
    st = lambda k, loss: {"type": "step", "step": k, "epoch": 1, "loss": loss}
    _, pg = page("steps", [run, st(1, 1.0), st(2, 5.0), st(2, 0.7), EPOCH])
    pts = pg.svgs.get("chart-step-loss", {"polylines": [{"pts": []}]})["polylines"][0]["pts"]
    check(len(pts) == 2 and pts[1][1] > pts[0][1], "a repeated step kept its first loss: %s" % pts)
    # a GPU that reports memory alone is reported: its memory chart, no "not available"
    gm = dict(EPOCH, monitor={"samples": 2, "cpu_util_mean": 90.0, "cpu_util_max": 99.0,
                              "rss_mb_mean": 100.0, "rss_mb_max": 110.0,
                              "gpu_mem_mb_mean": 500.0, "gpu_mem_mb_max": 600.0})
    _, pg = page("gpumem", [run, gm])
    check("chart-gpumem" in pg.svgs and not any("GPU not available" in n for n in pg.na_notes),
          "a GPU reporting memory alone was taken for none")
    # 64 classes: the matrix is still drawn cell by cell (from 65 a note stands in for it)
    k = 64
    _, pg = page("k64", [dict(run, classes=["c%d" % i for i in range(k)]),
                         dict(EPOCH, confusion=[[int(i == j) for j in range(k)] for i in range(k)],
                              roc=None)])
    check(any(t.startswith("confusion-") and pg.tables[t].get("k") == k for t in pg.tables),
          "64 classes: no matrix drawn")

    # lines out of range or of the wrong shape are skipped and counted, each on its own
    bad_lines = {
        "confusion_negative": dict(EPOCH, epoch=2, confusion=[[-1, 2], [3, 4]]),
        "confusion_empty": dict(EPOCH, epoch=2, confusion=[]),
        "epoch_negative": dict(EPOCH, epoch=-1),
        "nonfinite_negative": dict(EPOCH, epoch=2, eval_nonfinite=-3),
        "roc_point_of_3": dict(EPOCH, epoch=2, roc=[[0, 0, 7], [1, 1]]),
        "step_0": {"type": "step", "step": 0, "epoch": 1, "loss": 0.5},
        "recipe_text": dict(run, recipe="lr=1"),
    }
    for name, line in bad_lines.items():
        html, _ = page("bad_" + name, [run, EPOCH, line])
        check("1 malformed line(s) skipped" in html, "%s: not skipped" % name)

    # by the fewest trailing path components that differ (not the whole paths), a trailing .gz
    # not counting as a difference (the same file twice is refused: test_cli.py)
    import gzip
    for d in ("a", "b"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
        write_log(os.path.join(work, d, "run.jsonl"), [run, EPOCH])
    with open(os.path.join(work, "b", "run.jsonl"), "rb") as f, \
            gzip.open(os.path.join(work, "b", "run.jsonl.gz"), "wb") as g:
        g.write(f.read())
    a_run = os.path.join(work, "a", "run.jsonl")
    for second, want in (("run.jsonl", ["a/run.jsonl", "b/run.jsonl"]),
                         ("run.jsonl.gz", ["a/run.jsonl", "b/run.jsonl.gz"])):
        logs = [a_run, os.path.join(work, "b", second)]
        r = subprocess.run([tool] + logs + ["-o", os.path.join(work, "same.html")],
                           capture_output=True, text=True)
        pg = Page()
        pg.feed(open(os.path.join(work, "same.html"), encoding="utf-8").read()
                if r.returncode == 0 else "")
        legend = pg.svgs.get("chart-loss", {"legend": []})["legend"]
        names = sorted({t.rsplit(" ", 1)[0] for t in legend})
        check(names == sorted(set(want)), "runs %s named %r, want %r" % (logs, names, want))


def boundaries(tool, work):
    """The edges of what a page draws: the loss axis starts at 0 and the accuracy axis stops at
    1; a run of more than STEP_POINTS steps (or samples) keeps each slice's lowest and highest; an ROC
    of more than 2000 points is drawn thinned, its ends kept; every
    class of a per-class table is named; the many-classes note starts past 256 classes; a GPU
    vs CPU row pairs a config whose device (first word) is cpu; 40 epochs get point markers; a
    matrix of another size than the run's classes is not headed by their names; numbers far past
    an axis give finite, short coordinates; long names are shortened, runs past the legend's
    room said as "+N more"; noncharacters are not written."""
    def page(name, lines):
        log = os.path.join(work, name + ".jsonl")
        write_log(log, lines)
        return report(tool, os.path.join(work, name + ".html"), [log])

    def svg_text(html, cid):
        at = html.find('id="%s"' % cid)
        return html[at:html.find("</svg>", at)] if at >= 0 else ""

    run = {"type": "run", "device": "cpu", "classes": ["NORMAL", "PNEUMONIA"]}
    # losses 0.5, 0.4: the axis still starts at 0; an accuracy of 1.5 still ends the axis at 1
    html, _ = page("axes", [run, dict(EPOCH, train_loss=0.5, eval_acc=1.5),
                            dict(EPOCH, epoch=2, train_loss=0.4, eval_acc=0.6)])
    ticks = lambda cid: re.findall(r'class="ytick"[^>]*>([^<]*)<', svg_text(html, cid))
    yl, ya = ticks("chart-loss"), ticks("chart-acc")
    check(yl and float(yl[0]) == 0, "chart-loss: y axis from %s, not 0" % (yl[:1],))
    check(ya and float(ya[-1]) == 1, "chart-acc: y axis up to %s, not 1" % (ya[-1:],))
    # a series without a value in any epoch (no eval_loss here) has no legend entry
    leg = re.findall(r'class="legend-item"[^>]*>([^<]*)<', svg_text(html, "chart-loss"))
    check(leg == ["axes.jsonl train"], "chart-loss legend of a log without eval losses: %s" % leg)
    # a time of exactly 1e9 s is past what a fixed-point cell shows: %.6g
    html, _ = page("e9", [run, dict(EPOCH, epoch_s=1e9)])
    check("<td>1e+09</td>" in html, "an epoch time of 1e9 s: %s" %
          re.findall(r"<td>1[0-9e+.]*</td>", html)[:4])

    # 4001 steps (past 4000 the steps are thinned to 2000 slices), losses alternating 1 and 2:
    # each slice keeps its lowest and its highest loss, 4000 points
    st = [{"type": "step", "step": k, "epoch": 1, "loss": 1.0 + k % 2} for k in range(1, 4002)]
    _, pg = page("thin", [run] + st + [EPOCH])
    pts = pg.svgs.get("chart-step-loss", {"polylines": [{"pts": []}]})["polylines"][0]["pts"]
    check(len(pts) == 4000 and len(set(y for _, y in pts)) == 2,
          "4001 steps thinned to %d points, want 4000 (each slice's low and high)" % len(pts))
    # ... in step order, whichever of a slice's low and high comes first
    xs = [x for x, _ in pts]
    check(xs == sorted(xs), "4001 steps: the points' x goes back (a slice's later step first): %s" %
          [xs[i:i + 2] for i in range(len(xs) - 1) if xs[i] > xs[i + 1]][:3])
    # exactly 4000 steps are all drawn, not thinned: a loss equal in every slice keeps each step
    st = [{"type": "step", "step": k, "epoch": 1, "loss": 1.0} for k in range(1, 4001)]
    _, pg = page("thin4000", [run] + st + [EPOCH])
    pts = pg.svgs.get("chart-step-loss", {"polylines": [{"pts": []}]})["polylines"][0]["pts"]
    check(len(pts) == 4000, "4000 steps drawn as %d points, want all 4000" % len(pts))
    # samples the same (a run sampled every second for days: 100,000 samples made 2.2 MB): 4001
    # samples of cpu_util alternating 100 and 200 keep each slice's low and high, 4000 all
    for n, want in ((4001, 4000), (4000, 4000)):
        sf = os.path.join(work, "s%d.jsonl" % n)
        write_log(sf, [{"t": float(k), "epoch": 1, "cpu_util": 100.0 + 100 * (k % 2), "rss_mb": 5.0}
                       for k in range(n)])
        log = os.path.join(work, "s%d_run.jsonl" % n)
        write_log(log, [run, EPOCH])
        _, pg = report(tool, os.path.join(work, "s%d.html" % n), [log, "--samples", sf])
        pts = pg.svgs.get("chart-cpu", {"polylines": [{"pts": []}]})["polylines"][0]["pts"]
        check(len(pts) == want and len(set(y for _, y in pts)) == 2,
              "%d samples drawn as %d points, want %d" % (n, len(pts), want))
    # ... and a samples chart's y axis starts at 0 as a per-epoch one does (cpu_util of 100 to 200:
    # from 0, not from 100)
    sh = open(os.path.join(work, "s4000.html"), encoding="utf-8").read()
    yc = re.findall(r'class="ytick"[^>]*>([^<]*)<', svg_text(sh, "chart-cpu"))
    check(yc and float(yc[0]) == 0, "chart-cpu (samples): y axis from %s, not 0" % (yc[:1],))

    # an ROC of one point per score (a val split of 100,000 distinct scores: a polyline of 1 MB
    # a run): past 2000 points, one is drawn when it moves 1/2000 of an axis or more from the
    # last drawn, at most about 4002, from the first point to the last; 2000 are all drawn
    roc_pts = lambda pg: pg.svgs.get("chart-roc", {"polylines": [{"pts": []}]})["polylines"][0]["pts"]
    ends = roc_pts(page("roc3", [run, EPOCH])[1])
    n = 100000
    _, pg = page("thinroc", [run, dict(EPOCH, roc=[[0, 0]] + [[i / n, min(1.0, 2 * i / n)]
                                                              for i in range(1, n)] + [[1, 1]])])
    pts = roc_pts(pg)
    check(100 < len(pts) <= 4002 and pts[0] == ends[0] and pts[-1] == ends[-1] and
          [x for x, _ in pts] == sorted(x for x, _ in pts),
          "an ROC of %d points drawn as %d, want 101..4002 from (0,0) to (1,1) in order" % (n + 1, len(pts)))
    _, pg = page("roc2000", [run, dict(EPOCH, roc=[[i / 1e6, i / 1e6] for i in range(1999)] + [[1, 1]])])
    check(len(roc_pts(pg)) == 2000, "an ROC of 2000 points drawn as %d, want all" % len(roc_pts(pg)))

    # the per-class table names every class, the last one too
    k3 = dict(run, classes=["a", "b", "zlast"])
    pc = [{"precision": 0.5, "recall": 0.6, "f1": 0.55} for _ in range(3)]
    html, _ = page("perclass", [k3, dict(EPOCH, confusion=[[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                                         roc=None, auc=None, per_class=pc)])
    rows = re.findall(r'<tr><td class="l">([^<]*)</td>', html[html.find('class="per-class"'):])
    check(rows[:3] == ["a", "b", "zlast"], "per-class rows named %s" % rows[:3])

    # a run of 256 classes whose log has no matrix gets no note (a log carries one up to 256);
    # from 257 the note says why there is none
    for k, want in ((256, False), (257, True)):
        html, _ = page("nomatrix%d" % k, [dict(run, classes=["c%d" % i for i in range(k)]),
                                          {"type": "epoch", "epoch": 1, "train_loss": 0.5}])
        check(("a log carries the matrix up to 256" in html) == want,
              "%d classes without a matrix: note %s" % (k, "missing" if want else "given"))

    # a matrix of another size than the run's classes is left out, said (it was drawn with its
    # columns numbered: a 3000x3000 one in a 2-class run's log took 800 MB), the epoch kept
    km = os.path.join(work, "kmismatch.jsonl")
    write_log(km, [dict(run, classes=["A", "B", "C"]), EPOCH])
    r = subprocess.run([tool, km, "-o", km + ".html"], capture_output=True, text=True)
    check(r.returncode == 0, "a 2 x 2 matrix of a 3-class run: exit %d" % r.returncode)
    html = open(km + ".html", encoding="utf-8").read() if r.returncode == 0 else ""
    check('id="confusion-0"' not in html, "a 2 x 2 matrix of a 3-class run was drawn")
    check("no ROC points" not in html, "the epoch's ROC was left out with its matrix")
    check("hold a confusion matrix or per-class figures of 2 classes, the run's line names 3: "
          "left out" in r.stderr,
          "the left-out matrix was not said: %s" % r.stderr)

    # GPU vs CPU pairs the config whose first word is cpu, not one naming cpu further on
    b = lambda cfg, s: {"type": "benchmark", "config": cfg, "first_epoch_s": s,
                        "later_epoch_s": s, "images_per_s": 10.0, "data_wait_frac": 0.1}
    _, pg = page("bench", [run, EPOCH, b("gpu cpu-aug", 4.0), b("gpu gpu-aug", 2.0)])
    sp = " ".join(c["text"] for c in pg.tables.get("speedups", {"cells": []})["cells"])
    check("GPU vs CPU" not in sp, "a gpu config was paired as GPU vs CPU: %s" % sp)

    # numbers far past an axis: every coordinate stays a finite number of modest size (SVG
    # refuses "nan", "inf" and a 40-digit number, and drops the whole line): losses all beyond
    # -1e307; an ROC point at 1e40; an accuracy of 1e40 on its axis capped at 1
    num = re.compile(r'(?:points|x1|x2|y1|y2|cx|cy|x|y|width)="([^"]*)"')
    for name, lines in (("farneg", [run, {"type": "epoch", "epoch": 1, "train_loss": -5e307},
                                    {"type": "epoch", "epoch": 2, "train_loss": -6e307}]),
                        ("farroc", [run, dict(EPOCH, eval_acc=1e40),
                                    dict(EPOCH, epoch=2, roc=[[0, 0], [0.2, 1e40], [0.5, 0.8],
                                                              [1, 1]])])):
        html, _ = page(name, [l for l in lines])
        vals = [v for a in num.findall(html[html.find("<svg"):]) for v in re.split(r"[ ,]+", a)
                if v]
        bad = [v for v in vals if not re.fullmatch(r"-?\d{1,7}(\.\d+)?", v)]
        check(vals and not bad, "%s: coordinates SVG refuses: %s" % (name, bad[:3]))
        if name == "farroc":
            rp = re.findall(r'class="series roc"[^>]*points="([^"]*)"', html)
            check(rp and len(rp[0].split()) == 4, "farroc: the ROC line lost points: %s" % rp)

    # a long benchmark config is shortened (its two ends kept): the bars keep their width
    long_cfg = "cpu prefetch " + "x" * 180
    html, _ = page("longbench", [run, EPOCH, b(long_cfg, 4.0), b("cpu no-prefetch", 2.0)])
    fw = re.findall(r'class="frame"[^>]*width="(-?\d+)"', svg_text(html, "chart-bench"))
    cats = re.findall(r'class="cat"[^>]*>([^<]*)<', html)
    check(fw and int(fw[0]) > 300, "a long bench label left the bars %s px" % fw)
    check(any(c.startswith("cpu prefetch x") and "..." in c and len(c) <= 48 for c in cats),
          "long bench label not shortened: %s" % [c[:60] for c in cats])

    # 40 runs: 63 legend entries and "+N more" for the rest, not runs left out unsaid; a long
    # run name is shortened, its " train" / " eval" kept; noncharacters shown as U+FFFD
    logs = []
    for k in range(40):
        log = os.path.join(work, "many%02d%s.jsonl" % (k, "y" * 200 if k == 0 else ""))
        write_log(log, [dict(run, device="cpu\ufdd0\uffff"), dict(EPOCH, eval_loss=0.6)])
        logs.append(log)
    html, pg = report(tool, os.path.join(work, "many.html"), logs)
    leg = re.findall(r'class="legend-item"[^>]*>([^<]*)<', svg_text(html, "chart-loss"))
    check(len(leg) == 64 and leg[-1] == "+17 more (not named here)",
          "40 runs x 2 series: legend %d entries, last %r" % (len(leg), leg[-1:]))
    check(any(t.startswith("many00yyy") and "..." in t and t.endswith(" train") for t in leg),
          "a long run name's legend entry: %s" % [t for t in leg if t.startswith("many00")])
    check("\ufdd0" not in html and "\uffff" not in html, "noncharacters reached the page")
    # a name of exactly 48 characters (CXR_PLOT_NAME_CHARS) is shown whole; of 49, shortened to 48
    for n, whole in ((48, True), (49, False)):
        name = ("n%d" % n).ljust(n - len(".jsonl"), "z") + ".jsonl"
        log = os.path.join(work, name)
        write_log(log, [run, EPOCH])
        html, _ = report(tool, os.path.join(work, "name%d.html" % n), [log])
        leg = re.findall(r'class="legend-item"[^>]*>([^<]*)<', svg_text(html, "chart-loss"))
        short = [t[:-len(" train")] for t in leg if t.endswith(" train")]
        check(short == ([name] if whole else [name[:22] + "..." + name[-23:]]),
              "a %d-character name in the legend: %s" % (n, short))
    # a legend entry wider than the chart (a 48-character name and its AUC) starts the first row,
    # not a second one under an empty first: the ROC chart is as tall as for a short name
    hs = []
    for name in ("r.jsonl", "w" * 42 + ".jsonl"):
        log = os.path.join(work, name)
        write_log(log, [run, EPOCH])
        _, pg = report(tool, os.path.join(work, "legend.html"), [log])
        hs.append(pg.svgs.get("chart-roc", {}).get("h"))
    check(hs[0] is not None and hs[0] == hs[1], "ROC chart heights for a short and a long name: %s" % hs)
    # ... names of 4-byte characters too (the legend's bytes are not its characters): two runs
    # of 40-character names differing at their ends keep " train" / " eval" and stay apart
    logs = []
    for tail in "AB":
        log = os.path.join(work, "\U0001F600" * 40 + tail + ".jsonl")
        write_log(log, [run, dict(EPOCH, eval_loss=0.6)])
        logs.append(log)
    html, _ = report(tool, os.path.join(work, "emoji.html"), logs)
    leg = re.findall(r'class="legend-item"[^>]*>([^<]*)<', svg_text(html, "chart-loss"))
    check(len(set(leg)) == 4 and all(t.endswith((" train", " eval")) for t in leg),
          "4-byte names' legend: %s" % [t[-20:] for t in leg])
    # a time of 1e10 s in the benchmark comparison: %.6g, its unit kept
    html, _ = page("hugebench", [run, EPOCH, b("cpu prefetch", 1e10), b("gpu prefetch", 2.0)])
    check(re.search(r"<td>1e\+10 s</td>", html), "a huge time lost its unit: %s" %
          re.findall(r"<td>[^<]*e\+10[^<]*</td>", html))

    # point markers on a series of at most 40 points: 40 epochs get them, 41 do not
    for n, want in ((40, 40), (41, 0)):
        html, _ = page("pts%d" % n, [run] + [{"type": "epoch", "epoch": e, "train_loss": 1.0 / e}
                                             for e in range(1, n + 1)])
        got = svg_text(html, "chart-loss").count('<circle class="pt"')
        check(got == want, "%d epochs: %d point markers, want %d" % (n, got, want))


def main():
    tool, fx, work = sys.argv[1:4]
    names = ["cpu2_3ep.jsonl", "gpu2_bench.jsonl", "k3_3ep.jsonl"]
    logs = [load(os.path.join(fx, n)) for n in names]
    out = os.path.join(work, "test_html_report.html")
    html, p = report(tool, out, [os.path.join(fx, n) for n in names] +
                     ["--samples", os.path.join(fx, "samples_gpu.jsonl")])

    # -q: the same page, and nothing said (without it: one "wrote" line). The page says when it
    # was generated, to the second: masked (two runs straddling a second differed, a flaky test)
    args = [os.path.join(fx, n) for n in names] + ["--samples", os.path.join(fx, "samples_gpu.jsonl")]
    when = re.compile(r"generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d by")
    check(len(when.findall(html)) == 1, "the page's generation time not found once")
    for q in ("-q", "--quiet"):
        quiet = os.path.join(work, "test_html_quiet.html")
        r = subprocess.run([tool] + args + ["-o", quiet, q], capture_output=True, text=True)
        same = when.sub("generated T by", open(quiet, encoding="utf-8").read()) == \
            when.sub("generated T by", html)
        check(r.returncode == 0 and r.stderr == "" and same,
              "cxr-report %s: exit %d, stderr %r, or another page" % (q, r.returncode, r.stderr))
    r = subprocess.run([tool] + args + ["-o", quiet], capture_output=True, text=True)
    check(r.returncode == 0 and r.stderr.startswith("cxr-report: wrote "),
          "cxr-report without -q: stderr %r" % r.stderr)

    # self-contained: nothing fetched
    low = html.lower()
    for bad in ("<script", "http://", "https://", "<link", " src=", "@import", "url(http"):
        check(bad not in low, "external reference %r in the page" % bad)

    # the runs table names the CPU and kernels of a log that says them, escaped
    check("AMD EPYC &lt;test&gt;; own AVX2+FMA kernels; oneDNN (avx2)" in html,
          "runs table: cpu2_3ep.jsonl's cpu_model and kernels missing")
    check("<test>" not in html, "cpu_model not escaped")

    for cid in ("chart-loss", "chart-acc", "chart-roc", "chart-time", "chart-ips",
                "chart-bench", "chart-cpu", "chart-rss", "chart-gpu", "chart-gpumem"):
        check(cid in p.svgs, "chart %s missing" % cid)

    # every point of every series lies inside its svg (nothing clipped off the canvas)
    for cid, svg in p.svgs.items():
        for pl in svg["polylines"]:
            for x, y in pl["pts"]:
                check(0 <= x <= svg["w"] and 0 <= y <= svg["h"],
                      "%s: point (%g,%g) outside the %gx%g svg" % (cid, x, y, svg["w"], svg["h"]))

    # loss / accuracy: one polyline per series per run, one point per epoch, legend per run
    for cid, keys in (("chart-loss", ("train_loss", "eval_loss")),
                      ("chart-acc", ("train_acc", "eval_acc"))):
        svg = p.svgs.get(cid, {"polylines": [], "legend": []})
        check(len(svg["polylines"]) == 2 * len(names),
              "%s: %d polylines, want %d" % (cid, len(svg["polylines"]), 2 * len(names)))
        for r, (eps, _) in enumerate(logs):
            for series, key in zip(("train", "eval"), keys):
                pls = [pl for pl in svg["polylines"] if pl["run"] == r and series in pl["cls"]]
                check(len(pls) == 1, "%s run %d %s: %d polylines" % (cid, r, series, len(pls)))
                want = sum(1 for e in eps if key in e)
                check(pls and len(pls[0]["pts"]) == want,
                      "%s run %d %s: points != %d epochs" % (cid, r, series, want))
                # x ascending with the epoch number; lower loss is drawn higher up (smaller y)
                if pls and len(pls[0]["pts"]) > 1:
                    xs = [pt[0] for pt in pls[0]["pts"]]
                    check(xs == sorted(xs), "%s run %d %s: x not ascending" % (cid, r, series))
                    vals = [e[key] for e in eps]
                    ys = [pt[1] for pt in pls[0]["pts"]]
                    for i in range(len(vals) - 1):
                        if vals[i] != vals[i + 1]:
                            check((vals[i] < vals[i + 1]) == (ys[i] > ys[i + 1]),
                                  "%s run %d %s: y order does not follow the values" %
                                  (cid, r, series))
            for n in names:
                check(any(n in t for t in svg["legend"]), "%s: legend lacks %s" % (cid, n))

    # ROC: binary runs only, last epoch's points
    roc = p.svgs.get("chart-roc", {"polylines": [], "legend": []})
    check(sorted(pl["run"] for pl in roc["polylines"]) == [0, 1],
          "chart-roc: polylines for runs %s, want [0, 1]" % [pl["run"] for pl in roc["polylines"]])
    for pl in roc["polylines"]:
        check(len(pl["pts"]) == len(logs[pl["run"]][0][-1]["roc"]), "chart-roc: point count")
    check(any("cpu2_3ep.jsonl" in t and "0.930" in t for t in roc["legend"]),
          "chart-roc: legend lacks run name and AUC")

    # confusion matrices: KxK cells equal to the last epoch's matrix
    for r, (eps, _) in enumerate(logs):
        cm = eps[-1]["confusion"]
        k = len(cm)
        t = p.tables.get("confusion-%d" % r)
        check(t is not None, "confusion-%d missing" % r)
        if not t:
            continue
        cells = [c for c in t["cells"] if "cm-cell" in c["cls"]]
        check(t["k"] == k and len(cells) == k * k, "confusion-%d: %d cells, want %d" %
              (r, len(cells), k * k))
        for c in cells:
            i, j = int(c["row"]), int(c["col"])
            check(int(c["text"]) == cm[i][j], "confusion-%d[%d][%d] = %s, want %d" %
                  (r, i, j, c["text"], cm[i][j]))

    # benchmark: two bars per configuration, derived speed-ups computed from the fixture
    bench = logs[1][1]
    check(len(p.svgs.get("chart-bench", {"bars": []})["bars"]) == 2 * len(bench),
          "chart-bench: bar count")
    by = {b["config"]: b for b in bench}
    sp = " ".join(c["text"] for c in p.tables.get("speedups", {"cells": []})["cells"])
    for slow, fast in (("cpu prefetch", "gpu prefetch"), ("cpu no-prefetch", "cpu prefetch"),
                       ("gpu no-prefetch", "gpu prefetch")):
        want = "%.2f\u00d7" % (by[slow]["later_epoch_s"] / by[fast]["later_epoch_s"])
        check(want in sp, "speed-ups table lacks %s (%s vs %s)" % (want, slow, fast))

    # samples charts: one series per samples file, one point per sample line
    n_samples = sum(1 for l in open(os.path.join(fx, "samples_gpu.jsonl")) if l.strip())
    for cid in ("chart-cpu", "chart-rss", "chart-gpu", "chart-gpumem"):
        pls = p.svgs.get(cid, {"polylines": []})["polylines"]
        check(len(pls) == 1 and len(pls[0]["pts"]) == n_samples, "%s: samples series" % cid)

    # CPU-only report without samples: per-epoch monitor charts, GPU "not available: <reason>"
    out2 = os.path.join(work, "test_html_cpu.html")
    _, p2 = report(tool, out2, [os.path.join(fx, "cpu2_3ep.jsonl")])
    reason = logs[0][0][-1]["monitor"]["gpu"]
    check(any(reason in n for n in p2.na_notes), "GPU note %r not shown: %s" % (reason, p2.na_notes))
    check("chart-gpu" not in p2.svgs, "chart-gpu drawn for a run without GPU data")
    cpu = p2.svgs.get("chart-cpu", {"polylines": []})["polylines"]
    check(len(cpu) == 2 and all(len(pl["pts"]) == 3 for pl in cpu),
          "chart-cpu (per-epoch mean and max): %d series" % len(cpu))
    check("chart-bench" not in p2.svgs, "chart-bench drawn without benchmark lines")

    # many classes (a store holds up to 4096): the log is read (it was refused above 1000), and
    # the matrix past 64 classes is not drawn cell by cell (4096 made a 1.9 GB page)
    for k in (65, 1500):
        ep = dict(logs[2][0][-1])
        ep["confusion"] = [[1 if i == j else 0 for j in range(k)] for i in range(k)]
        ep.pop("per_class", None)
        big = os.path.join(work, "test_html_k%d.jsonl" % k)
        with open(big, "w") as f:
            f.write(json.dumps(ep) + "\n")
        outk = os.path.join(work, "test_html_k%d.html" % k)
        htmlk, pk = report(tool, outk, [big])
        check("%d classes: the %d x %d matrix is drawn up to 64 classes" % (k, k, k) in htmlk,
              "k=%d: no note in place of the matrix" % k)
        check(not any(t.startswith("confusion-") for t in pk.tables), "k=%d: a matrix drawn" % k)
    # ... up to 4096 rows (a store's most classes): a whole 4096 x 4096 matrix costs the reader
    # seconds and 1.4 GB, so its rows are left empty here: at 4096 rows the count passes and the
    # first row is the fault named, at 4097 the count is
    for k, why in ((4096, "row 1 is not an array of 4096 counts"), (4097, "4097 rows")):
        bad = os.path.join(work, "test_html_rows%d.jsonl" % k)
        write_log(bad, [EPOCH, dict(EPOCH, epoch=2, confusion=[[] for _ in range(k)])])
        r = subprocess.run([tool, bad, "-o", os.path.join(work, "test_html_rows%d.html" % k)],
                           capture_output=True, text=True)
        check(r.returncode == 0 and re.search(re.escape(bad) + r":2: .*" + re.escape(why),
                                              r.stderr),
              "a matrix of %d rows: exit %d, %r, want %r" % (k, r.returncode, r.stderr, why))

    hostile_and_odd(tool, work)
    boundaries(tool, work)

    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("report.html: all checks passed (%d charts)" % len(p.svgs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
