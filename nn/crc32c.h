// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), as LevelDB's tables and TensorFlow's
// checkpoints store it, and their mask: a CRC stored next to data that itself holds CRCs is
// rotated right by 15 bits and offset by 0xa282ead8, so that the CRC of such data stays unlike
// the CRCs inside it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace recur::nn {

// The CRC-32C of `size` bytes, continuing from `crc` (0 to start).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);
inline uint32_t crc32c(const void* data, size_t size) { return crc32c_extend(0, data, size); }

inline uint32_t crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t crc32c_unmask(uint32_t masked) {
  const uint32_t rotated = masked - 0xa282ead8u;
  return (rotated >> 17) | (rotated << 15);
}

}  // namespace recur::nn
