#!/usr/bin/env bash
# Shows recur working, from any directory: installs missing Debian packages, builds the
# `release` preset's programs, prints `recur info`, then trains a small network on XOR with
# recur's autograd (examples/xor.cpp).
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

bash scripts/setup-deps.sh
cmake --preset release
cmake --build --preset release -j "$(nproc)" --target recur_cli recur_example_xor

echo
echo "== recur info"
build/release/examples/recur info

echo
echo "== a two-layer perceptron learns XOR (examples/xor.cpp)"
build/release/examples/recur_example_xor
