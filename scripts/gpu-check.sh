#!/usr/bin/env bash
# Builds recur with the CUDA backend on a machine with a GPU and checks it there in one call of
# at most 10 minutes, unattended, each stage under its own time limit cut to the budget:
#
#   scripts/gpu-check.sh [options] [stage...]     stages run in this order, default: all
#
# stages:
#   probe      nvidia-smi, compilers, CMake, where cuDNN is (the nvidia-cudnn Python wheel, the
#              CUDA toolkit, /usr), the Debian libraries present and in .deps/ (no PyTorch import)
#   build      unpack .deps/*.deb into /tmp/deps, configure (Release, RECUR_CUDA=ON,
#              CMAKE_CUDA_ARCHITECTURES=90, CUDNN_ROOT=<wheel>) and build only what the later
#              stages run (recur, recur_tests, bench_cudnn_baseline) with all cores; recur info
#   cuda       recur_tests --gtest_filter='Cuda*:*_cuda' (every CUDA test, the PyTorch RNN
#              fixtures on the GPU)
#   gradcheck  recur gradcheck --compare cpu,cuda --dtype both for lstm, gru and rnn_tanh
#   gpu-tests  the ctest entries that use the GPU (cli.gradcheck.compare_cpu_cuda), then a short
#              `recur train --device cuda` run and `recur sample` from it; where Open MPI is
#              there, one rank under mpirun: the collectives on CUDA tensors (NCCL) and a
#              short training run on the GPU
#   bench      with the time left: for each configuration, recur bench train-step --device cuda,
#              bench_cudnn_baseline (cuDNN + cuBLAS alone) and PyTorch (bench/compare_pytorch_gpu.py);
#              the markdown table of the ratios for bench/RESULTS.md
#   all        all of the above
#
# options:
#   --budget S    seconds the whole call may take (default 520, which leaves a margin under a
#                 10-minute limit); each stage is cut to what is left, keeping time for the summary
#   --dry-run     print the plan (stages, time limits, commands) and run nothing
#   -h, --help    this text
#
# Output, in $OUT (or build/gpu/gpu-check-out when $OUT is unset), at most 7 files:
#   summary.txt   written first and after every stage: the machine, each stage's outcome, the
#                 test counts, the benchmark table; also printed at the end
#   build.log     probe and build      tests.log      the CUDA tests and the other GPU tests
#   gradcheck.log                      bench.log      the benchmark programs' own output
#   bench.jsonl   one JSON line per program and configuration
#   bench.md      the table for bench/RESULTS.md
# The exit status is 0 only when every stage asked for passed; a stage that fails or runs out of
# time is recorded and the script goes on.
#
# What has to travel with the source tree: the .deb files of the libraries such a machine may
# lack (OpenBLAS, fmt, nlohmann-json, CLI11, GoogleTest, Google Benchmark), which
# scripts/gpu-deps.sh downloads into .deps/ (git-ignored, about 14 MiB) on a Debian machine.
# They are unpacked into /tmp/deps, never into /. Typical use, from the repository root:
#
#   bash scripts/gpu-deps.sh                     # on the Debian machine, once
#   bash scripts/gpu-check.sh                    # on the GPU machine, with .deps/ beside it
#
# The build takes 45-60 s on 16 cores (an H200 machine, 2026-11-30) and 8-15 minutes on 2 (the
# longer with other builds running): pass a larger GPU_CHECK_TIMEOUT_BUILD and --budget there.
# bench gets what is left.
#
# Environment: GPU_CHECK_COMMIT (the commit to report; default: git describe of the tree),
# GPU_CHECK_BUILD_DIR (build/gpu), GPU_CHECK_DEPS_DIR (/tmp/deps), GPU_CHECK_JOBS
# (all cores), GPU_CHECK_CUDA_ARCH (90), GPU_CHECK_PYTHON (python3), GPU_CHECK_BENCH_STEPS (50),
# CUDNN_ROOT (found from the nvidia-cudnn wheel when unset), GPU_CHECK_TIMEOUT_<STAGE> (stage in
# capitals, '-' as '_'): caps in seconds on top of the budget (PROBE 30, BUILD 300, CUDA 150,
# GRADCHECK 60 a mode, GPU_TESTS 90, BENCH 60 a program and configuration).
set -uo pipefail

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

all_stages=(probe build cuda gradcheck gpu-tests bench)
budget=520
dry_run=0
declare -A wanted=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --budget)
      if [ $# -lt 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then
        echo "gpu-check.sh: --budget needs a number of seconds" >&2
        exit 2
      fi
      budget=$2
      shift
      ;;
    --budget=*)
      budget=${1#--budget=}
      [[ $budget =~ ^[0-9]+$ ]] || { echo "gpu-check.sh: --budget needs a number of seconds" >&2; exit 2; }
      ;;
    --dry-run) dry_run=1 ;;
    all) for s in "${all_stages[@]}"; do wanted[$s]=1; done ;;
    probe | build | cuda | gradcheck | gpu-tests | bench) wanted[$1]=1 ;;
    *) echo "gpu-check.sh: unknown stage or option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
