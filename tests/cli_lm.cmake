# Runs `recur train`, `sample`, `eval` and `corpus` end to end and checks exit statuses and
# messages (ctest, see tests/CMakeLists.txt):
#   cmake -DRECUR=<recur program> -DWORK=<scratch dir> -DCASE=<case> -P cli_lm.cmake
# Bad input must give one line "error: ..." on stderr and exit status 1 (2 for a bad command line),
# never a crash. `train` writes its progress to stderr and its result to stdout.
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
  set(last_err "${err}" PARENT_SCOPE)
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

# resumed_as_straight(<first> <steps> train args...): trains WORK/split for <first> steps, resumes
# it to <steps>, and checks that its losses are those of WORK/straight (losses_of); sets
# `straight` to them.
function(resumed_as_straight first steps)
  run(0 "" train ${ARGN} --steps ${first} --out ${WORK}/split)
  run(0 "" train --resume ${WORK}/split --steps ${steps} --threads 1 --progress plain)
  losses_of(straight straight)
  losses_of(split split)
  if(NOT straight STREQUAL split)
    message(FATAL_ERROR "resumed run differs from the straight run:\n${straight}\nvs\n${split}")
  endif()
  set(straight "${straight}" PARENT_SCOPE)
endfunction()

# eval_as_trained(<steps> <variable>): from the last train's stderr, its final validation loss and
# layout, as the pattern `recur eval` prints them.
function(eval_as_trained steps var)
  string(REGEX MATCH "step ${steps}: validation loss ([0-9.]+) nats/char \\([0-9.]+ bits/char\\) over ([0-9]+) chars \\(([^)]*)\\)"
         trained "${last_err}")
  if(NOT trained)
    message(FATAL_ERROR "train printed no final validation loss and layout:\n${last_err}")
  endif()
  set(${var} "loss ${CMAKE_MATCH_1} nats/char, [0-9.]+ bits/char over ${CMAKE_MATCH_2} chars \\([^;]*; ${CMAKE_MATCH_3};"
      PARENT_SCOPE)
endfunction()

# write_valid_text(): WORK/valid.txt, the validation part of WORK/corpus.txt (--valid-fraction 0.1
# of an ASCII text); sets `valid` and `valid_length`.
function(write_valid_text)
  file(READ ${WORK}/corpus.txt text)
  string(LENGTH "${text}" length)
  math(EXPR valid_length "${length} / 10")
  math(EXPR valid_start "${length} - ${valid_length}")
  string(SUBSTRING "${text}" ${valid_start} ${valid_length} valid)
  file(WRITE ${WORK}/valid.txt "${valid}")
  set(valid "${valid}" PARENT_SCOPE)
  set(valid_length ${valid_length} PARENT_SCOPE)
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
  run(2 "^error: --optimizer: adamax not in [^\n]*\n$"
      train --data ${WORK}/corpus.txt --steps 5 --optimizer adamax --out ${WORK}/run ${tiny})
  run(1 "^error: give the length of the run: --steps N or --minutes M\n$" train --data ${WORK}/corpus.txt --out ${WORK}/run ${tiny})
  run(2 "--frobnicate" train --data ${WORK}/corpus.txt --steps 5 --frobnicate)
  run(2 "^error: [^\n]*--hiden[^\n]*\\(did you mean --hidden\\?\\)\n$" train --data ${WORK}/corpus.txt --steps 5 --hiden 64)
  run(2 "^error: --mode: [^\n]*\n$" train --data ${WORK}/corpus.txt --steps 5 --mode GRUX)
  if(EXISTS ${WORK}/run)
    message(FATAL_ERROR "a failed start left the run folder ${WORK}/run behind")
  endif()
  run(1 "^error: checkpoint '[^']*nothing' does not exist\n$" sample --checkpoint ${WORK}/nothing)
  run(1 "^error: '[^']*' holds no checkpoint[^\n]*\n$" eval --checkpoint ${WORK} --data ${WORK}/corpus.txt)
