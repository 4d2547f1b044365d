#include "nn/sorted_table.h"

#include "core/error.h"
#include "nn/crc32c.h"
#include "nn/wire_format.h"

namespace recur::nn {
namespace {

constexpr uint64_t kTableMagic = 0xdb4775248b80fb57ull;
constexpr size_t kFooterSize = 48;
constexpr size_t kTrailerSize = 5;  // compression type and masked CRC
// A key shares a prefix with the previous one for free, so n entries of a few bytes each can
// spell keys of n bytes each: the keys may add up to at most this many times the table's size
// (plus 1 MiB), which real tables stay far below, so that a crafted one cannot make the reader
// allocate without bound.
constexpr uint64_t kKeyExpansion = 64;

struct BlockHandle {
  uint64_t offset = 0, size = 0;
};

BlockHandle read_handle(WireReader& reader) {
  BlockHandle handle;
  handle.offset = reader.varint();
  handle.size = reader.varint();
  return handle;
}

// The contents of the block at `handle`, its trailer checked.
std::string_view block_contents(std::string_view table, const BlockHandle& handle, const std::string& what) {
  RECUR_CHECK(handle.offset <= table.size() && handle.size <= table.size() - handle.offset &&
                  kTrailerSize <= table.size() - handle.offset - handle.size,
              "{}: the block at byte {} of {} bytes (and its 5-byte trailer) runs past the table's end ({} bytes)",
              what, handle.offset, handle.size, table.size());
  const std::string_view block = table.substr(handle.offset, handle.size);
  const auto type = static_cast<uint8_t>(table[handle.offset + handle.size]);
  RECUR_CHECK(type == 0,
              "{}: the block at byte {} is compressed (type {}, {}); recur reads uncompressed tables only, as "
              "TensorFlow writes its checkpoint index",
              what, handle.offset, type,
              type == 1   ? "snappy"
              : type == 2 ? "zstd"
                          : "unknown");
  WireReader trailer(table.substr(handle.offset + handle.size + 1, 4), what);
  const uint32_t stored = crc32c_unmask(trailer.fixed32());
  const uint32_t actual = crc32c_extend(crc32c(block.data(), block.size()), &table[handle.offset + handle.size], 1);
  RECUR_CHECK(stored == actual, "{}: the block at byte {} of {} bytes has CRC-32C {:08x}, its trailer says {:08x}",
              what, handle.offset, handle.size, actual, stored);
  return block;
}

// Appends the entries of one block to `out`, whose keys it must follow in increasing order.
// `key_budget` is how many key bytes the table may still expand to (see kKeyExpansion).
void read_block(std::vector<TableEntry>& out, std::string_view block, const std::string& what, uint64_t& key_budget) {
  RECUR_CHECK(block.size() >= 4, "{}: a block of {} bytes cannot hold its restart count", what, block.size());
  WireReader tail(block.substr(block.size() - 4), what);
  const uint64_t restarts = tail.fixed32();
  RECUR_CHECK(restarts >= 1 && restarts <= (block.size() - 4) / 4,
              "{}: a block of {} bytes says it has {} restart points (expected 1 to {})", what, block.size(), restarts,
              (block.size() - 4) / 4);
  const size_t entries_end = block.size() - 4 - 4 * restarts;
  WireReader restart_reader(block.substr(entries_end, 4 * restarts), what);
  for (uint64_t r = 0; r < restarts; ++r) {
    const uint32_t offset = restart_reader.fixed32();
    RECUR_CHECK(offset < entries_end || (offset == 0 && entries_end == 0),
                "{}: restart point {} is at byte {}, past the block's entries ({} bytes)", what, r, offset,
                entries_end);
  }
  WireReader reader(block.substr(0, entries_end), what);
  std::string key;  // each block starts afresh: its first entry shares nothing
  bool first_in_block = true;
  while (!reader.done()) {
    const uint32_t shared = reader.varint32();
    const uint32_t unshared = reader.varint32();
    const uint32_t value_size = reader.varint32();
    RECUR_CHECK(shared <= key.size(), "{}: an entry shares {} bytes with the previous key, which has {}", what, shared,
                key.size());
    RECUR_CHECK(!first_in_block || shared == 0, "{}: a block's first entry shares {} bytes with no previous key", what,
                shared);
    key.resize(shared);
    key.append(reader.take(unshared));
    const std::string_view value = reader.take(value_size);
    RECUR_CHECK(key.size() <= key_budget,
                "{}: the keys expand to more than {} times the table's size (prefix compression gone wrong?)", what,
                kKeyExpansion);
    key_budget -= key.size();
    RECUR_CHECK(out.empty() || out.back().key < key, "{}: key '{}' follows '{}': the keys must increase", what,
                printable(key), out.empty() ? std::string() : printable(out.back().key));
    out.push_back({key, std::string(value)});
    first_in_block = false;
  }
}

}  // namespace

std::vector<TableEntry> parse_sorted_table(std::string_view bytes, const std::string& name) {
  RECUR_CHECK(bytes.size() >= kFooterSize, "{}: {} bytes is shorter than a table's 48-byte footer", name, bytes.size());
  const std::string_view footer = bytes.substr(bytes.size() - kFooterSize);
  WireReader magic_reader(footer.substr(40), name);
  const uint64_t magic = magic_reader.fixed64();
  RECUR_CHECK(magic == kTableMagic, "{}: the footer's magic number is {:#018x}, expected {:#018x} (a LevelDB table)",
              name, magic, kTableMagic);
  WireReader footer_reader(footer.substr(0, 40), name + " (footer)");
  const BlockHandle metaindex_handle = read_handle(footer_reader);
  const BlockHandle index_handle = read_handle(footer_reader);
  const std::string_view table = bytes.substr(0, bytes.size() - kFooterSize);
  // The metaindex lists filter and meta blocks, which TensorFlow does not write: only its CRC is checked.
  block_contents(table, metaindex_handle, name + " (metaindex block)");

  uint64_t index_budget = kKeyExpansion * bytes.size() + (1u << 20), key_budget = index_budget;
  std::vector<TableEntry> index;
  read_block(index, block_contents(table, index_handle, name + " (index block)"), name + " (index block)",
             index_budget);
  std::vector<TableEntry> out;
  uint64_t previous_end = 0;
  for (size_t b = 0; b < index.size(); ++b) {
    const std::string what = fmt::format("{} (data block {})", name, b);
    WireReader handle_reader(index[b].value, what + " handle");
    const BlockHandle handle = read_handle(handle_reader);
    RECUR_CHECK(handle_reader.done(), "{}: its handle has {} extra bytes", what, handle_reader.remaining());
    // Data blocks follow one another in order, so no block is read twice and the work stays
    // proportional to the file's size.
    RECUR_CHECK(handle.offset >= previous_end, "{}: it starts at byte {}, before the previous block ends (byte {})",
                what, handle.offset, previous_end);
    const size_t before = out.size();
    read_block(out, block_contents(table, handle, what), what, key_budget);
    RECUR_CHECK(out.size() > before, "{}: the block is empty", what);
    RECUR_CHECK(out.back().key <= index[b].key, "{}: its last key '{}' is past the index's separator '{}'", what,
                printable(out.back().key), printable(index[b].key));
    previous_end = handle.offset + handle.size + kTrailerSize;
  }
  return out;
}

}  // namespace recur::nn