if [ ${#wanted[@]} -eq 0 ]; then
  for s in "${all_stages[@]}"; do wanted[$s]=1; done
fi

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root" || exit 1
build_dir=${GPU_CHECK_BUILD_DIR:-$root/build/gpu}
deps_dir=${GPU_CHECK_DEPS_DIR:-/tmp/deps}
out_dir=${OUT:-$build_dir/gpu-check-out}
jobs=${GPU_CHECK_JOBS:-$(nproc)}
cuda_arch=${GPU_CHECK_CUDA_ARCH:-90}
python=${GPU_CHECK_PYTHON:-python3}
bench_steps=${GPU_CHECK_BENCH_STEPS:-50}
triplet=x86_64-linux-gnu
reserve=20 # seconds kept for the summary
mkdir -p "$build_dir" "$out_dir" || exit 1
state_file=$build_dir/gpu-check-state.txt
recur=$build_dir/examples/recur
baseline=$build_dir/bench/bench_cudnn_baseline
build_targets=(recur_cli recur_tests bench_cudnn_baseline)
cuda_filter='Cuda*:*_cuda'                           # the gtest names of every GPU test
gpu_ctest_regex='^cli\.gradcheck\.compare_cpu_cuda$' # the ctest entries that use the GPU

last=$build_dir/gpu-check-last.out # the output of the newest run_timed command

say() { echo "gpu-check: $*"; }
section() { printf '\n==== %s (%s)\n' "$1" "$(date -u '+%T UTC')"; }
min() { if [ "$1" -lt "$2" ]; then echo "$1"; else echo "$2"; fi; }

# stage_limit STAGE DEFAULT: the seconds a stage may use now (0 when the budget is spent).
stage_limit() {
  local name=${1^^} cap left
  local var="GPU_CHECK_TIMEOUT_${name//-/_}"
  cap=${!var:-$2}
  left=$(min "$cap" $((budget - SECONDS - reserve)))
  [ "$left" -lt 0 ] && left=0
  echo "$left"
}

# record STAGE STATUS SECONDS NOTE: remember a stage's outcome (the newest per stage is shown).
record() {
  local stage=$1 status=$2 secs=$3 note=$4
  if [ -f "$state_file" ]; then
    grep -v "^$stage	" "$state_file" >"$state_file.tmp"
    mv "$state_file.tmp" "$state_file"
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$stage" "$status" "$secs" "$(date -u '+%F %T')" "$note" >>"$state_file"
  say "$stage: $status ($secs s) $note"
  write_summary
}

# run_timed SECONDS LOG CMD...: run with a time limit, the output appended to LOG and kept alone
# in $last; returns the command's status (124 when it ran out of time).
run_timed() {
  local limit=$1 log=$2
  shift 2
  echo "\$ $*" >>"$log"
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$last" >>"$log"
  return "${PIPESTATUS[0]}"
}

status_of() { # exit status -> word
  case "$1" in
    0) echo ok ;;
    124 | 137) echo TIMEOUT ;;
    *) echo "FAILED($1)" ;;
  esac
}

# ---- the environment: cuDNN, the unpacked .debs, library paths -------------------------------
orig_ld_library_path=${LD_LIBRARY_PATH:-}
nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
cuda_home=/usr/local/cuda
[ -n "$nvcc" ] && cuda_home=$(dirname "$(dirname "$(readlink -f "$nvcc")")")

# The nvidia-cudnn wheel's folder (holds include/ and lib/), from the Python that has PyTorch.
find_cudnn_wheel() {
  "$python" - <<'EOF' 2>/dev/null
import importlib, os
try:
    m = importlib.import_module("nvidia.cudnn")
    paths = list(getattr(m, "__path__", [])) or [os.path.dirname(m.__file__)]
    print(paths[0])
except Exception:
    import site, glob
    dirs = site.getsitepackages() + [site.getusersitepackages()]
    for d in dirs:
        for lib in glob.glob(os.path.join(d, "nvidia", "*", "lib", "libcudnn.so*")):
            print(os.path.dirname(os.path.dirname(lib)))
            raise SystemExit
EOF
}
cudnn_source="CUDNN_ROOT"
if [ -z "${CUDNN_ROOT:-}" ]; then
  wheel=$(find_cudnn_wheel | head -n 1)
  if [ -n "$wheel" ] && compgen -G "$wheel/lib/libcudnn.so*" >/dev/null; then
    CUDNN_ROOT=$wheel
    cudnn_source="the nvidia-cudnn wheel"
  elif [ -f "$cuda_home/include/cudnn_version.h" ]; then
    CUDNN_ROOT=$cuda_home
    cudnn_source="the CUDA toolkit"
  elif [ -f /usr/include/cudnn_version.h ] || [ -f /usr/include/$triplet/cudnn_version.h ]; then
    CUDNN_ROOT=/usr
    cudnn_source="/usr"
  else
    CUDNN_ROOT=""
    cudnn_source="nowhere"
  fi
