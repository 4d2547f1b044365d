// A minimal writer of LevelDB tables (nn/sorted_table.h describes the format), for the tests and
// the tf_checkpoint fuzz target: it makes tables with valid CRCs from chosen entries, so that
// what lies behind the CRC checks (the entries, TensorFlow's BundleEntryProto records) can be
// tested and fuzzed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nn/crc32c.h"

namespace recur::tf_table {

inline std::string varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) out += static_cast<char>((v & 0x7f) | 0x80), v >>= 7;
  return out + static_cast<char>(v);
}
inline std::string fixed32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }

// A block (entries prefix-compressed, one restart point) and its trailer.
inline std::string block(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, previous;
  for (const auto& [key, value] : entries) {
    size_t shared = 0;
    while (shared < key.size() && shared < previous.size() && key[shared] == previous[shared]) ++shared;
    out += varint(shared) + varint(key.size() - shared) + varint(value.size()) + key.substr(shared) + value;
    previous = key;
  }
  out += fixed32(0) + fixed32(1);
  const uint32_t crc = nn::crc32c_mask(nn::crc32c_extend(nn::crc32c(out.data(), out.size()), "\0", 1));
  return out + std::string(1, '\0') + fixed32(crc);
}

// A table of one data block, as LevelDB lays it out.
inline std::string table(const std::vector<std::pair<std::string, std::string>>& entries) {
  const std::string data = block(entries);
  const std::string metaindex = block({});
  const std::string index = block({{entries.empty() ? "" : entries.back().first, varint(0) + varint(data.size() - 5)}});
  std::string footer = varint(data.size()) + varint(metaindex.size() - 5) + varint(data.size() + metaindex.size()) +
                       varint(index.size() - 5);
  footer.resize(40, '\0');
  const uint64_t magic = 0xdb4775248b80fb57ull;
  footer += std::string(reinterpret_cast<const char*>(&magic), 8);
  return data + metaindex + index + footer;
}

}  // namespace recur::tf_table
