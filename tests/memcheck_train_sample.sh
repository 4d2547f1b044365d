#!/usr/bin/env bash
# Valgrind memcheck of a short `recur train` (20 steps of a tiny LSTM, 2 threads) and of
# `recur sample` from its checkpoint: no invalid access, no use of uninitialised values, no
# definite leak (docs/FUZZING.md). A ctest test with label `slow` (scripts/test.sh --slow).
#   memcheck_train_sample.sh <recur program> <scratch dir> <suppressions file>
# Exits 77 (ctest: skipped) when valgrind is not installed.
#
# The program must be built without AVX-512 (the `memcheck` preset: -march=x86-64-v3), which
# valgrind does not run. Under valgrind the CPUID it reports has AVX2 and no AVX-512, so
# OpenBLAS picks its Haswell kernels and oneDNN its AVX2 ones (ONEDNN_MAX_CPU_ISA=AVX2 says so
# whatever valgrind reports). Training runs once with each GEMM provider (oneDNN's only where
# it was built); sampling with OpenBLAS's.
set -euo pipefail
recur=$1
work=$2
suppressions=$3
command -v valgrind >/dev/null || { echo "memcheck: valgrind is not installed (scripts/test.sh --slow installs it)"; exit 77; }
rm -rf "$work"
mkdir -p "$work"

memcheck() {
  local name=$1
  shift
  local start=$SECONDS status=0
  valgrind --tool=memcheck --error-exitcode=99 --leak-check=full --show-leak-kinds=definite \
    --errors-for-leak-kinds=definite --num-callers=40 --suppressions="$suppressions" \
    --log-file="$work/$name.valgrind.log" "$recur" "$@" >"$work/$name.out" 2>&1 || status=$?
  echo "memcheck: recur $name: exit status $status in $((SECONDS - start)) s; $(grep -E 'ERROR SUMMARY' "$work/$name.valgrind.log" | sed 's/^==[0-9]*== //')"
  if [ "$status" -ne 0 ]; then
    cat "$work/$name.out"
    cat "$work/$name.valgrind.log"
    exit 1
  fi
}

export ONEDNN_MAX_CPU_ISA=AVX2
"$recur" corpus --out "$work/corpus.txt" --chars 20000 >/dev/null
train=(train --data "$work/corpus.txt" --steps 20 --hidden 16 --layers 1 --embedding 8 --batch 4 --bptt 16
  --eval-batch 4 --threads 2 --progress plain)
if env -u RECUR_GEMM "$recur" info | grep -Eq '^GEMM: +onednn'; then
  RECUR_GEMM=onednn memcheck train_onednn "${train[@]}" --out "$work/run_onednn"
fi
export RECUR_GEMM=openblas
memcheck train "${train[@]}" --out "$work/run"
memcheck sample sample --checkpoint "$work/run" --prompt "The " --length 40 --seed 1 --threads 2
echo "memcheck: no errors"
