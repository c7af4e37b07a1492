#!/usr/bin/env bash
# device_bundle.sh: build here what tests/gpu/device_run.sh needs on a lent GPU machine, into
# the git-ignored folder .devrun/ that the device call carries (specs/gpu.md "Running on a GPU"):
#   .devrun/bundle.txz   cxr-pack, cxr-train, cxr-eval, the GPU test programs, bench_peak (the
#                        host CPU's measured fp32/bf16 peak, for the record), the CUDA module
#                        libcxr_cuda.so (and test_gpu_loader_nowait's libcxr_cuda_nowait.so)
#                        beside them in bin/, where the programs look for it first, and the
#                        HDF5 zstd plugin, with the shared libraries a bare GPU machine lacks
#                        (packed by the device-bundle tool, then recompressed with xz)
#   .devrun/chest_xray/  the real dataset's JPEGs (../shared/data/chest_xray, 38 MB)
# and check that the tree plus .devrun stay under the 64 MiB one call may carry.
#
#   tests/gpu/device_bundle.sh        (from the repository root; BUILD=build-gpu by default)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${BUILD:-build-gpu}
shared=$root/../shared
[ -d "$shared/tools" ] || shared=/work/shared # a helper's worktree sits one level deeper
tool=${DEVICE_BUNDLE:-$shared/tools/device-bundle}
data=${CXR_DATA:-$shared/data/chest_xray}
limit=$((64 * 1024 * 1024))
git check-ignore -q .devrun/bundle.txz || { echo "device_bundle: .devrun/ is not git-ignored" >&2; exit 2; }
[ -x "$tool" ] || { echo "device_bundle: no device-bundle tool at $tool (DEVICE_BUNDLE=...)" >&2; exit 2; }
[ -d "$data/train" ] || { echo "device_bundle: no dataset at $data (CXR_DATA=...)" >&2; exit 2; }

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCXR_CUDA=ON > /dev/null
nice -n 10 cmake --build "$build" -j2 --target cxr-pack cxr-train cxr-eval test_gpu_ops \
    test_gpu_step test_gpu_loader test_gpu_loader_nowait h5zzstd cxr_cuda cxr_cuda_nowait bench_peak
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
"$tool" "$stage" "$build/tools/cxr-pack" "$build/tools/cxr-train" "$build/tools/cxr-eval" \
    "$build/tests/gpu/test_gpu_ops" "$build/tests/gpu/test_gpu_step" \
    "$build/tests/gpu/test_gpu_loader" "$build/tests/gpu/test_gpu_loader_nowait" \
    "$build/tests/train/bench_peak" "$build/tools/libcxr_cuda.so" "$build/tests/gpu/libcxr_cuda_nowait.so" \
    "$build/plugins/libh5zzstd.so"
mkdir -p "$stage/x"
tar xzf "$stage/bundle.tgz" -C "$stage/x"
[ -d .devrun ] && chmod -R u+w .devrun
rm -rf .devrun
mkdir -p .devrun
XZ_OPT="-6 -T2" tar cJf .devrun/bundle.txz -C "$stage/x" .
cp -r "$data" .devrun/chest_xray

# what one call carries: the working tree (tracked + untracked-not-ignored files) and .devrun
tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) |
    xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
bundle=$(stat -c %s .devrun/bundle.txz)
jpegs=$(find .devrun/chest_xray -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
total=$((tree + bundle + jpegs))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
echo "device_bundle: tree $(mib "$tree") + bundle $(mib "$bundle") + JPEGs $(mib "$jpegs")" \
     "= $(mib "$total") of the $(mib "$limit") one call carries"
[ "$total" -le "$limit" ] || { echo "device_bundle: over the limit" >&2; exit 1; }
echo "device_bundle: now run, with carry [\".devrun\"] and timeout_s 600: bash tests/gpu/device_run.sh"
