#include "nn/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>

#include "autograd/grad_mode.h"
#include "backends/compute.h"
#include "core/atomic_file.h"
#include "nn/input_file.h"

namespace recur::nn {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian bytes; recur's reader and writer copy them as they are");

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderSize = 100'000'000;  // the reference implementation's MAX_HEADER_SIZE
constexpr std::string_view kMetadataKey = "__metadata__";

std::optional<DType> dtype_from_name(std::string_view name) {
  if (name == "F32") return DType::Float32;
  if (name == "F64") return DType::Float64;
  if (name == "F16") return DType::Float16;
  if (name == "BF16") return DType::BFloat16;
  if (name == "I64") return DType::Int64;
  return std::nullopt;
}

// "an array", "a number", ... for messages.
std::string kind(const json& value) {
  const std::string name = value.type_name();
  if (name == "null") return "null";
  return (name == "array" || name == "object" ? "an " : "a ") + name;
}

// The JSON text of a value, shortened for messages.
std::string short_json(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

// ---- header parsing ---------------------------------------------------------------------

// A valid header nests 3 levels deep (the object, an entry, its shape). Deeper nesting is
// refused before parsing, so that nothing downstream (nlohmann's dump, our messages) recurses
// deeply on hostile input.
void check_nesting(std::string_view text, const std::string& file) {
  constexpr int kMaxDepth = 16;
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      RECUR_CHECK(++depth <= kMaxDepth, "{}: the header nests deeper than {} levels (a valid one nests 3)", file,
                  kMaxDepth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

// Parses the JSON text, rejecting a key repeated within one object (nlohmann's parser would
// silently keep the last one).
json parse_json_without_duplicates(std::string_view text, const std::string& file) {
  check_nesting(text, file);
  // nlohmann's parser stops at a NUL byte as if the text ended there; JSON has no raw NUL, and
  // the reference implementation refuses one (even as padding after the object).
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    RECUR_FAIL("{}: the header is not valid JSON: a NUL byte at offset {} of the header", file, nul);
  }
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;
  bool duplicate_at_top = false;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && !duplicate) {
        duplicate = key;
        duplicate_at_top = open_objects.size() == 1;
      }
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    std::string what = e.what();
    if (const size_t bracket = what.find("] "); what.starts_with("[json.exception") && bracket != std::string::npos) {
      what = what.substr(bracket + 2);
    }
    RECUR_FAIL("{}: the header is not valid JSON: {}", file, what);
  }
  if (duplicate) {
    if (duplicate_at_top) RECUR_FAIL("{}: '{}' appears more than once in the header", file, *duplicate);
    RECUR_FAIL("{}: key '{}' appears more than once in one object of the header", file, *duplicate);
  }
  return header;
}

// A non-negative JSON integer that fits int64, or nullopt.
std::optional<uint64_t> as_count(const json& value) {
  if (!value.is_number_unsigned()) return std::nullopt;
  const uint64_t count = value.get<uint64_t>();
  if (count > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return count;
}

SafetensorsEntry parse_entry(const std::string& name, const json& info, uint64_t data_size, const std::string& file) {
  const std::string where = fmt::format("{}: tensor '{}'", file, name);
  RECUR_CHECK(info.is_object(), "{}: the entry is {}, expected an object with dtype, shape and data_offsets", where,
              kind(info));
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    RECUR_CHECK(info.contains(field), "{}: the entry has no '{}'", where, field);
  }
  SafetensorsEntry entry;
  entry.name = name;

  const json& dtype = info.at("dtype");
  RECUR_CHECK(dtype.is_string(), "{}: 'dtype' is {}, expected a string such as \"F32\"", where, kind(dtype));
  const std::optional<DType> parsed_dtype = dtype_from_name(dtype.get_ref<const std::string&>());
  RECUR_CHECK(parsed_dtype.has_value(), "{}: unknown dtype {} (recur reads F32, F64, F16, BF16 and I64)", where,
              short_json(dtype));
  entry.dtype = *parsed_dtype;

  const json& shape = info.at("shape");
  RECUR_CHECK(shape.is_array(), "{}: 'shape' is {}, expected an array of non-negative integers", where, kind(shape));
  // numel and the byte size, checked against overflow at every multiplication.
  uint64_t numel = 1;
  bool overflow = false;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    const std::optional<uint64_t> size = as_count(shape[axis]);
    RECUR_CHECK(size.has_value(), "{}: shape[{}] is {}, expected a non-negative integer", where, axis,
                short_json(shape[axis]));
    entry.shape.push_back(static_cast<int64_t>(*size));
    overflow = overflow || __builtin_mul_overflow(numel, *size, &numel);
  }
  uint64_t nbytes = 0;
  overflow = overflow || numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
             __builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(entry.dtype)), &nbytes);
  RECUR_CHECK(!overflow, "{}: shape {} holds more elements than fit in 64 bits", where, short_json(shape));

  const json& offsets = info.at("data_offsets");
  const bool two_counts = offsets.is_array() && offsets.size() == 2 && as_count(offsets[0]) && as_count(offsets[1]);
  RECUR_CHECK(two_counts, "{}: 'data_offsets' is {}, expected two non-negative integers [begin, end]", where,
              short_json(offsets));
  entry.begin = *as_count(offsets[0]);
  entry.end = *as_count(offsets[1]);
  RECUR_CHECK(entry.begin <= entry.end, "{}: data_offsets [{}, {}] begin after they end", where, entry.begin,
              entry.end);
  RECUR_CHECK(entry.end <= data_size, "{}: data_offsets [{}, {}] end past the data section of {} bytes", where,
              entry.begin, entry.end, data_size);
  RECUR_CHECK(entry.end - entry.begin == nbytes, "{}: data_offsets [{}, {}] hold {} bytes, but {} {} needs {}", where,
              entry.begin, entry.end, entry.end - entry.begin, dtype.get_ref<const std::string&>(),
              shape_str(entry.shape), nbytes);
  return entry;
}

