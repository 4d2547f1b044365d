// The TensorFlow checkpoint reader (nn/tf_checkpoint.h) and the RNN conversion
// (nn/tf_rnn_convert.h) on any bytes: a checkpoint, or a recur::Error.
//
// Input: the number of shards k (1 byte, k = byte % 4 + 1), then the index and the k shards, each
// as a 4-byte little-endian length and its bytes (lengths beyond the input's end are cut there).
// The seeds (corpus/tf_checkpoint/) are checkpoints TensorFlow wrote, in this form.
#include <cstring>

#include "nn/tf_checkpoint.h"
#include "nn/tf_rnn_convert.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

std::string take_part(const uint8_t*& data, size_t& size) {
  uint32_t length = 0;
  if (size >= 4) std::memcpy(&length, data, 4);
  const size_t skip = size >= 4 ? 4 : size;
  data += skip, size -= skip;
  const size_t n = length < size ? length : size;
  std::string out(reinterpret_cast<const char*>(data), n);
  data += n, size -= n;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t shards = data[0] % 4 + 1;
  ++data, --size;
  std::string index = take_part(data, size);
  std::vector<std::string> parts;
  for (size_t s = 0; s < shards; ++s) parts.push_back(take_part(data, size));
  return recur::fuzz::run([&] {
    const recur::nn::TfCheckpoint checkpoint =
        recur::nn::TfCheckpoint::from_memory(std::move(index), std::move(parts), "fuzz");
    for (const recur::nn::TfCheckpointEntry& entry : checkpoint.entries()) {
      if (!entry.dtype) continue;
      try {
        const recur::Tensor t = checkpoint.read(entry.name);
        // A tensor read is its entry's bytes (int32 widened to int64).
        RECUR_FUZZ_ASSERT(t.nbytes() == (entry.tf_dtype == 3 ? 2 * entry.size : entry.size));
      } catch (const recur::Error&) {
      }
    }
    recur::nn::convert_tf_rnn(checkpoint);
  });
}
