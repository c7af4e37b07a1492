"""test_train_log.py BIN SAMPLE: cxr-train --log-every N writes `step` lines (step, epoch, loss,
lr, images_per_s; specs/log.md), a resume appends them with the same step numbers, cxr-report
draws them (chart-step-loss) and draws none for a log without them; without --log-every the log
has no step line; the run line names the store's preprocessing; --log-every without --log, and
--log X --checkpoint X (also as ./X), are refused with exit 2, the message naming both options and nothing written. Messages of cxr-train,
cxr-eval, cxr-predict and cxr-report that quote a file name escape its control characters."""

import json
import os
import shutil
import tempfile

from clitest import BIN, SAMPLE, fail, finish, run


W = tempfile.mkdtemp(prefix="cxr-trainlog.")
try:
    store, ck, log = f"{W}/s.h5", f"{W}/ck.h5", f"{W}/run.jsonl"
    run("cxr-pack", SAMPLE, "-o", store, "--size", "32", "--shard", "8", "--val-fraction",
        "0.25", "--threads", "2", "--quiet")
    T = ["--device", "cpu", "--batch", "8", "--threads", "2", "--lr", "0.001", "--no-monitor",
         "-q", "--max-steps", "2"]

    # ---- --log X --checkpoint X refused, naming both options; --log-every needs --log
    for a, b in ((log, log), (log, f"{W}/./run.jsonl")):
        r = run("cxr-train", store, *T, "--epochs", "1", "--log", a, "--checkpoint", b, want=2)
        e = r.stderr.decode()
        if "--log" not in e or "--checkpoint" not in e:
            fail(f"--log/--checkpoint on one file: message names not both: {e!r}")
        if os.path.exists(log):
            fail("--log X --checkpoint X still wrote X")
    run("cxr-train", store, *T, "--epochs", "1", "--log-every", "1", "--checkpoint", ck, want=2)

    # ---- --log-every: step lines, appended consistently on resume, drawn by cxr-report
    run("cxr-train", store, *T, "--epochs", "1", "--log", log, "--checkpoint", ck,
        "--log-every", "1")
    run("cxr-train", store, *T, "--epochs", "2", "--log", log, "--resume", ck, "--log-every", "1")
    lines = [json.loads(x) for x in open(log)]
    steps = [x for x in lines if x["type"] == "step"]
    if [(x["step"], x["epoch"]) for x in steps] != [(1, 1), (2, 1), (3, 2), (4, 2)]:
        fail(f"step lines: {[(x['step'], x['epoch']) for x in steps]}")
    for x in steps:
        for k in ("loss", "lr", "images_per_s"):
            if not isinstance(x.get(k), (int, float)):
                fail(f"step line lacks {k}: {x}")
    order = [x["type"] for x in lines]
    # the run line names the store's preprocessing (the default pack: CLAHE clip 2, minmax, no
    # crop)
    pps = [x.get("preprocessing") for x in lines if x["type"] == "run"]
    want = {"equalize": "clahe", "clahe_clip": 2, "normalize": "minmax", "crop_ratio": 0}
    if pps != [want] * 2:
        fail(f"run lines' preprocessing: {pps}")
    if order != ["run", "step", "step", "epoch", "run", "step", "step", "epoch"]:
        fail(f"log line order: {order}")
    html = f"{W}/r.html"
    run("cxr-report", log, "-o", html)
    page = open(html).read() if os.path.exists(html) else ""
    if 'id="chart-step-loss"' not in page or 'class="series step"' not in page:
        fail("cxr-report draws no per-step loss curve")
    plain = f"{W}/plain.jsonl"
    run("cxr-train", store, *T, "--epochs", "1", "--log", plain, "--no-checkpoint")
    if any(json.loads(x)["type"] == "step" for x in open(plain)):
        fail("step lines without --log-every")
    run("cxr-report", plain, "-o", html)
    if "chart-step-loss" in open(html).read():
        fail("a step chart for a log without step lines")

    # ---- messages that quote a file name reach the terminal escaped (issue 12, item 10)
    esc = os.fsencode(W) + b"/e\x1b[31m\x01.h5"
    bad_log = os.fsencode(W) + b"/l\x1b[31m.jsonl"
    open(bad_log, "wb").write(open(log, "rb").read() + b"{not json\n")
    for cmd, want in ((["cxr-train", esc, *T], 3), (["cxr-eval", esc, store, "--device", "cpu"], 3),
                      (["cxr-eval", ck, esc, "--device", "cpu"], 3),
                      (["cxr-predict", esc, store, "--device", "cpu"], 3),
                      (["cxr-report", bad_log, "-o", f"{W}/r2.html"], 0),
                      (["cxr-report", esc, "-o", f"{W}/r2.html"], 4)):
        r = run(*cmd, want=None)
        if b"\x1b" in r.stderr or b"\x01" in r.stderr or not r.stderr:
            fail(f"{cmd[0]}: a control character of a name reached stderr raw: {r.stderr!r}")
        if b"\\x1b" not in r.stderr:
            fail(f"{cmd[0]}: the name is not in the message, escaped: {r.stderr!r}")
finally:
    shutil.rmtree(W, ignore_errors=True)
finish()
