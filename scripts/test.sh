#!/usr/bin/env bash
# Builds recur and runs every test, from any directory:
#   1. installs missing Debian packages (scripts/setup-deps.sh),
#   2. configures and builds the `release` preset (build/release),
#   3. runs the test suite with ctest (two tests at a time, each with OMP_NUM_THREADS=2),
#   4. installs into build/release/install-test and builds and runs tests/consumer against it,
#      the way an outside project uses find_package(recur).
# Prints "N passed, N failed" last (the ctest tests plus the consumer) and exits non-zero on
# any failure.
#
#   scripts/test.sh          release build
#   scripts/test.sh --asan   AddressSanitizer + UndefinedBehaviorSanitizer build (build/asan),
#                            CPU only; skips the installed-consumer check
#   scripts/test.sh --tsan   ThreadSanitizer build (build/tsan, clang and LLVM's OpenMP with its
#                            Archer tool): only the tests of the threaded CPU paths
#   scripts/test.sh --slow   the tests labelled `slow` (valgrind memcheck of recur train and
#                            sample) in the `memcheck` build (build/memcheck); installs valgrind
#                            when it is missing
# The slow tests run only with --slow. docs/FUZZING.md says what --tsan and --slow check.
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

preset=release
for arg in "$@"; do
  case "$arg" in
    --asan) preset=asan ;;
    --tsan) preset=tsan ;;
    --slow) preset=memcheck ;;
    -h | --help) usage; exit 0 ;;
    *) echo "test.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
build_dir=build/$preset
jobs=$(nproc)

if [ "$preset" = memcheck ]; then
  bash scripts/setup-deps.sh valgrind
else
  bash scripts/setup-deps.sh
fi

trap 'echo "test.sh: the build failed (see above)"; echo "0 passed, 1 failed"' ERR
cmake --preset "$preset"
cmake --build --preset "$preset" -j "$jobs"
trap - ERR

# ---- the test suite --------------------------------------------------------------------------
ctest_log=$build_dir/ctest.log
set +e
ctest_filter=(-LE slow)
[ "$preset" = memcheck ] && ctest_filter=()  # the preset selects the slow tests
ctest --preset "$preset" --output-on-failure -j 2 "${ctest_filter[@]}" 2>&1 | tee "$ctest_log"
ctest_status=${PIPESTATUS[0]}
set -e

summary=$(grep -E '[0-9]+ tests failed out of [0-9]+' "$ctest_log" | tail -n 1 || true)
if [[ $summary =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
  failed=${BASH_REMATCH[1]}
  passed=$((BASH_REMATCH[2] - failed))
else
  echo "test.sh: ctest printed no summary (exit status $ctest_status)"
  passed=0
  failed=1
fi
if [ "$ctest_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "test.sh: ctest exited with status $ctest_status"
  failed=1
fi

# ---- an outside project against the installed package ---------------------------------------
if [ "$preset" = release ]; then
  echo
  echo "== consumer: cmake --install, then find_package(recur) from tests/consumer, and the installed recur info"
  prefix=$PWD/$build_dir/install-test
  consumer_dir=$build_dir/consumer
  rm -rf "$prefix" "$consumer_dir"
  if cmake --install "$build_dir" --prefix "$prefix" >"$build_dir/install-test.log" &&
    cmake -S tests/consumer -B "$consumer_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$consumer_dir" -j "$jobs" &&
    "$consumer_dir/recur_consumer" &&
    "$prefix/bin/recur" info; then
    echo "consumer: passed"
    passed=$((passed + 1))
  else
    echo "consumer: FAILED"
    failed=$((failed + 1))
  fi
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
