#!/usr/bin/env bash
# ab_pack.sh: two cxr-pack builds on the same input, runs alternated (A B A B ...), so that a
# change is judged by a ratio measured under the same machine state, and the stores compared
# byte for byte (a change meant to be output-neutral must print "stores identical").
#
# usage: tests/bench/ab_pack.sh PACK_A PACK_B SRC_DIR [RUNS] [-- extra cxr-pack options]
#   env: OUT_DIR (where the stores go, default /tmp; put it on the disk you care about)
# Prints per run: img/s (from cxr-pack's summary), wall and CPU seconds (user+sys), then means
# and the B/A ratio of the means.
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,9p "$0" >&2; exit 2; }
a=$1 b=$2 src=$3 runs=${4:-5}
shift $(( $# >= 4 ? 4 : 3 ))
[ "${1:-}" = -- ] && shift
out=${OUT_DIR:-/tmp}
tmp=$(mktemp -d "$out/cxr_ab.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
find -L "$src" -type f -exec cat {} + > /dev/null   # warm the page cache
one() { # tool tag run [options]
  local tool=$1 tag=$2 run=$3
  shift 3
  sync   # start every run with no dirty pages left by the previous one
  local rc=0
  /usr/bin/time -f "%e %U %S" -o "$tmp/t" "$tool" "$src" -o "$tmp/$tag.h5" --quiet "$@" \
    > "$tmp/o" 2> "$tmp/e" || rc=$?
  local ips; ips=$(sed -n 's/^time .*: \([0-9.]*\) img\/s.*/\1/p' "$tmp/o")
  if [ "$rc" -ne 0 ] || [ -z "$ips" ]; then # a failed run is no measurement: say why and stop
    echo "ab_pack: $tag run $run: $tool exited $rc$([ -z "$ips" ] && echo ", no summary line"):" >&2
    cat "$tmp/e" >&2
    exit 1
  fi
  read -r wall usr sys < <(tail -n 1 "$tmp/t")
  printf "%s run %d: %8.1f img/s  wall %5.2f s  cpu %5.2f s\n" "$tag" "$run" "$ips" "$wall" \
    "$(echo "$usr + $sys" | bc)"
  echo "$tag $ips $(echo "$usr + $sys" | bc)" >> "$tmp/all"
}
for ((r = 1; r <= runs; r++)); do
  one "$a" A "$r" "$@"
  cp "$tmp/A.h5" "$tmp/A.keep"
  one "$b" B "$r" "$@"
done
awk '{n[$1]++; ips[$1] += $2; cpu[$1] += $3}
     END {for (t in n) printf "%s mean: %8.1f img/s  cpu %5.2f s\n", t, ips[t]/n[t], cpu[t]/n[t];
          printf "B/A: %.3f img/s, %.3f cpu\n", (ips["B"]/n["B"])/(ips["A"]/n["A"]),
                 (cpu["B"]/n["B"])/(cpu["A"]/n["A"])}' "$tmp/all" | sort
if cmp -s "$tmp/A.keep" "$tmp/B.h5"; then echo "stores identical"; else echo "stores DIFFER"; fi
