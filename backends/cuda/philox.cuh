// Philox 4x32-10 for host and device: the same function as recur::Philox::block
// (core/philox.h), written with 32-bit halves so it compiles for the GPU. Compiled by g++ too
// (tests check it against core/philox.h and Random123's known answers on any machine).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define RECUR_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define RECUR_HOST_DEVICE inline
#endif

namespace recur::cuda {

struct PhiloxWords {
  uint32_t word[4];
};

RECUR_HOST_DEVICE uint32_t mul_hi32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
}

// Block `counter` (128 bits as lo, hi) of the stream keyed by `seed`.
RECUR_HOST_DEVICE PhiloxWords philox_block(uint64_t seed, uint64_t counter_lo, uint64_t counter_hi = 0) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = mul_hi32(kMul0, c0), lo0 = kMul0 * c0;
    const uint32_t hi1 = mul_hi32(kMul1, c2), lo1 = kMul1 * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += kWeyl0, k1 += kWeyl1;
  }
  return {{c0, c1, c2, c3}};
}

// A word to a uniform double in (0, 1], as Philox::to_unit.
RECUR_HOST_DEVICE double philox_unit(uint32_t word) { return (static_cast<double>(word) + 1.0) * (1.0 / 4294967296.0); }

}  // namespace recur::cuda
