// The safetensors reader (nn/safetensors.h) on any bytes: a file, or a recur::Error.
#include <cstring>

#include "nn/safetensors.h"
#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes = recur::fuzz::bytes_of(data, size);
  return recur::fuzz::run([&] {
    const recur::nn::SafetensorsFile file = recur::nn::parse_safetensors(bytes, "fuzz.safetensors");
    // A file that parses is its header and exactly its tensors' bytes.
    uint64_t header_size = 0;
    std::memcpy(&header_size, data, 8);
    uint64_t tensor_bytes = 0;
    for (const auto& [name, tensor] : file.tensors) tensor_bytes += tensor.nbytes();
    RECUR_FUZZ_ASSERT(8 + header_size + tensor_bytes == size);
  });
}
