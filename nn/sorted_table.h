// LevelDB's sorted string table (leveldb doc/table_format.md), the format of a TensorFlow
// checkpoint's index, read from untrusted bytes.
//
//   [data block 0] ... [data block n-1] [meta blocks] [metaindex block] [index block] [footer]
//   footer (48 bytes): metaindex handle, index handle (each offset and size as varints), zero
//                      padding to 40 bytes, magic 0xdb4775248b80fb57 (fixed64)
//   block:             entries, then restart offsets (fixed32 each) and their count (fixed32),
//                      followed by a trailer: compression type (1 byte, 0 = none) and the masked
//                      CRC-32C of the block and its type byte (fixed32)
//   entry:             shared key bytes, unshared key bytes, value bytes (varints), the key's
//                      unshared suffix, the value: each key is the previous one's first `shared`
//                      bytes plus its suffix
//   index block:       one entry per data block, its value the block's handle
//
// Every block's CRC is checked, compressed blocks are refused (TensorFlow writes its index
// uncompressed), the keys must increase strictly from entry to entry and block to block, and
// the keys may add up to at most 64 times the table's size plus 1 MiB (shared prefixes cost
// nothing in the file, so a crafted table could otherwise spell keys without bound).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace recur::nn {

struct TableEntry {
  std::string key;
  std::string value;
};

// The table's entries in key order; recur::Error naming `name` and the problem on a malformed
// table.
std::vector<TableEntry> parse_sorted_table(std::string_view bytes, const std::string& name);

}  // namespace recur::nn
