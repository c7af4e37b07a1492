#!/bin/bash
# test_full_disk.sh BIN SAMPLE EDIT HAVE_CUDA: the tools on a file system that is really full,
# small tmpfs mounts (root only: skipped, exit 77, where no tmpfs can be mounted), where the
# other CLI tests simulate one with a file size limit (EFBIG) or /dev/full:
# 1. cxr-export --external-data with room for the weights but not the model: exit 4, "No space
#    left on device", nothing left (the model's bytes sat in stdio's buffer until after the
#    weights were renamed, so its write failed with a new OUT.data in place and no model).
# 2. cxr-pack over an earlier store with no room for the new one: exit 4, the store as it was,
#    no temporary or lock file; packed once there is room.
# 3. An inode-exhausted mount (no empty file can be made): cxr-eval --predictions and cxr-train
#    (its checkpoint, or its --log over an earlier log) refuse before any work, exit 4, the
#    earlier predictions file and log as they were.
# 4. cxr-train whose second epoch's save finds the disk full: exit 4, the checkpoint and the best
#    model at epoch 1, nothing else left; the resume with room ends where a run with room ends.
# 5. (not a full disk) cxr-pack with SRC/train and -o's folder on two tmpfs mounts at one inode
#    number: written, the folders told apart by device.
BIN=$1 SAMPLE=$2 EDIT=$3 HAVE_CUDA=$4
# in a mount namespace of its own where one can be made: a run killed (ctest's timeout sends
# SIGKILL, which no trap sees) takes its mounts with it instead of leaving them on the host
if [ -z "${CXR_FULL_DISK_NS:-}" ] && command -v unshare >/dev/null &&
    unshare -m --propagation private true 2>/dev/null; then
    CXR_FULL_DISK_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/common.sh"
W=$WORK
MNT=$W/mnt
mkdir "$MNT"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=64k tmpfs "$MNT" 2>/dev/null; then
    echo "test_full_disk: skipped: cannot mount a tmpfs here (needs root)"
    exit 77
fi
trap 'umount "$MNT" 2>/dev/null; rm -rf "$WORK"' EXIT
PAGE=$(getconf PAGESIZE)
# remount SIZE_BYTES [INODES]: an empty tmpfs of that size
remount() {
    umount "$MNT" && mount -t tmpfs -o "size=$1${2:+,nr_inodes=$2}" tmpfs "$MNT" ||
        { echo "cannot mount a tmpfs of $1 bytes" >&2; exit 1; }
}
pages() { echo $((($(stat -c %s "$1") + PAGE - 1) / PAGE)); }
# left: the names in the mount besides the ones given (temporaries, lock files, partial outputs)
left() { ls -A "$MNT" | grep -v -x -F "$(printf '%s\n' "$@")"; }
pack_sample "$W/s.h5"
T="--device cpu --batch 8 --threads 1 --no-monitor -q --max-steps 2"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --epochs 2 --checkpoint "$W/ck.h5"

# 1. from the size of the weights alone up: each size fails whole or writes the pair whole
mkdir "$W/ref" && expect_rc 0 "$BIN/cxr-export" "$W/ck.h5" -o "$W/ref/m.onnx" --external-data -q
base=$(pages "$W/ref/m.onnx.data")
failed=0 wrote=0
for extra in 0 1 2 3 4; do # (each run's two lock files hold a line: a page each)
    remount $(((base + extra) * PAGE))
    "$BIN/cxr-export" "$W/ck.h5" -o "$MNT/m.onnx" --external-data -q 2>"$W/err"
    rc=$?
    if [ $rc = 0 ]; then
        wrote=1
        cmp -s "$MNT/m.onnx" "$W/ref/m.onnx" && cmp -s "$MNT/m.onnx.data" "$W/ref/m.onnx.data" ||
            fail "export at $((base + extra)) pages: exit 0 but the pair is not the export's"
    else
        failed=1
        [ $rc = 4 ] || fail "export at $((base + extra)) pages: exit $rc, not 4"
        expect_err "No space left on device"
        [ -z "$(ls -A "$MNT")" ] ||
            fail "a failed export at $((base + extra)) pages left: $(ls -A "$MNT" | tr '\n' ' ')"
    fi
done
[ $failed = 1 ] && [ $wrote = 1 ] || fail "the sizes tried did not reach from failing to fitting"

# 2.
"$BIN/cxr-pack" "$SAMPLE" -o "$W/old.h5" --size 32 --shard 8 --threads 1 --quiet >/dev/null 2>&1 ||
    fail "cannot pack the sample without a val split"
remount $((($(pages "$W/old.h5") + 40) * PAGE))
cp "$W/old.h5" "$MNT/s.h5"
expect_rc 4 "$BIN/cxr-pack" "$SAMPLE" -o "$MNT/s.h5" --size 32 --shard 8 --val-fraction 0.25 \
    --threads 1 --quiet
expect_err "$MNT/s.h5"
expect_err "No space left on device"
cmp -s "$MNT/s.h5" "$W/old.h5" || fail "a pack with no room changed the earlier store"
[ -z "$(left s.h5)" ] || fail "a pack with no room left: $(left s.h5 | tr '\n' ' ')"
mount -o remount,size=$((3 * $(stat -c %s "$W/old.h5"))) "$MNT"
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$MNT/s.h5" --size 32 --shard 8 --val-fraction 0.25 \
    --threads 1 --quiet
