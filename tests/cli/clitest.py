"""clitest.py: the harness the Python CLI tests share (argv BIN SAMPLE, a failure count, a tool
runner that checks the exit status, and the final verdict)."""

import os
import subprocess
import sys

BIN, SAMPLE = sys.argv[1:3]
fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAIL:", msg, file=sys.stderr)


def run(*args, want=0):
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1")
    r = subprocess.run([os.path.join(BIN, args[0])] + [os.fsencode(a) if isinstance(a, bytes)
                                                        else a for a in args[1:]],
                       capture_output=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    if want is not None and r.returncode != want:
        fail(f"exit {r.returncode} (want {want}): {args}\n  | " +
             r.stderr.decode(errors="replace").replace("\n", "\n  | "))
    return r


def finish():
    if fails:
        print(f"{fails} check(s) failed", file=sys.stderr)
        sys.exit(1)