fi
cudnn_lib_dir=""
for d in "$CUDNN_ROOT/lib" "$CUDNN_ROOT/lib64" "$CUDNN_ROOT/lib/$triplet"; do
  if [ -n "$CUDNN_ROOT" ] && compgen -G "$d/libcudnn.so*" >/dev/null; then
    cudnn_lib_dir=$d
    break
  fi
done
cudnn_header=""
for f in "$CUDNN_ROOT/include/cudnn_version.h" "$cuda_home/include/cudnn_version.h" /usr/include/cudnn_version.h \
  "/usr/include/$triplet/cudnn_version.h"; do
  if [ -f "$f" ]; then
    cudnn_header=$f
    break
  fi
done
cudnn_version="unknown"
if [ -n "$cudnn_header" ]; then
  cudnn_version=$(awk '/define CUDNN_(MAJOR|MINOR|PATCHLEVEL) /{v = v (v ? "." : "") $3} END {print v}' "$cudnn_header")
fi

# Unpack .deps/*.deb into $deps_dir (again when a .deb is newer than the last unpacking).
unpack_deps() {
  local stamp=$deps_dir/.unpacked f
  compgen -G "$root/.deps/*.deb" >/dev/null || return 0
  if [ -f "$stamp" ] && [ -z "$(find "$root/.deps" -name '*.deb' -newer "$stamp")" ]; then
    return 0
  fi
  mkdir -p "$deps_dir"
  for f in "$root"/.deps/*.deb; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$f" "$deps_dir" || return 1
    else # no dpkg: a .deb is an ar archive holding data.tar.*
      local tmp
      tmp=$(mktemp -d) || return 1
      (cd "$tmp" && ar x "$f" && tar -xf data.tar.* -C "$deps_dir") || { rm -rf "$tmp"; return 1; }
      rm -rf "$tmp"
    fi
  done
  touch "$stamp"
}
have_deps=0
deps_note="no .deps/*.deb"
if compgen -G "$root/.deps/*.deb" >/dev/null; then
  if unpack_deps; then
    have_deps=1
    deps_note="$(find "$root/.deps" -name '*.deb' | wc -l) .deb files unpacked into $deps_dir"
  else
    deps_note="unpacking .deps/*.deb into $deps_dir FAILED"
  fi
fi

ld_paths=()
[ -n "$cudnn_lib_dir" ] && ld_paths+=("$cudnn_lib_dir")
[ -d "$cuda_home/lib64" ] && ld_paths+=("$cuda_home/lib64")
if [ "$have_deps" -eq 1 ]; then
  ld_paths+=("$deps_dir/usr/lib/$triplet/openblas-pthread" "$deps_dir/usr/lib/$triplet")
fi
recur_ld_library_path=$(IFS=:; echo "${ld_paths[*]}")${orig_ld_library_path:+:$orig_ld_library_path}
export LD_LIBRARY_PATH=$recur_ld_library_path
# PyTorch runs with the environment it came with (its own cuBLAS and cuDNN).
run_python() { LD_LIBRARY_PATH=$orig_ld_library_path "$python" "$@"; }

# A copy of the tree may carry a .git that is not its own: GPU_CHECK_COMMIT names the commit.
commit=${GPU_CHECK_COMMIT:-$(git -C "$root" describe --always --dirty 2>/dev/null || true)}
if [ -z "$commit" ] && [ -f "$root/.deps/SOURCE" ]; then
  commit="$(sed -n 's/^commit: //p' "$root/.deps/SOURCE") (per .deps/SOURCE)"
fi
if ! command -v nvidia-smi >/dev/null; then
  gpu_line="none: nvidia-smi not found"
else
  gpu_line=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
  [ -z "$gpu_line" ] && gpu_line="none: $(nvidia-smi -L 2>&1 | head -n 1)"
fi

# ---- the summary ------------------------------------------------------------------------------
write_summary() {
  {
    echo "recur gpu-check, $(date -u '+%F %T UTC'), commit ${commit:-unknown}, host $(hostname)"
    echo "GPU:     $gpu_line"
    echo "nvcc:    ${nvcc:-not found} $( [ -n "$nvcc" ] && "$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')"
    echo "c++:     $(c++ --version 2>/dev/null | head -n 1 || echo 'not found')"
    echo "cuDNN:   ${CUDNN_ROOT:-not found} (from $cudnn_source), headers ${cudnn_header:-not found} ($cudnn_version)"
    echo "deps:    $deps_note"
    echo "budget:  ${budget}s for this call; stages asked for: ${!wanted[*]}"
    echo
    echo "stage      status      seconds  finished (UTC)        note"
    if [ -f "$state_file" ]; then
      local s
      for s in "${all_stages[@]}"; do
        awk -F'\t' -v s="$s" '$1 == s {printf "%-10s %-11s %7s  %-20s  %s\n", $1, $2, $3, $4, $5}' "$state_file"
      done
    fi
    if [ -f "$build_dir/gpu-check-info.txt" ]; then
      echo
      echo "recur info:"
      sed 's/^/  /' "$build_dir/gpu-check-info.txt"
    fi
    if [ -f "$build_dir/gpu-check-tests.txt" ]; then
      echo
      cat "$build_dir/gpu-check-tests.txt"
    fi
    if [ -f "$build_dir/gpu-check-gradcheck.txt" ]; then
      echo
      cat "$build_dir/gpu-check-gradcheck.txt"
    fi
    if [ -f "$build_dir/gpu-check-bench.md" ]; then
      echo
      cat "$build_dir/gpu-check-bench.md"
    fi
  } >"$out_dir/summary.txt"
}

# ---- probe ------------------------------------------------------------------------------------
stage_probe() {
  local log=$out_dir/build.log start=$SECONDS limit
  limit=$(stage_limit probe 30)
  [ "$limit" -le 0 ] && { record probe SKIPPED 0 "no time left in this call's budget"; return 1; }
  {
    section probe
    echo "date: $(date -u)"
    echo "host: $(uname -a)"
    sed -n 's/^PRETTY_NAME=//p' /etc/os-release 2>/dev/null
    echo "cores: $(nproc); memory: $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB"}')"
    echo "commit: ${commit:-unknown}"
    echo
    timeout 30 nvidia-smi 2>&1 || echo "nvidia-smi failed or is missing"
    echo
    for tool in g++ c++ gcc cmake ninja make nvcc "$python" dpkg-deb ar compute-sanitizer ncu; do
      printf '%-18s %s\n' "$tool" "$(command -v "$tool" || echo 'not found')"
    done
    g++ --version 2>&1 | head -n 1
    cmake --version 2>&1 | head -n 1
    [ -n "$nvcc" ] && "$nvcc" --version 2>&1 | tail -n 2
    echo
    echo "cuDNN headers in the toolkit: $(find "$cuda_home/include" -maxdepth 1 -name 'cudnn*' 2>/dev/null | wc -l)"
    echo "cuDNN: CUDNN_ROOT=${CUDNN_ROOT:-none} (from $cudnn_source), lib dir ${cudnn_lib_dir:-none}, header ${cudnn_header:-none}, version $cudnn_version"
    if [ -n "$CUDNN_ROOT" ]; then
      find "$CUDNN_ROOT" -maxdepth 2 \( -name 'libcudnn*' -o -name 'cudnn*.h' \) 2>&1 | sort | head -n 40
    fi
    echo
    echo "python: $(command -v "$python" || echo 'not found') (PyTorch is imported only by the bench stage)"
    echo
    echo "ldconfig:"
    ldconfig -p 2>/dev/null | grep -E 'openblas|cudnn|libfmt|gtest|benchmark|gfortran|cublas' | head -n 30
    echo
    echo "headers on the system:"
    for h in cblas.h $triplet/openblas-pthread/cblas.h fmt/format.h nlohmann/json.hpp CLI/CLI.hpp gtest/gtest.h \
      gmock/gmock.h benchmark/benchmark.h; do
      printf '  %-40s %s\n' "$h" "$( [ -f "/usr/include/$h" ] && echo present || echo missing)"
    done
    echo ".deps: $(find "$root/.deps" -name '*.deb' 2>/dev/null | wc -l) .deb files; $deps_note"
    [ -f "$root/.deps/SOURCE" ] && cat "$root/.deps/SOURCE"
    echo "LD_LIBRARY_PATH for recur: $LD_LIBRARY_PATH"
  } >>"$log" 2>&1
  record probe ok $((SECONDS - start)) "see build.log"
}

# ---- build ------------------------------------------------------------------------------------
stage_build() {
  local log=$out_dir/build.log start=$SECONDS limit status generator=() args=() cxx
  limit=$(stage_limit build 300)
  [ "$limit" -le 0 ] && { record build SKIPPED 0 "no time left in this call's budget"; return 1; }
  section build >>"$log"
  cxx=$(command -v g++ || command -v c++ || true)
  if [ -z "$cxx" ]; then
    record build FAILED $((SECONDS - start)) "no C++ compiler (g++) on this machine"
    return 1
  fi
  if [ -z "$nvcc" ]; then
    record build FAILED $((SECONDS - start)) "nvcc not found (PATH, /usr/local/cuda/bin)"
    return 1
  fi
  if [ -z "$cudnn_lib_dir" ]; then
    echo "warning: no libcudnn found (CUDNN_ROOT='$CUDNN_ROOT'); configuring fails with RECUR_CUDA=ON" >>"$log"
  fi
  if [ ! -f "$build_dir/CMakeCache.txt" ] && command -v ninja >/dev/null; then
    generator=(-G Ninja)
  fi
  args=(-S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DRECUR_CUDA=ON
    -DCMAKE_CUDA_ARCHITECTURES="$cuda_arch" -DCMAKE_CUDA_COMPILER="$nvcc" -DCUDNN_ROOT="$CUDNN_ROOT"
    -DRECUR_BUILD_TESTS=ON -DRECUR_BUILD_BENCH=ON)
  if [ "$have_deps" -eq 1 ]; then
    args+=(-DCMAKE_PREFIX_PATH="$deps_dir/usr"
      -DCMAKE_LIBRARY_PATH="$deps_dir/usr/lib/$triplet/openblas-pthread;$deps_dir/usr/lib/$triplet")
  fi
  run_timed "$(min "$limit" 240)" "$log" cmake "${args[@]}"
  status=$?
  if [ "$status" -ne 0 ]; then
    record build "$(status_of "$status")" $((SECONDS - start)) \
      "configure failed: $(grep -m1 -A2 -E 'CMake Error|FATAL' "$last" | tr -s ' \n' ' ' | cut -c1-200)"
    return 1
  fi
  limit=$(stage_limit build $((300 - (SECONDS - start))))
  if [ "$limit" -le 0 ]; then
    record build TIMEOUT $((SECONDS - start)) "configured; no time left to build in this call's budget"
    return 1
  fi
  # With Open MPI on this machine, the collectives' test too (the GPU stage runs it under mpirun).
  if grep -q '#define RECUR_HAVE_MPI 1' "$build_dir/generated/recur/config.h" 2>/dev/null; then
    build_targets+=(recur_mpi_tests)
  fi
  run_timed "$limit" "$log" cmake --build "$build_dir" -j "$jobs" --target "${build_targets[@]}"
  status=$?
  if [ "$status" -ne 0 ]; then
    local why
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
      why="ran out of time after ${limit}s; the next call's build goes on where it stopped"
    else
      why="$(grep -m1 -E 'error:|error |Error |FAILED:' "$last" | cut -c1-200)"
    fi
    record build "$(status_of "$status")" $((SECONDS - start)) "$why"
    return 1
  fi
  {
    section "recur info"
    timeout 60 "$recur" info
  } >>"$log" 2>&1
  timeout 60 "$recur" info >"$build_dir/gpu-check-info.txt" 2>&1
  record build ok $((SECONDS - start)) "$(grep -m1 '^GPUs:' "$build_dir/gpu-check-info.txt" | tr -s ' ' || echo 'recur info failed')"
}

# "; no usable GPU: <why>" when recur info said so (appended to the notes of failed stages).
no_gpu_note() {
  local line
  line=$(grep -m1 '^GPUs: *none' "$build_dir/gpu-check-info.txt" 2>/dev/null |
    sed -E 's/^GPUs: *none *//; s/^\((.*)\)$/\1/')
  [ -n "$line" ] && echo "; no usable GPU: $line"
}

