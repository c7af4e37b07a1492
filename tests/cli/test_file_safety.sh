#!/bin/bash
# test_file_safety.sh BIN SAMPLE EDIT HAVE_CUDA: no output can destroy an input or a device
# (exit 2, nothing touched), nor the file a standard stream goes to; readers refuse a FIFO
# without blocking, a failed write to standard output exits 4 with its reason, a closed standard
# error cannot send messages into an output, and names are escaped in messages and quoted in
# tab-separated output.
BIN=$1 SAMPLE=$2 EDIT=$3 HAVE_CUDA=$4
. "$(dirname "$0")/common.sh"
W=$WORK
pack_sample "$W/s.h5"
T="--device cpu --batch 8 --threads 2 --lr 0.001 --no-monitor -q --epochs 1 --max-steps 2"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --checkpoint "$W/ck.h5" --log "$W/run.jsonl"
cp "$W/s.h5" "$W/s0.h5"; cp "$W/ck.h5" "$W/ck0.h5"; cp "$W/run.jsonl" "$W/run0.jsonl"
ln -s s.h5 "$W/link.h5"
mkfifo "$W/fifo"
untouched() { for f in s.h5 ck.h5 run.jsonl; do
    cmp -s "$W/$f" "$W/${f/./0.}" || fail "$f changed after: $1"; done; }
to() { timeout 20 "$@"; } # a reader that blocks on the FIFO fails with 124, not a hung test

# 1. an output that is an input, through a symlink, or a non-regular file: exit 2, untouched
expect_rc 2 "$BIN/cxr-train" "$W/s.h5" $T --log "$W/s.h5";            expect_err "same file"
expect_rc 2 "$BIN/cxr-train" "$W/s.h5" $T --checkpoint "$W/link.h5";   expect_err "same file"
expect_rc 2 "$BIN/cxr-train" "$W/s.h5" $T --monitor-log "$W/s.h5"
expect_rc 2 "$BIN/cxr-train" "$W/s.h5" $T --resume "$W/ck.h5" --log "$W/ck.h5"
# ... the store given as --resume: said as such (it said "--checkpoint s.h5: is the same file
# as the input", an option not given), the store untouched (below)
expect_rc 2 "$BIN/cxr-train" "$W/s.h5" $T --resume "$W/link.h5"
expect_err "--resume $W/link.h5: is the store being trained on, not a checkpoint"
expect_rc 2 "$BIN/cxr-train" "$W/s.h5" $T --log "$W/fifo";            expect_err "FIFO"
# ... two outputs one through a link to a file not made yet (the model was saved over the log;
# a samples file linked to the log was refused as "in use" and left an empty log)
ln -s nc.h5 "$W/ncl.jsonl" && ln -s nl.jsonl "$W/nlm.jsonl"
expect_rc 2 "$BIN/cxr-train" "$W/s.h5" $T --log "$W/ncl.jsonl" --checkpoint "$W/nc.h5"
expect_err "--log $W/ncl.jsonl and --checkpoint $W/nc.h5: the same file for two outputs"
expect_rc 2 "$BIN/cxr-train" "$W/s.h5" ${T/ --no-monitor/} --log "$W/nl.jsonl" --monitor-log "$W/nlm.jsonl"
expect_err "--log $W/nl.jsonl and --monitor-log $W/nlm.jsonl: the same file for two outputs"
[ -e "$W/nc.h5" ] || [ -e "$W/nl.jsonl" ] && fail "a refused run made $(ls "$W"/nc.h5 "$W"/nl.jsonl 2>/dev/null)"
rm "$W/ncl.jsonl" "$W/nlm.jsonl"
expect_rc 2 "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu --predictions "$W/ck.h5"
expect_err "same file"
expect_rc 2 "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu --predictions "$W/s.h5"
expect_err "same file"
expect_rc 2 "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu --predictions "$W"
expect_err "directory"
expect_rc 2 "$BIN/cxr-report" "$W/run.jsonl" -o "$W/run.jsonl";      expect_err "same file"
expect_rc 2 "$BIN/cxr-report" "$W/run.jsonl" -o /dev/null;           expect_err "character device"
# "-" is not taken as a file name (it made a file called "-"): refused where the output is a
# file, standard output for cxr-predict's rows
in_w() { expect_rc "$1" bash -c 'cd "$0" && exec "$@"' "$W" "${@:2}"; } # run in $W
in_w 2 "$BIN/cxr-report" run.jsonl -o -;                              expect_err "not standard output"
in_w 2 "$BIN/cxr-eval" ck.h5 s.h5 --device cpu --predictions -;       expect_err "not standard output"
[ -e "$W/-" ] && fail "a file named - was written"
untouched "train/eval/report"
# an output that is another kind of cxr file (a misplaced -o): a table, page or ONNX model
# over an HDF5 file, a store or weights file over a model, a model over a store: exit 2, the
# file unchanged (cxr-report -o model.h5 replaced a trained model with a page)
cp "$W/ck.h5" "$W/victim.h5" && cp "$W/s.h5" "$W/vstore.h5"
img="$SAMPLE/test/NORMAL/$(ls "$SAMPLE/test/NORMAL" | head -1)"
expect_rc 2 "$BIN/cxr-report" "$W/run.jsonl" -o "$W/victim.h5"
expect_err "-o $W/victim.h5: exists and is an HDF5 file (a cxr model or store?), not an HTML page: not overwritten"
expect_rc 2 "$BIN/cxr-predict" "$W/ck.h5" "$img" --device cpu -o "$W/victim.h5"
expect_err "not a predictions table: not overwritten"
expect_rc 2 "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu --predictions "$W/victim.h5"
expect_err "not a predictions table: not overwritten"
expect_rc 2 "$BIN/cxr-export" "$W/ck.h5" -o "$W/victim.h5"
expect_err "not an ONNX model: not overwritten"
expect_rc 2 "$BIN/cxr-export" "$W/ck.h5" --weights -o "$W/victim.h5"
expect_err "-o $W/victim.h5: exists and is an HDF5 file of format 'cxr-checkpoint', not a weights file: not overwritten"
expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$W/victim.h5" --size 32 --quiet
expect_err "-o $W/victim.h5: exists and is an HDF5 file of format 'cxr-checkpoint', not a store: not overwritten"
expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$W/p2.h5" --size 32 --quiet --duplicates-report "$W/victim.h5"
expect_err "not a duplicates table: not overwritten"
expect_rc 2 "$BIN/cxr-train" "$W/s.h5" $T --checkpoint "$W/vstore.h5"
expect_err "--checkpoint $W/vstore.h5: exists and is an HDF5 file of format 'cxr-store', not a checkpoint: not overwritten"
cp "$W/ck.h5" "$W/nofmt.h5" && "$EDIT" delattr "$W/nofmt.h5" format && cp "$W/nofmt.h5" "$W/nofmt0"
expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$W/nofmt.h5" --size 32 --quiet
expect_err "-o $W/nofmt.h5: exists and is an HDF5 file without a 'format' attribute (another program's), not a store: not overwritten"
cmp -s "$W/ck.h5" "$W/victim.h5" && cmp -s "$W/s.h5" "$W/vstore.h5" && cmp -s "$W/nofmt.h5" "$W/nofmt0" ||
    fail "an output of another kind replaced a model or a store"
