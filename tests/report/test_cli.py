#!/usr/bin/env python3
"""test_cli: cxr-report's handling of bad input.
- malformed lines are named on stderr as file:line and skipped; the good epochs are reported;
- values a double cannot step between end in a report, not an endless loop; a one-class
  evaluation draws no ROC and says n/a for the missing class's recall;
- a log without epoch lines is a clear error (exit 3) and no output file appears;
- huge values give exponent tick labels, an overflowing range no NaN, a negative time no
  negative bar, an empty eval split no "()"; 20,000 steps draw at most 4,000 points, spike kept;
- a missing file is an I/O error (exit 4); a missing -o is a usage error (exit 2); "--" ends
  the options and --output=FILE is -o FILE, as in the other tools;
- the page is valid UTF-8 (bad bytes and control characters as U+FFFD); lines of NUL bytes are
  named; a file of garbage names 20 lines and counts the rest; an earlier epoch's GPU failure is
  not reported for a run that read its GPU later; a samples file takes the colour of the run
  with the longest matching name (a run in its own folder first, .jsonl.gz as .jsonl); the last evaluation says when it is a weight mean's or has
  images with non-finite probabilities;
- a line past 128 MiB is skipped as a bad line, named; where the memory does not hold 128 MiB
  it is an error (exit 1), not a silent end of the file;
- a gzip-compressed log reads as the log itself, in one member or several; a truncated one, or
  one with bytes after its last member, is a read error (exit 4);
- no temporary file is left next to the output.
usage: test_cli.py CXR_REPORT FIXTURE_DIR WORK_DIR
"""
import os
import re
import shutil
import resource
import subprocess
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(tool, args):
    return subprocess.run([tool] + args, capture_output=True, text=True)


