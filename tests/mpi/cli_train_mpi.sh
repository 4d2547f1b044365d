#!/usr/bin/env bash
# `mpirun -np 2 recur train` end to end (docs/DISTRIBUTED.md). Run by ctest (tests/mpi/):
#
#   cli_train_mpi.sh RECUR MPIRUN WORK CASE
#
#   equivalence    2 ranks with 4 of the 8 streams each against 1 process with 8: the losses of
#                  the first 20 steps within 1e-5 (relative), the final validation loss within 2e-3
#   awd            the same with AWD-LSTM's dropouts and penalties: each rank drops its rows of the
#                  whole batch's locked masks (--dropout-i, --dropout-h, --dropout-o), and every rank
#                  the same elements of W_hh (--wdrop) and the same words (--dropout-e)
#   repeatable     two identical 2-rank runs: the same metrics (clock columns aside) and weights,
#                  byte for byte
#   resume         stopped at step 10 and resumed on 2 ranks: bit-identical to the straight 2-rank
#                  run; the same checkpoint resumed by 1 process ends within 2e-3 of it
#   ntasgd_jitter  NT-ASGD and --bptt-jitter, stopped before the trigger and resumed on 2 ranks:
#                  the straight run's metrics, averaged weights and optimizer state, byte for byte
#   rank_fails     rank 1's data file is missing: the job ends non-zero with rank 1's message
#   batch_refused  --batch 5 on 2 ranks: refused, non-zero
#   sigterm        SIGTERM to mpirun, then to every rank: one complete checkpoint, every rank
#                  exits 0 (with the first, mpirun itself reports 1: it was asked to end the job)
set -u
recur=$1 mpirun=$2 work=$3 case=$4
rm -rf "$work" && mkdir -p "$work" || exit 1

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
show() { sed 's/^/  | /' "$1" >&2; }

"$recur" corpus --out "$work/corpus.txt" --chars 20000 >/dev/null || fail "recur corpus"
data=(--data "$work/corpus.txt")
model=(--mode lstm --layers 2 --hidden 32 --embedding 16 --dropout 0.1 --batch 8 --bptt 16 --eval-batch 8
  --eval-bptt 64 --log-every 1 --seed 3 --progress plain)
np2=("$mpirun" --oversubscribe -np 2)

# Runs `recur train ARGS...` on 2 ranks (or 1 process with np=1), output in $1.log; status in $code.
train() {
  local name=$1
  shift
  if [ "${np:-2}" = 1 ]; then
    "$recur" --threads 1 train "$@" >"$work/$name.log" 2>&1
  else
    "${np2[@]}" "$recur" train "$@" >"$work/$name.log" 2>&1
  fi
  code=$?
}
must_train() {
  train "$@"
  [ "$code" = 0 ] || { show "$work/$1.log"; fail "$1 exited with $code"; }
}
# metrics.csv without its clock columns, elapsed_s and tokens_per_s.
losses() { cut -d, -f1-3,5-7,9 "$1/metrics.csv"; }
val_loss() { sed -n 's/.*validation loss \([0-9.]*\) nats.*/\1/p' "$1" | tail -n 1; }
# $1 and $2 within $3 (absolute).
close() { python3 -c "import sys; a, b, t = map(float, sys.argv[1:]); sys.exit(0 if abs(a - b) <= t else 1)" "$@"; }

[ "$case" = awd ] && model+=(--dropout-h 0.3 --wdrop 0.4 --dropout-i 0.3 --dropout-o 0.3 --dropout-e 0.1 --ar 1 --tar 1)
case $case in
  equivalence | awd)
    np=1 must_train one "${model[@]}" "${data[@]}" --eval-every 10 --steps 20 --out "$work/one"
    must_train two "${model[@]}" "${data[@]}" --eval-every 10 --steps 20 --out "$work/two"
    grep -q "data parallel: MPI" "$work/two.log" || { show "$work/two.log"; fail "no data-parallel line"; }
    python3 - "$work/one/metrics.csv" "$work/two/metrics.csv" <<'PY' || fail "the losses differ"
