#!/usr/bin/env bash
# bench_pack.sh: cxr-pack throughput against two Python peers (not a ctest).
#
# Packs /work/shared/data/chest_xray_fullres (120 full-size X-rays in class folders; a temporary
# train/test tree of symlinks is built for it, every 5th file to test) and
# /work/shared/data/chest_xray (5840 224x224 images) with cxr-pack, then the same inputs with
# peer_skimage.py (the study's pipeline) and peer_pil.py (tuned PIL + Pool(2)) when their
# packages import. Prints img/s, MB/s of JPEG input, compression ratio and peak RSS
# (/usr/bin/time -v, Debian package 'time'), and a table of ratios to cxr-pack.
#
# usage: tests/bench/bench_pack.sh [BUILD_DIR] [DATA_DIR]
#   env: THREADS (cxr-pack --threads, default: all cores), SKIP_SKIMAGE=1 (the slow peer),
#        DATASETS="fullres chest_xray" (subset), LEVEL (cxr-pack --level, default the tool's),
#        RUNS (default 3: cxr-pack and the PIL peer alternate RUNS times; skimage runs once),
#        EQUALIZE (cxr-pack --equalize, default global: the peers' whole-image equalization, so
#        that both sides do the same work; clahe, the tool's default for folders, costs ~1.3x)
# The machine's cores are shared: compare the ratios measured within one run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
data=${2:-/work/shared/data}
pack=$build/tools/cxr-pack
py=/usr/bin/python3; [ -x $py ] || py=python3
[ -x "$pack" ] || { echo "bench_pack: $pack not built" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_pack: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/cxr_bench_pack.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export HDF5_PLUGIN_PATH=$build/plugins

# fullres: class folders only -> SRC/{train,test}/<class> of symlinks
fr=$tmp/fullres
for cdir in "$data"/chest_xray_fullres/*/; do
  c=$(basename "$cdir")
  mkdir -p "$fr/train/$c" "$fr/test/$c"
  i=0
  for f in $(ls "$cdir" | LC_ALL=C sort); do
    if (( i % 5 == 4 )); then s=test; else s=train; fi
    ln -s "$cdir$f" "$fr/$s/$c/$f"; i=$((i+1))
  done
done

rss_mb() { awk -F: '/Maximum resident/ {printf "%.0f", $2/1024}' "$1"; }
# CPU seconds (user + sys) per image in ms: steadier than img/s when others share the cores
cpu_ms() { awk -F': ' -v n="$2" '/User time|System time/ {t += $2} END {printf "%.2f", 1000*t/n}' "$1"; }
printf "machine: %s, %s cores (%s), load before: %s\n" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" "$(nproc)" "$(uname -m)" "$(cut -d' ' -f1-3 /proc/loadavg)"
declare -A R
runs=${RUNS:-3}
# one contender, one run: prints its output, records "img/s MB/s ratio RSS wall cpu_ms" in R
run_cxr() { # ds src run
  local args=("$2" -o "$tmp/cxr.h5" --quiet --equalize "${EQUALIZE:-global}")
  [ -n "${THREADS:-}" ] && args+=(--threads "$THREADS")
  [ -n "${LEVEL:-}" ] && args+=(--level "$LEVEL")
  echo "\$ cxr-pack ${args[*]}"
  /usr/bin/time -v "$pack" "${args[@]}" > "$tmp/out.txt" 2> "$tmp/time.txt"
  cat "$tmp/out.txt"
  local ips mbs ratio
  ips=$(sed -n 's/^time .*: \([0-9.]*\) img\/s, \([0-9.]*\) MB\/s.*/\1/p' "$tmp/out.txt")
  mbs=$(sed -n 's/^time .*: \([0-9.]*\) img\/s, \([0-9.]*\) MB\/s.*/\2/p' "$tmp/out.txt")
  ratio=$(sed -n 's/.*ratio \([0-9.]*\).*/\1/p' "$tmp/out.txt")
  R[$1,cxr,$3]="$ips $mbs $ratio $(rss_mb "$tmp/time.txt") $(awk -F': ' '/Elapsed/ {print $2}' "$tmp/time.txt") $(cpu_ms "$tmp/time.txt" $n)"
  rm -f "$tmp/cxr.h5"
  sync   # the next contender starts with no dirty pages of this one
}
run_peer() { # peer ds src run
  local mods; mods=$([ "$1" = skimage ] && echo "skimage,h5py" || echo "PIL,h5py")
  if ! $py -c "import $mods" 2>/dev/null; then echo "peer_$1: $mods not importable, skipped"; return; fi
  echo "\$ $py peer_$1.py $3 $tmp/$1.h5"
  /usr/bin/time -v $py "$here/peer_$1.py" "$3" "$tmp/$1.h5" > "$tmp/out.txt" 2> "$tmp/time.txt"
  cat "$tmp/out.txt"
  local ips mbs stored
  ips=$(sed -n 's/.*: \([0-9.]*\) img\/s, \([0-9.]*\) MB\/s.*/\1/p' "$tmp/out.txt")
  mbs=$(sed -n 's/.*: \([0-9.]*\) img\/s, \([0-9.]*\) MB\/s.*/\2/p' "$tmp/out.txt")
  stored=$(stat -c %s "$tmp/$1.h5")
  R[$2,$1,$4]="$ips $mbs $(awk -v n=$n -v s=$stored 'BEGIN{printf "%.2f", n*256*256*4/s}') $(rss_mb "$tmp/time.txt") $(awk -F': ' '/Elapsed/ {print $2}' "$tmp/time.txt") $(cpu_ms "$tmp/time.txt" $n)"
  rm -f "$tmp/$1.h5"
  sync
}
for ds in ${DATASETS:-fullres chest_xray}; do
  if [ "$ds" = fullres ]; then src=$fr; else src=$data/chest_xray; fi
  n=$(find -L "$src" -type f \( -iname '*.jpg' -o -iname '*.jpeg' \) | wc -l)
  mb=$(du -sLb "$src" | awk '{printf "%.1f", $1/1e6}')
  echo "== $ds: $n images, $mb MB of JPEG"
  cat "$src"/*/*/* > /dev/null  # warm the page cache for every contender
  # cxr-pack and the tuned peer alternate, RUNS times each; the slow skimage peer runs once
  for ((r = 1; r <= runs; r++)); do
    echo "-- run $r of $runs"
    run_cxr "$ds" "$src" "$r"
    run_peer pil "$ds" "$src" "$r"
    if [ "$r" = 1 ] && [ "${SKIP_SKIMAGE:-0}" != 1 ]; then run_peer skimage "$ds" "$src" "$r"; fi
  done
