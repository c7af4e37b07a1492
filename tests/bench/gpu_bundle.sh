#!/usr/bin/env bash
# gpu_bundle.sh: build the GPU bundle for the lent GPU machine (specs/gpu.md "Running on a GPU").
# Configures and builds the CUDA build in build-gpu, then packs with the device-bundle tool
# (/work/shared/tools/device-bundle) the tools (cxr-pack, -train, -eval, -predict, -report), the GPU test
# binaries and the HDF5 zstd plugin into the git-ignored folder .bundle/ (bundle.tgz), and
# copies the chest_xray JPEGs to the git-ignored build-bench-data/ (carried by its own call).
#   tests/bench/gpu_bundle.sh            (from the repository root)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${BUILD:-build-gpu}
tool=${DEVICE_BUNDLE:-/work/shared/tools/device-bundle}
data=${CXR_DATA:-$root/../shared/data/chest_xray}
if ! git check-ignore -q .bundle; then
  ex=$(git rev-parse --git-path info/exclude)
  mkdir -p "$(dirname "$ex")" && echo '/.bundle/' >> "$ex"
fi
cmake -S . -B "$build" -DCXR_CUDA=ON > /dev/null
cmake --build "$build" -j2 --target cxr-pack cxr-train cxr-eval cxr-predict cxr-report \
  test_gpu_ops test_gpu_step test_gpu_loader h5zzstd
rm -rf .bundle
mkdir -p .bundle
"$tool" .bundle "$build/tools/cxr-pack" "$build/tools/cxr-train" "$build/tools/cxr-eval" \
  "$build/tools/cxr-predict" "$build/tools/cxr-report" \
  "$build/tests/gpu/test_gpu_ops" "$build/tests/gpu/test_gpu_step" \
  "$build/tests/gpu/test_gpu_loader" "$build/plugins/libh5zzstd.so"
# The JPEGs (47 MiB) and the bundle (~21 MiB) together exceed the 64 MiB that one call can
# carry, so the data go to a git-ignored folder of their own, carried by a second call.
if [ -d "$data" ]; then
  rm -rf build-bench-data && mkdir -p build-bench-data && cp -r "$data" build-bench-data/chest_xray
  echo "gpu_bundle: $data -> build-bench-data/chest_xray ($(du -sm build-bench-data | cut -f1) MiB)"
else
  echo "gpu_bundle: no $data here; the benchmark then needs CXR_DATA on the GPU machine"
fi
du -sh .bundle build-bench-data 2>/dev/null || true
