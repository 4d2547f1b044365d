#!/usr/bin/env bash
# The README's first command. From any directory, with no arguments, on a fresh Debian 12 machine:
#
#   1. installs the missing Debian packages (scripts/setup-deps.sh),
#   2. builds the `recur` program in Release (only that target, two jobs),
#   3. trains an LSTM language model for 3 minutes of training time with the default recipe and
#      `--precision auto` (bfloat16 GEMM operands where the CPU multiplies them faster than float32),
#      on the file named by RECUR_DATA when set, else on ../shared/data/tinyshakespeare.txt
#      (beside the repository) when it exists, else on a corpus that recur generates itself, so
#      that the demo never lacks data; on the GPU when one is visible and usable, else on the CPU,
#   4. prints the validation loss, the path of the loss curve (loss.svg) and a 300-character
#      sample.
#
# Environment: RECUR_DATA (a text file), RECUR_DEMO_MINUTES (default 3), RECUR_DEMO_OUT (the run
# folder, default runs/demo-<timestamp>).
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"

minutes="${RECUR_DEMO_MINUTES:-3}"
run_dir="${RECUR_DEMO_OUT:-runs/demo-$(date +%Y%m%d-%H%M%S)}"

echo "== 1. packages"
bash scripts/setup-deps.sh

echo
echo "== 2. build (Release, the recur program only)"
gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then gpu=1; fi
if [ "$gpu" -eq 1 ]; then
  build_dir=build/release                # the release preset, with the CUDA backend when found
  cmake --preset release >/dev/null
else
  build_dir=build/demo                   # no GPU: skip the CUDA backend, the tests and benchmarks
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DRECUR_CUDA=OFF -DRECUR_BUILD_TESTS=OFF \
    -DRECUR_BUILD_BENCH=OFF >/dev/null
fi
build_start=$(date +%s)
cmake --build "$build_dir" -j 2 --target recur_cli
recur="$build_dir/examples/recur"
echo "built $recur in $(( $(date +%s) - build_start )) s"

echo
echo "== 3. data"
if [ -n "${RECUR_DATA:-}" ] && [ -f "$RECUR_DATA" ]; then
  data="$RECUR_DATA"
elif [ -f "$root/../shared/data/tinyshakespeare.txt" ]; then
  data="$root/../shared/data/tinyshakespeare.txt"
else
  data="$build_dir/generated_corpus.txt"
  [ -n "${RECUR_DATA:-}" ] && echo "RECUR_DATA=$RECUR_DATA is not a file: using a generated corpus instead"
  "$recur" corpus --out "$data" --chars 1000000
fi
echo "training on $data ($(wc -c <"$data") bytes)"

echo
device=cpu
if [ "$gpu" -eq 1 ] && "$recur" info | grep -q 'GPUs: *[1-9]'; then device=cuda; fi
echo "== 4. train an LSTM language model for $minutes minutes on the $device"
if ! "$recur" train --data "$data" --minutes "$minutes" --device "$device" --precision auto --out "$run_dir"; then
  if [ "$device" = cuda ]; then
    echo "training on the GPU failed: training on the CPU instead"
    device=cpu
    run_dir="$run_dir-cpu"
    "$recur" train --data "$data" --minutes "$minutes" --device cpu --precision auto --out "$run_dir"
  else
    exit 1
  fi
fi

echo
echo "== 5. results"
# The last row of metrics.csv holds the final validation loss (column 7, nats per char).
val_loss=$(awk -F, 'NR > 1 && $7 != "" { loss = $7 } END { print loss }' "$run_dir/metrics.csv")
echo "validation loss: $(printf '%.4f' "$val_loss") nats/char ($(awk -v l="$val_loss" 'BEGIN { printf "%.4f", l / log(2) }') bits/char)"
echo "loss curve:      $run_dir/loss.svg"
echo "checkpoint:      $run_dir/checkpoint (recur sample --checkpoint $run_dir)"
echo
echo "== a 300-character sample (recur sample --checkpoint $run_dir --length 300 --temperature 0.8)"
"$recur" sample --checkpoint "$run_dir" --length 300 --temperature 0.8 --seed 1 --device "$device"