done

# the median run of each contender (by img/s), and the range over its runs
median_run() { # ds tool -> run number
  for ((r = 1; r <= runs; r++)); do
    if [ -n "${R[$1,$2,$r]:-}" ]; then echo "${R[$1,$2,$r]%% *} $r"; fi
  done | sort -g | awk '{a[NR] = $2} END {if (NR) print a[int((NR + 1) / 2)]}'
}
range() { # ds tool
  for ((r = 1; r <= runs; r++)); do if [ -n "${R[$1,$2,$r]:-}" ]; then echo "${R[$1,$2,$r]%% *}"; fi; done |
    sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {if (NR > 1) printf "%s-%s", lo, hi; else if (NR) print lo}'
}
echo
echo "median of $runs runs (skimage: 1 run); range = img/s over the runs"
printf "%-11s %-8s %10s %16s %8s %7s %8s %9s %12s %10s\n" dataset tool img/s range MB/s ratio RSS_MB wall "cxr speedup" cpu_ms/img
for ds in ${DATASETS:-fullres chest_xray}; do
  cm=$(median_run "$ds" cxr)
  read -r cips _ <<< "${R[$ds,cxr,$cm]}"
  for t in cxr skimage pil; do
    m=$(median_run "$ds" "$t")
    [ -n "$m" ] || continue
    read -r ips mbs ratio rss wall cpu <<< "${R[$ds,$t,$m]}"
    sp=$(awk -v a="$cips" -v b="$ips" 'BEGIN{ if (b>0) printf "%.2fx", a/b; else print "-" }')
    printf "%-11s %-8s %10s %16s %8s %7s %8s %9s %12s %10s\n" "$ds" "$t" "$ips" "$(range "$ds" "$t")" "$mbs" "$ratio" "$rss" "$wall" "$sp" "$cpu"
  done
done
echo "(ratio = float32 bytes / stored bytes; the peers store uncompressed float32; cpu_ms/img ="
echo " user+sys CPU per image, whole process tree; cxr speedup = median cxr img/s / median peer img/s)"
