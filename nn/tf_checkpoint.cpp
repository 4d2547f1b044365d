#include "nn/tf_checkpoint.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "nn/crc32c.h"
#include "nn/input_file.h"
#include "nn/sorted_table.h"
#include "nn/wire_format.h"

namespace recur::nn {

static_assert(std::endian::native == std::endian::little,
              "recur reads little-endian checkpoints by copying their bytes as they are");

namespace {

constexpr int64_t kMaxShards = 1 << 20;
constexpr size_t kMaxRank = 64;
constexpr uint64_t kMaxIndexBytes = uint64_t{1} << 30;

struct TfDTypeInfo {
  int number;
  const char* name;
  size_t size;  // bytes per element in the file; 0 = variable (strings) or not read
  std::optional<DType> dtype;
};

constexpr TfDTypeInfo kDTypes[] = {
    {1, "float", 4, DType::Float32},      {2, "double", 8, DType::Float64},     {3, "int32", 4, DType::Int64},
    {4, "uint8", 1, std::nullopt},        {5, "int16", 2, std::nullopt},        {6, "int8", 1, std::nullopt},
    {7, "string", 0, std::nullopt},       {8, "complex64", 8, std::nullopt},    {9, "int64", 8, DType::Int64},
    {10, "bool", 1, std::nullopt},        {14, "bfloat16", 2, DType::BFloat16}, {17, "uint16", 2, std::nullopt},
    {18, "complex128", 16, std::nullopt}, {19, "half", 2, DType::Float16},      {20, "resource", 0, std::nullopt},
    {21, "variant", 0, std::nullopt},     {22, "uint32", 4, std::nullopt},      {23, "uint64", 8, std::nullopt},
};

const TfDTypeInfo* dtype_info(int number) {
  for (const TfDTypeInfo& info : kDTypes) {
    if (info.number == number) return &info;
  }
  return nullptr;
}

// TensorShapeProto: dim (2) { size (1), name (2) }, unknown_rank (3).
Shape parse_shape(std::string_view bytes, const std::string& what) {
  WireReader reader(bytes, what + " shape");
  Shape shape;
  while (!reader.done()) {
    const WireReader::Field field = reader.field();
    if (field.number == 3 && field.wire_type == 0) {
      RECUR_CHECK(field.value == 0, "{}: the shape has an unknown rank, expected a fully defined shape", what);
    }
    if (field.number != 2) continue;
    RECUR_CHECK(field.wire_type == 2, "{}: a shape dimension has wire type {}, expected 2", what, field.wire_type);
    RECUR_CHECK(shape.size() < kMaxRank, "{}: the shape has more than {} dimensions", what, kMaxRank);
    WireReader dim(field.bytes, what + " shape dimension");
    int64_t size = 0;
    while (!dim.done()) {
      const WireReader::Field f = dim.field();
      if (f.number == 1 && f.wire_type == 0) size = static_cast<int64_t>(f.value);
    }
    RECUR_CHECK(size >= 0, "{}: dimension {} has size {}, expected a size of 0 or more", what, shape.size(), size);
    shape.push_back(size);
  }
  return shape;
}

TfCheckpointEntry parse_entry(const std::string& name, std::string_view value, const std::string& what) {
  TfCheckpointEntry entry;
  entry.name = name;
  WireReader reader(value, what);
  bool has_dtype = false;
  while (!reader.done()) {
    const WireReader::Field f = reader.field();
    const bool varint = f.wire_type == 0;
    switch (f.number) {
      case 1:
        RECUR_CHECK(varint && f.value <= 1000, "{}: the dtype field is not a DataType number", what);
        entry.tf_dtype = static_cast<int>(f.value);
        has_dtype = true;
        break;
      case 2:
        RECUR_CHECK(f.wire_type == 2, "{}: the shape field has wire type {}, expected 2", what, f.wire_type);
        entry.shape = parse_shape(f.bytes, what);
        break;
      case 3:
        RECUR_CHECK(varint, "{}: shard_id has wire type {}, expected 0", what, f.wire_type);
        RECUR_CHECK(f.value <= static_cast<uint64_t>(kMaxShards), "{}: shard_id {} is out of range", what, f.value);
        entry.shard = static_cast<int64_t>(f.value);
        break;
      case 4:
      case 5:
        RECUR_CHECK(varint, "{}: {} has wire type {}, expected 0", what, f.number == 4 ? "offset" : "size",
                    f.wire_type);
        (f.number == 4 ? entry.offset : entry.size) = f.value;
        break;
      case 6:
        RECUR_CHECK(f.wire_type == 5, "{}: crc32c has wire type {}, expected 5 (fixed32)", what, f.wire_type);
        entry.crc32c = crc32c_unmask(static_cast<uint32_t>(f.value));
        break;
      case 7: entry.sliced = true; break;
      default: break;  // fields recur does not use
    }
  }
  RECUR_CHECK(has_dtype, "{}: the entry has no dtype", what);
  const TfDTypeInfo* info = dtype_info(entry.tf_dtype);
  entry.dtype_name = info != nullptr ? info->name : fmt::format("dtype {}", entry.tf_dtype);
  if (info != nullptr && !entry.sliced) entry.dtype = info->dtype;
  if (info != nullptr && info->size > 0 && !entry.sliced) {
    uint64_t elements = 1;
    for (const int64_t dim : entry.shape) {
      RECUR_CHECK(dim == 0 || elements <= std::numeric_limits<uint64_t>::max() / 16 / static_cast<uint64_t>(dim),
                  "{}: the shape {} has too many elements", what, shape_str(entry.shape));
      elements *= static_cast<uint64_t>(dim);
    }
    RECUR_CHECK(entry.size == elements * info->size, "{}: a {} tensor of shape {} has {} bytes, but the entry says {}",
                what, info->name, shape_str(entry.shape), elements * info->size, entry.size);
  }
  return entry;
}

}  // namespace

std::string tf_shard_path(const std::string& prefix, int64_t shard, int64_t num_shards) {
  return fmt::format("{}.data-{:05d}-of-{:05d}", prefix, shard, num_shards);
}

void TfCheckpoint::parse_index(const std::string& index) {
  const std::vector<TableEntry> table = parse_sorted_table(index, name_ + ".index");
  RECUR_CHECK(!table.empty() && table[0].key.empty(), "{}.index: the first entry must be the header (key \"\"), got {}",
              name_, table.empty() ? std::string("no entries") : fmt::format("'{}'", printable(table[0].key)));
  WireReader header(table[0].value, name_ + ".index header");
  int64_t num_shards = 0;
  while (!header.done()) {
    const WireReader::Field f = header.field();
    if (f.number == 1 && f.wire_type == 0) num_shards = static_cast<int32_t>(static_cast<uint32_t>(f.value));
    if (f.number == 2 && f.wire_type == 0) {
      RECUR_CHECK(f.value == 0, "{}.index: the checkpoint is {}, recur reads little-endian ones", name_,
                  f.value == 1 ? "big-endian" : fmt::format("of endianness {}", f.value));
    }
  }
  RECUR_CHECK(num_shards >= 1 && num_shards <= kMaxShards, "{}.index: the header says {} shards, expected 1 to {}",
              name_, num_shards, kMaxShards);
  num_shards_ = num_shards;
  entries_.reserve(table.size() - 1);
  for (size_t i = 1; i < table.size(); ++i) {
    const std::string what = fmt::format("{}.index: tensor '{}'", name_, printable(table[i].key));
    TfCheckpointEntry entry = parse_entry(table[i].key, table[i].value, what);
    RECUR_CHECK(entry.shard < num_shards_, "{}: shard {}, but the checkpoint has {} shards", what, entry.shard,
                num_shards_);
    entries_.push_back(std::move(entry));
  }
}

void TfCheckpoint::check_shards(const std::vector<uint64_t>& shard_sizes) const {
  for (const TfCheckpointEntry& entry : entries_) {
    const uint64_t shard_size = shard_sizes[static_cast<size_t>(entry.shard)];
    RECUR_CHECK(entry.offset <= shard_size && entry.size <= shard_size - entry.offset,
                "{}: tensor '{}' is {} bytes at offset {} of shard {}, which has only {} bytes", name_,
                printable(entry.name), entry.size, entry.offset, entry.shard, shard_size);
  }
}

TfCheckpoint TfCheckpoint::open(const std::string& prefix) {
  TfCheckpoint checkpoint;
  checkpoint.name_ = prefix;
  checkpoint.prefix_ = prefix;
  std::string index;
  {
    const InputFile file(prefix + ".index", "a TensorFlow checkpoint index (PREFIX.index)");
    RECUR_CHECK(file.size() <= kMaxIndexBytes, "{}: the index has {} bytes, more than recur reads ({})", file.path(),
                file.size(), kMaxIndexBytes);
    index.resize(file.size());
    file.read(index.data(), index.size(), 0);
  }
  checkpoint.parse_index(index);
  std::vector<uint64_t> sizes;
  for (int64_t s = 0; s < checkpoint.num_shards_; ++s) {
    sizes.push_back(InputFile(tf_shard_path(prefix, s, checkpoint.num_shards_), "a checkpoint shard").size());
  }
  checkpoint.check_shards(sizes);
  return checkpoint;
}

TfCheckpoint TfCheckpoint::from_memory(std::string index, std::vector<std::string> shards, const std::string& name) {
  TfCheckpoint checkpoint;
  checkpoint.name_ = name;
  checkpoint.parse_index(index);
  RECUR_CHECK(static_cast<int64_t>(shards.size()) == checkpoint.num_shards_,
              "{}: the header says {} shards, {} were given", name, checkpoint.num_shards_, shards.size());
  std::vector<uint64_t> sizes;
  for (const std::string& shard : shards) sizes.push_back(shard.size());
  checkpoint.check_shards(sizes);
  checkpoint.shards_ = std::move(shards);
  return checkpoint;
}

const TfCheckpointEntry* TfCheckpoint::find(const std::string& name) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), name,
                             [](const TfCheckpointEntry& e, const std::string& n) { return e.name < n; });
  return it != entries_.end() && it->name == name ? &*it : nullptr;
}