elseif(CASE STREQUAL "crafted_checkpoint")
  # Metadata naming an LSTM of hidden size 100000 over the weights of hidden size 4
  # (fixtures/make_huge_hidden_checkpoint.py): refused from the file's header, naming the shapes
  # expected and declared, before a model of that size (160 GB) is allocated.
  set(crafted ${FIXTURES}/huge_hidden_checkpoint)
  set(expected "^error: [^\n]*/model.safetensors does not match its own configuration \\(1-layer LSTM, hidden 100000, embedding 4, vocabulary 2\\): 'rnn.weight_ih_l0' is \\[16, 4\\], expected \\[400000, 4\\]; 'rnn.weight_hh_l0' is \\[16, 4\\], expected \\[400000, 100000\\];[^\n]*\n$")
  run(1 "${expected}" sample --checkpoint ${crafted} --length 10)
  file(WRITE ${WORK}/ab.txt "abbaabab")
  run(1 "${expected}" eval --checkpoint ${crafted} --data ${WORK}/ab.txt)
elseif(CASE STREQUAL "train_sample_eval")
  make_corpus()
  run(0 "" train --data ${WORK}/corpus.txt --steps 30 --out ${WORK}/run ${tiny})
  if(NOT last_err MATCHES "step 30: validation loss [0-9.]+ nats/char")
    message(FATAL_ERROR "train's progress (stderr) has no final validation loss:\n${last_err}")
  endif()
  if(NOT last_out MATCHES "^trained 30 steps [^\n]*: validation loss [0-9.]+ nats/char [^\n]*\nrun folder: "
     OR last_out MATCHES "step [0-9]+:")
    message(FATAL_ERROR "train's result (stdout) is not the summary alone:\n${last_out}")
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
  # A run folder, its checkpoint folder and its model file all name the same checkpoint.
  run(0 "" sample --checkpoint ${WORK}/run/checkpoint/model.safetensors --prompt "KING" --length 80 --seed 3)
  if(NOT first STREQUAL last_out)
    message(FATAL_ERROR "sample from the model file differs from sample from the run folder:\n${last_out}")
  endif()
  # --num-samples N draws with seeds S, S+1, ...; --prompt-file reads the prompt.
  run(0 "" sample --checkpoint ${WORK}/run --prompt "KING" --length 80 --seed 4)
  set(fourth "${last_out}")
  file(WRITE ${WORK}/prompt.txt "KING")
  run(0 "" sample --checkpoint ${WORK}/run --prompt-file ${WORK}/prompt.txt --length 80 --seed 3 --num-samples 2)
  if(NOT last_out STREQUAL "${first}\n${fourth}")
    message(FATAL_ERROR "--num-samples 2 --seed 3 is not seed 3's text then seed 4's:\n${last_out}")
  endif()
  run(0 "" inspect ${WORK}/run)
  if(NOT last_out MATCHES "checkpoint/model.safetensors: [0-9]+ tensors")
    message(FATAL_ERROR "inspect of a run folder did not list its model file:\n${last_out}")
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
  if(NOT last_err MATCHES "holds no checkpoint \\(its run stopped before the first one\\): starting it from step 0"
     OR NOT last_err MATCHES "step 30: validation loss")
    message(FATAL_ERROR "--resume of a folder without checkpoint did not run from step 0:\n${last_err}")
  endif()
  losses_of(run run)
  losses_of(bare bare)
  if(NOT run STREQUAL bare)
    message(FATAL_ERROR "the run restarted from config.json differs:\n${run}\nvs\n${bare}")
  endif()
  # --init-from: the model and the vocabulary of the run; a text with other symbols is refused.
  run(0 "" train --init-from ${WORK}/run --data ${WORK}/corpus.txt --steps 5 --batch 4 --bptt 8 --eval-batch 4
      --threads 1 --progress plain --out ${WORK}/tuned)
  if(NOT last_err MATCHES "2-layer LSTM, hidden 16, embedding 8")
    message(FATAL_ERROR "--init-from did not take the run's model:\n${last_err}")
  endif()
  file(READ ${WORK}/corpus.txt text)
  file(WRITE ${WORK}/other.txt "${text}~")
  run(1 "^error: --init-from [^:]*run: data file '[^']*other.txt': '~' at byte [0-9]+ is not in the model's vocabulary[^\n]*\n$"
      train --init-from ${WORK}/run --data ${WORK}/other.txt --steps 5 --out ${WORK}/tuned2 ${tiny})
