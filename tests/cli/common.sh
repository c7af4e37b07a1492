# common.sh: helpers for the CLI tests (sourced). $BIN = folder of the cxr-* programs,
# $SAMPLE = data/sample, $EDIT = cli_h5edit; each test works in a fresh temporary folder.
set -u
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
# expect_rc WANT CMD...: run, check the exit code, keep stderr in $WORK/err
expect_rc() {
    local want=$1; shift
    "$@" >"$WORK/out" 2>"$WORK/err"
    local rc=$?
    if [ "$rc" != "$want" ]; then
        fail "exit $rc (want $want): $*"; sed 's/^/  | /' "$WORK/err" >&2
    fi
}
# expect_err TEXT: the last stderr contains TEXT
expect_err() { grep -qF -- "$1" "$WORK/err" || { fail "stderr lacks '$1'"; sed 's/^/  | /' "$WORK/err" >&2; }; }
# attr FILE NAME: the root attribute NAME of an HDF5 file, as h5dump prints it (quotes removed)
attr() { h5dump -a "/$2" "$1" 2>/dev/null | sed -n 's/.*(0): *//p' | tr -d '"' | head -1; }
# epoch_losses LOG: "epoch train_loss eval_loss" per epoch line, numbers as written
epoch_losses() {
    grep '"type":"epoch"' "$1" | sed -E 's/.*"epoch":([0-9]+),"train_loss":([^,]*),.*"eval_loss":([^,]*),.*/\1 \2 \3/'
}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cxr-cli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# pack the sample small and fast: 32x32, shards of 8, a val split by patient
pack_sample() {
    "$BIN/cxr-pack" "$SAMPLE" -o "$1" --size "${2:-32}" --shard 8 --val-fraction 0.25 --threads 2 --quiet >/dev/null \
        || { echo "cannot pack the sample" >&2; exit 1; }
}
finish() {
    if [ "$fails" -ne 0 ]; then echo "$fails check(s) failed" >&2; exit 1; fi
    exit 0
}