// Validates the JSON header of a file whose data section holds `data_size` bytes.
SafetensorsHeader parse_header(std::string_view text, uint64_t data_size, const std::string& file) {
  const json header = parse_json_without_duplicates(text, file);
  RECUR_CHECK(header.is_object(), "{}: the header is a JSON {}, expected an object", file, header.type_name());

  SafetensorsHeader result;
  result.header_size = text.size();
  result.data_size = data_size;
  for (const auto& [name, info] : header.items()) {
    if (name == kMetadataKey) {
      if (info.is_null()) continue;  // the reference implementation reads null as no metadata
      RECUR_CHECK(info.is_object(), "{}: '__metadata__' is {}, expected an object of strings", file, kind(info));
      for (const auto& [key, value] : info.items()) {
        RECUR_CHECK(value.is_string(), "{}: __metadata__ '{}' is {}, expected a string", file, key, kind(value));
        result.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    result.entries.push_back(parse_entry(name, info, data_size, file));
  }

  // In the order of their offsets, the tensors tile the data section exactly: the first begins
  // at 0, each begins where the one before ends (no hole, no overlap), and the last ends at the
  // end of the data section (the reference implementation's Metadata::validate and its
  // MetadataIncompleteBuffer check). An empty tensor sits at any boundary, 0 included.
  std::vector<const SafetensorsEntry*> by_offset;
  by_offset.reserve(result.entries.size());
  for (const SafetensorsEntry& entry : result.entries) by_offset.push_back(&entry);
  std::stable_sort(by_offset.begin(), by_offset.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry* entry : by_offset) {
    if (entry->begin != covered) {
      const std::string before =
          previous ? fmt::format("where '{}' at [{}, {}] ends", previous->name, previous->begin, previous->end)
                   : std::string("the start of the data section");
      RECUR_FAIL("{}: tensor '{}' at [{}, {}] begins at byte {}, expected {} ({}): {}", file, entry->name, entry->begin,
                 entry->end, entry->begin, covered, before,
                 entry->begin > covered ? "the data section has a hole" : "the tensors overlap");
    }
    covered = entry->end;
    previous = entry;
  }
  RECUR_CHECK(covered == data_size,
              "{}: the tensors cover bytes [0, {}) of a data section of {} bytes, expected all of it ({} unused "
              "bytes at its end)",
              file, covered, data_size, data_size - covered);
  return result;
}

// Reads the 8-byte length from the first bytes of a file of `file_size` bytes and checks it.
uint64_t checked_header_size(const unsigned char* prefix, uint64_t file_size, const std::string& file) {
  RECUR_CHECK(file_size >= 8, "{}: the file has {} bytes, too few for the 8-byte header length", file, file_size);
  uint64_t header_size = 0;
  std::memcpy(&header_size, prefix, 8);
  RECUR_CHECK(header_size > 0, "{}: the header length is 0, expected a JSON object", file);
  RECUR_CHECK(header_size <= kMaxHeaderSize, "{}: the header length {} is over the limit of {} bytes", file,
              header_size, kMaxHeaderSize);
  RECUR_CHECK(header_size <= file_size - 8, "{}: the header length {} runs past the end of the file ({} bytes)", file,
              header_size, file_size);
  return header_size;
}

// ---- files ------------------------------------------------------------------------------

SafetensorsHeader read_header(const InputFile& input, const std::string& path) {
  unsigned char prefix[8] = {};
  if (input.size() >= 8) input.read(prefix, 8, 0);
  const uint64_t header_size = checked_header_size(prefix, input.size(), path);
  std::string text(header_size, '\0');
  input.read(text.data(), header_size, 8);
  return parse_header(text, input.size() - 8 - header_size, path);
}

// A contiguous CPU copy when needed (GPU tensors, strided views); the tensor itself otherwise.
Tensor host_contiguous(const Tensor& tensor) {
  NoGradGuard no_grad;
  Tensor host = tensor.detach();
  if (!host.device().is_cpu()) host = compute::convert(host, host.dtype(), Device::cpu());
  if (!host.is_contiguous()) host = compute::contiguous(host);
  return host;
}

}  // namespace

std::string safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "F32";
    case DType::Float64: return "F64";
    case DType::Float16: return "F16";
    case DType::BFloat16: return "BF16";
    case DType::Int64: return "I64";
  }
  RECUR_FAIL("safetensors: no name for dtype {}", static_cast<int>(dtype));
}

