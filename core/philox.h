// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
//
// A counter-based generator: output block n of a stream is philox(key = seed, counter = n), so
// any element of a stream can be computed independently, on the CPU or on a GPU, and the same
// (seed, offset) gives the same numbers everywhere.
//
// Element i of a fill drawn at offset `offset` comes from block (offset + i / 4), word i % 4.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace recur {

struct Philox {
  static constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  static constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;

  // counter: 128 bits as (lo, hi) 64-bit halves; key: the 64-bit seed.
  static std::array<uint32_t, 4> block(uint64_t seed, uint64_t counter_lo, uint64_t counter_hi = 0) {
    uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
    uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
    uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0;
      const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2;
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
      const uint32_t n1 = static_cast<uint32_t>(p1);
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
      const uint32_t n3 = static_cast<uint32_t>(p0);
      c0 = n0, c1 = n1, c2 = n2, c3 = n3;
      k0 += kWeyl0, k1 += kWeyl1;
    }
    return {c0, c1, c2, c3};
  }

  // A 32-bit word to a uniform float in (0, 1]: never 0, so log() is safe.
  static double to_unit(uint32_t word) { return (static_cast<double>(word) + 1.0) * (1.0 / 4294967296.0); }
};

// A seeded stream: each draw of n numbers advances the offset by ceil(n / 4) blocks, so the
// state is (seed, offset) and can be saved and restored exactly.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }
  // Reserves blocks for n numbers and returns the first block's counter.
  uint64_t reserve(uint64_t n) {
    const uint64_t first = offset_;
    offset_ += (n + 3) / 4;
    return first;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide default generator (recur::manual_seed sets it).
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace recur
