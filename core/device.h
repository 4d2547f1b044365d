// Where a tensor lives: the CPU or CUDA device N.
#pragma once

#include <fmt/format.h>

#include <string>

namespace recur {

enum class DeviceType : uint8_t { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  // Parses "cpu", "cuda", "cuda:1"; throws recur::Error on anything else.
  static Device parse(const std::string& text);

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const { return is_cpu() ? "cpu" : fmt::format("cuda:{}", index); }
  friend bool operator==(const Device&, const Device&) = default;
};

}  // namespace recur

template <> struct fmt::formatter<recur::Device> : fmt::formatter<std::string> {
  auto format(const recur::Device& device, format_context& ctx) const {
    return fmt::formatter<std::string>::format(device.str(), ctx);
  }
};