def main():
    tool, fx, work = sys.argv[1:4]
    work = os.path.join(work, "cli")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    bad = os.path.join(fx, "malformed.jsonl")
    out = os.path.join(work, "malformed.html")
    r = run(tool, [bad, "-o", out])
    check(r.returncode == 0, "malformed log: exit %d" % r.returncode)
    for line, why in ((3, "not valid JSON"), (5, "not a JSON object"), (6, "train_loss")):
        pat = re.escape("%s:%d:" % (bad, line)) + ".*" + re.escape(why)
        check(re.search(pat, r.stderr), "stderr does not name %s:%d (%s): %r" % (bad, line, why, r.stderr))
    check(len(re.findall(r"malformed\.jsonl:\d+:", r.stderr)) == 3, "exactly three lines named")
    html = open(out, encoding="utf-8").read() if os.path.exists(out) else ""
    # the per-epoch table lists the three good epochs of the run
    m = re.search(r"<table id=\"epochs\">(.*?)</table>", html, re.S)
    rows = re.findall(r"<tr><td class=\"l\">malformed\.jsonl</td><td>(\d+)</td>",
                      m.group(1) if m else "")
    check(rows == ["1", "2", "3"], "epoch rows of the malformed log: %s" % rows)
    check("3 malformed line(s) skipped" in html, "the page does not say lines were skipped")

    # the kept model: the best epoch of a run that selected one, and an early stop, as the last
    # epoch line has them; the last epoch's otherwise (the page showed the last epoch only)
    sel = os.path.join(work, "sel.jsonl")
    with open(sel, "w") as f:
        f.write('{"type":"run","recipe":{"name":"standard","select":"val_auc"}}\n')
        for ep in (1, 2, 3, 4):
            extra = ',"best_epoch":%d,"best_value":%s' % ((2, "0.91") if ep > 1 else (1, "0.8"))
            if ep == 4:
                extra += ',"stopped":"patience"'
            f.write('{"type":"epoch","epoch":%d,"train_loss":1,"eval_loss":0.5,"auc":0.9%s}\n'
                    % (ep, extra))
    r = run(tool, [sel, os.path.join(fx, "cpu2_3ep.jsonl"), "-o", os.path.join(work, "sel.html")])
    page = open(os.path.join(work, "sel.html"), encoding="utf-8").read() if r.returncode == 0 else ""
    check("epoch 2 (best val_auc 0.9100); stopped early (patience)</td>" in page,
          "the kept model of a selecting run: exit %d %r" % (r.returncode, r.stderr))
    check("the last epoch's</td>" in page, "the kept model of a run without selection")
    # the note on a run of more than 2 classes (the most probable class, macro averages): on a
    # page with one such run among others, not on a page of binary runs
    check("more than 2 classes" not in page, "a page of binary runs notes more than 2 classes")
    k3 = os.path.join(work, "k3.html")
    r = run(tool, [os.path.join(fx, "k3_3ep.jsonl"), os.path.join(fx, "cpu2_3ep.jsonl"), "-o", k3])
    page = open(k3, encoding="utf-8").read() if r.returncode == 0 else ""
    check("(a run of more than 2 classes: the most probable class, and macro averages of "
          "precision, recall, F1 and AUC)" in page,
          "the note of a run of 3 classes: exit %d %r" % (r.returncode, r.stderr))

    out2 = os.path.join(work, "none.html")
    r = run(tool, [os.path.join(fx, "no_epochs.jsonl"), "-o", out2])
    check(r.returncode == 3, "no-epoch log: exit %d, want 3" % r.returncode)
    check("no_epochs.jsonl: no epoch lines" in r.stderr and "left out" not in r.stderr,
          "no-epoch message: %r" % r.stderr)
    check(not os.path.exists(out2), "output written for a log without epochs")

    # ... among usable logs it is left out, said, and the page drawn (a run killed in its first
    # epoch beside finished ones gave no page at all); all of them unusable: exit 3, no page
    r = run(tool, [os.path.join(fx, "cpu2_3ep.jsonl"), os.path.join(fx, "no_epochs.jsonl"), "-o", out2])
    check(r.returncode == 0 and os.path.exists(out2) and
          "cxr-report: warning: " in r.stderr and "no_epochs.jsonl: no epoch lines" in r.stderr and
          "left out of the page" in r.stderr and "(1 run(s)," in r.stderr,
          "a log without epochs among others: exit %d %r" % (r.returncode, r.stderr))
    if os.path.exists(out2):
        os.remove(out2)
    # ... first among them too: the page holds the usable logs, no gap where it was
    r = run(tool, [os.path.join(fx, "no_epochs.jsonl"), os.path.join(fx, "cpu2_3ep.jsonl"), "-o", out2])
    check(r.returncode == 0 and os.path.exists(out2) and "(1 run(s)," in r.stderr,
          "a log without epochs first among others: exit %d %r" % (r.returncode, r.stderr))
    if os.path.exists(out2):
        os.remove(out2)
    # ... but a samples file given as a run (--samples forgotten) still ends the tool: exit 3
    r = run(tool, [os.path.join(fx, "cpu2_3ep.jsonl"), os.path.join(fx, "samples_gpu.jsonl"), "-o", out2])
    check(r.returncode == 3 and not os.path.exists(out2),
          "a samples file among the runs: exit %d %r" % (r.returncode, r.stderr))
    ne2 = os.path.join(work, "no_epochs2.jsonl")
    shutil.copy(os.path.join(fx, "no_epochs.jsonl"), ne2)
    r = run(tool, [os.path.join(fx, "no_epochs.jsonl"), ne2, "-o", out2])
    check(r.returncode == 3 and not os.path.exists(out2) and "none of the 2 logs" in r.stderr,
          "only unusable logs: exit %d %r" % (r.returncode, r.stderr))

    r = run(tool, [os.path.join(fx, "missing.jsonl"), "-o", out2])
    check(r.returncode == 4 and "missing.jsonl" in r.stderr, "missing file: exit %d %r" % (r.returncode, r.stderr))
    r = run(tool, [os.path.join(fx, "cpu2_3ep.jsonl")])
    check(r.returncode == 2, "missing -o: exit %d, want 2" % r.returncode)
    r = run(tool, [os.path.join(fx, "cpu2_3ep.jsonl"), "-o", os.path.join(work, "nodir", "x.html")])
    check(r.returncode == 4, "unwritable output: exit %d, want 4" % r.returncode)
    # --runs switches back from --samples; a log named "-" is a file, not an option
    cpu2, gsam = os.path.join(fx, "cpu2_3ep.jsonl"), os.path.join(fx, "samples_gpu.jsonl")
    r = run(tool, ["--samples", gsam, "--runs", cpu2, "-o", os.path.join(work, "runs.html")])
    check(r.returncode == 0 and "1 run(s)" in r.stdout + r.stderr,
          "--samples S --runs R: exit %d %r" % (r.returncode, r.stderr))
    shutil.copy(cpu2, os.path.join(work, "-"))
    r = subprocess.run([tool, "-", "-o", "dash.html"], capture_output=True, text=True, cwd=work)
    check(r.returncode == 0, "a log named '-': exit %d %r" % (r.returncode, r.stderr))
    # "--" ends the options and --output=FILE is -o FILE, as every other tool (getopt_long)
    # takes them: a log named "-x.jsonl" after "--" is a file (both were "unknown option", exit 2)
    shutil.copy(cpu2, os.path.join(work, "-x.jsonl"))
    shutil.copy(gsam, os.path.join(work, "-s.jsonl"))
    r = subprocess.run([tool, "--output=dd.html", "--samples", "--", "-s.jsonl"],
                       capture_output=True, text=True, cwd=work)
    check(r.returncode == 2 and "at least one training log is required" in r.stderr,
          "samples alone after --: exit %d %r" % (r.returncode, r.stderr))
    r = subprocess.run([tool, "--output=dd.html", "--", "-x.jsonl"], capture_output=True,
                       text=True, cwd=work)
    check(r.returncode == 0 and os.path.exists(os.path.join(work, "dd.html")),
          "--output=dd.html -- -x.jsonl: exit %d %r" % (r.returncode, r.stderr))
    # values valid in JSON that a double cannot step between (far from 0, close together), and a
    # sample time too large for a double: a report in a second, not an endless tick loop
    near = os.path.join(work, "near.jsonl")
    with open(near, "w") as f:
        f.write('{"type":"epoch","epoch":1,"train_loss":1,"train_acc":-1e16}\n'
                '{"type":"epoch","epoch":2,"train_loss":1,"train_acc":-9999999999999998}\n')
    samples = os.path.join(work, "near.samples.jsonl")
    with open(samples, "w") as f:
        f.write('{"t":1e16,"cpu_util":50}\n{"t":1.0000000000000002e16,"cpu_util":60}\n'
                '{"t":1e999,"cpu_util":70}\n')
    try:
        r = subprocess.run([tool, near, "--samples", samples, "-o", os.path.join(work, "near.html")],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "near values: exit %d %r" % (r.returncode, r.stderr))
        check("near.samples.jsonl:3:" in r.stderr and "finite" in r.stderr,
              "a sample time of 1e999 is named and skipped: %r" % r.stderr)
    except subprocess.TimeoutExpired:
        check(False, "near values: cxr-report did not finish in 30 s (an endless tick loop)")
    # an evaluation without one class: no ROC curve and no AUC for it, its recall n/a
    one = os.path.join(work, "oneclass.jsonl")
    with open(one, "w") as f:
        f.write('{"type":"epoch","epoch":1,"train_loss":0.5,"eval_loss":0.4,"eval_acc":0.5,'
                '"confusion":[[0,0],[4,4]],"roc":[[0,0],[0.5,0],[1,0]]}\n')
    oh = os.path.join(work, "oneclass.html")
    r = run(tool, [one, "-o", oh])
    check(r.returncode == 0, "one-class evaluation: exit %d %r" % (r.returncode, r.stderr))
    html = open(oh).read() if r.returncode == 0 else ""
    check("AUC nan" not in html and "chart-roc" not in html, "no ROC drawn without an AUC")
    check("<td>n/a</td>" in html, "a class with no image has recall n/a")
    # huge values: tick labels in exponent form that tell ticks apart (not 31-digit numbers off
    # by 1e4), a range that overflows a double draws no NaN, a negative time draws no negative
    # bar, and an empty eval split is not shown as "()"
    huge = os.path.join(work, "huge.jsonl")
    with open(huge, "w") as f:
        f.write('{"type":"run","eval_split":"","train_images":3,"eval_images":0}\n'
                '{"type":"epoch","epoch":1,"train_loss":1e35}\n'
                '{"type":"epoch","epoch":2,"train_loss":3e35}\n'
                '{"type":"benchmark","config":"x","first_epoch_s":-3}\n')
    hh = os.path.join(work, "huge.html")
    r = run(tool, [huge, "-o", hh])
    check(r.returncode == 0, "huge values: exit %d %r" % (r.returncode, r.stderr))
    html = open(hh).read() if r.returncode == 0 else ""
    ticks = re.findall(r'class="ytick"[^>]*>([^<]*)<', html)
    check(any("e+35" in t for t in ticks) and not any(re.fullmatch(r"-?\d{12,}", t) for t in ticks),
          "huge tick labels: %s" % ticks[:12])
    over = os.path.join(work, "overflow.jsonl")
    with open(over, "w") as f:
        f.write('{"type":"epoch","epoch":1,"train_loss":1e308}\n'
                '{"type":"epoch","epoch":2,"train_loss":-1e308}\n')
    r = run(tool, [over, "-o", os.path.join(work, "overflow.html")])
    oh = open(os.path.join(work, "overflow.html")).read() if r.returncode == 0 else "nan"
    check(r.returncode == 0 and "nan" not in oh, "a NaN in the page of a 1e308 range")
    # one value whose axis would round up past the double range (1.5e308 -> 2e308), and a
    # benchmark bar whose room for its label overflows (1.7e308 x 1.12)
    with open(over, "w") as f:
        f.write('{"type":"epoch","epoch":1,"train_loss":1.5e308}\n'
                '{"type":"epoch","epoch":2,"train_loss":1}\n'
                '{"type":"benchmark","config":"x","first_epoch_s":1.7e308,"later_epoch_s":1.7e308,'
                '"images_per_s":1,"data_wait_frac":0}\n')
    r = run(tool, [over, "-o", os.path.join(work, "overflow.html")])
    oh = open(os.path.join(work, "overflow.html")).read() if r.returncode == 0 else "nan"
    check(r.returncode == 0 and not re.search(r'[=," ]-?(nan|inf)\b', oh, re.I),
          "a NaN or inf in the page of a 1.5e308 loss or a 1.7e308 bar")
    check(not re.search(r'width="-', html), "a negative bar width")
    check("()" not in re.sub(r"<script.*?</script>", "", html, flags=re.S), "an empty split shown as ()")
    # 20,000 step lines: the step chart is thinned to at most 4,000 points and keeps a spike
    many = os.path.join(work, "steps.jsonl")
    with open(many, "w") as f:
        f.write('{"type":"epoch","epoch":1,"train_loss":1}\n')
        for i in range(1, 20001):
            f.write('{"type":"step","step":%d,"epoch":1,"loss":%s}\n' % (i, 100 if i == 12345 else 1))
    mh = os.path.join(work, "steps.html")
    r = run(tool, [many, "-o", mh])
    html = open(mh).read() if r.returncode == 0 else ""
    m = re.search(r'<polyline class="series step"[^>]*points="([^"]*)"', html)
    pts = m.group(1).split() if m else []
    check(0 < len(pts) <= 4000, "step chart points: %d (20,000 steps)" % len(pts))
    check(len({p.split(",")[1] for p in pts}) == 2, "the thinned step line keeps the spike")
    # a page of valid UTF-8 whatever the names and strings: a Latin-1 file name and raw bytes in
    # a class name become U+FFFD, a control character too (C0, and C1: U+009B is CSI)
    good = open(os.path.join(fx, "cpu2_3ep.jsonl"), "rb").read()
    latin = os.path.join(work.encode(), b"run\xe9.jsonl")
    with open(latin, "wb") as f:
        f.write(good.replace(b'"NORMAL"', b'"NOR\xffMAL\x01\xc2\x9b"', 1))
    uh = os.path.join(work, "utf8.html")
    r = subprocess.run([tool.encode(), latin, b"-o", uh.encode()], capture_output=True)
    try:
        page = open(uh, encoding="utf-8").read() if r.returncode == 0 else ""
    except UnicodeDecodeError as e:
        page = ""
        check(False, "the page is not valid UTF-8: %s" % e)
    check(r.returncode == 0 and "run&#xFFFD;.jsonl" in page and "NOR&#xFFFD;MAL&#xFFFD;&#xFFFD;" in page
          and "\u009b" not in page,
          "invalid UTF-8 and control characters (C0, C1) shown as U+FFFD (exit %d)" % r.returncode)
    os.remove(latin)
    # an escaped NUL (\u0000) is a control character too: U+FFFD, the rest of the string kept
    # (cJSON's C strings cut it there); an escaped backslash before "u0000" is text
    esc = os.path.join(work, "esc.jsonl")
    with open(esc, "wb") as f:
        f.write(good.replace(b'"NORMAL"', b'"NOR\\u0000MAL"', 1)
                .replace(b'"PNEUMONIA"', b'"PNEU\\\\u0000MONIA"', 1))
    eh = os.path.join(work, "esc.html")
    r = subprocess.run([tool, esc, "-o", eh], capture_output=True)
    page = open(eh, encoding="utf-8").read() if r.returncode == 0 else ""
    check(r.returncode == 0 and "NOR\ufffdMAL" in page and "PNEU\\u0000MONIA" in page,
          "an escaped NUL shown as U+FFFD, the string kept whole (exit %d)" % r.returncode)
    os.remove(esc)
    # a crash's tail of NUL bytes is a bad line, named; a binary file names 20 lines and counts
    # the rest
    nul = os.path.join(work, "nul.jsonl")
    with open(nul, "wb") as f:
        f.write(good + b"\0\0\0garbage\n" + b"\0" * 100 + b"\n")
    r = run(tool, [nul, "-o", os.path.join(work, "nul.html")])
    check(r.returncode == 0 and "nul.jsonl:5:" in r.stderr and "nul.jsonl:6:" in r.stderr,
          "lines of NUL bytes named: %r" % r.stderr)
    noise = os.path.join(work, "noise.jsonl")
    with open(noise, "wb") as f:
        f.write(good + b"not json\n" * 100)
    r = run(tool, [noise, "-o", os.path.join(work, "noise.html")])
    named = re.findall(r"noise\.jsonl:\d+:", r.stderr)
    check(r.returncode == 0 and len(named) == 20 and "80 more bad lines skipped" in r.stderr,
          "100 bad lines: %d named, the rest counted: %r" % (len(named), r.stderr[-300:]))
    # a model or a store given for a log (an HDF5 file) is said to be one, exit 3, not a screen
    # of bad lines; the same as a samples file
    h5 = os.path.join(work, "model.h5")
    with open(h5, "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 40)
    for args, kind in (([h5], "a training log: give the JSON lines file cxr-train's --log wrote"),
                       ([os.path.join(fx, "cpu2_3ep.jsonl"), "--samples", h5], "a samples file")):
        r = run(tool, args + ["-o", os.path.join(work, "h5.html")])
        check(r.returncode == 3 and "model.h5: an HDF5 file (a cxr model or store?), not " + kind
              in r.stderr and "not valid JSON" not in r.stderr,
              "an HDF5 file for %s: exit %d %r" % (kind, r.returncode, r.stderr[-300:]))
    # a log given twice (here once through a link) would be two runs of one name: refused,
    # exit 2, no page; so is a samples file given twice
    cpu2 = os.path.join(fx, "cpu2_3ep.jsonl")
    twice = os.path.join(work, "twice.jsonl")
    os.symlink(cpu2, twice)
    for args, kind in (([cpu2, twice], "training log"),
                       ([cpu2, "--samples", os.path.join(fx, "samples_gpu.jsonl"),
                         os.path.join(fx, "samples_gpu.jsonl")], "samples file")):
        r = run(tool, args + ["-o", os.path.join(work, "twice.html")])
        check(r.returncode == 2 and ": the same %s as " % kind in r.stderr and
              not os.path.exists(os.path.join(work, "twice.html")),
              "a %s given twice: exit %d %r" % (kind, r.returncode, r.stderr))
    # -o naming one of the samples files is refused as the same file as an input, and the file
    # is left whole: one whose head tells no kind (a torn first line) would have been replaced by
    # the page, as the output's content check alone lets it through
    torn = os.path.join(work, "torn.samples.jsonl")
    torn_text = "torn\n" + open(os.path.join(fx, "samples_gpu.jsonl")).read()
    open(torn, "w").write(torn_text)
    r = run(tool, [cpu2, "--samples", torn, "-o", torn])
    check(r.returncode == 2 and "is the same file as the input" in r.stderr and
          open(torn).read() == torn_text,
          "-o naming a samples file: exit %d %r" % (r.returncode, r.stderr))
    # ... but a file that is not there, given twice, is said to be missing (exit 4)
    gone = os.path.join(work, "gone.jsonl")
    r = run(tool, [gone, gone, "-o", os.path.join(work, "twice.html")])
    check(r.returncode == 4 and "gone.jsonl: cannot open" in r.stderr,
          "a missing log given twice: exit %d %r" % (r.returncode, r.stderr))
    # a samples file given as a log, and a log as a samples file: said, exit 3, not a warning
    # a line
    smp = os.path.join(fx, "samples_gpu.jsonl")
    for args, want in (([smp], "samples_gpu.jsonl: a samples file (cxr-train --monitor-log), "
                               "not a training log: give it after --samples"),
                       ([cpu2, "--samples", cpu2], "cpu2_3ep.jsonl: a training log, not a samples "
                                                   "file: give it before --samples, or after --runs")):
        r = run(tool, args + ["-o", os.path.join(work, "kind.html")])
        check(r.returncode == 3 and want in r.stderr and "line skipped" not in r.stderr,
              "%s: exit %d %r" % (want[:40], r.returncode, r.stderr[-300:]))
    # two runs' logs joined by hand: the second run line resumes nothing, which is said; a
    # resume's run line (resumed.jsonl) is not
    joined = os.path.join(work, "joined.jsonl")
    with open(joined, "wb") as f:
        f.write(open(os.path.join(fx, "cpu2_3ep.jsonl"), "rb").read() * 2)
    r = run(tool, [joined, "-o", os.path.join(work, "joined.html")])
    n1 = open(os.path.join(fx, "cpu2_3ep.jsonl"), "rb").read().count(b"\n")
    check(r.returncode == 0 and "joined.jsonl:%d: a run line that resumes nothing" % (n1 + 1)
          in r.stderr, "joined logs: exit %d %r" % (r.returncode, r.stderr))
    r = run(tool, [os.path.join(fx, "resumed.jsonl"), "-o", os.path.join(work, "res.html")])
    check(r.returncode == 0 and "resumes nothing" not in r.stderr,
          "a resume's run line warned of: %r" % r.stderr)
    # a GPU that a resumed run could read is not reported unavailable from an earlier epoch
    lines = open(os.path.join(fx, "gpu2_bench.jsonl")).read().splitlines(True)
    first = next(i for i, l in enumerate(lines) if '"type":"epoch"' in l)
    lines[first] = re.sub(r'"monitor":\{[^}]*\}', '"monitor":{"samples":3,"gpu":"not available: '
                          'NVML init failed"}', lines[first])
    was = os.path.join(work, "was_na.jsonl")
    open(was, "w").write("".join(lines))
    r = run(tool, [was, "-o", os.path.join(work, "was_na.html")])
    wh = open(os.path.join(work, "was_na.html")).read() if r.returncode == 0 else "NVML init failed"
    check("NVML init failed" not in wh, "an earlier epoch's GPU failure reported for a run that read it later")
    # a samples file takes the colour of the run with the longest matching name
    for name in ("run.jsonl", "run-2.jsonl"):
        open(os.path.join(work, name), "wb").write(good)
    sm = os.path.join(work, "run-2.samples.jsonl")
    open(sm, "w").write(open(os.path.join(fx, "samples_gpu.jsonl")).read())
    ch = os.path.join(work, "colour.html")

    def cpu_chart(args):
        """The CPU-use chart's SVG and its series' colours in the report of args."""
        r = run(tool, args + ["-o", ch])
        html = open(ch).read() if r.returncode == 0 else ""
        cpu = html[html.find('id="chart-cpu"'):] if 'id="chart-cpu"' in html else ""
        cpu = cpu[:cpu.find("</svg>")]
        return cpu, re.findall(r'stroke="(#[0-9a-f]+)" stroke-width="2"', cpu)

    # ... a gzip-compressed log's too; and two runs of one file name in two folders each give
    # their colour to the samples file beside them, both named by their folders
    import gzip
    with gzip.open(os.path.join(work, "run-2.jsonl.gz"), "wb") as g:
        g.write(good)
    for second in ("run-2.jsonl", "run-2.jsonl.gz"):
        _, strokes = cpu_chart([os.path.join(work, "run.jsonl"), os.path.join(work, second),
                                "--samples", sm])
        check(strokes == ["#d62728"],
              "run-2.samples.jsonl drawn in %s's colour (#d62728): %s" % (second, strokes))
    for d in ("fa", "fb"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
        open(os.path.join(work, d, "train.jsonl"), "wb").write(good)
        open(os.path.join(work, d, "train.samples.jsonl"), "w").write(
            open(os.path.join(fx, "samples_gpu.jsonl")).read())
    args = [os.path.join(work, d, "train.jsonl") for d in ("fa", "fb")]
    args += ["--samples"] + [os.path.join(work, d, "train.samples.jsonl") for d in ("fb", "fa")]
    cpu, strokes = cpu_chart(args)
    check(strokes == ["#d62728", "#1f77b4"],
          "fb's and fa's samples in fb's and fa's colours: %s" % strokes)
    check("fb/train.samples.jsonl" in cpu and "fa/train.samples.jsonl" in cpu,
          "the samples files named by their folders")
    # the last evaluation says when its figures are a weight mean's, or not meaningful (images
    # with non-finite probabilities); a negative count is a bad line
    text = good.decode()
    last = text.rstrip("\n").rsplit("\n", 1)[1]
    marked = last.replace('"epoch":3,', '"epoch":3,"averaged":5,"eval_nonfinite":3,', 1)
    mk = os.path.join(work, "marked.jsonl")
    open(mk, "w").write(text + marked + "\n" + last.replace('"epoch":3,', '"epoch":4,"averaged":-1,', 1) + "\n")
    r = run(tool, [mk, "-o", os.path.join(work, "marked.html")])
    mh = open(os.path.join(work, "marked.html")).read() if r.returncode == 0 else ""
    m = re.search(r'<table id="metrics">(.*?)</table>', mh, re.S)
    row = m.group(1) if m else ""
    check("(mean of 5 epochs)" in row and "3 image(s) with non-finite probabilities" in row,
          "the last evaluation's averaging and non-finite count: %r" % row[-400:])
    check("marked.jsonl:6:" in r.stderr and "averaged" in r.stderr, "averaged -1 named: %r" % r.stderr)
    # a line longer than any cxr-train writes (a 300 MB sparse tail without a newline) is read to
    # its end, its first 128 MiB held, and skipped as a bad line: the page is written, the line
    # named (since 0.24; it was read whole, an error where memory did not hold it)
    big = os.path.join(work, "big.jsonl")
    open(big, "wb").write(good)
    os.truncate(big, 300 << 20)
    bo = os.path.join(work, "big.html")
    p = subprocess.run([tool, big, "-o", bo], capture_output=True, text=True)
    check(p.returncode == 0 and "big.jsonl:5: longer than any line cxr-train writes (over 128 MiB); line skipped" in p.stderr
          and "(1 run(s), 3 epoch(s)" in p.stderr and os.path.exists(bo),
          "a line past the bound: exit %d, %r" % (p.returncode, p.stderr))
    # ... and where the memory does not hold those 128 MiB (an 80 MB address-space limit), the
    # read is an error naming the file and the line, not the end of the file
    os.unlink(bo)
    lim = lambda: resource.setrlimit(resource.RLIMIT_AS, (80 << 20, resource.getrlimit(resource.RLIMIT_AS)[1]))
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard == resource.RLIM_INFINITY or hard > (80 << 20):
        p = subprocess.run([tool, big, "-o", bo], capture_output=True, text=True, preexec_fn=lim)
        check(p.returncode == 1 and "big.jsonl: line 5 cannot be read" in p.stderr and not os.path.exists(bo),
              "a line over the memory: exit %d, %r" % (p.returncode, p.stderr))
    os.remove(big)
    # a line that is read but cannot be parsed for want of memory (an epoch line with a 20 MB
    # string, under address-space limits of 20 to 120 MB) stops the report (exit 1, out of
    # memory): it was skipped as "not valid JSON" and the page written without the epoch
    lines = good.split(b"\n")
    ep2 = next(i for i, l in enumerate(lines) if b'"epoch":2,' in l)
    lines[ep2] = lines[ep2].replace(b'{', b'{"note":"' + b"x" * (20 << 20) + b'",', 1)
    lj = os.path.join(work, "long.jsonl")
    open(lj, "wb").write(b"\n".join(lines))
    if hard == resource.RLIM_INFINITY or hard > (120 << 20):
        lo = os.path.join(work, "long.html")
        outcomes = set()
        for mb in range(20, 121, 4):
            lim = lambda: resource.setrlimit(resource.RLIMIT_AS, (mb << 20, hard))
            p = subprocess.run([tool, lj, "-o", lo], capture_output=True, text=True, preexec_fn=lim)
            full = p.returncode == 0 and "3 epoch(s)" in p.stderr and "skipped" not in p.stderr
            check(full or p.returncode == 1, "%d MB: a line lost for want of memory: exit %d, %r"
                  % (mb, p.returncode, p.stderr[-300:]))
            outcomes.add("full" if full else "oom" if "out of memory reading the line" in p.stderr else "")
        check("full" in outcomes and "oom" in outcomes,
              "20-120 MB: the line neither failed to parse nor rendered: %s" % outcomes)
    os.remove(lj)
    # a gzip-compressed log (as tests/bench/results keeps them) reads as the log itself; a
    # truncated one is a read error naming the file, not 20 lines of "not valid JSON"
    import gzip
    gz = os.path.join(work, "cpu2_3ep.jsonl.gz")
    with open(cpu2, "rb") as f, gzip.open(gz, "wb") as g:
        g.write(f.read())
    pages = []
    for log in (cpu2, gz):
        po = os.path.join(work, os.path.basename(log) + ".html")
        p = run(tool, [log, "-o", po])
        check(p.returncode == 0 and "3 epoch(s)" in p.stderr and "skipped" not in p.stderr,
              "%s: exit %d %r" % (log, p.returncode, p.stderr))
        page = open(po, encoding="utf-8").read() if os.path.exists(po) else ""
        m = re.search(r"<table id=\"epochs\">(.*?)</table>", page, re.S)
        pages.append(m.group(1).replace(os.path.basename(log), "LOG") if m else None)
    check(pages[0] is not None and pages[0] == pages[1], "the gzip log's epoch table differs")
    data = open(gz, "rb").read()
    cut = os.path.join(work, "cut.jsonl.gz")
    with open(cut, "wb") as f:
        f.write(data[: len(data) // 2])
    p = run(tool, [cut, "-o", os.path.join(work, "cut.html")])
    check(p.returncode == 4 and "cut.jsonl.gz: read error" in p.stderr and "gzip" in p.stderr
          and "not valid JSON" not in p.stderr, "truncated gzip: exit %d %r" % (p.returncode, p.stderr))
    check(not os.path.exists(os.path.join(work, "cut.html")), "a page from a truncated gzip log")
    # members one after another read as one log (gzip -d does so); text appended after the last
    # member is a read error saying how much, not lost in silence (zlib's gzread stops there)
    raw = open(cpu2, "rb").read()
    half = raw.index(b"\n", len(raw) // 2) + 1
    two = os.path.join(work, "two.jsonl.gz")
    with open(two, "wb") as f:
        f.write(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    p = run(tool, [two, "-o", os.path.join(work, "two.html")])
    check(p.returncode == 0 and "3 epoch(s)" in p.stderr, "two members: exit %d %r" % (p.returncode, p.stderr))
    tail = b'{"type":"epoch","epoch":4}\n'
    # ... bytes that start with gzip's first magic byte alone are no member either; and a tail
    # longer than the reader's 64 KiB buffer is counted whole, not from the buffer's end
    for name, extra in (("appended.jsonl.gz", tail), ("nul.jsonl.gz", b"\0"),
                        ("half_magic.jsonl.gz", b"\x1f" + tail), ("long_tail.jsonl.gz", tail * 4000)):
        bad_gz = os.path.join(work, name)
        with open(bad_gz, "wb") as f:
            f.write(data + extra)
        out = os.path.join(work, name + ".html")
        p = run(tool, [bad_gz, "-o", out])
        check(p.returncode == 4 and name + ": read error: %d byte(s) after the end of the gzip data"
              % len(extra) in p.stderr, "%s: exit %d %r" % (name, p.returncode, p.stderr))
        check(not os.path.exists(out), "a page from %s" % name)
    left = [f for f in os.listdir(work) if "cxr-tmp" in f]  # .NAME.cxr-tmp-PID-HEX
    check(not left, "temporary files left: %s" % left)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("report.cli: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
