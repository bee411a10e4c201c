#!/usr/bin/env bash
# Cross-builds the C++ core's kernels for aarch64 (Debian's aarch64-linux-gnu-g++; no
# Python involved: CMake with PYFWD_PYTHON=OFF) and runs tests/cpp/kernel_tests under
# qemu-aarch64: the neon and generic levels against a naive double-precision loop.
#
#   apt-get install g++-aarch64-linux-gnu qemu-user     # Debian / Ubuntu
#   tools/cross_aarch64.sh [build-dir]                  # default: build/cross-aarch64
#
# Exit status: 0 all passed; 1 a test failed; 2 the build failed; 77 a tool is missing
# (the message names it; tests/test_cross_aarch64.py skips then).
# PYFWD_NATIVE=1 builds and runs the same driver natively instead (x86: avx512/avx2/generic,
# whichever this CPU supports), in build/native-kernel-tests by default.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

gen=()
if command -v ninja >/dev/null 2>&1; then gen=(-G Ninja); fi
command -v cmake >/dev/null 2>&1 || { echo "cross_aarch64: cmake not found" >&2; exit 77; }

if [[ "${PYFWD_NATIVE:-0}" == 1 ]]; then
  build=${1:-build/native-kernel-tests}
  cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPYFWD_PYTHON=OFF -DPYFWD_BUILD_TESTS=ON \
    -DPYFWD_BUILD_CPP=ON -DPYFWD_WERROR=ON >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 2; }
  cmake --build "$build" --target kernel_tests -j "${PYFWD_JOBS:-2}" || exit 2
  exec "$build/kernel_tests"
fi

cxx=${PYFWD_CROSS_CXX:-aarch64-linux-gnu-g++}
sysroot=${PYFWD_CROSS_SYSROOT:-/usr/aarch64-linux-gnu}
command -v "$cxx" >/dev/null 2>&1 ||
  { echo "cross_aarch64: $cxx not found (apt-get install g++-aarch64-linux-gnu)" >&2; exit 77; }
command -v qemu-aarch64 >/dev/null 2>&1 ||
  { echo "cross_aarch64: qemu-aarch64 not found (apt-get install qemu-user)" >&2; exit 77; }
[[ -d "$sysroot" ]] || { echo "cross_aarch64: no aarch64 sysroot at $sysroot" >&2; exit 77; }

build=${1:-build/cross-aarch64}
mkdir -p "$(dirname "$build")"
# CMAKE_SYSTEM_NAME makes it a cross build (no try-run of target binaries); the ISA
# levels follow the compiler's target (CMakeLists.txt), so this gets generic + neon.
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 -DCMAKE_CXX_COMPILER="$cxx" \
  -DPYFWD_PYTHON=OFF -DPYFWD_BUILD_TESTS=ON -DPYFWD_BUILD_CPP=ON -DPYFWD_WERROR=ON \
  >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 2; }
grep -q "pyfwd: ISA levels generic;neon" "$build.configure.log" ||
  { echo "cross_aarch64: expected the levels generic;neon:"; grep "ISA levels" "$build.configure.log"; exit 2; }
cmake --build "$build" --target kernel_tests -j "${PYFWD_JOBS:-2}" || exit 2
file "$build/kernel_tests" 2>/dev/null | grep -q "ARM aarch64" ||
  { echo "cross_aarch64: $build/kernel_tests is not an aarch64 binary"; exit 2; }
exec qemu-aarch64 -L "$sysroot" "$build/kernel_tests"
