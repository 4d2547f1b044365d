#!/bin/bash
# float32 against bfloat16 GEMM operands in a training step, alternated so that a machine whose
# load changes slows both alike:
#   bench/run_precision_ab.sh [RECUR] [PAIRS] [THREADS...]
# runs `RECUR --threads N bench train-step --precision f32` and `... --precision bf16` (the default
# recipe: LSTM I=64 H=256 L=2 B=32 T=64 V=65) PAIRS times each, alternating, for each thread count
# (default: build/release/examples/recur, 7 pairs, 1 and 2 threads), with OMP_WAIT_POLICY=passive
# (waiting threads sleep: on a loaded machine spinning ones distort the step), and prints every
# run's median ms/step, the medians, and the median of the pairs' bf16/f32 time ratios.
set -euo pipefail
recur=${1:-build/release/examples/recur}
pairs=${2:-7}
shift $(($# < 2 ? $# : 2))
thread_counts=("$@")
[ ${#thread_counts[@]} -eq 0 ] && thread_counts=(1 2)

ms_per_step() { python3 -c 'import json, sys; print(json.load(sys.stdin)["ms_per_step"])'; }

"$recur" info | grep -E '^(CPU ISA|CPU flags|bfloat16 GEMM):'
grep -m1 'model name' /proc/cpuinfo
for threads in "${thread_counts[@]}"; do
  f32=() bf16=()
  for ((i = 0; i < pairs; ++i)); do
    for precision in f32 bf16; do
      ms=$(OMP_WAIT_POLICY=passive "$recur" --threads "$threads" bench train-step --precision $precision --json |
        ms_per_step)
      if [ $precision = f32 ]; then f32+=("$ms"); else bf16+=("$ms"); fi
    done
  done
  python3 - "$threads" "${f32[*]}" "${bf16[*]}" <<'EOF'
import statistics, sys
threads, f32, bf16 = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
print(f"{threads} threads, f32  ms/step: " + " ".join(f"{x:.1f}" for x in f32))
print(f"{threads} threads, bf16 ms/step: " + " ".join(f"{x:.1f}" for x in bf16))
ratio = statistics.median(b / f for f, b in zip(f32, bf16))
print(f"{threads} threads: median f32 {statistics.median(f32):.1f} ms, bf16 {statistics.median(bf16):.1f} ms; "
      f"median bf16/f32 time of the pairs {ratio:.2f} (bf16 runs at {1 / ratio:.2f}x the speed of f32)")
EOF
  uptime
done
