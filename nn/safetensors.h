// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors).
//
// Layout:
//   bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
//   bytes [8, 8 + N)    a JSON object, padded with spaces to a multiple of 8 bytes:
//                       {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//                        "__metadata__": {"key": "value", ...}}   (optional, strings only)
//   bytes [8 + N, end)  the data section: each tensor's raw little-endian bytes, row-major, at
//                       [begin, end) relative to the start of the data section
//
// dtypes: F32, F64, F16, BF16, I64. The writer sorts tensors by name and packs them with no gaps.
// The reader treats the file as untrusted: every length, offset, shape and type is checked
// before use, and a malformed file is a recur::Error naming the file and the problem, never a
// crash. It follows every rule of the reference implementation (huggingface/safetensors,
// Metadata::validate and read_metadata): the header length is at most 100,000,000 bytes, the
// header is UTF-8 JSON (whitespace around it allowed), each size equals dtype size x shape
// product (no overflow), and the tensors, in offset order, tile the data section exactly from 0
// to its end: no hole, no overlap, no unused bytes. It also refuses a name given twice.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "nn/state_dict.h"

namespace recur::nn {

struct SafetensorsFile {
  StateDict tensors;                            // on the CPU
  std::map<std::string, std::string> metadata;  // the "__metadata__" object
};

// One tensor's header entry. begin/end are byte offsets into the data section.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::Float32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

// The validated header: entries in name order, the metadata, and the sizes of the parts.
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;
  std::map<std::string, std::string> metadata;
  uint64_t header_size = 0;  // N, the JSON's length in bytes (padding included)
  uint64_t data_size = 0;    // bytes after the header
};

// Writes `tensors` (any device, any strides: GPU tensors are copied to the CPU) and the
// metadata atomically (core/atomic_file.h). Names must be non-empty and not "__metadata__";
// every tensor must be defined.
void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads a whole file into CPU tensors (each tensor's bytes are read straight into its storage).
SafetensorsFile load_safetensors(const std::string& path);

// Parses the bytes of a file held in memory; messages name `name_for_messages`.
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& name_for_messages);

// Reads and validates only the header (for listing a large file without loading it).
SafetensorsHeader read_safetensors_header(const std::string& path);

// "F32", "BF16", ... and back (recur::Error on a name recur does not read).
std::string safetensors_dtype_name(DType dtype);

}  // namespace recur::nn
