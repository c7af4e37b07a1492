#!/bin/bash
# test_cli.sh BIN SAMPLE (export.cli): cxr-export on a model trained one step on data/sample
# (packed at 32x32): the float32 weights file gives exactly cxr-predict's and cxr-eval's output
# of the checkpoint, the bfloat16 one the same classes' lines, both a third / a sixth of the
# checkpoint; --resume refuses a weights file; usage and bad-input exit codes; the ONNX file is
# written whole (no temporary left) and starts as a ModelProto (ir_version 7), with its weights in
# OUT.data under --external-data only; each export says the file(s), kind and size in one line
# (nothing with -q).
BIN=$1 SAMPLE=$2 FAIL_FSYNC=${3:-} # FAIL_FSYNC: tests/pack/fail_fsync.c's shim, where built
. "$(dirname "$0")/../cli/common.sh"
pack_sample "$WORK/s.h5"
expect_rc 0 "$BIN/cxr-train" "$WORK/s.h5" --device cpu --epochs 1 --batch 8 --max-steps 1 \
    --threads 2 --lr 0.001 --checkpoint "$WORK/ck.h5"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" --weights -o "$WORK/w32.h5"
said_w32=$(cat "$WORK/err")
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" --weights --bf16 -o "$WORK/w16.h5"
said_w16=$(cat "$WORK/err")
expect_rc 0 "$BIN/cxr-export" "$WORK/w32.h5" -o "$WORK/m.onnx"   # from a weights file too
said_onnx=$(cat "$WORK/err")
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/m2.onnx" -q
[ -s "$WORK/err" ] && fail "-q: stderr not empty: $(cat "$WORK/err")"
[ -e "$WORK/m.onnx.data" ] && fail "a small model's ONNX export wrote its weights apart"
# ... and from a bfloat16 weights file: said that the parameters are those rounded ones
expect_rc 0 "$BIN/cxr-export" "$WORK/w16.h5" -o "$WORK/m16.onnx"
expect_err "cxr-export: note: $WORK/w16.h5 holds bfloat16 parameters: this model has them as rounded there, not the checkpoint's"
expect_rc 0 "$BIN/cxr-export" "$WORK/w16.h5" --weights --bf16 -o "$WORK/w16b.h5"
grep -q "holds bfloat16" "$WORK/err" && fail "a bf16 file from a bf16 file was warned of"
grep -q "holds bfloat16" <<<"$said_onnx" && fail "an export from a float32 file was warned of"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/x.onnx" --external-data
said_ext=$(cat "$WORK/err")
cmp -s "$WORK/m.onnx" "$WORK/m2.onnx" || fail "ONNX from the weights file differs from the checkpoint's"
# a ModelProto starts with field 1 (ir_version, varint): bytes 0x08 0x07
[ "$(head -c 2 "$WORK/m.onnx" | od -An -tx1 | tr -d ' ')" = "0807" ] || fail "ONNX does not start with ir_version 7"
ls -A "$WORK" | grep -q cxr-tmp && fail "a temporary file was left"
size() { stat -c %s "$1"; }
ck=$(size "$WORK/ck.h5") w32=$(size "$WORK/w32.h5") w16=$(size "$WORK/w16.h5")
# one line on success: the file, its kind and its size
[ "$said_w32" = "cxr-export: wrote $WORK/w32.h5 (weights file, float32, $w32 bytes)" ] ||
    fail "weights export said '$said_w32'"
[ "$said_w16" = "cxr-export: wrote $WORK/w16.h5 (weights file, bfloat16, $w16 bytes)" ] ||
    fail "bf16 export said '$said_w16'"
[ "$said_onnx" = "cxr-export: wrote $WORK/m.onnx (ONNX, opset 13, $(size "$WORK/m.onnx") bytes)" ] ||
    fail "ONNX export said '$said_onnx'"