void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // The header: entries in name order (StateDict is sorted), packed from offset 0.
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    RECUR_CHECK(!name.empty(), "save_safetensors('{}'): a tensor has an empty name", path);
    RECUR_CHECK(name != kMetadataKey, "save_safetensors('{}'): '__metadata__' is reserved, not a tensor name", path);
    RECUR_CHECK(tensor.defined(), "save_safetensors('{}'): tensor '{}' is undefined", path, name);
    const uint64_t nbytes = tensor.nbytes();
    header[name] = {{"dtype", safetensors_dtype_name(tensor.dtype())},
                    {"shape", tensor.shape()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  if (!metadata.empty()) header[std::string(kMetadataKey)] = metadata;

  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {  // a name or metadata string that is not UTF-8
    RECUR_FAIL("save_safetensors('{}'): tensor names and metadata must be UTF-8 text ({})", path, e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  write_file_atomically(path, [&](std::FILE* file) {
    auto write = [&](const void* data, size_t n, std::string_view what) {
      if (n > 0 && std::fwrite(data, 1, n, file) != n) {
        RECUR_FAIL("cannot write '{}': writing {} failed: {}", path, what, errno_text(errno));
      }
    };
    const uint64_t header_size = text.size();
    write(&header_size, 8, "the header length");
    write(text.data(), text.size(), "the header");
    for (const auto& [name, tensor] : tensors) {
      const Tensor host = host_contiguous(tensor);  // one tensor at a time: at most one extra copy
      write(host.raw_data(), host.nbytes(), fmt::format("tensor '{}'", name));
    }
  });
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  const InputFile input(path, "a .safetensors file");
  return read_header(input, path);
}

SafetensorsFile load_safetensors(const std::string& path) {
  const InputFile input(path, "a .safetensors file");
  SafetensorsHeader header = read_header(input, path);
  const uint64_t data_start = 8 + header.header_size;
  SafetensorsFile result;
  result.metadata = std::move(header.metadata);
  for (const SafetensorsEntry& entry : header.entries) {
    Tensor tensor = make_contiguous_tensor(entry.shape, entry.dtype, Device::cpu());
    if (entry.end > entry.begin) input.read(tensor.raw_data(), entry.end - entry.begin, data_start + entry.begin);
    result.tensors.emplace(entry.name, std::move(tensor));
  }
  return result;
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& name_for_messages) {
  const auto* prefix = reinterpret_cast<const unsigned char*>(bytes.data());
  const uint64_t header_size = checked_header_size(prefix, bytes.size(), name_for_messages);
  const std::string_view text(bytes.data() + 8, header_size);
  SafetensorsHeader header = parse_header(text, bytes.size() - 8 - header_size, name_for_messages);
  const char* data = bytes.data() + 8 + header_size;
  SafetensorsFile result;
  result.metadata = std::move(header.metadata);
  for (const SafetensorsEntry& entry : header.entries) {
    Tensor tensor = make_contiguous_tensor(entry.shape, entry.dtype, Device::cpu());
    if (entry.end > entry.begin) std::memcpy(tensor.raw_data(), data + entry.begin, entry.end - entry.begin);
    result.tensors.emplace(entry.name, std::move(tensor));
  }
  return result;
}

}  // namespace recur::nn