[ -e "$W/p2.h5" ] && fail "a refused --duplicates-report left a store"
# ... nor any output over a training log or samples file (cxr-report a.jsonl -o b.jsonl replaced
# the log b.jsonl with a page, exit 0; so did every other tool's)
cp "$W/run.jsonl" "$W/vlog.jsonl" && printf '{"t":1.0,"epoch":1}\n' > "$W/vmon.jsonl"
gzip -c "$W/run.jsonl" > "$W/vgz.jsonl.gz" && cp "$W/vgz.jsonl.gz" "$W/vgz0"
refused() { local m=$1; shift; expect_rc 2 "$@"; expect_err "$m"; } # MSG CMD...: exit 2, MSG
# ... nor over an image, a data set's input (cxr-pack SRC -o x.jpeg replaced it with a store):
# JPEG, PNG, DICOM ("DICM" after a 128-byte preamble), by their first bytes, whatever the name
cp "$img" "$W/vimg.jpeg" && cp "$img" "$W/vimg0"
printf '\211PNG\r\n\032\n\0\0\0\rIHDR' > "$W/vpng.dat" && cp "$W/vpng.dat" "$W/vpng0"
{ head -c 128 /dev/zero; printf 'DICM\2\0'; } > "$W/vdcm" && cp "$W/vdcm" "$W/vdcm0"
for v in "vlog.jsonl|a training log (cxr-train --log)" "vmon.jsonl|a samples file (cxr-train --monitor-log)" \
    "vgz.jsonl.gz|a gzip-compressed training log" "vimg.jpeg|a JPEG image" "vpng.dat|a PNG image" \
    "vdcm|a DICOM file"; do
    f=$W/${v%%|*} k="exists and is ${v#*|}, not"
    refused "-o $f: $k an HTML page: not overwritten" "$BIN/cxr-report" "$W/run.jsonl" -o "$f"
    refused "-o $f: $k a predictions table" "$BIN/cxr-predict" "$W/ck.h5" "$img" --device cpu -o "$f"
    refused "--predictions $f: $k a predictions table" "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" \
        --device cpu --predictions "$f"
    refused "-o $f: $k an ONNX model" "$BIN/cxr-export" "$W/ck.h5" -o "$f"
    refused "-o $f: $k a weights file" "$BIN/cxr-export" "$W/ck.h5" --weights -o "$f"
    refused "-o $f: $k a store" "$BIN/cxr-pack" "$SAMPLE" -o "$f" --size 32 --quiet
    refused "--duplicates-report $f: $k a duplicates table" "$BIN/cxr-pack" "$SAMPLE" -o "$W/p3.h5" \
        --size 32 --quiet --duplicates-report "$f"
    refused "--checkpoint $f: $k a checkpoint" "$BIN/cxr-train" "$W/s.h5" $T --checkpoint "$f"
done
cmp -s "$W/run.jsonl" "$W/vlog.jsonl" && [ "$(cat "$W/vmon.jsonl")" = '{"t":1.0,"epoch":1}' ] &&
    cmp -s "$W/vgz.jsonl.gz" "$W/vgz0" ||
    fail "an output replaced a training log or samples file"
cmp -s "$W/vimg.jpeg" "$W/vimg0" && cmp -s "$W/vpng.dat" "$W/vpng0" && cmp -s "$W/vdcm" "$W/vdcm0" ||
    fail "an output replaced an image"
# ... nor over another of our outputs that is no HDF5 file: an ONNX model, an HTML page, a
# predictions table, a duplicates table (cxr-export --weights -o m.onnx replaced a deployed
# model), while a tool replaces its own kind (below: a store by a store, and so on)
expect_rc 0 "$BIN/cxr-export" "$W/ck.h5" -o "$W/k.onnx" -q
expect_rc 0 "$BIN/cxr-report" "$W/run.jsonl" -o "$W/k.html"
expect_rc 0 "$BIN/cxr-predict" "$W/ck.h5" "$img" --device cpu -o "$W/k.tsv"
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$W/p4.h5" --size 32 --quiet --duplicates-report "$W/k.dups"
for f in k.onnx k.html k.tsv k.dups; do cp "$W/$f" "$W/$f.0"; done
kind() { case $1 in k.onnx) echo "an ONNX model" ;; k.html) echo "an HTML page" ;;
    k.tsv) echo "a predictions table" ;; k.dups) echo "a duplicates table" ;; esac; }
for f in k.onnx k.html k.tsv k.dups; do
    k="exists and is $(kind $f)"
    [ $f != k.html ] && refused "-o $W/$f: $k" "$BIN/cxr-report" "$W/run.jsonl" -o "$W/$f"
    [ $f != k.tsv ] && refused "-o $W/$f: $k" "$BIN/cxr-predict" "$W/ck.h5" "$img" --device cpu -o "$W/$f"
    [ $f != k.tsv ] && refused "--predictions $W/$f: $k" "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" \
        --device cpu --predictions "$W/$f"
    [ $f != k.onnx ] && refused "-o $W/$f: $k" "$BIN/cxr-export" "$W/ck.h5" -o "$W/$f"
    refused "-o $W/$f: $k" "$BIN/cxr-export" "$W/ck.h5" --weights -o "$W/$f"
    refused "-o $W/$f: $k" "$BIN/cxr-pack" "$SAMPLE" -o "$W/$f" --size 32 --quiet
    [ $f != k.dups ] && refused "--duplicates-report $W/$f: $k" "$BIN/cxr-pack" "$SAMPLE" \
        -o "$W/p5.h5" --size 32 --quiet --duplicates-report "$W/$f"
    refused "--checkpoint $W/$f: $k" "$BIN/cxr-train" "$W/s.h5" $T --checkpoint "$W/$f"
    cmp -s "$W/$f" "$W/$f.0" || fail "an output replaced $(kind $f)"