need_build() { # STAGE: fail the stage when the build is missing
  if [ ! -x "$recur" ]; then
    record "$1" SKIPPED 0 "recur is not built in $build_dir: run the build stage first"
    return 1
  fi
}

# ---- cuda: every CUDA test of recur_tests --------------------------------------------------------
# gtest_counts LOG: "P passed, F failed, S skipped" from a gtest run's output.
gtest_counts() {
  local passed skipped failed
  passed=$(grep -m1 -oE '\[  PASSED  \] [0-9]+' "$1" | grep -oE '[0-9]+$')
  skipped=$(grep -m1 -oE '\[  SKIPPED \] [0-9]+' "$1" | grep -oE '[0-9]+$')
  failed=$(grep -m1 -oE '[0-9]+ FAILED TESTS?' "$1" | grep -oE '^[0-9]+')
  echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
}

stage_cuda() {
  local log=$out_dir/tests.log start=$SECONDS limit status counts note
  need_build cuda || return 1
  limit=$(stage_limit cuda 150)
  [ "$limit" -le 5 ] && { record cuda SKIPPED 0 "no time left in this call's budget"; return 1; }
  section "recur_tests --gtest_filter='$cuda_filter'" >>"$log"
  run_timed "$limit" "$log" "$build_dir/tests/recur_tests" --gtest_filter="$cuda_filter"
  status=$?
  counts=$(gtest_counts "$last")
  note="$counts (exit $status)"
  {
    echo "tests: $note"
    grep -E '^\[  FAILED  \] [A-Za-z][^ ]*( \(|$|,)' "$last" | sed 's/ (.*//; s/,.*//' | sort -u | head -n 30 | sed 's/^\[  FAILED  \] /  failed: /'
    if grep -q ': Skipped$' "$last"; then # gtest prints the reason on the next line
      echo "  skip reason: $(grep -m1 -A1 ': Skipped$' "$last" | tail -n 1 | cut -c1-160)"
    fi
  } >"$build_dir/gpu-check-tests.txt"
  if [ "$status" -eq 0 ] && [[ $counts == *"0 skipped" ]]; then
    record cuda ok $((SECONDS - start)) "$note"
  elif [ "$status" -eq 0 ]; then
    # Everything that ran passed, but GPU tests were skipped: not a pass on a GPU machine.
    record cuda NO_GPU $((SECONDS - start)) "GPU tests were skipped; $note$(no_gpu_note)"
    return 1
  else
    record cuda "$(status_of "$status")" $((SECONDS - start)) "$note; see tests.log"
    return 1
  fi
}

