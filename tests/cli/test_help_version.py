"""test_help_version.py TOOLS_DIR SRC_TOOLS_DIR VERSION: every tool (one per tools/cxr-*.c) answers
--version with exactly "<tool> VERSION" on stdout and exit 0, and --help with its usage on
stdout, exit 0, a line of exit codes and every option its source accepts (the long names of
its getopt table, or the "--name" strings it compares argv against), -q and --quiet among
them; both exit 4 naming the failed write when stdout is full (/dev/full); an unknown option is
a usage error (exit 2)."""

import glob
import os
import re
import subprocess
import sys

tools_dir, src_dir, version = sys.argv[1:4]
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg, file=sys.stderr)


def run(tool, *args):
    return subprocess.run([os.path.join(tools_dir, tool), *args], capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


sources = sorted(glob.glob(os.path.join(src_dir, "cxr-*.c")))
if not sources:
    fail(f"no tools/cxr-*.c under {src_dir}")
for src in sources:
    tool = os.path.basename(src)[:-2]
    before = failures
    text = open(src).read()
    options = set(re.findall(r'\{\s*"([a-z][a-z0-9-]*)",\s*(?:no|required|optional)_argument',
                             text))
    options |= {o[2:] for o in re.findall(r'strcmp\(argv\[i\], "(--[a-z][a-z0-9-]*)"\)', text)}
    if not options:
        fail(f"{tool}: found no options in {src}")

    r = run(tool, "--version")
    if r.returncode != 0 or r.stdout != f"{tool} {version}\n" or r.stderr:
        fail(f"{tool} --version: exit {r.returncode}, stdout {r.stdout[:80]!r}, "
             f"stderr {r.stderr[:80]!r} (expected '{tool} {version}')")

    r = run(tool, "--help")
    h = r.stdout
    if r.returncode != 0 or not h.startswith(f"usage: {tool} ") or r.stderr:
        fail(f"{tool} --help: exit {r.returncode}, stdout starts {h[:40]!r}, "
             f"stderr {r.stderr[:80]!r}")
    if "Exit codes" not in h:
        fail(f"{tool} --help: no exit codes")
    for o in sorted(options):
        if not re.search(r"--" + re.escape(o) + r"(?![a-z0-9-])", h):
            fail(f"{tool} --help does not mention --{o}")
    # every tool can be told to say nothing on success, by the same two names (cxr-pack had
    # only --quiet, cxr-report neither)
    if not re.search(r"^  -q, --quiet ", h, re.M):
        fail(f"{tool} --help: no '-q, --quiet'")
    if any(len(line) > 100 for line in h.splitlines()):
        fail(f"{tool} --help: a line over 100 columns")

    # stdout that cannot be written (a full disk): exit 4 with the reason, not 0
    if os.path.exists("/dev/full"):
        for arg in ("--help", "--version"):
            with open("/dev/full", "w") as full:
                r = subprocess.run([os.path.join(tools_dir, tool), arg], stdout=full,
                                   stderr=subprocess.PIPE, text=True, timeout=30,
                                   stdin=subprocess.DEVNULL)
            # with errno's reason: the longest helps said "error on an earlier write", the
            # reason of their first failed flush lost by the close
            if r.returncode != 4 or (f"{tool}: standard output: write failed: No space left on "
                                     "device") not in r.stderr:
                fail(f"{tool} {arg} > /dev/full: exit {r.returncode}, stderr {r.stderr[:120]!r}")

    # a usage error is said in a few lines that name the option and point to --help: the whole
    # help (up to 120 lines) scrolled the error off the terminal
    # (--threads as the last word: its value missing, or unknown to the tool)
    for args in (["--no-such-option"], ["x.h5", "--threads"]):
        r = run(tool, *args)
        lines = r.stderr.splitlines()
        named = args[-1].lstrip("-")
        if (r.returncode != 2 or len(lines) > 3 or not any(named in l for l in lines)
                or "--help" not in r.stderr):
            fail(f"{tool} {' '.join(args)}: exit {r.returncode}, {len(lines)} stderr lines "
                 f"{r.stderr[:200]!r}, expected 2 and a short message naming the option")
    if failures == before:
        print(f"{tool}: --version, --help ({len(options)} options) ok")

if failures:
    print(f"{failures} check(s) failed", file=sys.stderr)
    sys.exit(1)
