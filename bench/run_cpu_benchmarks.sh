#!/usr/bin/env bash
# The CPU numbers of bench/RESULTS.md, in one run:
#   0. the machine: CPU model and flags, load average, recur's GEMM provider and OpenBLAS kernel,
#      and the cores' float32 FMA peak on the threads used (fma_peak),
#   1. recur's language-model train step against PyTorch's (default threads, and at its best: the
#      fastest OpenBLAS kernel the CPU runs, found by bench/compare_pytorch.py), REPEAT times,
#   2. the GEMM shapes of that step and the SGEMM peak, the fused LSTM layer, the cell step,
#   3. oneDNN's own LSTM primitives at the same shape (the ceiling), when oneDNN is built,
#   4. where recur's step goes, op by op (recur bench train-step --profile),
#   5. oneDNN's matmul in float32 and with bfloat16 operands at the step's GEMM shapes.
# Other processes on the cores slow everything: the load average is printed before and after each
# part; measure on an idle machine, or repeat (REPEAT) and quote medians with the load.
# Usage: [REPEAT=3] [THREADS=$(nproc)] bench/run_cpu_benchmarks.sh [build dir, default build/release]
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
build="${1:-$root/build/release}"
threads="${THREADS:-$(nproc)}"
repeat="${REPEAT:-3}"
load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx2|fma|avx512f|avx512_bf16|amx_tile|amx_bf16|amx_int8' |
  tr '\n' ' ' || true)
echo "== $(date -u '+%F %H:%M UTC') $(lscpu | sed -n 's/^Model name: *//p') (model $(lscpu | sed -n 's/^Model: *//p')), $(nproc) cores, $threads threads, commit $(git -C "$root" rev-parse --short HEAD)"
echo "flags: $flags"
load
echo
echo "== recur info (as run, OpenBLAS left to detect the CPU)"
"$build/examples/recur" info | grep -E '^(BLAS|GEMM|threads):' || true
if [ -x "$build/bench/fma_peak" ]; then
  echo
  echo "== FMA peak, $threads threads (fma_peak)"
  "$build/bench/fma_peak" --threads "$threads"
  load
fi
echo
echo "== train step: recur vs PyTorch (bench/compare_pytorch.py --repeat $repeat)"
/usr/bin/python3 "$root/bench/compare_pytorch.py" --recur "$build/examples/recur" --threads "$threads" --repeat "$repeat"
echo
echo "== GEMM shapes, SGEMM peak, fused layer and cell step (bench_rnn)"
load
"$build/bench/bench_rnn" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
load
if [ -x "$build/bench/bench_onednn_lstm" ]; then
  echo
  echo "== oneDNN's LSTM primitives, 2 layers (bench_onednn_lstm)"
  "$build/bench/bench_onednn_lstm" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
  load
fi
echo
echo "== where the step goes (recur bench train-step --profile, $threads threads)"
"$build/examples/recur" bench train-step --threads "$threads" --profile
load
if [ -x "$build/bench/bench_matmul_precision" ]; then
  echo
  echo "== float32 against bfloat16 GEMM operands (bench_matmul_precision, $threads threads)"
  OMP_NUM_THREADS="$threads" "$build/bench/bench_matmul_precision"
  load
fi