Tensor TfCheckpoint::read(const std::string& name) const {
  const TfCheckpointEntry* entry = find(name);
  RECUR_CHECK(entry != nullptr, "{}: no tensor '{}' in the checkpoint ({} tensors)", name_, printable(name),
              entries_.size());
  RECUR_CHECK(!entry->sliced,
              "{}: tensor '{}' is a partitioned variable (its entry has slices); recur reads whole "
              "tensors only",
              name_, printable(name));
  RECUR_CHECK(entry->dtype.has_value(),
              "{}: tensor '{}' is {}; recur reads float, double, half, bfloat16, int32 and int64", name_,
              printable(name), entry->dtype_name);
  // Non-int32 tensors are read straight into their storage; int32 ones through a buffer.
  Tensor out = empty(entry->shape, TensorOptions().with_dtype(*entry->dtype));
  std::string buffer;
  char* bytes = static_cast<char*>(out.raw_data());
  if (entry->tf_dtype == 3) {
    buffer.resize(entry->size);
    bytes = buffer.data();
  }
  if (entry->size > 0) {
    if (prefix_.empty()) {
      std::memcpy(bytes, shards_[static_cast<size_t>(entry->shard)].data() + entry->offset, entry->size);
    } else {
      const InputFile file(tf_shard_path(prefix_, entry->shard, num_shards_), "a checkpoint shard");
      file.read(bytes, entry->size, entry->offset);
    }
  }
  const uint32_t actual = crc32c(bytes, entry->size);
  RECUR_CHECK(actual == entry->crc32c,
              "{}: tensor '{}' ({} bytes at offset {} of shard {}) has CRC-32C {:08x}, the index says {:08x}: the "
              "data is corrupted",
              name_, printable(name), entry->size, entry->offset, entry->shard, actual, entry->crc32c);
  if (entry->tf_dtype == 3) {
    auto* dst = out.data<int64_t>();
    for (uint64_t i = 0; i < entry->size / 4; ++i) {
      int32_t v = 0;
      std::memcpy(&v, bytes + 4 * i, 4);
      dst[i] = v;
    }
  }
  return out;
}

}  // namespace recur::nn
