#!/usr/bin/env bash
# dup_hash_ab.sh: the cost of cxr-pack's per-image hashes (duplicate detection, specs/store.md
# "Duplicates"): the same cxr-pack with --no-duplicate-check (A) and with its default hashing
# (B), runs alternated by ab_pack.sh, so B/A is measured under the same machine state.
#
# usage: tests/bench/dup_hash_ab.sh CXR_PACK SRC_DIR [RUNS] [-- extra cxr-pack options]
#   env: OUT_DIR as for ab_pack.sh. The stores differ (B holds the hashes): "stores DIFFER".
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,8p "$0" >&2; exit 2; }
pack=$(readlink -f "$1") src=$2 runs=${3:-5}
shift $(( $# >= 3 ? 3 : 2 ))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#!/bin/sh\nexec "%s" "$@" --no-duplicate-check\n' "$pack" > "$tmp/pack-nohash"
chmod +x "$tmp/pack-nohash"
echo "A: $pack --no-duplicate-check   B: $pack (hashes)   src: $src   $(grep -m1 'model name' /proc/cpuinfo)"
"$(dirname "$0")/ab_pack.sh" "$tmp/pack-nohash" "$pack" "$src" "$runs" "$@"
