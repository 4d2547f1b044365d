#include "core/dtype.h"

namespace recur {

uint16_t float_to_half(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {                                               // subnormal or zero
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
    const uint32_t exponent = abs >> 23;
    const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126u - exponent;  // 14..24
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1u);
    const uint32_t halfway = 1u << (shift - 1u);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((abs - 0x38000000u) >> 13);
  const uint32_t rest = abs & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

float half_to_float(uint16_t half) {
  const uint32_t sign = (static_cast<uint32_t>(half) & 0x8000u) << 16;
  uint32_t exponent = (half >> 10) & 0x1fu;
  uint32_t mantissa = half & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ffu;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &bits, 4);
  return value;
}

double load_as_double(const void* base, DType dtype, int64_t offset) {
  switch (dtype) {
    case DType::Float32: return static_cast<const float*>(base)[offset];
    case DType::Float64: return static_cast<const double*>(base)[offset];
    case DType::Float16: return half_to_float(static_cast<const uint16_t*>(base)[offset]);
    case DType::BFloat16: return bfloat16_to_float(static_cast<const uint16_t*>(base)[offset]);
    case DType::Int64: return static_cast<double>(static_cast<const int64_t*>(base)[offset]);
  }
  return 0.0;
}

void store_from_double(void* base, DType dtype, int64_t offset, double value) {
  switch (dtype) {
    case DType::Float32: static_cast<float*>(base)[offset] = static_cast<float>(value); break;
    case DType::Float64: static_cast<double*>(base)[offset] = value; break;
    case DType::Float16: static_cast<uint16_t*>(base)[offset] = float_to_half(static_cast<float>(value)); break;
    case DType::BFloat16: static_cast<uint16_t*>(base)[offset] = float_to_bfloat16(static_cast<float>(value)); break;
    case DType::Int64: static_cast<int64_t*>(base)[offset] = static_cast<int64_t>(value); break;
  }
}

}  // namespace recur
