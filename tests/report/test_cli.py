#!/usr/bin/env python3
"""test_cli: cxr-report's handling of bad input.
- malformed lines are named on stderr as file:line and skipped; the good epochs are reported;
- a log without epoch lines is a clear error (exit 3) and no output file appears;
- a missing file is an I/O error (exit 4); a missing -o is a usage error (exit 2);
- no temporary file is left next to the output.
usage: test_cli.py CXR_REPORT FIXTURE_DIR WORK_DIR
"""
import os
import re
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
    os.makedirs(work, exist_ok=True)
    for f in os.listdir(work):
        os.remove(os.path.join(work, f))
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

    out2 = os.path.join(work, "none.html")
    r = run(tool, [os.path.join(fx, "no_epochs.jsonl"), "-o", out2])
    check(r.returncode == 3, "no-epoch log: exit %d, want 3" % r.returncode)
    check("no_epochs.jsonl: no epoch lines" in r.stderr, "no-epoch message: %r" % r.stderr)
    check(not os.path.exists(out2), "output written for a log without epochs")

    r = run(tool, [os.path.join(fx, "missing.jsonl"), "-o", out2])
    check(r.returncode == 4 and "missing.jsonl" in r.stderr, "missing file: exit %d %r" % (r.returncode, r.stderr))
    r = run(tool, [os.path.join(fx, "cpu2_3ep.jsonl")])
    check(r.returncode == 2, "missing -o: exit %d, want 2" % r.returncode)
    r = run(tool, [os.path.join(fx, "cpu2_3ep.jsonl"), "-o", os.path.join(work, "nodir", "x.html")])
    check(r.returncode == 4, "unwritable output: exit %d, want 4" % r.returncode)
    left = [f for f in os.listdir(work) if ".tmp" in f]
    check(not left, "temporary files left: %s" % left)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("report.cli: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