# ---- gpu-tests: the ctest entries that use the GPU, and a short training run ------------------
stage_gpu_tests() {
  local log=$out_dir/tests.log start=$SECONDS limit status failed=0 notes=() run_dir
  need_build gpu-tests || return 1
  limit=$(stage_limit gpu-tests 90)
  [ "$limit" -le 5 ] && { record gpu-tests SKIPPED 0 "no time left in this call's budget"; return 1; }
  section "ctest -R '$gpu_ctest_regex'" >>"$log"
  run_timed "$limit" "$log" ctest --test-dir "$build_dir" -R "$gpu_ctest_regex" --output-on-failure --timeout "$limit"
  status=$?
  local summary
  summary=$(grep -E '[0-9]+% tests passed' "$last" | tail -n 1)
  notes+=("ctest: ${summary:-no summary};")
  [ "$status" -ne 0 ] && failed=1

  run_dir=$build_dir/gpu-check-train
  rm -rf "$run_dir"
  limit=$(stage_limit gpu-tests 90)
  if [ "$limit" -le 5 ]; then
    notes+=("train: not run (no time left)")
    failed=1
  else
    section "recur train --device cuda, then recur sample" >>"$log"
    # Any text does for a smoke run; the README travels with the source tree.
    if run_timed "$limit" "$log" "$recur" train --data "$root/README.md" --device cuda --out "$run_dir" \
      --hidden 128 --layers 2 --batch 16 --bptt 32 --steps 60 --eval-every 30 --log-every 10 &&
      run_timed 30 "$log" "$recur" sample --checkpoint "$run_dir" --device cuda --length 200; then
      notes+=("train+sample on cuda: ok")
    else
      notes+=("train+sample on cuda: FAILED")
      failed=1
    fi
  fi
  # Data parallelism on the GPU (docs/DISTRIBUTED.md): one rank under mpirun, its collectives on
  # CUDA tensors (NCCL where the build has it) and a short `recur train --device cuda`.
  local mpirun_bin mpi_tests=$build_dir/tests/mpi/recur_mpi_tests
  mpirun_bin=$(command -v mpirun || true)
  if [ -z "$mpirun_bin" ] || [ ! -x "$mpi_tests" ]; then
    notes+=("mpirun: not checked (no mpirun on this machine, or a build without MPI)")
  else
    limit=$(stage_limit gpu-tests 60)
    section "mpirun -np 1: collectives on cuda, recur train --device cuda" >>"$log"
    if [ "$limit" -gt 5 ] &&
      OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 run_timed "$limit" "$log" "$mpirun_bin" -np 1 \
        "$mpi_tests" --gtest_filter='Distributed.*Cuda*' &&
      OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 run_timed "$limit" "$log" "$mpirun_bin" -np 1 \
        "$recur" train --data "$root/README.md" --device cuda --out "$run_dir-mpi" --hidden 64 --batch 8 \
        --bptt 16 --steps 20 --eval-every 10; then
      notes+=("mpirun -np 1 on cuda: ok")
    else
      notes+=("mpirun -np 1 on cuda: FAILED")
      failed=1
    fi
  fi
  echo "gpu-tests: ${notes[*]}" >>"$build_dir/gpu-check-tests.txt"
  if [ "$failed" -eq 0 ]; then
    record gpu-tests ok $((SECONDS - start)) "${notes[*]}"
  else
    record gpu-tests FAILED $((SECONDS - start)) "${notes[*]}; see tests.log$(no_gpu_note)"
    return 1
  fi
}