done
# ... a table in jsonl (its first bytes are another's) refused as a table too
expect_rc 0 "$BIN/cxr-predict" "$W/ck.h5" "$img" --device cpu -o "$W/k.jsonl" --format jsonl
cp "$W/k.jsonl" "$W/k.jsonl.0"
refused "-o $W/k.jsonl: exists and is a predictions table" "$BIN/cxr-report" "$W/run.jsonl" -o "$W/k.jsonl"
refused "-o $W/k.jsonl: exists and is a predictions table" "$BIN/cxr-pack" "$SAMPLE" -o "$W/k.jsonl" --size 32 --quiet
cmp -s "$W/k.jsonl" "$W/k.jsonl.0" || fail "an output replaced a jsonl predictions table"
# ... each replaced by its own tool
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$W/p4.h5" --size 32 --quiet --duplicates-report "$W/k.dups"
expect_rc 0 "$BIN/cxr-export" "$W/ck.h5" -o "$W/k.onnx" -q
expect_rc 0 "$BIN/cxr-report" "$W/run.jsonl" -o "$W/k.html"
expect_rc 0 "$BIN/cxr-predict" "$W/ck.h5" "$img" --device cpu -o "$W/k.tsv" --format csv
expect_rc 0 "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu --predictions "$W/k.tsv"
[ -e "$W/p5.h5" ] && fail "a refused --duplicates-report left a store"
[ -e "$W/p3.h5" ] && fail "a refused --duplicates-report left a store"
# ... while an output of its own kind is replaced as before: a store by a store, a weights file
# by a weights file, a model by a model
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$W/vstore.h5" --size 32 --quiet
expect_rc 0 "$BIN/cxr-export" "$W/ck.h5" --weights -o "$W/w1.h5" -q
expect_rc 0 "$BIN/cxr-export" "$W/ck.h5" --weights -o "$W/w1.h5" -q
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --checkpoint "$W/victim.h5"
# a log is written line by line, in place: an existing file that is no such log (a model, a gzip
# copy of a log, cxr-eval's JSON) is neither emptied nor appended to on --resume (exit 3,
# untouched, found before any other output is opened), and a log another process holds the lock
# of (another run writing it) is refused (exit 4); an earlier log is replaced
TM="--device cpu --batch 8 --threads 2 --lr 0.001 -q --epochs 1 --max-steps 2 --no-checkpoint"
cp "$W/ck.h5" "$W/model-copy.h5"
expect_rc 3 "$BIN/cxr-train" "$W/s.h5" $T --no-checkpoint --log "$W/model-copy.h5"
expect_err "--log $W/model-copy.h5: exists and is not such a log (its first line does not begin with {\"type\":\"run\"): not overwritten"
expect_rc 3 "$BIN/cxr-train" "$W/s.h5" $TM --monitor-log "$W/model-copy.h5"
expect_err "--monitor-log $W/model-copy.h5: exists and is not such a log (its first line does not begin with {\"t\":)"
expect_rc 3 "$BIN/cxr-train" "$W/s.h5" $T --resume "$W/ck.h5" --epochs 2 --no-checkpoint \
    --log "$W/model-copy.h5"
expect_err "not appended to"
cmp -s "$W/ck.h5" "$W/model-copy.h5" || fail "--log / --monitor-log changed a model"
gzip -c "$W/run.jsonl" > "$W/run.jsonl.gz" && cp "$W/run.jsonl.gz" "$W/gz0"
expect_rc 3 "$BIN/cxr-train" "$W/s.h5" $T --no-checkpoint --log "$W/run.jsonl.gz"
expect_err "is gzip-compressed, not such a log: not overwritten"
cmp -s "$W/run.jsonl.gz" "$W/gz0" || fail "--log emptied a gzip-compressed log"
"$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu --json > "$W/eval.json" 2>/dev/null &&
    cp "$W/eval.json" "$W/eval0" || fail "cxr-eval --json"
printf '{"t":1.0,"epoch":1}\n' > "$W/mon.jsonl" && cp "$W/mon.jsonl" "$W/mon0"
expect_rc 3 "$BIN/cxr-train" "$W/s.h5" $TM --log "$W/eval.json" --monitor-log "$W/mon.jsonl"
expect_err "--log $W/eval.json: exists and is not such a log"
cmp -s "$W/eval.json" "$W/eval0" && cmp -s "$W/mon.jsonl" "$W/mon0" ||
    fail "a refused --log left cxr-eval's JSON or the samples file changed"
cp "$W/run.jsonl" "$W/held.jsonl" && cp "$W/run.jsonl" "$W/held0"
flock "$W/held.jsonl" "$BIN/cxr-train" "$W/s.h5" $T --no-checkpoint --log "$W/held.jsonl" 2>"$W/err"
rc=$?; [ $rc -eq 4 ] || fail "cxr-train --log onto a log another process holds: exit $rc, not 4"
expect_err "log $W/held.jsonl: in use by another process"
cmp -s "$W/held.jsonl" "$W/held0" || fail "--log changed a log another process holds"
# ... nor does another tool replace it (a running cxr-train's log: its later lines went to a
# file no name reached)
flock "$W/held.jsonl" "$BIN/cxr-report" "$W/run.jsonl" -o "$W/held.jsonl" 2>"$W/err"
rc=$?; [ $rc -eq 4 ] || fail "cxr-report -o onto a log another process holds: exit $rc, not 4"
expect_err "-o $W/held.jsonl: in use by another process"
cmp -s "$W/held.jsonl" "$W/held0" || fail "cxr-report replaced a log another process holds"
ln -s held.jsonl "$W/held-link.jsonl" # ... through a symbolic link too (the writers follow it)
flock "$W/held.jsonl" "$BIN/cxr-report" "$W/run.jsonl" -o "$W/held-link.jsonl" 2>"$W/err"
rc=$?; [ $rc -eq 4 ] || fail "cxr-report -o a link to a log another process holds: exit $rc, not 4"
cmp -s "$W/held.jsonl" "$W/held0" || fail "cxr-report replaced a held log through a link"
# ... and a default model name another cxr-train run reserved: being written by that run
printf 'cxr-train: reserved by pid %s on somehost\n' "$$" > "$W/resv.h5"
flock "$W/resv.h5" "$BIN/cxr-report" "$W/run.jsonl" -o "$W/resv.h5" 2>"$W/err"
rc=$?; [ $rc -eq 2 ] || fail "cxr-report -o a name another run reserved: exit $rc, not 2"
expect_err "resv.h5 is being written by another cxr-train run (pid $$) (its model or best model)"
# an HDF5 file another program holds open for writing (h5py's "r+": HDF5 then holds an exclusive
# flock, as flock(1) here) is in use, not corrupt: its readers and writers exit 4 saying so (they
# said "corrupt or not a cxr checkpoint", exit 3, or blamed a cxr-train log), the file untouched
inuse="in use by another process, which holds it open for writing (HDF5's file lock)"
expect_rc 4 flock "$W/ck.h5" "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu
expect_err "$W/ck.h5: $inuse"
expect_rc 4 flock "$W/ck.h5" "$BIN/cxr-predict" "$W/ck.h5" "$img" --device cpu
expect_err "$W/ck.h5: $inuse"
expect_rc 4 flock "$W/ck.h5" "$BIN/cxr-export" "$W/ck.h5" -o "$W/held.onnx"
expect_err "$W/ck.h5: $inuse"
expect_rc 4 flock "$W/ck.h5" "$BIN/cxr-train" "$W/s.h5" $T --resume "$W/ck.h5" --checkpoint "$W/r.h5"
expect_err "$W/ck.h5: $inuse"
expect_rc 4 flock "$W/s.h5" "$BIN/cxr-train" "$W/s.h5" $T --no-checkpoint
expect_err "$W/s.h5: $inuse"
expect_rc 4 flock "$W/ck.h5" "$BIN/cxr-train" "$W/s.h5" $T --resume "$W/ck.h5"
expect_err "--checkpoint $W/ck.h5: in use by another process, which holds this HDF5 file open for writing: not replaced"
cp "$W/vstore.h5" "$W/vstore0"
expect_rc 4 flock "$W/vstore.h5" "$BIN/cxr-pack" "$SAMPLE" -o "$W/vstore.h5" --size 32 --quiet
expect_err "-o $W/vstore.h5: in use by another process, which holds this HDF5 file open for writing: not replaced"
cmp -s "$W/vstore.h5" "$W/vstore0" || fail "cxr-pack replaced a store another program holds"
untouched "HDF5 files held open for writing"
# ... and one that a writer without HDF5's lock left marked open for writing (h5py with the
# latest format, ended without closing it): "marked ... h5clear -s", exit 4 (it was "corrupt"),
# and the command it gives makes the model readable again
cp "$W/ck.h5" "$W/marked.h5"
py=python3; [ -x /usr/bin/python3 ] && py=/usr/bin/python3 # Debian's, with python3-h5py
"$py" -c 'import h5py, os, sys
f = h5py.File(sys.argv[1], "r+", libver="latest"); f.attrs["x"] = 1; f.flush(); os._exit(0)' "$W/marked.h5" ||
    fail "could not leave a file marked open for writing"
