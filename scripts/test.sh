#!/usr/bin/env bash
# test.sh: the whole test suite, from a fresh Debian 12 machine (run as root).
# Installs missing packages, configures and builds into build/, then runs ctest.
# GPU tests (label "gpu") report themselves skipped when no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${CXR_CMAKE_ARGS:-}
cmake --build build -j"$jobs"
cd build
ctest --output-on-failure -j"$jobs" --timeout 600 "$@"