# ---- gradcheck --------------------------------------------------------------------------------
stage_gradcheck() {
  local log=$out_dir/gradcheck.log start=$SECONDS limit status mode failed=0 summary_file
  summary_file=$build_dir/gpu-check-gradcheck.txt
  need_build gradcheck || return 1
  : >"$summary_file"
  if ! "$recur" gradcheck --help >/dev/null 2>&1; then
    echo "gradcheck: this recur has no 'gradcheck' subcommand" >"$summary_file"
    "$recur" gradcheck --help >>"$log" 2>&1
    record gradcheck FAILED $((SECONDS - start)) "recur has no 'gradcheck' subcommand in this build"
    return 1
  fi
  for mode in lstm gru rnn_tanh; do
    limit=$(stage_limit gradcheck 60)
    if [ "$limit" -le 5 ]; then
      echo "gradcheck $mode: not run (no time left in this call's budget)" >>"$summary_file"
      failed=1
      continue
    fi
    section "gradcheck $mode" >>"$log"
    run_timed "$limit" "$log" "$recur" gradcheck --compare cpu,cuda --mode "$mode" --dtype both
    status=$?
    [ "$status" -ne 0 ] && failed=1
    {
      echo "gradcheck $mode: $(status_of "$status")"
      tail -n 3 "$last" | sed 's/^/  /'
    } >>"$summary_file"
  done
  if [ "$failed" -eq 0 ]; then
    record gradcheck ok $((SECONDS - start)) "lstm, gru, rnn_tanh: CPU and CUDA agree (gradcheck.log)"
  else
    record gradcheck FAILED $((SECONDS - start)) \
      "$(grep -v '^ ' "$summary_file" | tr '\n' ' ' | cut -c1-200)$(no_gpu_note)"
    return 1
  fi
}

