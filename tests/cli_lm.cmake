# Runs `recur train`, `sample`, `eval` and `corpus` end to end and checks exit statuses and
# messages (ctest, see tests/CMakeLists.txt):
#   cmake -DRECUR=<recur program> -DWORK=<scratch dir> -DCASE=<case> -P cli_lm.cmake
# Bad input must give one line "error: ..." on stderr and exit status 1, never a crash.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(tiny --hidden 16 --embedding 8 --batch 4 --bptt 8 --eval-batch 4 --threads 1 --progress plain)

# run(<expected exit status> <stderr regex or ""> args...): runs recur and checks.
function(run expect_code expect_err)
  execute_process(COMMAND ${RECUR} ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code STREQUAL expect_code)
    message(FATAL_ERROR "recur ${ARGN}: exit status ${code}, expected ${expect_code}\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(NOT expect_err STREQUAL "" AND NOT err MATCHES "${expect_err}")
    message(FATAL_ERROR "recur ${ARGN}: stderr does not match '${expect_err}':\n${err}")
  endif()
  set(last_out "${out}" PARENT_SCOPE)
endfunction()

# losses_of(<run folder under WORK> <variable>): its metrics.csv without the clock columns
# (elapsed_s, tokens_per_s) and without val_loss.
function(losses_of name var)
  file(STRINGS ${WORK}/${name}/metrics.csv lines)
  set(text "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^([^,]*,[^,]*,[^,]*),[^,]*,([^,]*,[^,]*),[^,]*,[^,]*," "\\1,\\2," line "${line}")
    string(APPEND text "${line}\n")
  endforeach()
  set(${var} "${text}" PARENT_SCOPE)
endfunction()

function(make_corpus)
  run(0 "" corpus --out ${WORK}/corpus.txt --chars 3000)
endfunction()

if(CASE STREQUAL "bad_input")
  run(1 "^error: cannot read data file '[^']*missing.txt': No such file or directory\n$"
      train --data ${WORK}/missing.txt --steps 5 --out ${WORK}/run ${tiny})
  file(WRITE ${WORK}/empty.txt "")
  run(1 "^error: data file '[^']*empty.txt' is empty\n$" train --data ${WORK}/empty.txt --steps 5 --out ${WORK}/run ${tiny})
  file(WRITE ${WORK}/short.txt "Too short to learn from.")
  run(1 "^error: the training part of [^\n]* shorter than one batch[^\n]*\n$"
      train --data ${WORK}/short.txt --steps 5 --out ${WORK}/run ${tiny})
  make_corpus()
  run(1 "^error: --bidirectional cannot be used for a language model[^\n]*\n$"
      train --data ${WORK}/corpus.txt --steps 5 --bidirectional --out ${WORK}/run ${tiny})
  run(1 "^error: unknown --optimizer 'adamax'[^\n]*\n$"
      train --data ${WORK}/corpus.txt --steps 5 --optimizer adamax --out ${WORK}/run ${tiny})
  run(1 "^error: give the length of the run: --steps N or --minutes M\n$" train --data ${WORK}/corpus.txt --out ${WORK}/run ${tiny})
  run(109 "--frobnicate" train --data ${WORK}/corpus.txt --steps 5 --frobnicate)
  if(EXISTS ${WORK}/run)
    message(FATAL_ERROR "a failed start left the run folder ${WORK}/run behind")
  endif()
  run(1 "^error: checkpoint '[^']*nothing' does not exist\n$" sample --checkpoint ${WORK}/nothing)
  run(1 "^error: '[^']*' holds no checkpoint[^\n]*\n$" eval --checkpoint ${WORK} --data ${WORK}/corpus.txt)
elseif(CASE STREQUAL "train_sample_eval")
  make_corpus()
  run(0 "" train --data ${WORK}/corpus.txt --steps 30 --out ${WORK}/run ${tiny})
  if(NOT last_out MATCHES "step 30: validation loss [0-9.]+ nats/char")
    message(FATAL_ERROR "train printed no final validation loss:\n${last_out}")
  endif()
  foreach(file config.json metrics.csv loss.svg checkpoint/model.safetensors checkpoint/optimizer.safetensors
          checkpoint/state.json)
    if(NOT EXISTS ${WORK}/run/${file})
      message(FATAL_ERROR "the run folder lacks ${file}")
    endif()
  endforeach()
  run(0 "" sample --checkpoint ${WORK}/run --prompt "KING" --length 80 --seed 3)
  set(first "${last_out}")
  run(0 "" sample --checkpoint ${WORK}/run --prompt "KING" --length 80 --seed 3)
  if(NOT first STREQUAL last_out OR NOT first MATCHES "^KING")
    message(FATAL_ERROR "sample is not deterministic by seed:\n${first}\nthen\n${last_out}")
  endif()
  run(0 "" eval --checkpoint ${WORK}/run --data ${WORK}/corpus.txt)
  if(NOT last_out MATCHES "loss [0-9.]+ nats/char, [0-9.]+ bits/char over [0-9]+ chars")
    message(FATAL_ERROR "eval printed no loss:\n${last_out}")
  endif()
  run(1 "^error: the prompt: '~' at byte 0 is not in the model's vocabulary[^\n]*\n$"
      sample --checkpoint ${WORK}/run --prompt "~")
  run(1 "^error: --hidden is 32 but the run being resumed used 16[^\n]*\n$" train --resume ${WORK}/run --hidden 32)
  file(WRITE ${WORK}/run/checkpoint/model.safetensors "not a checkpoint")
  run(1 "^error: [^\n]*model.safetensors[^\n]*\n$" eval --checkpoint ${WORK}/run --data ${WORK}/corpus.txt)
  run(1 "^error: [^\n]*model.safetensors[^\n]*\n$" train --resume ${WORK}/run --steps 40)
elseif(CASE STREQUAL "run_folder")
  # A checkpoint at every evaluation, the best one beside the latest, a folder holding only
  # config.json, and --init-from.
  make_corpus()
  run(0 "" train --data ${WORK}/corpus.txt --steps 30 --eval-every 10 --out ${WORK}/run ${tiny})
  foreach(which latest best)
    run(0 "" sample --checkpoint ${WORK}/run --which ${which} --prompt "KING" --length 40)
    run(0 "" eval --checkpoint ${WORK}/run --which ${which} --data ${WORK}/corpus.txt)
    if(NOT last_out MATCHES "loss [0-9.]+ nats/char")
      message(FATAL_ERROR "eval --which ${which} printed no loss:\n${last_out}")
    endif()
  endforeach()
  file(READ ${WORK}/run/checkpoint-best/state.json best_state)
  if(NOT best_state MATCHES "\"best\": {[^}]*\"step\": (10|20|30)")
    message(FATAL_ERROR "checkpoint-best/state.json does not hold an evaluation's step:\n${best_state}")
  endif()
  # A run stopped before its first checkpoint: its folder holds config.json only.
  file(MAKE_DIRECTORY ${WORK}/bare)
  file(COPY ${WORK}/run/config.json DESTINATION ${WORK}/bare)
  run(0 "" train --resume ${WORK}/bare --progress plain)
  if(NOT last_out MATCHES "holds no checkpoint \\(its run stopped before the first one\\): starting it from step 0"
     OR NOT last_out MATCHES "step 30: validation loss")
    message(FATAL_ERROR "--resume of a folder without checkpoint did not run from step 0:\n${last_out}")
  endif()
  losses_of(run run)
  losses_of(bare bare)
  if(NOT run STREQUAL bare)
    message(FATAL_ERROR "the run restarted from config.json differs:\n${run}\nvs\n${bare}")
  endif()
  # --init-from: the model and the vocabulary of the run; a text with other symbols is refused.
  run(0 "" train --init-from ${WORK}/run --data ${WORK}/corpus.txt --steps 5 --batch 4 --bptt 8 --eval-batch 4
      --threads 1 --progress plain --out ${WORK}/tuned)
  if(NOT last_out MATCHES "2-layer LSTM, hidden 16, embedding 8")
    message(FATAL_ERROR "--init-from did not take the run's model:\n${last_out}")
  endif()
  file(READ ${WORK}/corpus.txt text)
  file(WRITE ${WORK}/other.txt "${text}~")
  run(1 "^error: --init-from [^:]*run: data file '[^']*other.txt': '~' at byte [0-9]+ is not in the model's vocabulary[^\n]*\n$"
      train --init-from ${WORK}/run --data ${WORK}/other.txt --steps 5 --out ${WORK}/tuned2 ${tiny})
elseif(CASE STREQUAL "resume_bit_identical")
  # 30 steps straight, and 15 steps then --resume to 30: the same losses, bit for bit (metrics.csv
  # without its two clock columns, elapsed_s and tokens_per_s, and without val_loss: the first part
  # ends with an evaluation at step 15 that the straight run does not make).
  make_corpus()
  set(common --data ${WORK}/corpus.txt --decay-steps 30 --log-every 1 --eval-every 10 --dropout 0.1 ${tiny})
  run(0 "" train ${common} --steps 30 --out ${WORK}/straight)
  run(0 "" train ${common} --steps 15 --out ${WORK}/split)
  run(0 "" train --resume ${WORK}/split --steps 30 --threads 1 --progress plain)
  losses_of(straight straight)
  losses_of(split split)
  if(NOT straight STREQUAL split)
    message(FATAL_ERROR "resumed run differs from the straight run:\n${straight}\nvs\n${split}")
  endif()
  string(REGEX MATCHALL "\n30," last "${straight}")
  if(NOT last)
    message(FATAL_ERROR "metrics.csv has no row for step 30:\n${straight}")
  endif()
elseif(CASE STREQUAL "sigint_then_resume")
  make_corpus()
  # SIGINT once the run has started: a checkpoint, exit status 0; then --resume finishes it.
  execute_process(
    COMMAND sh -c "\"$0\" train --data \"$1/corpus.txt\" --steps 1000000 --out \"$1/run\" --hidden 16 --embedding 8 \
                   --batch 4 --bptt 8 --threads 1 --progress plain & pid=$!; \
                   while [ ! -f \"$1/run/config.json\" ]; do sleep 0.05; done; sleep 0.3; kill -INT $pid; wait $pid"
            ${RECUR} ${WORK}
    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0 OR NOT out MATCHES "interrupted at step [0-9]+: checkpoint written")
    message(FATAL_ERROR "SIGINT: exit status ${code}\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(NOT EXISTS ${WORK}/run/checkpoint/state.json)
    message(FATAL_ERROR "SIGINT left no checkpoint")
  endif()
  string(REGEX MATCH "interrupted at step ([0-9]+)" ignored "${out}")
  math(EXPR steps "${CMAKE_MATCH_1} + 5")
  run(0 "" train --resume ${WORK}/run --steps ${steps} --threads 1 --progress plain)
  if(NOT last_out MATCHES "resuming at step ${CMAKE_MATCH_1}.*step ${steps}: validation loss")
    message(FATAL_ERROR "resume did not continue the run:\n${last_out}")
  endif()
else()
  message(FATAL_ERROR "unknown CASE ${CASE}")
endif()
