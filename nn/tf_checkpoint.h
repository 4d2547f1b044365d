// TensorFlow's checkpoint format (a "tensor bundle", tensorflow/core/util/tensor_bundle), read
// from untrusted files. A checkpoint PREFIX is two kinds of file:
//
//   PREFIX.index                  a LevelDB sorted table (nn/sorted_table.h) from names to
//                                 BundleEntryProto records; its first key, "", holds the
//                                 BundleHeaderProto: num_shards (1), endianness (2: 0 little,
//                                 1 big), version (3)
//   PREFIX.data-SSSSS-of-NNNNN    the tensors' raw bytes, row-major, in shard S of N (from 0)
//
// BundleEntryProto: dtype (1, TensorFlow's DataType number), shape (2, a TensorShapeProto:
// dim (2) { size (1) }), shard_id (3), offset (4) and size (5) in bytes within the shard,
// crc32c (6, fixed32: the masked CRC-32C of the tensor's bytes, nn/crc32c.h), slices (7, for a
// partitioned variable).
//
// Every entry is checked when the checkpoint is opened: the header first, little-endian, shard
// numbers below num_shards, each tensor's bytes within its shard file, and for the numeric
// dtypes the size equal to the shape's elements times the element size. A read checks the CRC.
// recur reads float, double, half, bfloat16, int32 (widened to int64, recur's integer type) and
// int64 tensors; the others (strings such as a tf.train.Checkpoint's object graph, bools,
// partitioned variables) are listed with their dtype name and refused by read().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace recur::nn {

struct TfCheckpointEntry {
  std::string name;
  int tf_dtype = 0;            // TensorFlow's DataType number (1 float, 2 double, 3 int32, ...)
  std::string dtype_name;      // "float", "double", "half", "bfloat16", "int32", "int64", "string", ...
  std::optional<DType> dtype;  // what read() returns; none when recur does not read it
  Shape shape;
  int64_t shard = 0;
  uint64_t offset = 0, size = 0;  // bytes within the shard
  uint32_t crc32c = 0;            // of the tensor's bytes, unmasked
  bool sliced = false;            // a partitioned variable's entry
};

class TfCheckpoint {
 public:
  // Opens PREFIX.index and checks every entry against the shard files' sizes.
  static TfCheckpoint open(const std::string& prefix);
  // The same from bytes held in memory (shards[s] is shard s); messages name `name`.
  static TfCheckpoint from_memory(std::string index, std::vector<std::string> shards, const std::string& name);

  const std::string& name() const { return name_; }
  int64_t num_shards() const { return num_shards_; }
  // The tensors in name order (the header excluded).
  const std::vector<TfCheckpointEntry>& entries() const { return entries_; }
  const TfCheckpointEntry* find(const std::string& name) const;
  // The tensor `name` on the CPU, its CRC checked; recur::Error for a missing name, a dtype
  // recur does not read, a sliced entry or a CRC mismatch.
  Tensor read(const std::string& name) const;

 private:
  TfCheckpoint() = default;
  // Reads the header and the entries; then checks the entries against the shards' sizes.
  void parse_index(const std::string& index);
  void check_shards(const std::vector<uint64_t>& shard_sizes) const;

  std::string name_;
  std::string prefix_;               // files: empty when in memory
  std::vector<std::string> shards_;  // in memory: the shards' bytes
  int64_t num_shards_ = 0;
  std::vector<TfCheckpointEntry> entries_;
};

// "PREFIX.data-00001-of-00004".
std::string tf_shard_path(const std::string& prefix, int64_t shard, int64_t num_shards);

}  // namespace recur::nn
