// Philox 4x32-10 and the random fills: known-answer vectors, the exact stream layout that
// backend.h specifies (so other devices can reproduce it), determinism and moments.
#include <cmath>
#include <numbers>

#include "test_backend_util.h"

namespace recur {
namespace {

using namespace testing_util;

Backend& cpu() { return backend_for(Device::cpu()); }

TEST(Philox, MatchesRandom123KnownAnswerVectors) {
  // Random123's kat_vectors for philox4x32_10: (counter, key) -> output.
  using Words = std::array<uint32_t, 4>;
  EXPECT_EQ(Philox::block(0, 0, 0), (Words{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}));
  EXPECT_EQ(Philox::block(~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}),
            (Words{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}));
  // counter {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, key {0xa4093822, 0x299f31d0}
  EXPECT_EQ(Philox::block(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull),
            (Words{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}));
}

TEST(RandomFill, UniformFollowsTheSpecifiedBlockAndWordLayout) {
  const uint64_t seed = 1234, first_block = 77;
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor out = empty({11}, options_for(dtype));
    cpu().fill_uniform(out, seed, first_block, -2.0, 3.0);
    const std::vector<double> got = values_of(out);
    for (int64_t i = 0; i < 11; ++i) {
      const uint32_t word = Philox::block(seed, first_block + i / 4)[i % 4];
      const double want = -2.0 + 5.0 * Philox::to_unit(word);
      EXPECT_EQ(got[i], dtype == DType::Float32 ? static_cast<double>(static_cast<float>(want)) : want) << i;
    }
  }
}

TEST(RandomFill, NormalUsesBoxMullerOnWordPairs) {
  const uint64_t seed = 99, first_block = 5;
  Tensor out = empty({2, 5}, options_for(DType::Float64));
  cpu().fill_normal(out, seed, first_block, 1.0, 2.0);
  const std::vector<double> got = values_of(out);
  for (int64_t i = 0; i < 10; ++i) {
    const auto words = Philox::block(seed, first_block + i / 4);
    const int pair = static_cast<int>(i % 4) / 2;
    const double r = std::sqrt(-2.0 * std::log(Philox::to_unit(words[2 * pair])));
    const double t = 2.0 * std::numbers::pi * Philox::to_unit(words[2 * pair + 1]);
    const double z = i % 2 == 0 ? r * std::cos(t) : r * std::sin(t);
    EXPECT_DOUBLE_EQ(got[i], 1.0 + 2.0 * z) << i;
  }
}

TEST(RandomFill, SameSeedAndOffsetGiveSameValuesAndStridedFillsFollowRowMajorOrder) {
  Tensor a = empty({1000});
  Tensor b = empty({1000});
  cpu().fill_normal(a, 7, 3, 0.0, 1.0);
  cpu().fill_normal(b, 7, 3, 0.0, 1.0);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  cpu().fill_normal(b, 7, 4, 0.0, 1.0);
  EXPECT_NE(a.to_vector<float>(), b.to_vector<float>());
  // Offset by one block = shifted by four elements.
  const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  EXPECT_EQ(va[4], vb[0]);
  EXPECT_EQ(va[999], vb[995]);
  // A transposed output receives element i in its own row-major order.
  Tensor contiguous = empty({6, 7}, options_for(DType::Float64));
  cpu().fill_uniform(contiguous, 5, 0, 0.0, 1.0);
  Tensor base = empty({7, 6}, options_for(DType::Float64));
  Tensor transposed = base.as_strided_raw({6, 7}, {1, 6}, 0);
  cpu().fill_uniform(transposed, 5, 0, 0.0, 1.0);
  expect_values_near(transposed, values_of(contiguous), 0.0);
}

TEST(RandomFill, FactoriesAdvanceTheGeneratorByWholeBlocks) {
  Generator generator(42);
  Tensor first = rand({10}, {}, &generator);
  EXPECT_EQ(generator.offset(), 3u);  // ceil(10 / 4)
  Tensor second = randn({10}, {}, &generator);
  EXPECT_EQ(generator.offset(), 6u);
  Generator replay(42);
  replay.set_state(42, 3);
  Tensor again = randn({10}, {}, &replay);
  EXPECT_EQ(second.to_vector<float>(), again.to_vector<float>());
  manual_seed(11);
  const std::vector<float> x = rand({5}).to_vector<float>();
  manual_seed(11);
  EXPECT_EQ(rand({5}).to_vector<float>(), x);
}

TEST(RandomFill, LargeSamplesHaveTheRequestedMoments) {
  Generator generator(2024);
  Tensor normal = randn({200000}, options_for(DType::Float64), &generator, 3.0, 0.5);
  Tensor uniform = rand({200000}, options_for(DType::Float64), &generator, -1.0, 1.0);
  const auto moments = [](const std::vector<double>& v) {
    double mean = 0.0, square = 0.0;
    for (double x : v) mean += x, square += x * x;
    mean /= static_cast<double>(v.size());
    return std::pair<double, double>{mean, square / static_cast<double>(v.size()) - mean * mean};
  };
  const auto [normal_mean, normal_var] = moments(normal.to_vector<double>());
  EXPECT_NEAR(normal_mean, 3.0, 0.01);
  EXPECT_NEAR(normal_var, 0.25, 0.01);
  const std::vector<double> u = uniform.to_vector<double>();
  const auto [uniform_mean, uniform_var] = moments(u);
  EXPECT_NEAR(uniform_mean, 0.0, 0.01);
  EXPECT_NEAR(uniform_var, 1.0 / 3.0, 0.01);
  for (double x : u) ASSERT_TRUE(x > -1.0 && x <= 1.0);
}

TEST(RandomFill, DropoutMaskKeepsTheExpectedFractionScaled) {
  Generator generator(3);
  Tensor mask = compute::dropout_mask({400, 250}, DType::Float32, Device::cpu(), 0.8, generator);
  EXPECT_EQ(generator.offset(), 25000u);
  int64_t kept = 0;
  for (float v : mask.to_vector<float>()) {
    ASSERT_TRUE(v == 0.0f || v == 1.25f) << v;
    kept += v != 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(kept) / 100000.0, 0.8, 0.01);
  EXPECT_THROW(compute::dropout_mask({2}, DType::Float32, Device::cpu(), 0.0, generator), Error);
  // The same state gives the same mask.
  Generator replay(3);
  EXPECT_EQ(compute::dropout_mask({400, 250}, DType::Float32, Device::cpu(), 0.8, replay).to_vector<float>(),
            mask.to_vector<float>());
}

}  // namespace
}  // namespace recur
