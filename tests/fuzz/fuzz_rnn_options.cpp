// The RNN options JSON (nn/rnn_options.h): options or a recur::Error; options that parse
// survive a round trip through their JSON unchanged.
#include <nlohmann/json.hpp>

#include "nn/rnn_options.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = recur::fuzz::bytes_of(data, size);
  return recur::fuzz::run([&] {
    const recur::nn::RNNOptions options = recur::nn::options_from_json(text);
    const std::string json = recur::nn::options_to_json(options);
    RECUR_FUZZ_ASSERT(recur::nn::options_to_json(recur::nn::options_from_json(json)) == json);
  });
}
