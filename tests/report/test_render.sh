#!/bin/sh
# test_render: headless Chromium renders the report of the fixture logs to a PNG; the PNG must
# be 1200x3000 (read from its IHDR header) and much larger than the PNG of a blank page of the
# same size (a blank page compresses to a few KB; charts, tables and text do not).
# Exits 77 (skipped) only when chromium is not installed.
# usage: test_render.sh CXR_REPORT FIXTURE_DIR WORK_DIR
set -u
tool=$1 fx=$2 work=$3/render
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "chromium not installed: skipped"
    exit 77
fi
rm -rf "$work" && mkdir -p "$work" || exit 1
"$tool" "$fx/cpu2_3ep.jsonl" "$fx/gpu2_bench.jsonl" "$fx/k3_3ep.jsonl" \
    --samples "$fx/samples_gpu.jsonl" -o "$work/report.html" || { echo "cxr-report failed"; exit 1; }
printf '<!DOCTYPE html><html><body></body></html>\n' > "$work/blank.html"
shot() { # html png
    timeout 90 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$work/profile" --window-size=1200,3000 --screenshot="$2" \
        "file://$1" >"$work/chromium.log" 2>&1
}
shot "$work/report.html" "$work/report.png"
shot "$work/blank.html" "$work/blank.png"
for f in report blank; do
    [ -s "$work/$f.png" ] || { echo "no $f.png; chromium said:"; tail -5 "$work/chromium.log"; exit 1; }
done
# PNG: 8-byte signature, IHDR length+type (8 bytes), then width and height big-endian
dims=$(od -An -tu1 -j16 -N8 "$work/report.png" | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}')
sig=$(od -An -c -j1 -N3 "$work/report.png" | tr -d ' ')
size=$(wc -c < "$work/report.png")
blank=$(wc -c < "$work/blank.png")
echo "report.png: signature $sig, ${dims}, $size bytes; blank page: $blank bytes"
[ "$sig" = "PNG" ] || { echo "not a PNG"; exit 1; }
[ "$dims" = "1200x3000" ] || { echo "unexpected size $dims"; exit 1; }
[ "$size" -gt $((blank * 10)) ] && [ "$size" -gt 100000 ] || { echo "report.png looks blank"; exit 1; }
echo "report.render: ok"