elseif(CASE STREQUAL "config_file")
  # config.json records the values used, and `train --config` of it repeats the run.
  make_corpus()
  run(0 "" train --data ${WORK}/corpus.txt --steps 30 --optimizer adamw --dropout 0.1 --out ${WORK}/run ${tiny})
  file(READ ${WORK}/run/config.json config)
  foreach(value "\"lr\": 0.005" "\"weight-decay\": 0.01" "\"eval-every\": 6" "\"log-every\": 1")
    string(FIND "${config}" "${value}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "config.json lacks ${value}:\n${config}")
    endif()
  endforeach()
  run(0 "" train --config ${WORK}/run/config.json --out ${WORK}/again --progress plain)
  losses_of(run run)
  losses_of(again again)
  if(NOT run STREQUAL again)
    message(FATAL_ERROR "train --config of a run's config.json does not repeat it:\n${run}\nvs\n${again}")
  endif()
  run(0 "" train --config ${WORK}/run/config.json --steps 12 --hidden 8 --out ${WORK}/changed --progress plain)
  if(NOT last_err MATCHES "hidden 8," OR NOT last_err MATCHES "step 12: validation loss")
    message(FATAL_ERROR "the command line's options do not win over --config's:\n${last_err}")
  endif()
  run(1 "^error: --resume[^\n]*--config[^\n]*\n$|^error: --config cannot be combined with --resume[^\n]*\n$"
      train --config ${WORK}/run/config.json --resume ${WORK}/run)
  file(WRITE ${WORK}/bad.json "{\"train\": {\"hiden\": 3}}")
  run(1 "^error: --config [^ ]*bad.json: training options: unknown option \"hiden\"\n$" train --config ${WORK}/bad.json)
elseif(CASE STREQUAL "eval_agrees")
  # recur eval on the exact validation text prints the loss and layout training printed, with the
  # default options of both; --unknown skip leaves out what the vocabulary lacks.
  make_corpus()
  run(0 "" train --data ${WORK}/corpus.txt --steps 20 --hidden 16 --embedding 8 --batch 4 --bptt 8 --threads 1
      --progress plain --out ${WORK}/run)
  eval_as_trained(20 expected)
  write_valid_text()
  run(0 "" eval --checkpoint ${WORK}/run --data ${WORK}/valid.txt --threads 1)
  if(NOT last_out MATCHES "${expected}")
    message(FATAL_ERROR "eval of the validation text does not print what training printed ('${expected}'):\n${last_out}")
  endif()
  math(EXPR half "${valid_length} / 2")
  string(SUBSTRING "${valid}" 0 ${half} head)
  string(SUBSTRING "${valid}" ${half} -1 tail)
  file(WRITE ${WORK}/unknown.txt "~${head}~@${tail}")
  run(1 "^error: data file '[^']*unknown.txt': '~' at byte 0 is not in the model's vocabulary[^\n]*\n$"
      eval --checkpoint ${WORK}/run --data ${WORK}/unknown.txt)
  run(0 "" eval --checkpoint ${WORK}/run --data ${WORK}/unknown.txt --unknown skip --threads 1)
  if(NOT last_out MATCHES "skipped 3 symbols outside the vocabulary of [0-9]+ chars: '~' x2, '@' x1\n"
     OR NOT last_out MATCHES "${expected}")
    message(FATAL_ERROR "eval --unknown skip did not skip the 3 unknown symbols:\n${last_out}")
  endif()
elseif(CASE STREQUAL "resume_bit_identical")
  # 30 steps straight, and 15 steps then --resume to 30: the same losses, bit for bit (metrics.csv
  # without its two clock columns, elapsed_s and tokens_per_s, and without val_loss: the first part
  # ends with an evaluation at step 15 that the straight run does not make).
  make_corpus()
  set(common --data ${WORK}/corpus.txt --decay-steps 30 --log-every 1 --eval-every 10 --dropout 0.1 ${tiny})
  run(0 "" train ${common} --steps 30 --out ${WORK}/straight)
  resumed_as_straight(15 30 ${common})
  string(REGEX MATCHALL "\n30," last "${straight}")
  if(NOT last)
    message(FATAL_ERROR "metrics.csv has no row for step 30:\n${straight}")
  endif()
elseif(CASE STREQUAL "ntasgd_jitter")
  # AWD-LSTM's optimisation: NT-ASGD triggers, `recur eval` of the run folder gives the final loss
  # training printed (the averaged weights), and a run stopped before the trigger and resumed
  # with --bptt-jitter gives the straight run's losses; bad values are refused.
  make_corpus()
  set(awd --data ${WORK}/corpus.txt --optimizer ntasgd --lr 3 --clip 0.25 --lr-schedule constant --nonmono 1
          --eval-every 2 --bptt-jitter --decay-steps 30 --log-every 1 --hidden 16 --embedding 8 --batch 4 --bptt 8
          --threads 1 --progress plain)
  run(0 "" train ${awd} --steps 30 --out ${WORK}/straight)
  if(NOT last_err MATCHES "step ([0-9]+): the validation loss is worse than the best of the evaluations before the last 1 \\(--nonmono\\): NT-ASGD averages the weights")
    message(FATAL_ERROR "NT-ASGD did not trigger:\n${last_err}")
  endif()
  set(trigger ${CMAKE_MATCH_1})
  eval_as_trained(30 expected)
  write_valid_text()
  run(0 "" eval --checkpoint ${WORK}/straight --data ${WORK}/valid.txt --batch 32 --threads 1)
  if(NOT last_out MATCHES "${expected}")
    message(FATAL_ERROR "eval of the averaged run does not print what training printed ('${expected}'):\n${last_out}")
  endif()
  run(0 "" sample --checkpoint ${WORK}/straight --length 20)
  math(EXPR before "${trigger} - 2")
  resumed_as_straight(${before} 30 ${awd})
  run(2 "--nonmono" train --data ${WORK}/corpus.txt --optimizer ntasgd --nonmono 0 --steps 5 --out ${WORK}/bad)
  run(2 "--nonmono" train --data ${WORK}/corpus.txt --optimizer ntasgd --nonmono two --steps 5 --out ${WORK}/bad)
  run(2 "--optimizer" train --data ${WORK}/corpus.txt --optimizer asgd --steps 5 --out ${WORK}/bad)
  run(1 "^error: --bptt-jitter needs --bptt >= 5 \\(the shortest length it draws\\), got 4\n$"
      train --data ${WORK}/corpus.txt --bptt-jitter --bptt 4 --steps 5 --out ${WORK}/bad)
  if(EXISTS ${WORK}/bad)
    message(FATAL_ERROR "a refused run left its folder behind")
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
  if(NOT code EQUAL 0 OR NOT err MATCHES "interrupted at step [0-9]+: checkpoint written")
    message(FATAL_ERROR "SIGINT: exit status ${code}\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(NOT EXISTS ${WORK}/run/checkpoint/state.json)
    message(FATAL_ERROR "SIGINT left no checkpoint")
  endif()
  string(REGEX MATCH "interrupted at step ([0-9]+)" ignored "${err}")
  math(EXPR steps "${CMAKE_MATCH_1} + 5")
  run(0 "" train --resume ${WORK}/run --steps ${steps} --threads 1 --progress plain)
  if(NOT last_err MATCHES "resuming at step ${CMAKE_MATCH_1}.*step ${steps}: validation loss")
    message(FATAL_ERROR "resume did not continue the run:\n${last_err}")
  endif()
elseif(CASE STREQUAL "bytes_and_float64")
  # --vocab bytes is all 256 bytes (a prompt with any byte works; losses in nats per byte), and
  # --dtype float64 trains, checkpoints, samples, evaluates and resumes in float64.
  make_corpus()
  run(0 "" train --data ${WORK}/corpus.txt --vocab bytes --dtype float64 --steps 10 --decay-steps 15 --eval-every 5
      --out ${WORK}/run ${tiny})
  if(NOT last_out MATCHES "validation loss [0-9.]+ nats/byte \\([0-9.]+ bits/byte\\)")
    message(FATAL_ERROR "a bytes run does not report nats per byte:\n${last_out}")
  endif()
  run(0 "" inspect ${WORK}/run/checkpoint/model.safetensors)
  if(NOT last_out MATCHES "F64" OR NOT last_out MATCHES "\\[256, 8\\]")
    message(FATAL_ERROR "the float64 bytes model is not [256, 8] float64 embeddings:\n${last_out}")
  endif()
  run(0 "" sample --checkpoint ${WORK}/run --prompt "café ~|\t" --length 20 --seed 2)  # bytes the text never held
  run(0 "" eval --checkpoint ${WORK}/run --data ${WORK}/corpus.txt)
  if(NOT last_out MATCHES "loss [0-9.]+ nats/byte, [0-9.]+ bits/byte over [0-9]+ bytes")
    message(FATAL_ERROR "eval of a bytes model does not report nats per byte:\n${last_out}")
  endif()
  run(0 "" train --resume ${WORK}/run --steps 15 --threads 1 --progress plain)
  run(0 "" train --data ${WORK}/corpus.txt --vocab bytes --dtype float64 --steps 15 --decay-steps 15 --eval-every 5
      --out ${WORK}/straight ${tiny})
  losses_of(run run)
  losses_of(straight straight)
  if(NOT run STREQUAL straight)
    message(FATAL_ERROR "the resumed float64 run differs from the straight one:\n${run}\nvs\n${straight}")
  endif()
  run(1 "^error: --dtype is \"float32\" but the run being resumed used \"float64\"[^\n]*\n$"
      train --resume ${WORK}/run --dtype float32 --steps 20)
elseif(CASE STREQUAL "bench_profile")
  # recur bench train-step --profile: a row per primitive and phase, the time outside them last.
  set(small train-step --hidden 16 --embedding 8 --layers 2 --batch 4 --bptt 8 --steps 3 --untimed-steps 1)
  run(0 "" bench ${small} --profile)
  foreach(row "forward +rnn_forward" "backward +rnn_backward_data" "backward +rnn_backward_weights"
              "forward +gemm" "forward +cross_entropy" "optimizer +optimizer_update"
              "step +outside the primitives")
    if(NOT last_out MATCHES "\n  ${row} +[0-9.]+ +[0-9.]+ +[0-9.]+%")
      message(FATAL_ERROR "bench --profile has no row '${row}':\n${last_out}")
    endif()
  endforeach()
  run(0 "" bench ${small} --profile --json)
  string(JSON rows GET "${last_out}" profile)
  string(JSON count LENGTH "${rows}")
  math(EXPR last "${count} - 1")
  string(JSON op GET "${rows}" ${last} op)
  string(JSON phase GET "${rows}" 0 phase)
  if(count LESS 5 OR NOT op STREQUAL "outside the primitives" OR NOT phase MATCHES "^(forward|backward|optimizer)$")
    message(FATAL_ERROR "bench --profile --json: unexpected profile rows:\n${rows}")
  endif()
  run(0 "" bench ${small})
  if(last_out MATCHES "where a step goes")
    message(FATAL_ERROR "bench without --profile prints a profile:\n${last_out}")
  endif()
elseif(CASE STREQUAL "bench_awd")
  # recur bench train-step runs `recur train`'s step with its options (the same names, checks and
  # messages): AWD-LSTM's regularizers, tied weights, NT-ASGD averaging, --bptt-jitter.
  set(small train-step --hidden 8 --embedding 8 --layers 2 --batch 4 --bptt 8 --steps 1 --untimed-steps 0 --threads 1)
  set(awd --dropout-e 0.1 --dropout-i 0.4 --dropout-h 0.3 --wdrop 0.5 --dropout-o 0.4 --ar 2 --tar 1 --tie-weights)
  run(0 "" bench ${small} ${awd} --optimizer ntasgd --ntasgd-averaging --vocab-size 50)
  if(NOT last_out MATCHES "^train-step lstm I=8 H=8 L=2 B=4 T=8 V=50 on cpu \\([^\n]*\\)\n  median [0-9.]+ ms/step \\(min [0-9.]+\\), [0-9]+ tokens/s, [0-9.]+ GFLOP/s \\([0-9.]+ GFLOP/step\\)\n$")
    message(FATAL_ERROR "bench train-step with AWD-LSTM's options does not print its line:\n${last_out}")
  endif()
  run(0 "" bench ${small} ${awd} --bptt-jitter --optimizer sgd --clip 0.5 --json)
  foreach(key ms_per_step loss dropout_e dropout_h wdrop ar tar tie_weights bptt_jitter optimizer clip)
    string(JSON value ERROR_VARIABLE missing GET "${last_out}" ${key})
    if(missing)
      message(FATAL_ERROR "bench train-step --json has no \"${key}\":\n${last_out}")
    endif()
  endforeach()
  if(NOT last_out MATCHES "\"optimizer\":\"sgd\"" OR NOT last_out MATCHES "\"dropout_h\":0.3[,}]"
     OR NOT last_out MATCHES "\"bptt_jitter\":true")
    message(FATAL_ERROR "bench train-step --json does not report the options given:\n${last_out}")
  endif()
  run(0 "" bench ${small} --dropout-h 0.3 --vocab-size 0)  # the RNN alone
  # A bad value: exit 2 and the message of `recur train`, whose options these are.
  foreach(bad "--dropout-h;1" "--wdrop=-0.5" "--optimizer;adagrad" "--hidden;0" "--mode;lstm2")
    run(2 "^error: [^\n]*\n$" bench ${small} ${bad})
    set(bench_err "${last_err}")
    run(2 "^error: [^\n]*\n$" train --data ${WORK}/none.txt --steps 1 ${bad})
    if(NOT bench_err STREQUAL last_err)
      message(FATAL_ERROR "bench train-step ${bad} says\n${bench_err}but train ${bad} says\n${last_err}")
    endif()
  endforeach()
  run(2 "^error: --dropout-h: must be a number in \\[0, 1\\), got 1\n$" bench ${small} --dropout-h 1)
  run(1 "^error: --tie-weights needs the last RNN layer's output size to equal the embedding size[^\n]*\n$"
      bench train-step --hidden 16 --embedding 8 --batch 4 --bptt 8 --steps 1 --threads 1 --tie-weights)
  run(1 "^error: bench: --ntasgd-averaging averages NT-ASGD's weights, but --optimizer is adam\n$"
      bench ${small} --ntasgd-averaging)
  run(1 "^error: bench: --vocab-size 0 times the RNN alone[^\n]*\n$" bench ${small} --vocab-size 0 --dropout-e 0.1)
  # Its own options keep their names: an old spelling is answered with the new one.
  run(2 "\\(--warmup is now --untimed-steps\\)\n$" bench ${small} --warmup 2)
elseif(CASE STREQUAL "words_tied")
  # --vocab words with --tie-weights and AWD-LSTM's regularizers (the RNN's --dropout-h and --wdrop
  # included): words and punctuation, <unk> for rare words, nats per word and perplexity, a sample
  # of words, an exact resume.
  run(0 "" corpus --out ${WORK}/corpus.txt --chars 12000)
  set(words --vocab words --min-count 2 --max-vocab 150 --tie-weights --proj 8 --dropout-e 0.1 --dropout-i 0.2
            --dropout-o 0.3 --dropout-h 0.25 --wdrop 0.4 --ar 2 --tar 1)
  run(0 "" train --data ${WORK}/corpus.txt ${words} --steps 10 --decay-steps 20 --eval-every 5 --out ${WORK}/run ${tiny})
  if(NOT last_out MATCHES "validation loss [0-9.]+ nats/word \\(perplexity [0-9.]+\\)")
    message(FATAL_ERROR "a words run does not report nats per word and perplexity:\n${last_out}")
  endif()
  if(NOT last_err MATCHES "vocabulary 150 words")
    message(FATAL_ERROR "the run's vocabulary is not 150 words:\n${last_err}")
  endif()
  run(0 "" inspect ${WORK}/run/checkpoint/model.safetensors)
  if(last_out MATCHES "head.weight" OR NOT last_out MATCHES "embedding.weight")
    message(FATAL_ERROR "the tied matrix is not saved once, as embedding.weight:\n${last_out}")
  endif()
  run(0 "" sample --checkpoint ${WORK}/run --prompt "The KING said" --length 30 --seed 2)
  if(NOT last_out MATCHES "^The KING said[ ,.;:!?\n]")
    message(FATAL_ERROR "the sample does not continue the prompt with words:\n${last_out}")
  endif()
  file(WRITE ${WORK}/other.txt "Zyzzyva quux, the KING.\n")
  run(0 "" eval --checkpoint ${WORK}/run --data ${WORK}/other.txt)  # unknown words are <unk>, no error
  if(NOT last_out MATCHES "[0-9]+ of 7 words are <unk>" OR NOT last_out MATCHES
     "loss [0-9.]+ nats/word, perplexity [0-9.]+ over 6 words")
    message(FATAL_ERROR "eval of a words model does not report <unk> words, nats per word and perplexity:\n${last_out}")
  endif()
  run(0 "" train --resume ${WORK}/run --steps 20 --threads 1 --progress plain)
  run(0 "" train --data ${WORK}/corpus.txt ${words} --steps 20 --decay-steps 20 --eval-every 5 --out ${WORK}/straight
      ${tiny})
  losses_of(run run)
  losses_of(straight straight)
  if(NOT run STREQUAL straight)
    message(FATAL_ERROR "the resumed words run differs from the straight one:\n${run}\nvs\n${straight}")
  endif()
  run(1 "^error: --tie-weights needs the last RNN layer's output size to equal the embedding size: the output size is 16 \\(--hidden 16\\), the embedding size 8 \\(--embedding 8\\)\n$"
      train --data ${WORK}/corpus.txt --tie-weights --steps 5 --out ${WORK}/bad ${tiny})
  run(1 "^error: --min-count and --max-vocab apply to --vocab words, not to --vocab chars[^\n]*\n$"
      train --data ${WORK}/corpus.txt --min-count 3 --steps 5 --out ${WORK}/bad ${tiny})
  run(2 "^error: --vocab: [^\n]*\n$" train --data ${WORK}/corpus.txt --vocab sentences --steps 5 --out ${WORK}/bad ${tiny})
  run(2 "^error: --dropout-h: must be a number in \\[0, 1\\), got 1\n$"
      train --data ${WORK}/corpus.txt --dropout-h 1 --steps 5 --out ${WORK}/bad ${tiny})
  run(2 "^error: --wdrop: must be a number in \\[0, 1\\), got -0.5\n$"
      train --data ${WORK}/corpus.txt --wdrop=-0.5 --steps 5 --out ${WORK}/bad ${tiny})
elseif(CASE STREQUAL "precision")
  # --precision f32|bf16|auto (docs/TRAINING.md, "Precision"): bad values exit 2, bf16 with
  # float64 exits 1, auto says which it chose, and a resumed run keeps the run's precision.
  make_corpus()
  run(2 "^error: --precision: fp16 not in [^\n]*\n$" train --data ${WORK}/corpus.txt --steps 5 --precision fp16 ${tiny})
  run(2 "^error: --precision: bfloat16 not in [^\n]*\n$" bench train-step --precision bfloat16 --steps 1)
  run(1 "^error: --precision bf16 rounds the operands of float32 GEMMs, but --dtype float64 [^\n]*\n$"
      train --data ${WORK}/corpus.txt --steps 5 --precision bf16 --dtype float64 --out ${WORK}/bad ${tiny})
  run(1 "^error: bench: --precision bf16 rounds the operands of the CPU's float32 GEMMs[^\n]*\n$"
      bench train-step --precision bf16 --dtype float64 --steps 1)
  if(EXISTS ${WORK}/bad)
    message(FATAL_ERROR "a refused --precision left the run folder ${WORK}/bad behind")
  endif()
  run(0 "CPU GEMM operands: (float32|bfloat16 GEMM operands): [^\n]+\n"
      train --data ${WORK}/corpus.txt --steps 4 --precision auto --out ${WORK}/auto ${tiny})
  run(0 "CPU GEMM operands: (float32|bfloat16 GEMM operands): [^\n]+\n"
      bench train-step --precision auto --hidden 16 --embedding 8 --batch 4 --bptt 8 --steps 1 --untimed-steps 0)
  run(0 "" info)
  if(NOT last_out MATCHES "\nCPU flags: +[^\n]+\nbfloat16 GEMM: +(available|unavailable)")
    message(FATAL_ERROR "recur info does not say whether bfloat16 GEMMs are available:\n${last_out}")
  endif()
  run(0 "" train --data ${WORK}/corpus.txt --steps 4 --out ${WORK}/f32 ${tiny})
  run(1 "^error: --precision is \"bf16\" but the run being resumed used \"f32\"[^\n]*\n$"
      train --resume ${WORK}/f32 --steps 8 --precision bf16 --progress plain)
elseif(CASE STREQUAL "precision_refused")
  # Run with DNNL_MAX_CPU_ISA=AVX512_CORE: oneDNN sees no bfloat16 instructions, so bf16 is refused,
  # naming the instruction sets (avx512_core, or less on a CPU without AVX-512), before a run
  # folder is made; auto falls back to float32.
  make_corpus()
  run(1 "^error: --precision bf16: this CPU has no bfloat16 GEMM instructions \\(oneDNN's ISA here: [a-z0-9_]+; CPU flags: [^)]*\\)[^\n]*\n$"
      train --data ${WORK}/corpus.txt --steps 5 --precision bf16 --out ${WORK}/bad ${tiny})
  if(EXISTS ${WORK}/bad)
    message(FATAL_ERROR "a refused --precision left the run folder ${WORK}/bad behind")
  endif()
  run(1 "^error: --precision bf16: this CPU has no bfloat16 GEMM instructions[^\n]*\n$"
      bench train-step --precision bf16 --steps 1)
  run(0 "CPU GEMM operands: float32: this CPU has no bfloat16 GEMM instructions"
      train --data ${WORK}/corpus.txt --steps 4 --precision auto --out ${WORK}/auto ${tiny})
else()
  message(FATAL_ERROR "unknown CASE ${CASE}")
endif()
