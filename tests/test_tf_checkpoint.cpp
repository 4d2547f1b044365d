// The TensorFlow checkpoint reader (nn/tf_checkpoint.h, nn/sorted_table.h, nn/crc32c.h) on
// checkpoints TensorFlow wrote (tests/fixtures/tensorflow_checkpoints/, made by
// make_tensorflow_checkpoints.py): every dtype it reads, two shards, and truncated and corrupted
// copies, which must be refused with a recur::Error that says what is wrong.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "nn/crc32c.h"
#include "nn/sorted_table.h"
#include "nn/tf_checkpoint.h"
#include "tests/tf_table_writer.h"

namespace recur {
namespace {

std::string checkpoint_prefix(const std::string& name) {
  return std::string(RECUR_TEST_FIXTURES) + "/tensorflow_checkpoints/" + name;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The message of the recur::Error that `body` throws ("" when it throws none).
template <class Body> std::string error_of(Body&& body) {
  try {
    body();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(Crc32c, MatchesTheCastagnoliCheckValueAndMasksReversibly) {
  EXPECT_EQ(nn::crc32c("123456789", 9), 0xe3069283u);
  EXPECT_EQ(nn::crc32c("", 0), 0u);
  const std::string long_text(1000, 'r');
  EXPECT_EQ(nn::crc32c_extend(nn::crc32c(long_text.data(), 3), long_text.data() + 3, 997),
            nn::crc32c(long_text.data(), 1000));
  for (const uint32_t crc : {0u, 1u, 0xe3069283u, 0xffffffffu}) {
    EXPECT_EQ(nn::crc32c_unmask(nn::crc32c_mask(crc)), crc);
    EXPECT_NE(nn::crc32c_mask(crc), crc);
  }
}

TEST(TfCheckpoint, ReadsEveryDtypeFromTwoShards) {
  const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::open(checkpoint_prefix("dtypes"));
  EXPECT_EQ(checkpoint.num_shards(), 2);
  std::vector<std::string> names;
  for (const nn::TfCheckpointEntry& entry : checkpoint.entries()) names.push_back(entry.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bfloat16", "bool", "double", "empty", "float", "half", "int32", "int64",
                                             "scalar", "string"}));
  const std::vector<double> ramp = {-1.0, -0.5, 0.0, 0.5, 1.0, 1.5};
  for (const auto& [name, dtype] : std::vector<std::pair<std::string, DType>>{
           {"float", DType::Float32}, {"half", DType::Float16}, {"bfloat16", DType::BFloat16}}) {
    const Tensor t = checkpoint.read(name);
    EXPECT_EQ(t.dtype(), dtype) << name;
    EXPECT_EQ(t.shape(), (Shape{2, 3})) << name;
    EXPECT_EQ(t.to_vector<double>(), ramp) << name;
  }
  const Tensor d = checkpoint.read("double");
  EXPECT_EQ(d.dtype(), DType::Float64);
  for (size_t i = 0; i < ramp.size(); ++i) EXPECT_EQ(d.to_vector<double>()[i], ramp[i] / 3);
  const Tensor i32 = checkpoint.read("int32");  // widened to recur's int64
  EXPECT_EQ(i32.dtype(), DType::Int64);
  EXPECT_EQ(i32.to_vector<int64_t>(), (std::vector<int64_t>{-7, 0, 2147483647}));
  const Tensor i64 = checkpoint.read("int64");
  EXPECT_EQ(i64.shape(), (Shape{2, 1}));
  EXPECT_EQ(i64.to_vector<int64_t>(), (std::vector<int64_t>{-(int64_t{1} << 40), 5}));
  const Tensor scalar = checkpoint.read("scalar");
  EXPECT_EQ(scalar.shape(), Shape{});
  EXPECT_EQ(scalar.item(), 2.5);
  EXPECT_EQ(checkpoint.read("empty").shape(), (Shape{0, 3}));
  EXPECT_EQ(checkpoint.find("string")->dtype_name, "string");
  EXPECT_EQ(checkpoint.find("bool")->shard, 1);
  EXPECT_NE(error_of([&] { checkpoint.read("string"); }).find("is string; recur reads float"), std::string::npos);
  EXPECT_NE(error_of([&] { checkpoint.read("bool"); }).find("is bool"), std::string::npos);
  EXPECT_NE(error_of([&] { checkpoint.read("nothing"); }).find("no tensor 'nothing'"), std::string::npos);
}

TEST(TfCheckpoint, MissingFilesAreNamed) {
  EXPECT_NE(
      error_of([] { nn::TfCheckpoint::open("/nonexistent/model"); }).find("cannot open '/nonexistent/model.index'"),
      std::string::npos);
  // An index without its shard.
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "recur_tf_checkpoint_missing_shard";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(checkpoint_prefix("cudnn_lstm_f32") + ".index", dir / "model.index",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(dir / "model.data-00000-of-00001");
  EXPECT_NE(error_of([&] { nn::TfCheckpoint::open((dir / "model").string()); }).find("model.data-00000-of-00001"),
            std::string::npos);
  std::filesystem::remove_all(dir);
}

struct Bytes {
  std::string index, shard;
};
Bytes cudnn_lstm_bytes() {
  const std::string prefix = checkpoint_prefix("cudnn_lstm_f32");
  return {read_file(prefix + ".index"), read_file(prefix + ".data-00000-of-00001")};
}

// Reads every tensor of a checkpoint held in memory.
void read_all(const std::string& index, const std::string& shard) {
  const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::from_memory(index, {shard}, "model");
  for (const nn::TfCheckpointEntry& entry : checkpoint.entries()) {
    if (entry.dtype) checkpoint.read(entry.name);
  }
}

TEST(TfCheckpoint, EveryTruncatedIndexIsRefused) {
  const Bytes bytes = cudnn_lstm_bytes();
  ASSERT_EQ(error_of([&] { read_all(bytes.index, bytes.shard); }), "");
  for (size_t size = 0; size < bytes.index.size(); ++size) {
    const std::string message = error_of([&] { read_all(bytes.index.substr(0, size), bytes.shard); });
    EXPECT_NE(message, "") << "an index cut to " << size << " bytes was read";
  }
  EXPECT_NE(error_of([&] { read_all(bytes.index.substr(0, 20), bytes.shard); }).find("48-byte footer"),
            std::string::npos);
}

TEST(TfCheckpoint, EveryFlippedIndexByteIsRefusedOrHarmless) {
  const Bytes bytes = cudnn_lstm_bytes();
  const nn::TfCheckpoint good = nn::TfCheckpoint::from_memory(bytes.index, {bytes.shard}, "model");
  int refused = 0;
  for (size_t at = 0; at < bytes.index.size(); ++at) {
    std::string index = bytes.index;
    index[at] = static_cast<char>(index[at] ^ 0x10);
    const std::string message = error_of([&] {
      const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::from_memory(index, {bytes.shard}, "model");
      // A change the reader cannot see (the footer's padding) must leave the entries as they were.
      ASSERT_EQ(checkpoint.entries().size(), good.entries().size());
      for (size_t i = 0; i < good.entries().size(); ++i) {
        EXPECT_EQ(checkpoint.entries()[i].name, good.entries()[i].name) << "byte " << at;
        EXPECT_EQ(checkpoint.entries()[i].offset, good.entries()[i].offset) << "byte " << at;
      }
    });
    refused += message.empty() ? 0 : 1;
  }
  // What goes unseen: the footer's padding (up to 40 bytes), a restart offset that still points
  // into its block, the index's separator key when it still bounds its block.
  EXPECT_GE(refused, static_cast<int>(bytes.index.size()) - 48);
}

TEST(TfCheckpoint, ACorruptedTensorFailsItsCrc) {
  const Bytes bytes = cudnn_lstm_bytes();
  const nn::TfCheckpoint good = nn::TfCheckpoint::from_memory(bytes.index, {bytes.shard}, "model");
  for (const nn::TfCheckpointEntry& entry : good.entries()) {
    if (!entry.dtype || entry.size == 0) continue;
    std::string shard = bytes.shard;
    shard[entry.offset + entry.size / 2] ^= 1;
    const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::from_memory(bytes.index, {shard}, "model");
    const std::string message = error_of([&] { checkpoint.read(entry.name); });
    EXPECT_NE(message.find("CRC-32C"), std::string::npos) << entry.name << ": " << message;
    EXPECT_NE(message.find("corrupted"), std::string::npos) << message;
  }
}

TEST(TfCheckpoint, ATruncatedShardOrAWrongShardCountIsRefused) {
  const Bytes bytes = cudnn_lstm_bytes();
  const std::string cut = bytes.shard.substr(0, bytes.shard.size() - 1);
  EXPECT_NE(error_of([&] { nn::TfCheckpoint::from_memory(bytes.index, {cut}, "model"); }).find("which has only"),
            std::string::npos);
  EXPECT_NE(error_of([&] { nn::TfCheckpoint::from_memory(bytes.index, {}, "model"); }).find("says 1 shards, 0 were"),
            std::string::npos);
}

// The first data block of a table starts at byte 0: finds its size from its trailer's CRC.
size_t first_block_size(const std::string& index) {
  for (size_t size = 4; size + 5 <= index.size(); ++size) {
    uint32_t stored = 0;
    std::memcpy(&stored, index.data() + size + 1, 4);
    const uint32_t crc = nn::crc32c_extend(nn::crc32c(index.data(), size), index.data() + size, 1);
    if (nn::crc32c_unmask(stored) == crc) return size;
  }
  return 0;
}

// Rewrites the first block's CRC after a change to it.
void fix_first_block_crc(std::string& index, size_t size) {
  const uint32_t masked = nn::crc32c_mask(nn::crc32c_extend(nn::crc32c(index.data(), size), index.data() + size, 1));
  std::memcpy(index.data() + size + 1, &masked, 4);
}

TEST(TfCheckpoint, CompressedBlocksAndBadHeadersAreRefusedClearly) {
  const Bytes bytes = cudnn_lstm_bytes();
  const size_t size = first_block_size(bytes.index);
  ASSERT_GT(size, 0u);
  std::string compressed = bytes.index;
  compressed[size] = 1;  // snappy
  fix_first_block_crc(compressed, size);
  EXPECT_NE(error_of([&] { read_all(compressed, bytes.shard); }).find("is compressed (type 1, snappy)"),
            std::string::npos);
  // The header is the block's first entry: shared 0, unshared 0, value size, then num_shards (field 1).
  std::string no_shards = bytes.index;
  ASSERT_EQ(no_shards.substr(3, 2), std::string("\x08\x01", 2));
  no_shards[4] = 0;
  fix_first_block_crc(no_shards, size);
  EXPECT_NE(error_of([&] { read_all(no_shards, bytes.shard); }).find("the header says 0 shards"), std::string::npos);
  std::string big_endian = bytes.index;  // the endianness field (2) is absent: turn field 1 into field 2
  big_endian[3] = 0x10;
  fix_first_block_crc(big_endian, size);
  EXPECT_NE(error_of([&] { read_all(big_endian, bytes.shard); }).find("big-endian"), std::string::npos);
}

// ---- tables and entries made by hand -----------------------------------------------------

using tf_table::fixed32;
using tf_table::table;
using tf_table::varint;

// A BundleEntryProto: dtype, shape, shard, offset, size and the masked CRC of `bytes`.
std::string entry(int dtype, const std::vector<int64_t>& shape, uint64_t shard, uint64_t size,
                  const std::string& bytes) {
  // A field's tag: its number and wire type.
  const auto tag = [](int number, int wire_type) { return varint(static_cast<uint64_t>(number * 8 + wire_type)); };
  std::string dims;
  for (const int64_t d : shape) {
    const std::string dim = tag(1, 0) + varint(static_cast<uint64_t>(d));
    dims += tag(2, 2);
    dims += varint(dim.size());
    dims += dim;
  }
  std::string out = tag(1, 0);
  out += varint(static_cast<uint64_t>(dtype));
  out += tag(2, 2);
  out += varint(dims.size());
  out += dims;
  out += tag(3, 0);
  out += varint(shard);
  out += tag(5, 0);
  out += varint(size);
  out += tag(6, 5);
  out += fixed32(nn::crc32c_mask(nn::crc32c(bytes.data(), bytes.size())));
  return out;
}

const std::string kHeader = std::string("\x08\x01", 2);  // num_shards 1, little-endian

TEST(SortedTable, ARealIndexWrittenAgainByTheTestWriterReadsTheSame) {
  const Bytes bytes = cudnn_lstm_bytes();
  std::vector<std::pair<std::string, std::string>> entries;
  for (const nn::TableEntry& e : nn::parse_sorted_table(bytes.index, "real")) entries.push_back({e.key, e.value});
  const nn::TfCheckpoint real = nn::TfCheckpoint::from_memory(bytes.index, {bytes.shard}, "real");
  const nn::TfCheckpoint again = nn::TfCheckpoint::from_memory(table(entries), {bytes.shard}, "again");
  ASSERT_EQ(real.entries().size(), again.entries().size());
  for (const nn::TfCheckpointEntry& e : real.entries()) {
    EXPECT_EQ(real.read(e.name).to_vector<double>(), again.read(e.name).to_vector<double>()) << e.name;
  }
}

TEST(SortedTable, ReadsAPrefixCompressedTableAndRefusesDecreasingKeys) {
  const std::vector<nn::TableEntry> entries =
      nn::parse_sorted_table(table({{"layer/bias", "1"}, {"layer/kernel", "22"}, {"layer/kernel2", ""}}), "t");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].key, "layer/kernel");
  EXPECT_EQ(entries[1].value, "22");
  EXPECT_EQ(entries[2].key, "layer/kernel2");
  EXPECT_NE(error_of([] {
              nn::parse_sorted_table(table({{"b", ""}, {"a", ""}}), "t");
            }).find("key 'a' follows 'b': the keys must increase"),
            std::string::npos);
}

TEST(SortedTable, KeysThatExpandWithoutBoundAreRefused) {
  // Each entry shares the whole previous key and adds one byte: 3 bytes of file, a key one longer.
  std::vector<std::pair<std::string, std::string>> entries;
  std::string key;
  for (int i = 0; i < 3000; ++i) entries.push_back({key += 'x', ""});
  const std::string message = error_of([&] { nn::parse_sorted_table(table(entries), "t"); });
  EXPECT_NE(message.find("the keys expand to more than 64 times the table's size"), std::string::npos) << message;
}

TEST(TfCheckpoint, EntriesThatContradictTheirShapesOrShardsAreRefused) {
  const std::string bytes(8, '\x01');
  const auto open = [&](const std::string& value) {
    nn::TfCheckpoint::from_memory(table({{"", kHeader}, {"w", value}}), {bytes}, "model");
  };
  EXPECT_EQ(error_of([&] { open(entry(1, {2}, 0, 8, bytes)); }), "");
  EXPECT_NE(error_of([&] {
              open(entry(1, {3}, 0, 8, bytes));
            }).find("tensor 'w': a float tensor of shape [3] has 12 bytes, but the entry says 8"),
            std::string::npos);
  EXPECT_NE(error_of([&] { open(entry(1, {-1}, 0, 8, bytes)); }).find("dimension 0 has size -1"), std::string::npos);
  EXPECT_NE(error_of([&] { open(entry(1, {2}, 1, 8, bytes)); }).find("shard 1, but the checkpoint has 1 shards"),
            std::string::npos);
  EXPECT_NE(error_of([&] { open(entry(1, {2}, uint64_t{1} << 40, 8, bytes)); }).find("shard_id 1099511627776 is out"),
            std::string::npos);
  EXPECT_NE(error_of([&] { open(entry(2, {2}, 0, 16, bytes)); })
                .find("is 16 bytes at offset 0 of shard 0, which has "
                      "only 8 bytes"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              open(entry(1, {int64_t{1} << 62, 1 << 30}, 0, 8, bytes));
            }).find("has too many elements"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              nn::TfCheckpoint::from_memory(table({{"w", entry(1, {2}, 0, 8, bytes)}}), {bytes}, "model");
            }).find("the first entry must be the header"),
            std::string::npos);
  // A wrong CRC is found when the tensor is read.
  const nn::TfCheckpoint checkpoint = nn::TfCheckpoint::from_memory(
      table({{"", kHeader}, {"w", entry(1, {2}, 0, 8, std::string(8, '\x02'))}}), {bytes}, "model");
  EXPECT_NE(error_of([&] { checkpoint.read("w"); }).find("the data is corrupted"), std::string::npos);
}

}  // namespace
}  // namespace recur
