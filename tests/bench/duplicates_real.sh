#!/usr/bin/env bash
# duplicates_real.sh: cxr-pack's duplicate report on the shared real data (the Kaggle chest X-ray
# set, and the 120 full-size X-rays packed as one train split), as committed in
# tests/bench/results/duplicates_chest_xray.txt.
#
# usage: tests/bench/duplicates_real.sh BUILD_DIR [DATA_DIR]   (DATA_DIR default ../shared/data)
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,7p "$0" >&2; exit 2; }
pack=$(readlink -f "$1/tools/cxr-pack") data=$(readlink -f "${2:-$(dirname "$0")/../../../shared/data}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
echo "# cxr-pack $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo '?')"
one() { # name src [options]
  local name=$1 src=$2
  shift 2
  echo
  echo "## $name"
  echo "\$ cxr-pack $src -o $name.h5 --quiet --duplicates-report $name.tsv $*"
  "$pack" "$src" -o "$tmp/$name.h5" --quiet --duplicates-report "$tmp/$name.tsv" "$@" \
    2> "$tmp/err" > "$tmp/out"
  grep -v '^cxr-pack: skip' "$tmp/err" || true
  echo "skip lines: $(grep -c '^cxr-pack: skip' "$tmp/err" || true)"
  grep -E '^(split|train|val|test|skipped|time)' "$tmp/out"
  echo "report ($name.tsv): $(($(wc -l < "$tmp/$name.tsv") - 1)) members"
  # one line per group (members in plan order; [other bytes]: not byte-identical to the first)
  awk -F'\t' -v pat="$tmp/pat" 'NR > 1 {
         if ($1 != h) { if (line) { print line; n[p]++ }; h = $1; f = $2; line = " "; p = "" }
         line = line " " $3 ":" $4 ($2 != f ? " [other bytes]" : "") ($5 == "dropped" ? " (dropped)" : "")
         p = p " " $3 }
       END { if (line) { print line; n[p]++ }; for (q in n) print "groups of" q ": " n[q] > pat }' \
    "$tmp/$name.tsv" > "$tmp/groups"
  sort "$tmp/pat" 2>/dev/null || true
  rm -f "$tmp/pat"
  echo "groups:"
  cat "$tmp/groups"
}
one chest_xray "$data/chest_xray"
one chest_xray_drop "$data/chest_xray" --drop-duplicates
one chest_xray_val "$data/chest_xray" --val-fraction 0.1
mkdir -p "$tmp/fullres/train" "$tmp/fullres/test/NORMAL"
for c in NORMAL PNEUMONIA; do ln -s "$data/chest_xray_fullres/$c" "$tmp/fullres/train/$c"; done
one chest_xray_fullres "$tmp/fullres"
