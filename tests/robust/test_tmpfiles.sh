#!/bin/bash
# test_tmpfiles.sh BIN SAMPLE: outputs go through unpredictable O_EXCL temporaries beside them
# (common/cxr_tmpfile.h). A symlink planted where the old scheme put its temporary
# ("<out>.tmp.<pid>": the pid is known in advance when the planter execs the tool) is not
# followed; a temporary left by kill -9 is removed by the next run that writes the same output;
# SIGHUP stops cxr-pack and cxr-train like SIGINT (exit 130, no temporary left).
BIN=$1 SAMPLE=$2
set -u
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cxr-tmpfiles.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
temps() { ls -A "$1" | grep -c 'cxr-tmp\|\.tmp\.' ; }
PACK=("$BIN/cxr-pack" "$SAMPLE" --size 32 --shard 8 --threads 1 --quiet)
TRAIN=(--device cpu --batch 8 --threads 1 --epochs 1 --max-steps 1 --no-monitor -q)

# 1. planted symlinks at the old predictable names: the victims survive
echo "precious" >victim
mkdir p && "${PACK[@]}" -o p/s.h5 >/dev/null || fail "pack"
# shellcheck disable=SC2016
bash -c 'ln -s "$PWD/victim" "p/t.h5.tmp.$$"; exec "$@"' plant "${PACK[@]}" -o p/t.h5 >/dev/null \
    || fail "pack with a planted symlink"
[ "$(cat victim)" = precious ] || fail "cxr-pack wrote through a planted symlink"
[ -f p/t.h5 ] && [ ! -L p/t.h5 ] || fail "cxr-pack: output is not a regular file"
# shellcheck disable=SC2016
bash -c 'ln -s "$PWD/victim" "p/ck.h5.tmp.$$"; exec "$@"' plant "$BIN/cxr-train" p/s.h5 \
    "${TRAIN[@]}" --checkpoint p/ck.h5 || fail "train with a planted symlink"
[ "$(cat victim)" = precious ] || fail "cxr-train wrote its checkpoint through a planted symlink"
[ -f p/ck.h5 ] && [ ! -L p/ck.h5 ] || fail "cxr-train: checkpoint is not a regular file"
rm -f p/*.tmp.*

# 2. kill -9 leaves a temporary; the next run for the same output removes it
mkdir k
# 40 links to each sample image: a pack that runs for seconds (one process makes them all)
python3 - "$SAMPLE" <<'PY'
import os, sys
for split in ("train", "test"):
    for c in ("NORMAL", "PNEUMONIA"):
        src = os.path.join(sys.argv[1], split, c)
        os.makedirs(os.path.join("big", split, c))
        for i in range(40):
            for f in os.listdir(src):
                os.symlink(os.path.join(src, f), os.path.join("big", split, c, "%d_%s" % (i, f)))
PY
"$BIN/cxr-pack" big -o k/s.h5 --size 256 --threads 1 --quiet >/dev/null &
pid=$!
# waits for the temporary, not a fixed time: a loaded machine may take seconds to start the tool
for _ in $(seq 1 1200); do [ "$(temps k)" -gt 0 ] && break; sleep 0.05; done
kill -9 $pid
wait $pid 2>/dev/null
[ "$(temps k)" = 1 ] || fail "kill -9 during cxr-pack left $(temps k) temporaries, expected 1"
# written to within the last 15 minutes (CXR_TMPFILE_STALE_S): kept, as a live writer's in a
# container whose HDF5 takes no lock would be; once older, removed
"${PACK[@]}" -o k/s.h5 >/dev/null || fail "pack after kill -9"
[ "$(temps k)" = 1 ] || fail "a temporary written a moment ago was removed: $(ls -A k)"
touch -d '-16 min' k/.s.h5.cxr-tmp-*
"${PACK[@]}" -o k/s.h5 >/dev/null || fail "pack after kill -9"
[ "$(temps k)" = 0 ] || fail "the stale temporary was not removed: $(ls -A k)"
# another output's temporary, and one whose (live) owner is this shell, are left alone
touch -d '-16 min' "k/.other.h5.cxr-tmp-999999999-0123456789abcdef" "k/.s.h5.cxr-tmp-$$-0123456789abcdef"
"${PACK[@]}" -o k/s.h5 >/dev/null || fail "pack"
[ "$(temps k)" = 2 ] || fail "a temporary that is not stale was removed: $(ls -A k)"

# 3. SIGHUP stops like SIGINT: exit 130, nothing left but the previous complete output
"$BIN/cxr-pack" big -o k/h.h5 --size 256 --threads 1 --quiet >/dev/null 2>k.err &
pid=$!
# its temporary exists only after the handlers are installed (cxr-pack.c: before the scan)
for _ in $(seq 1 1200); do ls -A k | grep -q "^\.h\.h5\.cxr-tmp-$pid-" && break; sleep 0.05; done
ls -A k | grep -q "^\.h\.h5\.cxr-tmp-$pid-" || fail "cxr-pack made no temporary for k/h.h5 in 60 s"
kill -HUP $pid
wait $pid
rc=$?
[ $rc = 130 ] || fail "cxr-pack on SIGHUP: exit $rc, want 130: $(cat k.err)"
[ ! -e k/h.h5 ] || fail "cxr-pack on SIGHUP left k/h.h5"
"$BIN/cxr-train" p/s.h5 "${TRAIN[@]}" --epochs 500 --checkpoint p/hup.h5 2>h.err &
pid=$!
for _ in $(seq 1 1200); do [ -s p/hup.h5 ] && break; sleep 0.1; done
kill -HUP $pid
wait $pid
rc=$?
[ $rc = 130 ] || fail "cxr-train on SIGHUP: exit $rc, want 130: $(cat h.err)"
grep -q interrupted h.err || fail "cxr-train on SIGHUP: no message"
[ "$(temps p)" = 0 ] || fail "cxr-train on SIGHUP left a temporary: $(ls -A p)"
"$BIN/cxr-eval" p/hup.h5 p/s.h5 --device cpu >/dev/null 2>&1 || fail "the last checkpoint is not valid"

if [ $fails -ne 0 ]; then echo "$fails check(s) failed" >&2; exit 1; fi
echo "tmpfiles: all checks passed"
