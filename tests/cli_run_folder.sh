#!/usr/bin/env bash
# One process per run folder (examples/lm/run_lock.h), run by ctest (tests/CMakeLists.txt):
#
#   cli_run_folder.sh RECUR WORK contention   two `train --resume` of one folder started together:
#                                             one refuses at once naming the other's process id,
#                                             the other logs the losses of an uncontended resume;
#                                             `sample` reads the folder meanwhile
#   cli_run_folder.sh RECUR WORK kill9        the lock of a run killed with kill -9 does not
#                                             block the next `train --resume`
set -u
recur=$1 work=$2 case=$3
rm -rf "$work" && mkdir -p "$work" || exit 1

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
show() { sed 's/^/  | /' "$1" >&2; }
# metrics.csv without its clock columns, elapsed_s and tokens_per_s.
losses() { cut -d, -f1-3,5-7,9 "$1/metrics.csv"; }

"$recur" corpus --out "$work/corpus.txt" --chars 20000 >/dev/null || fail "recur corpus"
common=(--data "$work/corpus.txt" --hidden 64 --embedding 16 --batch 16 --bptt 32 --eval-batch 4 --log-every 5
  --eval-every 50 --decay-steps 400 --threads 1 --progress plain)

case $case in
contention)
  "$recur" train "${common[@]}" --steps 20 --out "$work/first" >"$work/first.log" 2>&1 ||
    { show "$work/first.log"; fail "the first part failed"; }
  cp -r "$work/first" "$work/alone" && cp -r "$work/first" "$work/shared" || fail "cp"
  "$recur" train --resume "$work/alone" --steps 400 >"$work/alone.log" 2>&1 ||
    { show "$work/alone.log"; fail "the uncontended resume failed"; }
  "$recur" train --resume "$work/shared" --steps 400 >"$work/a.log" 2>&1 &
  a=$!
  "$recur" train --resume "$work/shared" --steps 400 >"$work/b.log" 2>&1 &
  b=$!
  # While a resume runs, the folder can be read.
  until grep -q "^recur train:" "$work/a.log" "$work/b.log" 2>/dev/null; do sleep 0.01; done
  "$recur" sample --checkpoint "$work/shared" --length 20 >/dev/null 2>"$work/sample.err" ||
    { show "$work/sample.err"; fail "recur sample of a folder in use failed"; }
  wait $a
  code_a=$?
  wait $b
  code_b=$?
  if ((code_a == 0 && code_b == 1)); then
    winner=$a refused=$work/b.log
  elif ((code_a == 1 && code_b == 0)); then
    winner=$b refused=$work/a.log
  else
    show "$work/a.log"
    show "$work/b.log"
    fail "exit statuses $code_a and $code_b, expected one 0 and one 1"
  fi
  expected="^error: run folder '$work/shared' is in use by process $winner: a \`recur train\` holds its lock"
  [[ $(wc -l <"$refused") == 1 ]] && grep -q "$expected" "$refused" ||
    { show "$refused"; fail "the refused resume did not say, in one line, that process $winner holds the folder"; }
  if ! diff <(losses "$work/alone") <(losses "$work/shared") >"$work/diff"; then
    show "$work/diff"
    fail "the contended run differs from the uncontended one (< uncontended, > contended)"
  fi
  echo "one resume refused (naming process $winner), the other logged the uncontended losses"
  ;;
kill9)
  "$recur" train "${common[@]}" --steps 100000 --checkpoint-every 10 --out "$work/run" >"$work/run.log" 2>&1 &
  pid=$!
  until [[ -f $work/run/checkpoint/state.json ]] || ! kill -0 $pid 2>/dev/null; do sleep 0.01; done
  kill -9 $pid
  { wait $pid; } 2>/dev/null
  [[ $(cat "$work/run/lock") == "$pid" ]] || fail "the lock file does not hold the killed process's id $pid"
  "$recur" train --resume "$work/run" --steps 200 >"$work/resume.log" 2>&1 ||
    { show "$work/resume.log"; fail "the lock of a killed process blocked the resume"; }
  grep -q "^step 200: validation loss" "$work/resume.log" || { show "$work/resume.log"; fail "the resume did not finish"; }
  echo "the lock left by kill -9 of process $pid did not block the resume"
  ;;
*) fail "unknown case '$case'" ;;
esac
