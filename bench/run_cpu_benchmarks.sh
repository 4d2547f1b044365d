#!/usr/bin/env bash
# The CPU numbers of bench/RESULTS.md, in one run on an otherwise idle machine:
#   1. recur's language-model train step against PyTorch's (default threads and at its best),
#   2. the GEMM shapes of that step and the SGEMM peak, the fused LSTM layer, the cell step,
#   3. oneDNN's own LSTM primitives at the same shape (the ceiling), when oneDNN is built.
# Usage: bench/run_cpu_benchmarks.sh [build dir, default build/release]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
build="${1:-$root/build/release}"
threads=$(nproc)
echo "== $(date -u +%F) $(lscpu | sed -n 's/^Model name: *//p'), $threads cores, commit $(git -C "$root" rev-parse --short HEAD)"
echo
echo "== train step: recur vs PyTorch (bench/compare_pytorch.py)"
/usr/bin/python3 "$root/bench/compare_pytorch.py" --recur "$build/examples/recur" --threads "$threads"
echo
echo "== GEMM shapes, SGEMM peak, fused layer and cell step (bench_rnn)"
"$build/bench/bench_rnn" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
if [ -x "$build/bench/bench_onednn_lstm" ]; then
  echo
  echo "== oneDNN's LSTM primitives, 2 layers (bench_onednn_lstm)"
  "$build/bench/bench_onednn_lstm" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
fi