cmp -s "$MNT/s.h5" "$W/s.h5" || fail "the pack with room is not the sample's store"
[ -z "$(left s.h5)" ] || fail "a pack left: $(left s.h5 | tr '\n' ' ')"

# 3. (the root folder and the two files take the three inodes)
remount $((4096 * PAGE)) 3
echo old >"$MNT/p.tsv" && cp "$W/s.h5" "$MNT/s.h5"
expect_rc 4 "$BIN/cxr-eval" "$W/ck.h5" "$MNT/s.h5" --split test --device cpu --threads 1 \
    --predictions "$MNT/p.tsv"
expect_err "$MNT/p.tsv: cannot create a temporary file in $MNT: No space left on device"
[ "$(cat "$MNT/p.tsv")" = old ] || fail "cxr-eval with no inode left changed --predictions"
expect_rc 4 "$BIN/cxr-train" "$MNT/s.h5" $T --epochs 1 --checkpoint "$MNT/m.h5"
expect_err "$MNT/m.h5: cannot create a temporary file in $MNT: No space left on device"
[ -z "$(left s.h5 p.tsv)" ] || fail "runs with no inode left left: $(left s.h5 p.tsv | tr '\n' ' ')"
# ... and an earlier --log there, which the run would write beside until its first epoch: refused
# before any work (cxr-train probes for that temporary first), the log as it was
rm "$MNT/p.tsv" && printf '{"type":"run","n":1}\n{"type":"epoch","epoch":1}\n' >"$MNT/l.jsonl"
cp "$MNT/l.jsonl" "$W/l0.jsonl"
expect_rc 4 "$BIN/cxr-train" "$MNT/s.h5" $T --epochs 1 --checkpoint "$W/m3.h5" --log "$MNT/l.jsonl"
expect_err "$MNT/l.jsonl: cannot create a temporary file in $MNT: No space left on device; it holds an earlier log"
cmp -s "$MNT/l.jsonl" "$W/l0.jsonl" || fail "cxr-train with no inode left changed the earlier log"
[ -e "$W/m3.h5" ] && fail "cxr-train with no inode left for its log trained"
[ -z "$(left s.h5 l.jsonl)" ] || fail "a refused log left: $(left s.h5 l.jsonl | tr '\n' ' ')"

# 4. room for the store, two models and one temporary less a page: epoch 2's best model fails
ck=$(pages "$W/ck.h5")
remount $((($(pages "$W/s.h5") + 3 * ck - 1) * PAGE))
cp "$W/s.h5" "$MNT/s.h5"
expect_rc 4 "$BIN/cxr-train" "$MNT/s.h5" $T --epochs 2 --checkpoint "$MNT/m.h5"
expect_err "No space left on device"
expect_err "the last checkpoint, $MNT/m.h5, holds epoch 1"
[ "$(attr "$MNT/m.h5" epoch)" = 1 ] && [ "$(attr "$MNT/m.best.h5" epoch)" = 1 ] ||
    fail "after a full disk the checkpoint and best model are not both at epoch 1"
[ -z "$(left s.h5 m.h5 m.best.h5)" ] || fail "a full disk left: $(left s.h5 m.h5 m.best.h5 | tr '\n' ' ')"
mount -o remount,size=$(((4 * ck + 200) * PAGE)) "$MNT"
expect_rc 0 "$BIN/cxr-train" "$MNT/s.h5" --resume "$MNT/m.h5" --device cpu --threads 1 --no-monitor -q
[ "$(attr "$MNT/m.h5" epoch)" = 2 ] || fail "the resume did not reach epoch 2"
if command -v h5diff >/dev/null; then # (the files differ in the store's path they name)
    h5diff -q "$MNT/m.h5" "$W/ck.h5" /params /params || fail "the resumed run's weights are not the run's with room"
fi
[ -z "$(left s.h5 m.h5 m.best.h5)" ] || fail "the resume left: $(left s.h5 m.h5 m.best.h5 | tr '\n' ' ')"

# 5. cxr-pack's check of the folders between SRC and an input's folder compares the device with
#    the inode: SRC/train on one fresh tmpfs and -o's folder on another hold the same inode number
#    (each mount numbers its own), and the pack is written, not refused as inside the tree
remount $((2048 * PAGE))
mkdir "$W/mnt2"
mount -t tmpfs -o size=$((2048 * PAGE)) tmpfs "$W/mnt2" || fail "cannot mount a second tmpfs"
trap 'umount "$W/mnt2" 2>/dev/null; umount "$MNT" 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir "$MNT/src" "$MNT/src/train" "$W/mnt2/a" "$W/mnt2/a/b"
cp -r "$SAMPLE/train/." "$MNT/src/train/" && cp -r "$SAMPLE/test" "$MNT/src/"
if [ "$(stat -c %i "$MNT/src/train")" = "$(stat -c %i "$W/mnt2/a/b")" ]; then
    expect_rc 0 "$BIN/cxr-pack" "$MNT/src" -o "$W/mnt2/a/b/s.h5" --size 32 -q
else
    echo "test_full_disk: the two mounts' folders differ in inode number: case 5 not run" >&2
fi
finish
