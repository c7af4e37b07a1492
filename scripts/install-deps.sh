#!/usr/bin/env bash
# install-deps.sh: install the Debian 12 packages cxr needs, only those missing. Run as root.
#   scripts/install-deps.sh           build + test dependencies
#   scripts/install-deps.sh --run     only what building and running the tools needs (the main
#                                     job, scripts/run-sample.sh: no test's Python modules,
#                                     browser, clang or PyTorch)
#   scripts/install-deps.sh --bench   also the Python peers the benchmarks compare against, and
#                                     TensorFlow (tensorflow-cpu 2.21 from PyPI; Debian has none)
#                                     with onnx + onnxruntime (ctest export.onnxruntime; Debian has
#                                     no onnxruntime) in a venv at $CXR_BENCH_VENV
#                                     (default /opt/cxr/bench-venv)
# CUDA (nvcc, cuDNN under /usr/local/cuda) is optional and not installed here. OpenBLAS
# (libopenblas-dev) is needed only by a build without oneDNN (-DCXR_DNNL=OFF).
set -euo pipefail
pkgs=(build-essential cmake pkg-config libhdf5-dev hdf5-tools libzstd-dev libxxhash-dev libturbojpeg0-dev
      libdnnl-dev libcjson-dev zlib1g-dev)  # --run: these (hdf5-tools: the main job's h5dump)
[ "${1:-}" = "--run" ] || pkgs+=(
      python3 python3-numpy python3-h5py chromium
      locales                               # common.locale: de_DE made by localedef, not installed
      clang libclang-rt-14-dev libomp-dev   # these three: tests/fuzz (skipped without)
      python3-torch                         # tests/python's DataLoader test (skipped without)
      python3-pil)                          # preprocess.adobe_cmyk's reference (skipped without)
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(python3-skimage time python3-venv)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
bench_venv() { # TensorFlow for tests/bench/bench_train_cpu.sh (peer_tf_cpu.py), onnx +
  [ "${1:-}" = "--bench" ] || return 0   # onnxruntime for tests/export (export.onnxruntime)
  local v=${CXR_BENCH_VENV:-/opt/cxr/bench-venv}
  if [ -x "$v/bin/python" ] && "$v/bin/python" -c 'import tensorflow, onnx, onnxruntime' 2>/dev/null; then
    echo "install-deps: TensorFlow, onnx and onnxruntime present in $v"
    return 0
  fi
  echo "install-deps: tensorflow-cpu 2.21, onnx and onnxruntime into $v"
  python3 -m venv "$v"
  "$v/bin/pip" install -q 'tensorflow-cpu==2.21.*' 'onnx>=1.16' 'onnxruntime>=1.18'
}
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  bench_venv "${1:-}"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
# env after sudo: sudo clears the caller's environment, and apt must not stop at a prompt
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
bench_venv "${1:-}"
