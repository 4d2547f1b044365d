#!/usr/bin/env bash
# Installs the Debian 12 packages recur builds and tests with, and only those that are missing.
# Safe to run again: with everything present it changes nothing and downloads nothing.
# Arguments name further packages that one use needs (scripts/test.sh --slow: valgrind).
set -euo pipefail

packages=(
  cmake g++ make            # toolchain (g++ ships libgomp, OpenMP's runtime)
  libopenblas-dev           # BLAS
  libdnnl-dev               # oneDNN's GEMM (optional at configure time, installed here)
  libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev # tests
  libbenchmark-dev          # bench/
  libopenmpi-dev openmpi-bin  # data-parallel training (mpirun -np N recur train), its tests
  clang libclang-rt-14-dev libomp-dev  # scripts/fuzz.sh: libFuzzer, and clang's OpenMP runtime
  python3
  "$@"
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$package")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup-deps: installed ${missing[*]}"