import csv, sys
one, two = ([r for r in csv.DictReader(open(p)) if r["train_loss"]] for p in sys.argv[1:])
assert len(one) == len(two) >= 20, (len(one), len(two))
worst = max(abs(float(a["train_loss"]) - float(b["train_loss"])) / abs(float(a["train_loss"])) for a, b in zip(one[:20], two[:20]))
print(f"largest relative difference of the first 20 losses: {worst:.2e}")
sys.exit(0 if worst <= 1e-5 else 1)
PY
    a=$(val_loss "$work/one.log") b=$(val_loss "$work/two.log")
    echo "final validation loss: 1 process $a, 2 ranks $b"
    close "$a" "$b" 2e-3 || fail "validation losses $a and $b differ by more than 2e-3"
    ;;
  repeatable)
    must_train first "${model[@]}" "${data[@]}" --eval-every 10 --steps 20 --out "$work/first"
    must_train second "${model[@]}" "${data[@]}" --eval-every 10 --steps 20 --out "$work/second"
    cmp <(losses "$work/first") <(losses "$work/second") || fail "the metrics differ"
    for file in model.safetensors optimizer.safetensors carry.safetensors; do
      cmp "$work/first/checkpoint/$file" "$work/second/checkpoint/$file" || fail "$file differs"
    done
    ;;
  resume)
    must_train straight "${model[@]}" "${data[@]}" --eval-every 10 --steps 20 --decay-steps 20 --out "$work/straight"
    must_train part1 "${model[@]}" "${data[@]}" --eval-every 10 --steps 10 --decay-steps 20 --out "$work/parts"
    cp -r "$work/parts" "$work/alone" && rm -f "$work/alone/lock"
    np=2 must_train part2 --resume "$work/parts" --steps 20 --progress plain
    cmp <(losses "$work/straight") <(losses "$work/parts") || fail "the resumed run's metrics differ"
    cmp "$work/straight/checkpoint/model.safetensors" "$work/parts/checkpoint/model.safetensors" ||
      fail "the resumed run's weights differ"
    np=1 must_train alone --resume "$work/alone" --steps 20 --progress plain
    a=$(val_loss "$work/straight.log") b=$(val_loss "$work/alone.log")
    echo "final validation loss: straight on 2 ranks $a, resumed by 1 process $b"
    close "$a" "$b" 2e-3 || fail "validation losses $a and $b differ by more than 2e-3"
    ;;
  ntasgd_jitter)
    # NT-ASGD triggers on the collective validation loss, on both ranks after the same step, and
    # --bptt-jitter draws the same lengths on both: a run stopped before the trigger and resumed
    # gives the straight run's losses, averaged weights and optimizer state, byte for byte.
    awd=(--optimizer ntasgd --nonmono 1 --eval-every 2 --bptt-jitter --lr 3 --clip 0.25 --lr-schedule constant
      --decay-steps 24)
    must_train straight "${model[@]}" "${data[@]}" "${awd[@]}" --steps 24 --out "$work/straight"
    [ "$(grep -c 'NT-ASGD averages the weights' "$work/straight.log")" = 1 ] ||
      { show "$work/straight.log"; fail "NT-ASGD did not trigger once"; }
    must_train part1 "${model[@]}" "${data[@]}" "${awd[@]}" --steps 12 --out "$work/parts"
    must_train part2 --resume "$work/parts" --steps 24 --progress plain
    cmp <(losses "$work/straight") <(losses "$work/parts") || fail "the resumed run's metrics differ"
    for file in model.safetensors optimizer.safetensors; do
      cmp "$work/straight/checkpoint/$file" "$work/parts/checkpoint/$file" || fail "the resumed run's $file differs"
    done
    ;;
  rank_fails)
    timeout 60 "$mpirun" --oversubscribe -np 1 "$recur" train "${model[@]}" "${data[@]}" --steps 20 --out "$work/run" : \
      -np 1 "$recur" train "${model[@]}" --data "$work/missing.txt" --steps 20 --out "$work/run" >"$work/fails.log" 2>&1
    code=$?
    [ "$code" != 0 ] && [ "$code" != 124 ] || { show "$work/fails.log"; fail "exit status $code"; }
    grep -q "error: rank 1 of 2: cannot read data file '$work/missing.txt'" "$work/fails.log" ||
      { show "$work/fails.log"; fail "no message from rank 1"; }
    ;;
  batch_refused)
    train refused "${data[@]}" --batch 5 --steps 20 --out "$work/run"
    [ "$code" != 0 ] || fail "--batch 5 on 2 ranks was accepted"
    grep -q -- "--batch 5 is the global batch, which the 2 processes must share equally" "$work/refused.log" ||
      { show "$work/refused.log"; fail "no message"; }
    [ ! -e "$work/run" ] || fail "a run folder was created"
    ;;
  sigterm)
    # SIGTERM to mpirun, which sends SIGCONT, then SIGTERM, then SIGKILL to every rank, each after
    # odls_base_sigkill_timeout seconds (1 by default), and exits 1 whatever the ranks do; then
    # SIGTERM to every rank (what `scancel --signal=TERM` or a kill does), after which mpirun exits
    # with the ranks' status: 0.
    for target in mpirun ranks; do
      run=$work/$target
      "${np2[@]}" "$recur" train "${model[@]}" "${data[@]}" --steps 1000000 --eval-every 100000 \
        --checkpoint-every 5 --out "$run" >"$run.log" 2>&1 &
      pid=$!
      until [ -e "$run/checkpoint/state.json" ]; do
        kill -0 $pid 2>/dev/null || { show "$run.log"; fail "the run ended early"; }
        sleep 0.05
      done
      if [ $target = mpirun ]; then
        kill -TERM $pid
      else
        kill -TERM $(pgrep -P $pid)
      fi
      wait $pid
      code=$?
      echo "SIGTERM to the $target: mpirun exited with $code"
      [ $target = mpirun ] || [ $code = 0 ] || { show "$run.log"; fail "a rank exited with a non-zero status"; }
      ! grep -q "exited on signal\|non-zero status" "$run.log" || { show "$run.log"; fail "a rank was killed"; }
      step=$(sed -n 's/.*interrupted at step \([0-9]*\).*/\1/p' "$run.log")
      [ -n "$step" ] || { show "$run.log"; fail "no interruption message"; }
      grep -q "^  \"step\": $step,\$" "$run/checkpoint/state.json" || fail "the checkpoint is not of step $step"
      [ ! -e "$run/checkpoint.tmp" ] || fail "a partial checkpoint was left"
    done
    ;;
  *) fail "unknown case $case" ;;
esac
echo "passed: $case"