expect_rc 4 "$BIN/cxr-eval" "$W/marked.h5" "$W/s.h5" --device cpu
expect_err "$W/marked.h5: marked as open for writing by another program (one writing it now, or one that ended without closing it): once no program has it open, \`h5clear -s $W/marked.h5\` clears the mark"
h5clear -s "$W/marked.h5" || fail "h5clear -s failed"
expect_rc 0 "$BIN/cxr-eval" "$W/marked.h5" "$W/s.h5" --device cpu
printf '{"t":1.0,"epoch":1}\n' > "$W/held-mon.jsonl"
flock "$W/held-mon.jsonl" "$BIN/cxr-train" "$W/s.h5" $TM --monitor-log "$W/held-mon.jsonl" 2>"$W/err"
rc=$?; [ $rc -eq 4 ] || fail "cxr-train --monitor-log onto a file another process holds: exit $rc, not 4"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --no-checkpoint --log "$W/held.jsonl"
[ "$(grep -c '"type":"run"' "$W/held.jsonl")" = 1 ] || fail "an earlier log was not replaced"
# ... and said, -q or not (a user who meant --resume or another name); a new log is not
expect_err "note: --log $W/held.jsonl holds an earlier log ($(wc -l < "$W/held0") lines): this run replaces it from its first epoch line (--resume appends"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --no-checkpoint --log "$W/new.jsonl"
grep -q 'earlier log' "$W/err" && fail "a new log was said to replace an earlier one"
# ... but not before a refusal (it read as if the log were gone), nor where the model would have
# been saved (here a store without /val, which --select needs: refused by the trainer's checks)
"$BIN/cxr-pack" "$SAMPLE" -o "$W/nov.h5" --size 32 --shard 8 --val-fraction 0 -q || fail "pack without val"
cp "$W/held.jsonl" "$W/held1"
expect_rc 2 "$BIN/cxr-train" "$W/nov.h5" $T --select val_auc --log "$W/held.jsonl"
expect_err "has no /val split; selection is made on val only"
grep -E -q 'earlier log|saving the model' "$W/err" && fail "a refused run said: $(cat "$W/err")"
cmp -s "$W/held.jsonl" "$W/held1" || fail "a refused run changed the log"
[ ! -e "$W/nov.model.h5" ] || fail "a refused run left its default model name"
# ... nor by a resume with nothing to train (no model is saved, no log written)
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --resume "$W/ck.h5" --log "$W/held.jsonl"
expect_err "nothing to do"
grep -E -q 'earlier log|saving the model|model selection' "$W/err" && fail "a resume with nothing to do said: $(cat "$W/err")"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --resume "$W/ck.h5" --no-checkpoint --select val_auc
expect_err "nothing to do"
grep -E -q 'model selection|weight averaging' "$W/err" && fail "a resume with nothing to do said: $(cat "$W/err")"
# a log of one line without its newline (a run cut short) is one line
head -n 1 "$W/held0" | tr -d '\n' > "$W/one.jsonl"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T --no-checkpoint --log "$W/one.jsonl"
expect_err "note: --log $W/one.jsonl holds an earlier log (1 line): this run replaces it"
# an output in a folder that is not there, or an empty name: refused before any work (training
# would find it at its first save, an epoch later)
expect_rc 4 "$BIN/cxr-train" "$W/s.h5" $T --checkpoint "$W/nodir/ck.h5"
expect_err "--checkpoint $W/nodir/ck.h5: cannot write there: $W/nodir: No such file or directory"
expect_rc 4 "$BIN/cxr-train" "$W/s.h5" $T --log "$W/ck.h5/run.jsonl"
expect_err "cannot write there: $W/ck.h5: not a folder"
expect_rc 4 "$BIN/cxr-pack" "$SAMPLE" -o "$W/nodir/p.h5" --size 32 --quiet
expect_err "-o $W/nodir/p.h5: cannot write there: $W/nodir: No such file or directory"
expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "" --size 32 --quiet
expect_err "-o: an empty file name"
# ... nor a name longer than the file system takes (255 bytes): the temporary is made unnamed
# or under a short name, so the rename at the end found it, after the whole pack, the whole
# folder classified, or the first epoch (a checkpoint that fits whose MODEL.best.h5 does not)
long=$(printf 'n%.0s' $(seq 252))
expect_rc 4 "$BIN/cxr-train" "$W/s.h5" $T --checkpoint "$W/$long.h5"
expect_err "the best model $W/$long.best.h5: cannot write there: File name too long"
grep -q "epoch" "$W/err" && fail "a name too long was found after training: $(cat "$W/err")"
expect_rc 4 "$BIN/cxr-pack" "$SAMPLE" -o "$W/${long}xx.h5" --size 32 --quiet
expect_err "-o $W/${long}xx.h5: cannot write there: File name too long"
expect_rc 4 "$BIN/cxr-predict" "$W/ck.h5" "$SAMPLE/test" --device cpu -q -o "$W/${long}x.tsv"
expect_err "-o $W/${long}x.tsv: cannot write there: File name too long"
ls "$W" | grep -q "$long" && fail "a refused name too long left $(ls "$W" | grep "$long")"
# ... nor a model named from a working folder whose path is past PATH_MAX (4,352 bytes here):
# HDF5 cannot create a file under it ("can't retrieve real path"), which cxr-train found after
# its first epoch; refused before, the model's relative name said
deep=$(cd "$W" && c=$(printf 'd%.0s' $(seq 240)); for i in $(seq 18); do mkdir "$c" && cd "$c" || exit 1; done; \
    cp "$W/s.h5" s.h5 && echo ok) || fail "a folder past PATH_MAX"
