#!/usr/bin/env bash
# `recur train` interrupted at random moments, then resumed: every interruption leaves a
# complete checkpoint, and the resumed run logs the losses of an uninterrupted run, every row
# of metrics.csv bit for bit (without its clock columns). Run by ctest (tests/CMakeLists.txt):
#
#   cli_train_interrupts.sh RECUR WORK signals   SIGINT and SIGTERM, each run exits 0 and resumes
#                                                with `--resume DIR` (RECUR_GEMM picks the GEMM)
#   cli_train_interrupts.sh RECUR WORK kill9     kill -9 of a run started with --threads 1, resumed
#                                                with `--resume DIR` alone on the default threads
#
# The moments come from bash's RANDOM, seeded from RECUR_TEST_SEED when set (the seed is printed).
set -u
recur=$1 work=$2 case=$3
rm -rf "$work" && mkdir -p "$work" || exit 1
seed=${RECUR_TEST_SEED:-$$}
RANDOM=$seed
echo "seed $seed (RECUR_TEST_SEED=$seed repeats these moments)"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The log of process $1 (a file), shown on failure.
show() { sed 's/^/  | /' "$1" >&2; }

# Waits until file $1 holds a line matching $2, or until process $3 has ended (status 1).
wait_for() {
  until grep -q -- "$2" "$1" 2>/dev/null; do
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.01
  done
}

# Sleeps between 0 and $1 milliseconds.
random_delay() {
  local ms=$((RANDOM % $1))
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
}

# Starts the next part of the run in $run: `recur "${args[@]}"`, its output in $log, its id in $pid.
start_part() {
  log=$run.part$part.log
  part=$((part + 1))
  "$recur" "${args[@]}" >"$log" 2>&1 &
  pid=$!
}

# Waits for the part started last; its exit status in $code.
wait_part() {
  { wait $pid; } 2>/dev/null # without the shell's note "Killed" or "Aborted": the test says what happened
  code=$?
}

# metrics.csv without its clock columns, elapsed_s and tokens_per_s.
losses() { cut -d, -f1-3,5-7,9 "$1/metrics.csv"; }

# The run in $1 has a complete checkpoint of step $2.
check_checkpoint() {
  local file
  for file in model.safetensors optimizer.safetensors state.json config.json; do
    [[ -s $1/checkpoint/$file ]] || fail "$1/checkpoint lacks $file"
  done
  grep -q "\"step\": $2," "$1/checkpoint/state.json" || fail "$1/checkpoint/state.json is not of step $2"
}

# The run in $1 logged what the uninterrupted run in $2 logged.
check_same_losses() {
  if ! diff <(losses "$2") <(losses "$1") >"$1.diff"; then
    show "$1.diff"
    fail "$1 differs from the uninterrupted run $2 (< uninterrupted, > interrupted)"
  fi
}

"$recur" corpus --out "$work/corpus.txt" --chars 30000 >/dev/null || fail "recur corpus"

