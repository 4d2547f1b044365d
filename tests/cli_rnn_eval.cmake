# Runs `recur rnn-eval` on one case and checks its exit status and output (ctest, see
# tests/CMakeLists.txt): cmake -DRECUR=<recur program> -DFIXTURES=<dir> -DWORK=<scratch dir>
#                              -DCASE=<fixture|tensorflow_fixture|not_a_case|missing> -P cli_rnn_eval.cmake
file(MAKE_DIRECTORY ${WORK})
set(out_file ${WORK}/${CASE}.out.safetensors)
if(CASE STREQUAL "fixture")
  # A PyTorch fixture: the results file must list y, hn, cn and every gradient.
  set(file ${FIXTURES}/rnn/lstm_proj_2layer_bi_f64.safetensors)
  set(expect_code 0)
  set(names y hn cn grad.x grad.h0 grad.c0 grad.weight_ih_l1_reverse grad.weight_hr_l0)
elseif(CASE STREQUAL "tensorflow_fixture")
  # A TensorFlow LSTMCell with every option (peepholes, clips, num_proj > num_units, forget_bias, ReLU),
  # read from the case's metadata.
  set(file ${FIXTURES}/tensorflow/lstmcell_all_f64.safetensors)
  set(expect_code 0)
  set(names y hn cn grad.x grad.h0 grad.c0 grad.weight_peephole_l0 grad.weight_hr_l0)
elseif(CASE STREQUAL "not_a_case")
  # A valid safetensors file that is not an RNN case (no options in its metadata).
  set(file ${FIXTURES}/reference.safetensors)
  set(expect_code 1)
  set(expect_err "^error: [^\n]*metadata 'mode' is missing\n$")
elseif(CASE STREQUAL "missing")
  set(file ${WORK}/no_such_case.safetensors)
  set(expect_code 1)
  set(expect_err "^error: [^\n]*no_such_case.safetensors[^\n]*\n$")
else()
  message(FATAL_ERROR "unknown CASE ${CASE}")
endif()

execute_process(COMMAND ${RECUR} rnn-eval ${file} ${out_file} RESULT_VARIABLE code OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(NOT code EQUAL expect_code)
  message(FATAL_ERROR "recur rnn-eval ${file}: exit status ${code}, expected ${expect_code}\nstdout: ${out}\nstderr: ${err}")
endif()
if(DEFINED expect_err AND NOT err MATCHES "${expect_err}")
  message(FATAL_ERROR "recur rnn-eval ${file}: stderr does not match '${expect_err}':\n${err}")
endif()
if(code EQUAL 0)
  execute_process(COMMAND ${RECUR} inspect ${out_file} RESULT_VARIABLE code OUTPUT_VARIABLE listing)
  foreach(name IN LISTS names)
    if(NOT listing MATCHES "(^|\n) *${name} ")
      message(FATAL_ERROR "recur rnn-eval wrote no '${name}':\n${listing}")
    endif()
  endforeach()
endif()