# ---- bench ------------------------------------------------------------------------------------
# name mode input hidden layers batch seq vocab (vocab 0: the RNN alone, no embedding or head)
bench_configs=(
  "reference lstm 64 256 2 32 64 65"     # recur bench train-step's defaults (the CPU reference)
  "large lstm 1024 1024 2 64 128 65"     # a larger language model
  "deepbench-512 lstm 512 512 1 64 25 0" # DeepBench's LSTM training shapes
  "deepbench-1024 lstm 1024 1024 1 64 25 0"
)

stage_bench() {
  local log=$out_dir/bench.log jsonl=$out_dir/bench.jsonl start=$SECONDS limit status failed=0 line
  need_build bench || return 1
  : >"$jsonl"
  local cfg name mode in hid lay bat seq voc shape recur_vocab json
  for cfg in "${bench_configs[@]}"; do
    read -r name mode in hid lay bat seq voc <<<"$cfg"
    shape=(--mode "$mode" --embedding "$in" --hidden "$hid" --layers "$lay" --batch "$bat" --bptt "$seq")
    # recur's whole train step; a head-less configuration runs with --vocab-size 0 where recur
    # accepts it, else with a one-word vocabulary (PyTorch then runs the same step).
    limit=$(stage_limit bench 60)
    [ "$limit" -le 5 ] && { failed=1; echo "$name: no time left" >>"$log"; continue; }
    section "$name: recur bench train-step --device cuda" >>"$log"
    recur_vocab=$voc
    json=$(timeout --kill-after=10 "$limit" "$recur" bench train-step --device cuda "${shape[@]}" --vocab-size "$voc" \
      --steps "$bench_steps" --untimed-steps 10 --clip 0 --json 2>>"$log" | tail -n 1)
    if [ -z "$json" ] && [ "$voc" -eq 0 ]; then
      echo "(recur did not run with --vocab-size 0: measuring with --vocab-size 1)" >>"$log"
      recur_vocab=1
      limit=$(stage_limit bench 60)
      json=$(timeout --kill-after=10 "$limit" "$recur" bench train-step --device cuda "${shape[@]}" --vocab-size 1 \
        --steps "$bench_steps" --untimed-steps 10 --clip 0 --json 2>>"$log" | tail -n 1)
    fi
    if [[ $json == "{"* ]]; then
      echo "$json" >>"$log"
      echo "{\"config\": \"$name\", \"config_vocab\": $voc, ${json#\{}" >>"$jsonl"
    else
      failed=1
      echo "$name: recur failed" >>"$log"
    fi

    section "$name: bench_cudnn_baseline" >>"$log"
    limit=$(stage_limit bench 60)
    if [ ! -x "$baseline" ]; then
      echo "bench_cudnn_baseline is not built" >>"$log"
      failed=1
    elif json=$(timeout --kill-after=10 "$limit" "$baseline" --name "$name" "${shape[@]}" --vocab-size "$voc" \
      --runs "$bench_steps" --untimed-steps 10 2>>"$log" | tail -n 1) && [[ $json == "{"* ]]; then
      echo "$json" | tee -a "$log" >>"$jsonl"
    else
      failed=1
      echo "$name: bench_cudnn_baseline failed" >>"$log"
    fi

    section "$name: PyTorch (bench/compare_pytorch_gpu.py, vocab $recur_vocab)" >>"$log"
    limit=$(stage_limit bench 90)
    if json=$(LD_LIBRARY_PATH=$orig_ld_library_path timeout --kill-after=10 "$limit" "$python" \
      "$root/bench/compare_pytorch_gpu.py" --name "$name" "${shape[@]}" --vocab-size "$recur_vocab" \
      --steps "$bench_steps" --untimed-steps 10 2>>"$log" | tail -n 1) && [[ $json == "{"* ]]; then
      echo "$json" | tee -a "$log" >>"$jsonl"
    else
      failed=1
      echo "$name: PyTorch failed" >>"$log"
    fi
  done

  section "table" >>"$log"
  local gpu
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
  line="$(grep -c . "$jsonl") of $((3 * ${#bench_configs[@]})) runs measured (bench.jsonl)"
  if run_python "$root/bench/compare_pytorch_gpu.py" --table "$jsonl" --commit "${commit:-unknown}" \
    --machine "${gpu:-unknown GPU}" >"$out_dir/bench.md" 2>>"$log"; then
    cp "$out_dir/bench.md" "$build_dir/gpu-check-bench.md"
    line="$line; table in bench.md"
  else
    failed=1
    rm -f "$out_dir/bench.md" "$build_dir/gpu-check-bench.md"
    echo "no table: nothing was measured" >>"$log"
  fi
  if [ "$failed" -eq 0 ]; then
    record bench ok $((SECONDS - start)) "$line"
  else
    record bench FAILED $((SECONDS - start)) "$line; see bench.log$(no_gpu_note)"
    return 1
  fi
}

