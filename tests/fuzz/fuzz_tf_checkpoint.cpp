// The TensorFlow checkpoint reader (nn/tf_checkpoint.h) and the RNN conversion
// (nn/tf_rnn_convert.h) on any bytes: a checkpoint, or a recur::Error.
//
// Input: a selector byte (bits 0-1: the number of shards k - 1; bit 7: the index is given as
// entries), then the index and the k shards, each as a 4-byte little-endian length and its bytes
// (lengths beyond the input's end are cut there). Given as entries, the index part is a list of
// (varint length, key, varint length, value), the first value being the header's: the target
// writes them into a table with valid CRCs (tests/tf_table_writer.h), so that the fuzzer reaches
// the BundleEntryProto records behind the CRC checks. The seeds (corpus/tf_checkpoint/) are
// checkpoints TensorFlow wrote, in both forms.
#include <algorithm>
#include <cstring>
#include <map>
#include <string_view>

#include "nn/tf_checkpoint.h"
#include "nn/tf_rnn_convert.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/tf_table_writer.h"

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

// A varint of the entries' list, 0 past the end.
uint64_t take_varint(std::string_view& bytes) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64 && !bytes.empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(bytes.front());
    bytes.remove_prefix(1);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) break;
  }
  return value;
}

// The index written from a list of entries: the header first, the others in key order.
std::string index_from_entries(std::string_view list) {
  std::map<std::string, std::string> entries;
  std::string header;
  bool first = true;
  while (!list.empty()) {
    const uint64_t key_size = std::min<uint64_t>(take_varint(list), list.size());
    std::string key(list.substr(0, key_size));
    list.remove_prefix(key_size);
    const uint64_t value_size = std::min<uint64_t>(take_varint(list), list.size());
    std::string value(list.substr(0, value_size));
    list.remove_prefix(value_size);
    if (first) {
      header = std::move(value);
      first = false;
    } else if (!key.empty()) {
      entries[std::move(key)] = std::move(value);
    }
  }
  std::vector<std::pair<std::string, std::string>> table{{"", header}};
  table.insert(table.end(), entries.begin(), entries.end());
  return recur::tf_table::table(table);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t shards = (data[0] & 3) + 1;
  const bool as_entries = (data[0] & 0x80) != 0;
  ++data, --size;
  std::string index = take_part(data, size);
  if (as_entries) index = index_from_entries(index);
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
