"""test_closed_pipe.py BIN SAMPLE: no tool is killed by a closed pipe (SIGPIPE ignored,
cxr_signals.h). A stderr whose reader is gone (`2>&1 | head -1` once head has its line) loses
the messages and the tool works on: cxr-pack's store, cxr-train's checkpoint, cxr-export's model
and cxr-report's page are written whole, with no temporary left (cxr-pack died mid-pack with its
hidden temporary beside the output). A closed standard output is exit 4 naming the broken pipe
(cxr-predict at its first batch of rows, cxr-eval and --help at the close). And the hangup of an
SSH drop, which kills the `| tee` that cxr-train's stderr goes to as well as the trainer, stops
the trainer cleanly (exit 130): its next message no longer kills it."""

import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import BIN, SAMPLE, fail, finish  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1")


def closed_pipe():
    """The write end of a pipe whose reader is gone."""
    r, w = os.pipe()
    os.close(r)
    return w


def run(which, args, want, err_has=None):
    """Run tool args[0] with `which` ("out", "err" or "both") on a closed pipe, the other
    stream to a file; check the exit status (a signal's death reads -N) and stderr."""
    w = closed_pipe()
    with tempfile.TemporaryFile() as f:
        r = subprocess.run([os.path.join(BIN, args[0])] + list(args[1:]), env=ENV, timeout=120,
                           stdin=subprocess.DEVNULL,
                           stdout=w if which in ("out", "both") else f,
                           stderr=w if which in ("err", "both") else f)
        f.seek(0)
        err = f.read().decode(errors="replace")
    os.close(w)
    what = f"{args[0]} with std{which} on a closed pipe"
    if r.returncode != want:
        fail(f"{what}: exit {r.returncode} (want {want}): {args}\n  | " +
             err.replace("\n", "\n  | "))
    elif err_has and err_has not in err:
        fail(f"{what}: stderr lacks {err_has!r}: {err!r}")
    return err


def no_temporary(d):
    left = [n for n in os.listdir(d) if ".cxr-tmp-" in n or n.endswith(".cxr-lock")]
    if left:
        fail(f"left in {d}: {left}")


def whole_hdf5(path):
    """1 when path is an HDF5 file (its signature), else a failure."""
    try:
        with open(path, "rb") as f:
            if f.read(8) == b"\x89HDF\r\n\x1a\n":
                return 1
    except OSError:
        pass
    fail(f"{path}: no HDF5 file")
    return 0


with tempfile.TemporaryDirectory() as w:
    s, m = os.path.join(w, "s.h5"), os.path.join(w, "m.h5")
    pack = ["cxr-pack", SAMPLE, "--size", "32", "--shard", "8", "--threads", "2"]
    # `cxr-pack SRC -o x.h5 2>&1 | head -1`: the store is whole; its summary, on stdout, was not
    # written (exit 4, as for a full disk)
    run("both", pack + ["-o", s], 4)
    whole_hdf5(s)
    no_temporary(w)
    if not os.path.exists(s):  # what the rest needs
        subprocess.run([os.path.join(BIN, pack[0])] + pack[1:] + ["-o", s, "--quiet"], env=ENV,
                       stdout=subprocess.DEVNULL, check=True)
    run("err", pack + ["-o", os.path.join(w, "s2.h5")], 0)
    whole_hdf5(os.path.join(w, "s2.h5"))
    train = ["cxr-train", s, "--device", "cpu", "--threads", "1", "--batch", "8", "--no-monitor"]
    log = os.path.join(w, "m.jsonl")
    run("err", train + ["--epochs", "1", "--max-steps", "2", "--checkpoint", m, "--log", log], 0)
    whole_hdf5(m)
    no_temporary(w)
    run("out", ["cxr-predict", m, os.path.join(SAMPLE, "test"), "--device", "cpu"], 4,
        "cxr-predict: standard output: write failed: Broken pipe")
    run("out", ["cxr-eval", m, s, "--split", "test", "--device", "cpu"], 4,
        "cxr-eval: standard output: write failed: Broken pipe")
    onnx = os.path.join(w, "m.onnx")
    run("err", ["cxr-export", m, "-o", onnx], 0)
    if not os.path.exists(onnx) or not os.path.getsize(onnx):
        fail("cxr-export: no m.onnx")
    html = os.path.join(w, "r.html")
    run("err", ["cxr-report", log, "-o", html], 0)
    if not os.path.exists(html) or "</html>" not in open(html, encoding="utf-8").read():
        fail("cxr-report: r.html is not whole")
    no_temporary(w)
    for tool in ("cxr-pack", "cxr-train", "cxr-eval", "cxr-predict", "cxr-export", "cxr-report"):
        run("out", [tool, "--help"], 4, f"{tool}: standard output: write failed: Broken pipe")

    # an SSH drop: SIGHUP to the trainer and to the tee its stderr goes to, which dies first
    r, wr = os.pipe()
    t = subprocess.Popen([os.path.join(BIN, train[0])] + train[1:] +
                         ["--epochs", "200", "--max-steps", "2", "--checkpoint",
                          os.path.join(w, "h.h5")],
                         env=ENV, stdin=subprocess.DEVNULL, stdout=wr, stderr=wr)
    os.close(wr)
    with os.fdopen(r, "rb") as tee:
        first = tee.readline()  # it trains: its first message is out
    # the reader is gone before the signal is sent, as after tee's death
    t.send_signal(signal.SIGHUP)
    try:
        rc = t.wait(timeout=120)
    except subprocess.TimeoutExpired:
        t.kill()
        rc = "none (killed after 120 s)"
    if rc != 130:
        fail(f"cxr-train stopped by SIGHUP, its stderr's reader gone: exit {rc}, not 130 "
             f"(first line {first!r})")
    no_temporary(w)
finish()