# ---- dry run: the plan --------------------------------------------------------------------------
print_plan() {
  local s
  echo "gpu-check plan: budget ${budget}s (${reserve}s kept for the summary), build folder $build_dir, output $out_dir"
  echo "cuDNN: ${CUDNN_ROOT:-not found} (from $cudnn_source), version $cudnn_version; nvcc: ${nvcc:-not found}; $deps_note"
  for s in "${all_stages[@]}"; do
    [ -n "${wanted[$s]:-}" ] || continue
    case "$s" in
      probe) echo "probe      cap $(stage_limit probe 30)s: nvidia-smi, tools, cuDNN, libraries (build.log)" ;;
      build) echo "build      cap $(stage_limit build 300)s: cmake -DRECUR_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=$cuda_arch; cmake --build --target ${build_targets[*]} -j $jobs" ;;
      cuda) echo "cuda       cap $(stage_limit cuda 150)s: recur_tests --gtest_filter='$cuda_filter'" ;;
      gradcheck) echo "gradcheck  cap $(stage_limit gradcheck 60)s a mode: recur gradcheck --compare cpu,cuda --mode {lstm,gru,rnn_tanh} --dtype both" ;;
      gpu-tests) echo "gpu-tests  cap $(stage_limit gpu-tests 90)s: ctest -R '$gpu_ctest_regex'; recur train --device cuda (60 steps); recur sample --device cuda; with Open MPI: mpirun -np 1 (collectives on cuda, 20 training steps)" ;;
      bench) echo "bench      the time left, at most $(stage_limit bench 60)s a program: ${#bench_configs[@]} configurations x (recur, bench_cudnn_baseline, PyTorch)" ;;
    esac
  done
}

# ---- main -------------------------------------------------------------------------------------
if [ "$dry_run" -eq 1 ]; then
  print_plan
  exit 0
fi
say "stages: $(for s in "${all_stages[@]}"; do [ -n "${wanted[$s]:-}" ] && printf '%s ' "$s"; done)(budget ${budget}s, output in $out_dir)"
say "cuDNN ${CUDNN_ROOT:-not found} ($cudnn_source); $deps_note"
write_summary
exit_status=0
for s in "${all_stages[@]}"; do
  [ -n "${wanted[$s]:-}" ] || continue
  case "$s" in
    probe) stage_probe ;;
    build) stage_build ;;
    cuda) stage_cuda ;;
    gradcheck) stage_gradcheck ;;
    gpu-tests) stage_gpu_tests ;;
    bench) stage_bench ;;
  esac || exit_status=1
done
write_summary
echo
cat "$out_dir/summary.txt"
exit "$exit_status"