xs=$(size "$WORK/x.onnx") xd=$(size "$WORK/x.onnx.data") m1=$(size "$WORK/m.onnx")
[ "$said_ext" = "cxr-export: wrote $WORK/x.onnx (ONNX, opset 13, $xs bytes; weights in $WORK/x.onnx.data, $xd bytes)" ] ||
    fail "--external-data export said '$said_ext'"
# the weights left the model file for the data file (which pads each tensor to 4096 bytes)
[ $((xs + xd)) -gt "$m1" ] && [ "$xs" -lt $((m1 / 20)) ] || fail "external: model $xs + data $xd vs inline $m1"
# a self-contained export over an external one: the old OUT.data is left, unchanged, and said
# (-q or not) not to be read by the new model
cp "$WORK/x.onnx.data" "$WORK/x0.data"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/x.onnx" -q
expect_err "cxr-export: note: $WORK/x.onnx.data, where --external-data puts the weights, is left as it was: this model holds its own and does not read it"
cmp -s "$WORK/x.onnx" "$WORK/m2.onnx" && cmp -s "$WORK/x.onnx.data" "$WORK/x0.data" ||
    fail "a self-contained export over an external one: model or old weights file not as expected"
# past the message limit (CXR_ONNX_MAX_MESSAGE, the test knob standing in for 2 GiB) the weights
# go apart on their own, the same bytes; an input named OUT.data is then refused, unchanged
expect_rc 0 env CXR_ONNX_MAX_MESSAGE=100000 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/a.onnx"
expect_err "weights in $WORK/a.onnx.data"
cmp -s "$WORK/a.onnx.data" "$WORK/x.onnx.data" || fail "automatic external data differs from --external-data's"
cp "$WORK/ck.h5" "$WORK/a2.onnx.data"
expect_rc 2 env CXR_ONNX_MAX_MESSAGE=100000 "$BIN/cxr-export" "$WORK/a2.onnx.data" -o "$WORK/a2.onnx"
cmp -s "$WORK/ck.h5" "$WORK/a2.onnx.data" || fail "an automatic external export overwrote its input"
rm -f "$WORK/x.onnx" "$WORK/x.onnx.data" "$WORK/a.onnx" "$WORK/a.onnx.data" "$WORK/a2.onnx.data"
echo "sizes: checkpoint $ck, weights float32 $w32, bfloat16 $w16, onnx $(size "$WORK/m.onnx")"
[ $((w32 * 5)) -lt $((ck * 2)) ] || fail "float32 weights ($w32) not under 40% of the checkpoint ($ck)"
[ $((w16 * 10)) -lt $((w32 * 6)) ] || fail "bfloat16 weights ($w16) not under 60% of float32 ($w32)"
h5dump -A "$WORK/w16.h5" > "$WORK/dump" || fail "h5dump cannot read the weights file"
for k in '"cxr-weights"' '"bfloat16"' 'ATTRIBUTE "threshold"' 'ATTRIBUTE "normalize"'; do
    grep -qF "$k" "$WORK/dump" || fail "weights file lacks $k"
done
h5dump -n "$WORK/w32.h5" | grep -q adam && fail "the weights file holds Adam state"

