// recur inspect FILE.safetensors: lists a checkpoint's tensors (name, dtype, shape, elements,
// bytes), the totals and the metadata. Reads and validates only the header, so it is quick on
// large files; a malformed file is an error (exit status 1, one line "error: ...").
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>

#include "examples/command.h"
#include "examples/lm/checkpoint.h"
#include "nn/safetensors.h"

namespace recur::cli {
namespace {

// "1.5 MiB" (bytes below 1 KiB as "512 B").
std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) value /= 1024, ++unit;
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

int run_inspect(const std::string& given) {
  // A run folder or a checkpoint folder stands for its (latest) checkpoint's model file.
  const std::string path =
      std::filesystem::is_directory(given) ? lm::find_checkpoint_dir(given) + "/model.safetensors" : given;
  const nn::SafetensorsHeader header = nn::read_safetensors_header(path);
  size_t name_width = 4, shape_width = 5;
  for (const nn::SafetensorsEntry& entry : header.entries) {
    name_width = std::max(name_width, entry.name.size());
    shape_width = std::max(shape_width, shape_str(entry.shape).size());
  }
  fmt::print("{}: {} tensors, header {} bytes, data {} bytes\n", path, header.entries.size(), header.header_size,
             header.data_size);
  fmt::print("  {:<{}}  {:<5}  {:<{}}  {:>12}  {:>12}\n", "name", name_width, "dtype", "shape", shape_width, "elements",
             "bytes");
  uint64_t total_elements = 0, total_bytes = 0;
  for (const nn::SafetensorsEntry& entry : header.entries) {
    const uint64_t bytes = entry.end - entry.begin;
    const uint64_t elements = bytes / dtype_size(entry.dtype);
    total_elements += elements;
    total_bytes += bytes;
    fmt::print("  {:<{}}  {:<5}  {:<{}}  {:>12}  {:>12}\n", entry.name, name_width,
               nn::safetensors_dtype_name(entry.dtype), shape_str(entry.shape), shape_width, elements, bytes);
  }
  fmt::print("total: {} tensors, {} elements, {} bytes ({})\n", header.entries.size(), total_elements, total_bytes,
             human_bytes(total_bytes));
  if (header.metadata.empty()) {
    fmt::print("metadata: none\n");
  } else {
    fmt::print("metadata:\n");
    for (const auto& [key, value] : header.metadata) fmt::print("  {}: {}\n", key, value);
  }
  return 0;
}

}  // namespace

Command add_inspect_command(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand("inspect", "List a .safetensors file's tensors, sizes and metadata");
  auto path = std::make_shared<std::string>();
  app->add_option("file", *path, "a .safetensors file, or a run or checkpoint folder (its model.safetensors)")
      ->required();
  return {app, [path] { return run_inspect(*path); }};
}

}  // namespace recur::cli