[ "$deep" = ok ] && (c=$(printf 'd%.0s' $(seq 240)); cd "$W" && for i in $(seq 18); do cd "$c"; done; \
    "$BIN/cxr-train" s.h5 $T --checkpoint m.h5 >"$W/out" 2>"$W/err"; echo $? >"$W/rc")
[ "$(cat "$W/rc")" = 4 ] || fail "cxr-train in a folder past PATH_MAX: exit $(cat "$W/rc"), want 4"
expect_err "--checkpoint m.h5: cannot write there: the working folder's path is longer than 4096 bytes"
grep -q "epoch" "$W/err" && fail "a folder past PATH_MAX was found after training: $(cat "$W/err")"
rm -rf "$W/$(printf 'd%.0s' $(seq 240))"
cp -r "$SAMPLE" "$W/src"; ln -s src "$W/srclink"
victim=$(ls "$W/src/train/NORMAL" | head -1); cp "$W/src/train/NORMAL/$victim" "$W/victim"
expect_rc 2 "$BIN/cxr-pack" "$W/src" -o "$W/srclink/train/NORMAL/$victim" --quiet
expect_err "inside the source folder"
cmp -s "$W/victim" "$W/src/train/NORMAL/$victim" || fail "cxr-pack replaced a source image"
expect_rc 2 "$BIN/cxr-pack" "$W/src" -o "$W/src/new.h5" --quiet
[ -e "$W/src/new.h5" ] && fail "cxr-pack wrote inside its source tree"
# a class folder that is a symlink to a folder outside the tree: its images are inputs too
mkdir "$W/src2" "$W/src2/train" "$W/src2/test"; cp -r "$W/src/train/NORMAL" "$W/ext"
ln -s "$W/ext" "$W/src2/train/NORMAL"; cp -r "$W/src/test/NORMAL" "$W/src2/test/"
expect_rc 2 "$BIN/cxr-pack" "$W/src2" -o "$W/ext/$victim" --quiet
expect_err "-o $W/ext/$victim: is the input $W/src2/train/NORMAL/$victim (through a symbolic link)"
expect_rc 2 "$BIN/cxr-pack" "$W/src2" -o "$W/ext/new.h5" --quiet
expect_err "is in the folder of the input"
[ -e "$W/ext/new.h5" ] && fail "cxr-pack wrote among the inputs behind a symlink"
cmp -s "$W/victim" "$W/ext/$victim" || fail "cxr-pack replaced a source image through a symlink"
# a split folder that is a symlink: -o in its target is inside the tree the next pack scans
mkdir "$W/src4" "$W/ext4"; cp -r "$W/src/train" "$W/ext4/"; cp -r "$W/src/test" "$W/src4/"
ln -s "$W/ext4/train" "$W/src4/train"
expect_rc 2 "$BIN/cxr-pack" "$W/src4" -o "$W/ext4/train/new.h5" --quiet
expect_err "-o $W/ext4/train/new.h5: is in the folder $W/src4/train of the inputs"
[ -e "$W/ext4/train/new.h5" ] && fail "cxr-pack wrote inside a split folder behind a symlink"
expect_rc 2 "$BIN/cxr-pack" "$W/src4" -o "$W/p4.h5" --size 32 --quiet \
    --duplicates-report "$W/ext4/train/dups.tsv"
