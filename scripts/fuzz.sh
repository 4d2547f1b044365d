#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, the `fuzz` preset: clang with ASan, UBSan and
# coverage, in build/fuzz) and runs each for SECONDS (default 60), two at a time, from its
# committed seeds (tests/fuzz/corpus/<name>) and past crashes (tests/fuzz/regressions/<name>).
# New inputs go to build/fuzz/corpus/<name>, so the repository's corpus stays small; a crash
# leaves its input in build/fuzz/crashes/<name>/ (commit it to tests/fuzz/regressions/<name>/ with
# the fix, and the normal test suite replays it). Prints one line per target: executions, coverage
# (libFuzzer's cov: and ft:), corpus size, and PASS or CRASH; exits non-zero on any crash.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: safetensors rnn_case vocab checkpoint rnn_options tf_checkpoint
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
seconds=${1:-60}
shift || true
all_targets=(safetensors rnn_case vocab checkpoint rnn_options tf_checkpoint)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2; }

command -v clang++ >/dev/null || bash scripts/setup-deps.sh
mkdir -p build
cmake --preset fuzz >build/fuzz-configure.log 2>&1 || { cat build/fuzz-configure.log; exit 1; }
cmake --build --preset fuzz -j "$(nproc)"

out=build/fuzz/runs
mkdir -p "$out"
run_one() {
  local name=$1
  local corpus=build/fuzz/corpus/$name crashes=build/fuzz/crashes/$name
  mkdir -p "$corpus" "$crashes"
  local seeds=(tests/fuzz/corpus/"$name")
  [ -d tests/fuzz/regressions/"$name" ] && seeds+=(tests/fuzz/regressions/"$name")
  # One thread per run (two run at a time); no leak check at exit of the whole run, per input instead.
  OMP_NUM_THREADS=1 RECUR_GEMM=openblas OPENBLAS_NUM_THREADS=1 \
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    build/fuzz/tests/fuzz/fuzz_"$name" "$corpus" "${seeds[@]}" -max_total_time="$seconds" -timeout=20 \
    -rss_limit_mb=3072 -malloc_limit_mb=2048 -max_len=8192 -dict=tests/fuzz/json.dict -print_final_stats=1 \
    -artifact_prefix="$crashes/" >"$out/$name.log" 2>&1
}

status=0
pids=()
names=()
for name in "${targets[@]}"; do
  run_one "$name" &
  pids+=($!)
  names+=("$name")
  if [ ${#pids[@]} -eq 2 ]; then
    wait "${pids[0]}" || true
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || true; done

printf '%-12s %12s %8s %8s %8s  %s\n' target executions cov ft corpus result
for name in "${targets[@]}"; do
  log=$out/$name.log
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -n 1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
  cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.*corp: \([0-9]*\).*/\1/p' <<<"$last")
  if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|property violated|deadly signal|terminate called' "$log" ||
    ! grep -q 'stat::number_of_executed_units' "$log"; then
    result="CRASH (see $log and build/fuzz/crashes/$name/)"
    status=1
  else
    result=PASS
  fi
  printf '%-12s %12s %8s %8s %8s  %s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit $status
