#!/bin/bash
# float32 against bfloat16 GEMM operands in a training step, alternated so that a machine whose
# load changes slows both alike:
#   bench/run_precision_ab.sh [RECUR] [PAIRS] [THREADS...]
# runs `RECUR --threads N bench train-step --precision f32` and `... --precision bf16` (the default
# recipe: LSTM I=64 H=256 L=2 B=32 T=64 V=65) PAIRS times each, alternating, for each thread count
# (default: build/release/examples/recur, 7 pairs, 1 and 2 threads), with OMP_WAIT_POLICY=passive
# unless the environment sets it (waiting threads sleep: on a loaded machine spinning ones distort
# the step; on an idle one, OMP_WAIT_POLICY=active is the default's behaviour), and prints every
# run's median ms/step, the medians, the median of the pairs' bf16/f32 time ratios, and each
# precision's GFLOP/s as a share of the float32 FMA peak and the bfloat16 dot-product peak that
# bench/fma_peak (beside RECUR's build) measures in the same run, before and after.
set -euo pipefail
recur=${1:-build/release/examples/recur}
pairs=${2:-7}
shift $(($# < 2 ? $# : 2))
thread_counts=("$@")
[ ${#thread_counts[@]} -eq 0 ] && thread_counts=(1 2)

# "ms/step GFLOP/step" of a run's JSON.
step_numbers() { python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["ms_per_step"], j["gflop_per_step"])'; }
wait_policy=${OMP_WAIT_POLICY:-passive}
fma_peak="$(dirname "$recur")/../bench/fma_peak"
# The peaks on every thread of the largest thread count: "f32 GFLOP/s bf16 GFLOP/s" (0 where absent).
peaks() {
  local threads=$1 f32=0 bf16=0
  if [ -x "$fma_peak" ]; then
    f32=$("$fma_peak" --threads "$threads" --repetitions 3 --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["gflops_median"])')
    bf16=$("$fma_peak" --threads "$threads" --repetitions 3 --isa avx512_bf16 --json 2>/dev/null |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["gflops_median"])' 2>/dev/null || echo 0)
  fi
  echo "$f32 $bf16"
}

"$recur" info | grep -E '^(CPU ISA|CPU flags|bfloat16 GEMM):'
grep -m1 'model name' /proc/cpuinfo
for threads in "${thread_counts[@]}"; do
  read -r peak_f32 peak_bf16 < <(peaks "$threads")
  echo "$threads threads: FMA peak $peak_f32 GFLOP/s, bfloat16 dot-product peak $peak_bf16 GFLOP/s (bench/fma_peak, before)"
  f32=() bf16=()
  for ((i = 0; i < pairs; ++i)); do
    for precision in f32 bf16; do
      read -r ms gflop_per_step < <(OMP_WAIT_POLICY=$wait_policy "$recur" --threads "$threads" bench train-step \
        --precision $precision --json | step_numbers)
      if [ $precision = f32 ]; then f32+=("$ms"); else bf16+=("$ms"); fi
    done
  done
  read -r after_f32 after_bf16 < <(peaks "$threads")
  echo "$threads threads: FMA peak $after_f32 GFLOP/s, bfloat16 dot-product peak $after_bf16 GFLOP/s (after)"
  python3 - "$threads" "${f32[*]}" "${bf16[*]}" "$peak_f32 $after_f32" "$peak_bf16 $after_bf16" "$gflop_per_step" <<'EOF'
import statistics, sys
threads, f32, bf16 = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
peak_f32, peak_bf16 = (statistics.mean(float(x) for x in a.split()) for a in sys.argv[4:6])
GFLOP_PER_STEP = float(sys.argv[6])  # recur bench train-step --json: gflop_per_step
print(f"{threads} threads, f32  ms/step: " + " ".join(f"{x:.1f}" for x in f32))
print(f"{threads} threads, bf16 ms/step: " + " ".join(f"{x:.1f}" for x in bf16))
ratio = statistics.median(b / f for f, b in zip(f32, bf16))
print(f"{threads} threads: median f32 {statistics.median(f32):.1f} ms, bf16 {statistics.median(bf16):.1f} ms; "
      f"median bf16/f32 time of the pairs {ratio:.2f} (bf16 runs at {1 / ratio:.2f}x the speed of f32)")
for name, ms in (("f32", statistics.median(f32)), ("bf16", statistics.median(bf16))):
    gflops = GFLOP_PER_STEP / ms * 1e3
    shares = "".join(f", {100 * gflops / peak:.0f}% of the {what} peak" for what, peak in
                     (("FMA", peak_f32), ("bfloat16 dot-product", peak_bf16)) if peak > 0)
    print(f"{threads} threads, {name}: {gflops:.1f} GFLOP/s{shares}")
EOF
  uptime
done