case $case in
signals)
  # Enough signals that every part of a step is hit (forward, backward, the GEMMs, the
  # optimizer, evaluations, checkpoints), on a model whose steps spend their time in GEMMs.
  # OpenBLAS is several times slower than oneDNN on these small GEMMs (Debian's falls back to
  # generic kernels on CPUs it does not know): a smaller model keeps the test short.
  target=${RECUR_TEST_SIGNALS:-28}
  size=(--hidden 128 --bptt 32)
  [[ ${RECUR_GEMM:-} == openblas ]] && size=(--hidden 64 --bptt 16)
  model=(--data "$work/corpus.txt" --log-every 1 --eval-every 40 --dropout 0.1 "${size[@]}" --embedding 32
    --batch 16 --eval-batch 8 --eval-bptt 64 --threads 2)
  common=("${model[@]}" --steps 300)
  "$recur" train "${common[@]}" --out "$work/straight" >"$work/straight.log" 2>&1 ||
    { show "$work/straight.log"; fail "the uninterrupted run failed"; }
  signals=0 runs=0 resumes=0
  while ((signals < target)); do
    run=$work/run$runs
    runs=$((runs + 1))
    args=(train "${common[@]}" --out "$run")
    part=0
    while :; do
      start_part
      signal=none
      if ((signals < target)) && wait_for "$log" "^recur train:" $pid; then
        random_delay 400
        signal=$( ((RANDOM % 2)) && echo INT || echo TERM)
        kill -s $signal $pid 2>/dev/null && signals=$((signals + 1))
      fi
      wait_part
      ((code == 0)) || { show "$log"; fail "exit status $code after SIG$signal ($log)"; }
      step=$(sed -n 's/^interrupted at step \([0-9]*\):.*/\1/p' "$log")
      if [[ -z $step ]]; then
        grep -q "^step 300: validation loss" "$log" || { show "$log"; fail "the run neither stopped nor finished"; }
        break
      fi
      check_checkpoint "$run" "$step"
      args=(train --resume "$run")
      resumes=$((resumes + 1))
    done
    check_same_losses "$run" "$work/straight"
  done
  echo "$signals signals over $runs runs, $resumes resumes: every run exited 0 with a complete checkpoint" \
    "and logged the uninterrupted run's losses"
  # A second signal ends the run at once, with exit status 130.
  "$recur" train "${model[@]}" --steps 1000000 --out "$work/twice" >"$work/twice.log" 2>&1 &
  pid=$!
  wait_for "$work/twice.log" "^recur train:" $pid
  kill -s INT $pid && kill -s TERM $pid
  wait $pid
  code=$?
  ((code == 130)) || { show "$work/twice.log"; fail "exit status $code after two signals, expected 130"; }
  # Other commands end as any program does: killed by the signal (143 = 128 + SIGTERM).
  "$recur" sample --checkpoint "$work/straight" --length 100000000 >/dev/null 2>&1 &
  pid=$!
  sleep 0.2
  kill -s TERM $pid
  { wait $pid; } 2>/dev/null
  code=$?
  ((code == 143)) || fail "recur sample: exit status $code after SIGTERM, expected 143 (killed by SIGTERM)"
  ;;
kill9)
  # Started with --threads 1, resumed without --threads where the default is 2 threads. The
  # batch's 1024 rows of logits make the sums over the batch large enough to be split in parts.
  export OMP_NUM_THREADS=2
  kills_per_run=${RECUR_TEST_KILLS:-4}
  common=(--data "$work/corpus.txt" --steps 150 --checkpoint-every 7 --log-every 3 --eval-every 40 --dropout 0.1
    --hidden 64 --embedding 16 --batch 32 --bptt 32 --eval-batch 8)
  "$recur" train "${common[@]}" --threads 1 --out "$work/straight" >"$work/straight.log" 2>&1 ||
    { show "$work/straight.log"; fail "the uninterrupted run failed"; }
  kills=0
  for runs in 0 1 2; do
    run=$work/run$runs
    args=(train "${common[@]}" --threads 1 --out "$run")
    ready=checkpoint  # the first kill waits for a checkpoint: a run without one cannot resume
    part=0
    while :; do
      start_part
      if ((part <= kills_per_run)); then
        if [[ $ready == checkpoint ]]; then
          until [[ -f $run/checkpoint/state.json ]] || ! kill -0 $pid 2>/dev/null; do sleep 0.01; done
        else
          wait_for "$log" "^resuming at step" $pid
        fi
        random_delay 300
        kill -9 $pid 2>/dev/null
      fi
      wait_part
      if ((code == 0)); then
        grep -q "^step 150: validation loss" "$log" || { show "$log"; fail "the run did not finish"; }
        break
      fi
      ((code == 137)) || { show "$log"; fail "exit status $code ($log)"; }
      kills=$((kills + 1))
      ready=resume
      args=(train --resume "$run")
    done
    grep -q ", 1 threads;" "$log" || { show "$log"; fail "the resumed run did not take the run's thread count"; }
    check_same_losses "$run" "$work/straight"
  done
  grep -q '"threads": 1,' "$run/config.json" || fail "config.json does not record the thread count"
  grep -q '"cpu_gemm": "' "$run/config.json" || fail "config.json does not record the GEMM provider"
  # A thread count given on resumption is used, with one warning that the losses will differ.
  cp -r "$run" "$work/more_threads"
  "$recur" train --resume "$work/more_threads" --threads 2 >"$work/more_threads.log" 2>"$work/more_threads.err" ||
    { show "$work/more_threads.err"; fail "resuming with --threads 2 failed"; }
  [[ $(grep -c "^warning: --threads 2: the run used 1 thread, so the losses will not match" \
    "$work/more_threads.err") == 1 ]] || { show "$work/more_threads.err"; fail "no single warning for --threads 2"; }
  echo "$kills kills -9 over 3 runs: every resumed run logged the uninterrupted run's losses"
  ;;
*) fail "unknown case '$case'" ;;
esac
