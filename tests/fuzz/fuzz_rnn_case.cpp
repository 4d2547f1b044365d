// `recur rnn-eval`'s case reader: a safetensors file, its metadata read as RNN options, then
// run forward and backward (examples/rnn_case.h). Any bytes give results or a recur::Error.
#include "examples/rnn_case.h"
#include "nn/safetensors.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes = recur::fuzz::bytes_of(data, size);
  return recur::fuzz::run([&] {
    const recur::nn::SafetensorsFile file = recur::nn::parse_safetensors(bytes, "fuzz.safetensors");
    const recur::StateDict result = recur::rnn_case::evaluate(file.tensors, file.metadata);
    RECUR_FUZZ_ASSERT(result.count("y") == 1 && result.count("grad.x") == 1);
  });
}