# predictions: the float32 weights file = the checkpoint, to the printed digit
mapfile -t imgs < <(find "$SAMPLE/test" -name '*.jpeg' | sort | head -6)
"$BIN/cxr-predict" "$WORK/ck.h5" "${imgs[@]}" --device cpu --threads 2 > "$WORK/p_ck" 2>"$WORK/err" || fail "predict ck"
"$BIN/cxr-predict" "$WORK/w32.h5" "${imgs[@]}" --device cpu --threads 2 > "$WORK/p_32" 2>"$WORK/err" || fail "predict w32"
"$BIN/cxr-predict" "$WORK/w16.h5" "${imgs[@]}" --device cpu --threads 2 > "$WORK/p_16" 2>"$WORK/err" || fail "predict w16"
[ "$(wc -l < "$WORK/p_ck")" = 7 ] || fail "predict: not a header and 6 lines"
cmp -s "$WORK/p_ck" "$WORK/p_32" || { fail "predict: weights file differs from the checkpoint"; diff "$WORK/p_ck" "$WORK/p_32" >&2; }
[ "$(cut -f1 "$WORK/p_16")" = "$(cut -f1 "$WORK/p_ck")" ] || fail "predict bf16: other images"
# evaluation too
"$BIN/cxr-eval" "$WORK/ck.h5" "$WORK/s.h5" --split test --threads 2 --device cpu --json > "$WORK/e_ck" 2>"$WORK/err" || fail "eval ck"
"$BIN/cxr-eval" "$WORK/w32.h5" "$WORK/s.h5" --split test --threads 2 --device cpu --json > "$WORK/e_32" 2>"$WORK/err" || fail "eval w32"
strip() { sed -E 's/"(eval_s|images_per_s|seconds|model)":("[^"]*"|[0-9.e+-]+),?//g' "$1"; }
[ "$(strip "$WORK/e_ck")" = "$(strip "$WORK/e_32")" ] || { fail "eval: weights file differs from the checkpoint"; diff "$WORK/e_ck" "$WORK/e_32" >&2; }

# --resume refuses a weights file, saying why
expect_rc 3 "$BIN/cxr-train" "$WORK/s.h5" --device cpu --epochs 2 --batch 8 --max-steps 1 \
    --threads 2 --resume "$WORK/w32.h5" --checkpoint "$WORK/ck2.h5"
expect_err "weights-only model file"
[ -e "$WORK/ck2.h5" ] && fail "a refused resume wrote a checkpoint"
# ... before it names the file as where the model will be saved (without --checkpoint, the
# resumed file is the default)
cp "$WORK/w32.h5" "$WORK/w32b.h5"
expect_rc 3 "$BIN/cxr-train" "$WORK/s.h5" --device cpu --epochs 2 --resume "$WORK/w32b.h5"
expect_err "weights-only model file"
grep -q "saving the model" "$WORK/err" && fail "a refused resume of a weights file said it saves to it"
cmp -s "$WORK/w32.h5" "$WORK/w32b.h5" || fail "a refused resume changed the weights file"

# usage and bad inputs
expect_rc 2 "$BIN/cxr-export" "$WORK/ck.h5"                        # no -o
expect_rc 2 "$BIN/cxr-export" "$WORK/ck.h5" "$WORK/ck.h5" -o "$WORK/two.onnx" # one model
[ ! -e "$WORK/two.onnx" ] || fail "two models given: an export was written"
expect_rc 2 "$BIN/cxr-export" "$WORK/ck.h5" --bf16 -o "$WORK/x.onnx"
expect_rc 2 "$BIN/cxr-export" "$WORK/ck.h5" --weights --external-data -o "$WORK/x.h5"
expect_err "--external-data applies to ONNX"
cp "$WORK/ck.h5" "$WORK/y.onnx.data"   # the weights file would replace the input
expect_rc 2 "$BIN/cxr-export" "$WORK/y.onnx.data" --external-data -o "$WORK/y.onnx"
expect_err "weights file"
cmp -s "$WORK/ck.h5" "$WORK/y.onnx.data" || fail "the input was overwritten by the weights file"
[ -e "$WORK/y.onnx" ] && fail "a refused export wrote a model"
rm -f "$WORK/y.onnx.data"
# ... or OUT itself (a link OUT.data -> OUT): refused, OUT unchanged
cp "$WORK/m.onnx" "$WORK/z.onnx" && cp "$WORK/m.onnx" "$WORK/z.copy"
ln -s z.onnx "$WORK/z.onnx.data"
expect_rc 2 "$BIN/cxr-export" "$WORK/ck.h5" --external-data -o "$WORK/z.onnx"
expect_err "same file"
cmp -s "$WORK/z.onnx" "$WORK/z.copy" || fail "a refused export changed OUT"
# an inline export does not look at OUT.data (here a folder)
mkdir "$WORK/i.onnx.data"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/i.onnx" -q
grep -q 'is left as it was' "$WORK/err" && fail "a folder OUT.data was called an earlier export's weights"
# ... nor does a weights file (--weights writes no ONNX, so no OUT.data note)
printf 'x' > "$WORK/wn.h5.data"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" --weights -o "$WORK/wn.h5"
grep -q 'is left as it was' "$WORK/err" && fail "--weights spoke of OUT.data: $(cat "$WORK/err")"
# a symbolic link OUT is written through: the model where it points, the weights beside that
# file and named after it (the model names them so), when the link is in that file's folder:
# a reader opening the link looks for them in the link's folder
mkdir "$WORK/real" "$WORK/lnk"
cp "$WORK/m.onnx" "$WORK/real/r.onnx" # (a link that does not resolve is refused, as for every output)
ln -s r.onnx "$WORK/real/l.onnx"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/real/l.onnx" --external-data -q
[ -L "$WORK/real/l.onnx" ] && [ -s "$WORK/real/r.onnx" ] && [ -s "$WORK/real/r.onnx.data" ] ||
    fail "symlinked OUT: not real/r.onnx and real/r.onnx.data"
