// Element types. float32 and float64 are computed everywhere; float16 and bfloat16 are storage
// types (converted to float32 to compute on the CPU); int64 holds indices and lengths.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <string_view>

namespace recur {

enum class DType : uint8_t { Float32, Float64, Float16, BFloat16, Int64 };

constexpr size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Float16: return 2;
    case DType::BFloat16: return 2;
    case DType::Int64: return 8;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    case DType::Int64: return "int64";
  }
  return "?";
}

constexpr bool is_floating(DType dtype) { return dtype != DType::Int64; }

// The C++ type behind a computing dtype.
template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }

// IEEE half and bfloat16 conversions (round to nearest even).
uint16_t float_to_half(float value);
float half_to_float(uint16_t bits);
inline uint16_t float_to_bfloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
inline float bfloat16_to_float(uint16_t bits) {
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, 4);
  return value;
}

// Element `offset` of host memory holding `dtype` values, read as double / written from double
// (converted as a cast to the dtype does).
double load_as_double(const void* base, DType dtype, int64_t offset);
void store_from_double(void* base, DType dtype, int64_t offset, double value);

}  // namespace recur

template <> struct fmt::formatter<recur::DType> : fmt::formatter<std::string_view> {
  auto format(recur::DType dtype, format_context& ctx) const {
    return fmt::formatter<std::string_view>::format(recur::dtype_name(dtype), ctx);
  }
};