expect_err "--duplicates-report $W/ext4/train/dups.tsv: is in the folder $W/src4/train"
# ... and beside the link's target, outside the tree, is fine
expect_rc 0 "$BIN/cxr-pack" "$W/src4" -o "$W/ext4/new.h5" --size 32 --quiet
# ... and so for a manifest's --images DIR whose nested folder is a link, given with a slash or
# without (DIR/ was missed: its images' paths are DIR/a/...)
mkdir -p "$W/ext5/a/b/c" "$W/img5" && echo "id,url,landmark_id" >"$W/m5.csv"
i=0
for f in "$SAMPLE"/train/*/*.jpeg; do
    i=$((i + 1)) && id=$(printf 'abc%03d' $i) && cp "$f" "$W/ext5/a/b/c/$id.jpg"
    echo "$id,http://x/$id.jpg,$((i % 2))" >>"$W/m5.csv"
done
ln -s "$W/ext5/a" "$W/img5/a"
for d in "$W/img5" "$W/img5/" "$W/img5//"; do
    expect_rc 2 "$BIN/cxr-pack" --manifest "$W/m5.csv" --images "$d" -o "$W/ext5/a/s.h5" --size 32 -q
    expect_err "-o $W/ext5/a/s.h5: is in the folder $W/img5/a of the inputs"
done
# ... and past the first folder below DIR: img5/a/b is ext5/a/b too
expect_rc 2 "$BIN/cxr-pack" --manifest "$W/m5.csv" --images "$W/img5" -o "$W/ext5/a/b/s.h5" --size 32 -q
expect_err "-o $W/ext5/a/b/s.h5: is in the folder $W/img5/a/b of the inputs"
[ -e "$W/ext5/a/b/s.h5" ] && fail "cxr-pack wrote in a folder two below --images DIR behind a symlink"
[ -e "$W/ext5/a/s.h5" ] && fail "cxr-pack wrote inside --images DIR behind a symlink"
# ... and so for the duplicates report (it was written over the image through the link)
expect_rc 2 "$BIN/cxr-pack" "$W/src2" -o "$W/p2.h5" --size 32 --quiet \
    --duplicates-report "$W/src2/train/NORMAL/$victim"
expect_err "--duplicates-report $W/src2/train/NORMAL/$victim: is the input"
cmp -s "$W/victim" "$W/ext/$victim" || fail "the duplicates report replaced a source image"
# ... and it is not -o when only the base names agree: one name in two folders is two files
# (refused as "the same file" only in one folder, however named)
mkdir "$W/d1" "$W/d2"
expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$W/d1/p.h5" --size 32 --quiet \
    --duplicates-report "$W/d1/../d1/p.h5"
expect_err "the same file; give each its own"
expect_rc 0 "$BIN/cxr-pack" "$SAMPLE" -o "$W/d1/p.h5" --size 32 --quiet \
    --duplicates-report "$W/d2/p.h5"
[ -s "$W/d1/p.h5" ] && head -1 "$W/d2/p.h5" | grep -q '^pixel_hash' ||
    fail "-o d1/p.h5 --duplicates-report d2/p.h5: not both written"
# an input that is a symlink to a file elsewhere: its target is an input too
mkdir -p "$W/src3/train/NORMAL" "$W/pool"; cp -r "$W/src/test" "$W/src3/"
cp "$W/victim" "$W/pool/$victim"; ln -s "$W/pool/$victim" "$W/src3/train/NORMAL/$victim"
expect_rc 2 "$BIN/cxr-pack" "$W/src3" -o "$W/pool/$victim" --size 32 --quiet
expect_err "-o $W/pool/$victim: is the input $W/src3/train/NORMAL/$victim"
cmp -s "$W/victim" "$W/pool/$victim" || fail "cxr-pack replaced a linked image's target"
expect_rc 2 "$BIN/cxr-pack" "$W/src" -o "$W/fifo" --quiet;            expect_err "FIFO"
[ -p "$W/fifo" ] || fail "cxr-pack replaced the FIFO"
printf 'id,url,landmark_id\na,u,1\n' >"$W/m.csv"
expect_rc 2 "$BIN/cxr-pack" --manifest "$W/m.csv" -o "$W/m.csv";     expect_err "same file"

# 8. a FIFO given as an input is refused, never opened
expect_rc 2 to "$BIN/cxr-train" "$W/fifo" $T;                         expect_err "fifo: is a FIFO"
expect_rc 2 to "$BIN/cxr-train" "$W/s.h5" $T --resume "$W/fifo"
expect_rc 2 to "$BIN/cxr-train" "$W/s.h5" $T --resume "$W/fifo" --no-checkpoint
expect_err "fifo: is a FIFO"
expect_rc 2 to "$BIN/cxr-eval" "$W/fifo" "$W/s.h5" --device cpu;      expect_err "FIFO"
expect_rc 2 to "$BIN/cxr-eval" "$W/ck.h5" "$W/fifo" --device cpu
expect_rc 2 to "$BIN/cxr-predict" "$W/fifo" "$W/victim" --device cpu
expect_rc 3 to "$BIN/cxr-predict" "$W/ck.h5" "$W/fifo" --device cpu;   expect_err "FIFO"
expect_rc 2 to "$BIN/cxr-report" "$W/fifo" -o "$W/r.html";            expect_err "FIFO"
expect_rc 2 to "$BIN/cxr-pack" --manifest "$W/fifo" --images "$W" -o "$W/fm.h5"
expect_err "FIFO, not a regular file: packing reads the manifest twice"
# (--explore, one pass, reads a pipe since 0.24: manifest.explore feeds it one)

# 9. a failed write on standard output: exit 4 with the reason
: >"$W/empty.jpeg"
if [ -w /dev/full ]; then
    "$BIN/cxr-predict" "$W/ck.h5" "$W/victim" --device cpu >/dev/full 2>"$W/err"
    [ $? = 4 ] || fail "cxr-predict > /dev/full did not exit 4"
    expect_err "standard output: write failed: No space left on device"
    "$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu >/dev/full 2>"$W/err"
    [ $? = 4 ] || fail "cxr-eval > /dev/full did not exit 4"; expect_err "No space left"
    "$BIN/cxr-pack" --manifest "$W/m.csv" --explore >/dev/full 2>"$W/err"
    [ $? = 4 ] || fail "cxr-pack --explore > /dev/full did not exit 4"; expect_err "standard output"
fi

# 9b. an output that is the file standard output goes to (/dev/stdout, /proc/self/fd/1, a
# redirection): exit 2, the file and what was in it kept (the rename replaced it, dropping an
# appended-to log and the tool's own report)
printf 'OLD\n' >"$W/log.txt"
"$BIN/cxr-predict" "$W/ck.h5" "$W/victim" --device cpu -q -o /dev/stdout >>"$W/log.txt" 2>"$W/err"
[ $? = 2 ] || fail "cxr-predict -o /dev/stdout >> log did not exit 2"
expect_err "is the file this program's standard output is"
expect_err "give another file, or -o - to write to standard output"
[ "$(cat "$W/log.txt")" = OLD ] || fail "cxr-predict -o /dev/stdout replaced the log"
# cxr-predict -o -: its rows on standard output, as without -o (no file named -)
(cd "$W" && "$BIN/cxr-predict" ck.h5 victim --device cpu -q -o - >"$W/dash.out" 2>"$W/err") ||
    fail "cxr-predict -o - failed: $(cat "$W/err")"
[ "$(wc -l <"$W/dash.out")" = 2 ] && [ ! -e "$W/-" ] || fail "cxr-predict -o -: not the rows on stdout"
"$BIN/cxr-eval" "$W/ck.h5" "$W/s.h5" --device cpu --predictions /proc/self/fd/1 >>"$W/log.txt" \
    2>"$W/err"
[ $? = 2 ] || fail "cxr-eval --predictions /proc/self/fd/1 >> log did not exit 2"
[ "$(cat "$W/log.txt")" = OLD ] || fail "cxr-eval --predictions /proc/self/fd/1 replaced the log"
"$BIN/cxr-report" "$W/run.jsonl" -o "$W/log.txt" 2>>"$W/log.txt"
[ $? = 2 ] || fail "cxr-report -o FILE 2>> FILE did not exit 2"
grep -q '^OLD$' "$W/log.txt" || fail "cxr-report -o FILE 2>> FILE replaced the file"
# a tool started with standard error closed: its messages go nowhere, not into the output
"$BIN/cxr-predict" "$W/ck.h5" "$W/empty.jpeg" "$W/victim" --device cpu --format jsonl \
    -o "$W/p.jsonl" 2>&-
[ $? = 3 ] || fail "cxr-predict 2>&- with a skipped image did not exit 3"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$W/p.jsonl" ||
    fail "cxr-predict 2>&-: the JSON Lines output holds something else"
# standard output closed: the rows cannot vanish into the /dev/null put there, exit 4
"$BIN/cxr-predict" "$W/ck.h5" "$W/victim" --device cpu >&- 2>"$W/err"
[ $? = 4 ] || fail "cxr-predict >&- did not exit 4"; expect_err "standard output"
# every image skipped: the previous output is kept, not replaced by a header alone
printf 'KEEP\n' >"$W/k.tsv"
expect_rc 3 "$BIN/cxr-predict" "$W/ck.h5" "$W/empty.jpeg" --device cpu -o "$W/k.tsv"
expect_err "no image classified (1 skipped, named above): -o $W/k.tsv left as it was"
[ "$(cat "$W/k.tsv")" = KEEP ] || fail "cxr-predict with every image skipped replaced -o"

# 10. a newline or escape in a name cannot forge a line; a tab in a name is quoted in TSV
printf 'not a jpeg' >"$W/src/train/NORMAL/x.jpeg
cxr-pack: skip FORGED.jpeg: fake"
printf 'bad' >"$W/src/train/NORMAL/e$(printf '\033')[31m.jpeg"
expect_rc 0 "$BIN/cxr-pack" "$W/src" -o "$W/p.h5" --size 32 --threads 2 --quiet
grep -q "FORGED" "$W/err" || fail "the bad file was not reported"
grep -q "^cxr-pack: skip FORGED" "$W/err" && fail "a newline in a name forged a skip line"
grep -q "$(printf '\033')" "$W/err" && fail "an escape character reached the terminal"
# ... nor in the line that stops the run (--strict: the first skip is an error), from a tree or
# a manifest
"$BIN/cxr-pack" "$W/src" -o "$W/p2.h5" --size 32 --threads 2 --quiet --strict 2>"$W/err"
[ $? = 3 ] || fail "cxr-pack --strict with bad files did not exit 3"
grep -q "nothing written to $W/p2.h5" "$W/err" || fail "--strict's stop was not said"
grep -q "^cxr-pack: skip FORGED" "$W/err" && fail "a newline in a name forged a line (--strict)"
grep -q "$(printf '\033')" "$W/err" && fail "an escape character reached the terminal (--strict)"
printf 'id,url,landmark_id\n"a\033[2Jb",u,1\n' >"$W/esc.csv"
mkdir -p "$W/noimg"
"$BIN/cxr-pack" --manifest "$W/esc.csv" --images "$W/noimg" -o "$W/m.h5" --strict 2>"$W/err"
[ $? = 3 ] || fail "cxr-pack --manifest --strict with a missing image did not exit 3"
expect_err 'line 2: a\x1b[2Jb: image not found (--strict)'
# a class name with a newline is escaped in the summary table, and past its 64 class columns
# the totals still count every class (they counted the first 64: 0 here); each class has a test
# image (a folder without an image in any split is no class)
for c in $(seq -w 0 69); do
    mkdir -p "$W/many/train/c$c" "$W/many/test/c$c" && cp "$W/victim" "$W/many/test/c$c/t.jpeg"
done
mkdir -p "$W/many/train/bad
name" "$W/many/test/bad
name"
for d in train/c66 train/c67 test/c66 "train/bad
name"; do cp "$W/victim" "$W/many/$d/x.jpeg"; done
expect_rc 0 "$BIN/cxr-pack" "$W/many" -o "$W/many.h5" --size 32 --threads 2
grep -q '^train .* 3$' "$W/out" || fail "the train total over 71 classes is not 3"
grep -qF 'the first 64 of 71 classes' "$W/out" || fail "the summary does not say it shows 64 of 71 classes"
grep -qF 'bad\nname' "$W/out" || fail "a newline in a class name is not escaped in the summary"
# cxr-eval's report prints class names escaped, and cut to its columns at whole characters
# (a two-byte character was cut in two: output that is not UTF-8)
for d in train test; do
    for c in "bad
name$(printf '\033')[31m" "Neumonía_vírica"; do
        mkdir -p "$W/cls/$d/$c" && cp "$W/victim" "$W/cls/$d/$c/x.jpeg" && cp "$W/victim" "$W/cls/$d/$c/y.jpeg"
    done
done
expect_rc 0 "$BIN/cxr-pack" "$W/cls" -o "$W/cls.h5" --size 32 --threads 2 --quiet
expect_rc 0 "$BIN/cxr-train" "$W/cls.h5" $T --checkpoint "$W/cls-m.h5"
expect_rc 0 "$BIN/cxr-eval" "$W/cls-m.h5" "$W/cls.h5" --device cpu
grep -qF 'positive class: bad\nname\x1b[31m' "$W/out" || fail "cxr-eval: a class name is not escaped"
grep -q '^name' "$W/out" && fail "cxr-eval: a newline in a class name forged a line"
grep -q "$(printf '\033')" "$W/out" && fail "cxr-eval: an escape character reached the terminal"
python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$W/out" ||
    fail "cxr-eval's report is not UTF-8"
# out of file descriptors (ulimit -n) is not an image's fault: cxr-predict stops (exit 1) rather
# than skip images it could not open, and keeps the previous -o
stopped=0
for n in 4 5 6 7 8 9 10; do
    printf 'KEEP\n' >"$W/fd.tsv"
    (ulimit -n $n; "$BIN/cxr-predict" "$W/ck.h5" "$SAMPLE/test" --device cpu --threads 2 -o "$W/fd.tsv") \
        >/dev/null 2>"$W/err"
    rc=$?
    grep -q "Too many open files" "$W/err" && { [ $rc = 0 ] || [ $rc = 3 ]; } &&
        fail "ulimit -n $n: out of descriptors, exit $rc: an image skipped for it"
    [ $rc = 0 ] || [ "$(cat "$W/fd.tsv")" = KEEP ] || fail "ulimit -n $n: exit $rc replaced -o"
    [ $rc = 1 ] && grep -q "not the file's fault" "$W/err" && stopped=1
done
[ $stopped = 1 ] || fail "no descriptor limit of 4 to 10 stopped cxr-predict at an image"
# the command cxr-eval suggests runs as printed: a path with a space, a quote, a leading '-'
cp "$W/ck.h5" "$W/-it's m.h5"
# (a --threshold other than val's best: with the model's own, chosen there, none is suggested)
(cd "$W" && "$BIN/cxr-eval" --device cpu --split val --threshold 0.999 -- "-it's m.h5" s.h5) \
    >"$W/out" 2>"$W/err" || fail "cxr-eval of -it's m.h5"
cmd=$(sed -n 's/^(to apply it to test: cxr-eval \(.*\))$/\1/p' "$W/out")
[ -n "$cmd" ] || fail "cxr-eval --split val suggested no command"
(cd "$W" && eval "\"\$BIN/cxr-eval\" $cmd --device cpu") >/dev/null 2>&1 ||
    fail "the suggested command failed: cxr-eval $cmd"
cp "$W/victim" "$W/a	b.jpeg"
expect_rc 0 "$BIN/cxr-predict" "$W/ck.h5" "$W/a	b.jpeg" --device cpu
sed -n 2p "$W/out" | head -c1 | grep -q '"' || fail "a tab in a name is not quoted in cxr-predict's TSV"
# past the file size limit (ulimit -f, in 512-byte blocks here): the write fails (EFBIG), the
# tool says so and exits 4 with its temporary removed, rather than SIGXFSZ killing it silently
mkdir -p "$W/fsz"
( ulimit -f 100; "$BIN/cxr-pack" "$SAMPLE" -o "$W/fsz/s.h5" --size 32 --shard 8 --quiet ) >/dev/null 2>"$W/err"
rc=$?; [ $rc -eq 4 ] || fail "cxr-pack past ulimit -f: exit $rc, not 4"
expect_err "File too large"
( ulimit -f 300; "$BIN/cxr-train" "$W/s.h5" $T --checkpoint "$W/fsz/m.h5" ) 2>"$W/err"
rc=$?; [ $rc -eq 4 ] || fail "cxr-train past ulimit -f: exit $rc, not 4"
expect_err "File too large"
[ -z "$(ls -A "$W/fsz")" ] || fail "files left past ulimit -f: $(ls -A "$W/fsz")"
# the log and the monitor's samples likewise, with the reason; a samples file that cannot be
# written stops the run at the end of the epoch (it was said only after the last one)
( ulimit -f 1; "$BIN/cxr-train" "$W/s.h5" $T --no-checkpoint --log "$W/fsz/l.jsonl" ) 2>"$W/err"
rc=$?; [ $rc -eq 4 ] || fail "cxr-train --log past ulimit -f: exit $rc, not 4"
expect_err "$W/fsz/l.jsonl: cannot write the log: File too large"
( ulimit -f 1; timeout 60 "$BIN/cxr-train" "$W/s.h5" --device cpu --batch 8 --threads 1 --max-steps 1 \
    -q --epochs 100000 --no-checkpoint --monitor-log "$W/fsz/m.jsonl" ) 2>"$W/err"
rc=$?; [ $rc -eq 4 ] || fail "cxr-train --monitor-log past ulimit -f: exit $rc, not 4 (124: ran on)"
expect_err "$W/fsz/m.jsonl: could not write monitor samples: File too large"
# another user's file in a sticky folder (/tmp's mode 1777), writable but not this user's to
# replace: refused before any work (the rename failed after it; an external-data export had by
# then replaced the weights file, leaving the old model naming new weights)
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    chmod 755 "$W" && mkdir -m 1777 "$W/sticky" && cp "$W/ck.h5" "$W/sticky/in.h5" &&
        chmod 644 "$W/sticky/in.h5" && echo old > "$W/sticky/m.onnx" && chmod 666 "$W/sticky/m.onnx"
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$BIN/cxr-export" "$W/sticky/in.h5" \
        -o "$W/sticky/m.onnx" --external-data 2>"$W/err"
    rc=$?; [ $rc -eq 4 ] || fail "an export over another user's file in a sticky folder: exit $rc, not 4"
    expect_err "m.onnx: belongs to another user (uid 0) in a sticky folder"
    [ "$(cat "$W/sticky/m.onnx")" = old ] && [ ! -e "$W/sticky/m.onnx.data" ] ||
        fail "a refused export changed the sticky folder: $(ls -a "$W/sticky")"
else
    echo "note: not root, or no setpriv: the sticky-folder case is not run"
fi
# one run per model: while a run writes busy.h5, another cxr-train saving there (--checkpoint,
# --resume) is refused (2) naming it and the holder; after a SIGKILL the name is free again
# (the kernel released the lock; the next run removes the lock file it left)
T1="--device cpu --batch 8 --threads 1 --lr 0.001 --no-monitor -q --max-steps 1"
"$BIN/cxr-train" "$W/s.h5" $T1 --epochs 100000 --checkpoint "$W/busy.h5" 2>/dev/null &
pid=$!
for i in $(seq 200); do [ -e "$W/busy.h5" ] && break; sleep 0.1; done
expect_rc 2 timeout 60 "$BIN/cxr-train" "$W/s.h5" $T1 --epochs 1 --checkpoint "$W/busy.h5"
expect_err "cxr-train: $W/busy.h5 is being written by another cxr-train run (pid $pid) (its model or best model): wait for it"
expect_rc 2 timeout 60 "$BIN/cxr-train" "$W/s.h5" $T1 --resume "$W/busy.h5" # (not for ever)
expect_err "$W/busy.h5 is being written by another cxr-train run (pid $pid) (its model or best model)"
# ... and a run whose checkpoint is the busy run's best model (or whose best model is)
expect_rc 2 timeout 60 "$BIN/cxr-train" "$W/s.h5" $T1 --epochs 1 --checkpoint "$W/busy.best.h5"
expect_err "busy.best.h5 is being written by another cxr-train run (pid $pid) (its model or best model)"
expect_rc 2 timeout 60 "$BIN/cxr-train" "$W/s.h5" $T1 --epochs 1 --checkpoint "$W/busy"
# ... and another tool writing there (its next save took the name back: a store reported packed
# was lost)
expect_rc 2 "$BIN/cxr-pack" "$SAMPLE" -o "$W/busy.h5" --size 32 --quiet
expect_err "$W/busy.h5 is being written by another cxr-train run (pid $pid) (its model or best model)"
expect_rc 2 "$BIN/cxr-export" "$W/ck.h5" --weights -o "$W/busy.best.h5"
expect_err "busy.best.h5 is being written by another cxr-train run"
kill -9 $pid
wait $pid 2>/dev/null
[ -e "$W/.busy.h5.cxr-lock" ] || fail "a killed run left no lock file (was the lock held at all?)"
expect_rc 0 "$BIN/cxr-train" "$W/s.h5" $T1 --epochs 1 --checkpoint "$W/busy.h5"
[ -e "$W/.busy.h5.cxr-lock" ] || [ -e "$W/.busy.best.h5.cxr-lock" ] && fail "a lock file stays after a run that ended"
# a name too long for a lock file beside it (NAME_MAX 255) is locked under a shortened one
# (250 bytes: "." + it + ".cxr-lock" is not a name; no best model, whose name would not be either)
long=$(printf 'm%.0s' $(seq 250))
"$BIN/cxr-train" "$W/s.h5" $T1 --epochs 100000 --select none --checkpoint "$W/$long" 2>/dev/null &
pid=$!
for i in $(seq 200); do ls -a "$W" | grep -q "^\.m*-[0-9a-f]*\.cxr-lock" && break; sleep 0.1; done
expect_rc 2 timeout 60 "$BIN/cxr-train" "$W/s.h5" $T1 --epochs 1 --select none --checkpoint "$W/$long"
expect_err "is being written by another cxr-train run (pid $pid)"
kill $pid
wait $pid 2>/dev/null
# a model saved under its default name gets 0666 minus the umask, as one named by --checkpoint
mkdir "$W/um" && cp "$W/s.h5" "$W/um/u.h5"
( umask 002; "$BIN/cxr-train" "$W/um/u.h5" $T --select none ) 2>"$W/err" || fail "training um/u.h5"
[ "$(stat -c %a "$W/um/u.model.h5")" = 664 ] ||
    fail "the default-named model is $(stat -c %a "$W/um/u.model.h5") under umask 002, not 664"
finish