[ -e "$WORK/real/l.onnx.data" ] && fail "symlinked OUT: weights named after the link"
grep -q "r.onnx.data" "$WORK/real/r.onnx" || fail "the model does not name r.onnx.data"
# ... and refused, untouched, with the weights apart when the link is in another folder
ln -s ../real/r.onnx "$WORK/lnk/l.onnx"
cp "$WORK/real/r.onnx" "$WORK/r.keep"
expect_rc 2 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/lnk/l.onnx" --external-data -q
expect_err "a symbolic link into another folder"
cmp -s "$WORK/real/r.onnx" "$WORK/r.keep" || fail "a refused export through a link changed its file"
[ -e "$WORK/lnk/l.onnx.data" ] && fail "a refused export through a link wrote weights"
expect_rc 0 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/lnk/l.onnx" -q # inline: nothing apart
cmp -s "$WORK/real/r.onnx" "$WORK/m.onnx" || fail "an inline export through a link: not the model"
expect_rc 2 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/ck.h5"       # the input itself
expect_err "ck.h5"
ln -s "$WORK/ck.h5" "$WORK/link.h5"
expect_rc 2 "$BIN/cxr-export" "$WORK/ck.h5" --weights -o "$WORK/link.h5"
expect_rc 3 "$BIN/cxr-export" "$WORK/s.h5" -o "$WORK/x.onnx"       # a store, not a model
expect_err "s.h5"
expect_err "not a cxr checkpoint"
printf 'not hdf5' > "$WORK/junk.h5"
expect_rc 3 "$BIN/cxr-export" "$WORK/junk.h5" -o "$WORK/x.onnx"
expect_err "junk.h5"
expect_rc 4 "$BIN/cxr-export" "$WORK/none.h5" -o "$WORK/x.onnx"
expect_err "none.h5"
expect_rc 4 "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/no/such/dir/x.onnx"
[ -e "$WORK/x.onnx" ] && fail "a failed export left an output"
# the model's temporary cannot be synced (fail_fsync): it is synced before the weights are
# renamed into place, so the export fails with no OUT.data left (synced at its own commit, after
# that rename, it left a new weights file beside no model)
if [ -n "$FAIL_FSYNC" ]; then
    mkdir "$WORK/fs"
    expect_rc 4 env LD_PRELOAD="$FAIL_FSYNC" CXR_TEST_FAIL_FSYNC=m.onnx.cxr-tmp \
        "$BIN/cxr-export" "$WORK/ck.h5" -o "$WORK/fs/m.onnx" --external-data -q
    expect_err "m.onnx: cannot sync it to disk"
    [ -z "$(ls -A "$WORK/fs")" ] ||
        fail "an export whose model could not be synced left $(ls -A "$WORK/fs")"
else
    echo "export.cli: no fail_fsync shim built: the failed sync's case not run" >&2
fi
finish
