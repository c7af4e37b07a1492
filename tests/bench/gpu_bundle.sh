#!/usr/bin/env bash
# gpu_bundle.sh: build the GPU bundle for the lent GPU machine (specs/gpu.md "Running on a GPU").
# Configures and builds the CUDA build in build-gpu, then packs with the device-bundle tool
# (/work/shared/tools/device-bundle) the tools (cxr-pack, cxr-train, cxr-eval), the GPU test
# binaries and the HDF5 zstd plugin into the git-ignored folder .bundle/ (bundle.tgz), and
# copies the chest_xray JPEGs beside it (.bundle/chest_xray) when the whole stays under the
# 64 MiB that travels, so the benchmark can pack them there.
#   tests/bench/gpu_bundle.sh            (from the repository root)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${BUILD:-build-gpu}
tool=${DEVICE_BUNDLE:-/work/shared/tools/device-bundle}
data=${CXR_DATA:-$root/../shared/data/chest_xray}
grep -qxF '/.bundle/' .git/info/exclude 2>/dev/null || echo '/.bundle/' >> .git/info/exclude
cmake -S . -B "$build" -DCXR_CUDA=ON > /dev/null
cmake --build "$build" -j2 --target cxr-pack cxr-train cxr-eval test_gpu_ops test_gpu_step \
  test_gpu_loader h5zzstd
rm -rf .bundle
mkdir -p .bundle
"$tool" .bundle "$build/tools/cxr-pack" "$build/tools/cxr-train" "$build/tools/cxr-eval" \
  "$build/tests/gpu/test_gpu_ops" "$build/tests/gpu/test_gpu_step" \
  "$build/tests/gpu/test_gpu_loader" "$build/plugins/libh5zzstd.so"
size=$(du -sm .bundle/bundle.tgz | cut -f1)
dsize=$( [ -d "$data" ] && du -sm "$data" | cut -f1 || echo 9999)
if [ $((size + dsize)) -lt 62 ]; then
  cp -r "$data" .bundle/chest_xray
  echo "gpu_bundle: copied $data ($dsize MiB) to .bundle/chest_xray"
else
  echo "gpu_bundle: data not copied (bundle $size MiB + data $dsize MiB >= 62 MiB); the benchmark needs CXR_DATA on the GPU machine"
fi
du -sh .bundle
