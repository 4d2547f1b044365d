// bfloat16 GEMM operands on the CPU (CpuGemmPrecision::BFloat16, backends/settings.h): the
// rounding, the GEMM against a float64 reference on rounded operands (tight) and against float32
// (bfloat16's tolerance), the fused RNN layer's forward and backward against float32 on one thread
// and on the thread team, and the refusals. The tests that multiply in bfloat16 are skipped, with
// the reason, on a CPU without bfloat16 GEMM instructions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "autograd/ops.h"
#include "backends/cpu/gemm.h"
#include "backends/settings.h"
#include "nn/rnn.h"

namespace recur {
namespace {

using testing::HasSubstr;

// Multiplies in bfloat16 for one test (skipped where the CPU cannot), float32 again after it.
class Bfloat16Gemm : public testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cpu_bfloat16_gemm_available(&why)) GTEST_SKIP() << why;
  }
  void TearDown() override { set_cpu_gemm_precision(CpuGemmPrecision::Float32); }
};

std::vector<float> uniform(size_t count, uint64_t seed) {
  Generator g(seed);
  return rand({static_cast<int64_t>(count)}, TensorOptions{}, &g, -1.0, 1.0).to_vector<float>();
}

double rounded(float x) { return bfloat16_to_float(float_to_bfloat16(x)); }

struct GemmCase {
  Transpose trans_a, trans_b;
  float alpha, beta;
};

// c = alpha op(a) op(b) + beta c on [m, n] = [7, 33], k = 65, every operand with a leading
// dimension 3 beyond its columns. Checks the result of `multiply` against float64 sums of the
// rounded operands' products (float32 accumulation: 1e-5 of sum |a b|) and of the unrounded
// ones (bfloat16's 2^-8 relative error per product: 8e-3 of sum |a b|), and that rounding
// happened (the result differs from float32's).
template <typename Multiply> void check_against_references(const GemmCase& g, Multiply multiply) {
  const int64_t m = 7, n = 33, k = 65, pad = 3;
  const int64_t a_rows = g.trans_a == Transpose::Yes ? k : m, a_cols = g.trans_a == Transpose::Yes ? m : k;
  const int64_t b_rows = g.trans_b == Transpose::Yes ? n : k, b_cols = g.trans_b == Transpose::Yes ? k : n;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
  const std::vector<float> a = uniform(static_cast<size_t>(a_rows * lda), 1), b = uniform(size_t(b_rows * ldb), 2);
  const std::vector<float> c0 = uniform(static_cast<size_t>(m * ldc), 3);
  std::vector<float> c = c0;
  multiply(g, m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
  double largest_change = 0.0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double exact = 0.0, of_rounded = 0.0, magnitude = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const float x = g.trans_a == Transpose::Yes ? a[p * lda + i] : a[i * lda + p];
        const float y = g.trans_b == Transpose::Yes ? b[j * ldb + p] : b[p * ldb + j];
        exact += double(x) * y;
        of_rounded += rounded(x) * rounded(y);
        magnitude += std::abs(double(x) * y);
      }
      const double before = g.beta == 0.0f ? 0.0 : g.beta * double(c0[i * ldc + j]);
      const double got = c[i * ldc + j];
      const double scale = std::abs(g.alpha) * magnitude + std::abs(before);
      EXPECT_NEAR(got, g.alpha * of_rounded + before, 1e-5 * scale) << "(" << i << ", " << j << ")";
      EXPECT_NEAR(got, g.alpha * exact + before, 8e-3 * scale) << "(" << i << ", " << j << ")";
      largest_change = std::max(largest_change, std::abs(got - (g.alpha * exact + before)));
    }
    for (int64_t j = n; j < ldc; ++j) EXPECT_EQ(c[i * ldc + j], c0[i * ldc + j]) << "padding written";
  }
  EXPECT_GT(largest_change, 1e-5) << "no operand was rounded";
}

std::vector<GemmCase> gemm_cases() {
  std::vector<GemmCase> cases;
  for (Transpose ta : {Transpose::No, Transpose::Yes}) {
    for (Transpose tb : {Transpose::No, Transpose::Yes}) {
      cases.push_back({ta, tb, 1.0f, 0.0f});
      cases.push_back({ta, tb, 0.5f, 1.0f});
      cases.push_back({ta, tb, -2.0f, 0.25f});
    }
  }
  return cases;
}

TEST(Bfloat16Rounding, RoundsToNearestEven) {
  const float one = 1.0f, ulp = std::ldexp(1.0f, -7);  // bfloat16 keeps 8 significant bits
  std::vector<float> in = {one,
                           one + ulp / 2,
                           one + 3 * ulp / 2,
                           one + ulp / 2 + std::ldexp(1.0f, -20),
                           -2.5f,
                           std::numeric_limits<float>::quiet_NaN()};
  std::vector<uint16_t> out(in.size());
  cpu::round_to_bfloat16(out.data(), in.data(), 1, static_cast<int64_t>(in.size()), 0);
  EXPECT_EQ(out[0], 0x3f80);  // 1
  EXPECT_EQ(out[1], 0x3f80);  // halfway: to the even 1
  EXPECT_EQ(out[2], 0x3f82);  // halfway: to the even 1 + 2 ulp
  EXPECT_EQ(out[3], 0x3f81);  // above halfway: up
  EXPECT_EQ(out[4], 0xc020);  // -2.5
  EXPECT_TRUE(std::isnan(bfloat16_to_float(out[5])));
}

TEST_F(Bfloat16Gemm, RawGemmMatchesRoundedOperandsInFloat64AndFloat32ToBfloat16Tolerance) {
  set_cpu_gemm_precision(CpuGemmPrecision::BFloat16);
  for (const GemmCase& g : gemm_cases()) {
    SCOPED_TRACE(testing::Message() << "trans_a " << int(g.trans_a) << " trans_b " << int(g.trans_b) << " alpha "
                                    << g.alpha << " beta " << g.beta);
    check_against_references(g, [](const GemmCase& g, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                                   const float* b, int64_t ldb, float* c, int64_t ldc) {
      cpu::gemm_raw<float>(g.trans_a, g.trans_b, m, n, k, g.alpha, a, lda, b, ldb, g.beta, c, ldc);
    });
  }
}

TEST_F(Bfloat16Gemm, PreRoundedWeightsGiveTheSameProducts) {
  set_cpu_gemm_precision(CpuGemmPrecision::BFloat16);
  for (const GemmCase& g : gemm_cases()) {
    SCOPED_TRACE(testing::Message() << "trans_a " << int(g.trans_a) << " trans_b " << int(g.trans_b));
    check_against_references(g, [](const GemmCase& g, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                                   const float* b, int64_t ldb, float* c, int64_t ldc) {
      const int64_t b_rows = g.trans_b == Transpose::Yes ? n : k;
      std::vector<uint16_t> b_rounded(static_cast<size_t>(b_rows * ldb));
      cpu::round_to_bfloat16(b_rounded.data(), b, b_rows, ldb, ldb);
      cpu::gemm_raw_rounded_b(g.trans_a, g.trans_b, m, n, k, g.alpha, a, lda, b_rounded.data(), ldb, g.beta, c, ldc);
    });
  }
}

TEST_F(Bfloat16Gemm, BackendGemmOfTensorsRoundsOperandsAndFloat64IsUntouched) {
  Generator gen(4);
  const Tensor a = rand({3, 5, 40}, TensorOptions{}, &gen, -1.0, 1.0), b = rand({40, 6}, TensorOptions{}, &gen, -1, 1);
  set_cpu_gemm_precision(CpuGemmPrecision::BFloat16);
  const std::vector<float> got = matmul(a, b).to_vector<float>();
  const std::vector<double> exact = matmul(a.to(DType::Float64), b.to(DType::Float64)).to_vector<double>();
  const std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>();
  for (int64_t row = 0; row < 15; ++row) {
    for (int64_t j = 0; j < 6; ++j) {
      double of_rounded = 0.0, magnitude = 0.0;
      for (int64_t p = 0; p < 40; ++p) {
        of_rounded += rounded(av[row * 40 + p]) * rounded(bv[p * 6 + j]);
        magnitude += std::abs(double(av[row * 40 + p]) * bv[p * 6 + j]);
      }
      EXPECT_NEAR(got[row * 6 + j], of_rounded, 1e-5 * magnitude);
      EXPECT_NEAR(got[row * 6 + j], exact[row * 6 + j], 8e-3 * magnitude);
    }
  }
  set_cpu_gemm_precision(CpuGemmPrecision::Float32);
  EXPECT_EQ(exact, matmul(a.to(DType::Float64), b.to(DType::Float64)).to_vector<double>());
}

// The fused layer in bfloat16 against float32 on the same weights: output, final state, and
// the gradients of the input and of every weight, on one thread (per-step GEMMs) and on two
// (the thread team, with the oneDNN provider). Tolerance: 3e-2 of the largest magnitude of each.
TEST_F(Bfloat16Gemm, FusedRnnForwardAndBackwardMatchFloat32ToBfloat16Tolerance) {
  const int saved_threads = get_num_threads();
  struct Variant {
    nn::RNNMode mode;
    int64_t proj;
  };
  for (const Variant variant : {Variant{nn::RNNMode::LSTM, 0}, Variant{nn::RNNMode::GRU, 0},
                                Variant{nn::RNNMode::RNN_TANH, 0}, Variant{nn::RNNMode::LSTM, 24}}) {
    for (const int threads : {1, 2}) {
      SCOPED_TRACE(testing::Message() << nn::mode_name(variant.mode) << " proj " << variant.proj << ", " << threads
                                      << " threads");
      set_num_threads(threads);
      nn::RNNOptions o;
      o.mode = variant.mode;
      o.input_size = 20;
      o.hidden_size = 64;
      o.num_layers = 2;
      o.proj_size = variant.proj;
      Generator init(5);
      nn::RNN rnn(o, &init);
      rnn.set_implementation(nn::RNNImpl::Fused);
      Generator data(6);
      const Tensor x = rand({6, 4, 20}, TensorOptions{}, &data, -1.0, 1.0);
      const auto run = [&](CpuGemmPrecision precision) {
        set_cpu_gemm_precision(precision);
        rnn.zero_grad();
        const Tensor input = x.detach().requires_grad_();
        auto [y, state] = rnn.forward(input);
        sum(mul(y, y)).backward();
        std::vector<std::vector<float>> values = {y.to_vector<float>(), state.h.to_vector<float>(),
                                                  input.grad().to_vector<float>()};
        for (const auto& [name, parameter] : rnn.named_parameters())
          values.push_back(parameter.grad().to_vector<float>());
        return values;
      };
      const auto f32 = run(CpuGemmPrecision::Float32), bf16 = run(CpuGemmPrecision::BFloat16);
      ASSERT_EQ(f32.size(), bf16.size());
      for (size_t v = 0; v < f32.size(); ++v) {
        float largest = 0.0f, difference = 0.0f;
        for (size_t i = 0; i < f32[v].size(); ++i) {
          largest = std::max(largest, std::abs(f32[v][i]));
          difference = std::max(difference, std::abs(f32[v][i] - bf16[v][i]));
        }
        EXPECT_LE(difference, 3e-2f * largest) << "tensor " << v;
        EXPECT_GT(difference, 0.0f) << "tensor " << v << ": bfloat16 gave float32's result";
      }
    }
  }
  set_num_threads(saved_threads);
}

TEST(Bfloat16Choice, AutoPicksBfloat16WhereItOutrunsFloat32AndSaysWhy) {
  const CpuGemmPrecisionChoice choice = choose_cpu_gemm_precision("auto");
  const double speedup = cpu_bfloat16_dot_speedup();
  EXPECT_EQ(cpu_bfloat16_dot_speedup(), speedup);  // measured once
  if (!cpu_bfloat16_gemm_available()) {
    EXPECT_EQ(choice.precision, CpuGemmPrecision::Float32);
  } else if (cpu_gemm_isa() == "avx512_core_amx") {
    EXPECT_EQ(choice.precision, CpuGemmPrecision::BFloat16);
    EXPECT_THAT(choice.reason, HasSubstr("AMX"));
  } else {
    // The CPUs seen: 2.0 (AMD Zen 4) and 0.5 (Intel Xeon without AMX), far from the threshold.
    EXPECT_GT(speedup, 0.2);
    EXPECT_LT(speedup, 4.5);
    EXPECT_EQ(choice.precision,
              speedup >= kBfloat16AutoSpeedup ? CpuGemmPrecision::BFloat16 : CpuGemmPrecision::Float32);
    EXPECT_THAT(choice.reason, HasSubstr("the FLOP rate of its float32 FMAs, measured at start"));
  }
  EXPECT_EQ(choice.reason.rfind(choice.precision == CpuGemmPrecision::BFloat16 ? "bfloat16" : "float32: ", 0), 0u)
      << choice.reason;
  EXPECT_EQ(choose_cpu_gemm_precision("f32").precision, CpuGemmPrecision::Float32);
  EXPECT_EQ(cpu_gemm_precision(), CpuGemmPrecision::Float32);  // choosing sets nothing
  try {
    (void)choose_cpu_gemm_precision("fp16");
    FAIL() << "fp16 was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--precision must be f32, bf16 or auto, got 'fp16'"));
  }
}

TEST(Bfloat16Choice, AutoRuleOnEachKindOfCpu) {
  const std::string flags = "avx2 fma avx512f avx512_bf16";
  const auto amx = auto_cpu_gemm_precision("avx512_core_amx", 0.0, flags + " amx_bf16 amx_tile");
  EXPECT_EQ(amx.precision, CpuGemmPrecision::BFloat16);
  EXPECT_THAT(amx.reason, HasSubstr("AMX-BF16"));
  const auto zen4 = auto_cpu_gemm_precision("avx512_core_bf16", 2.0, flags);
  EXPECT_EQ(zen4.precision, CpuGemmPrecision::BFloat16);
  EXPECT_THAT(zen4.reason, HasSubstr("run 2.00x the FLOP rate"));
  const auto xeon = auto_cpu_gemm_precision("avx512_core_bf16", 0.5, flags);
  EXPECT_EQ(xeon.precision, CpuGemmPrecision::Float32);
  EXPECT_THAT(xeon.reason, HasSubstr("run 0.50x the FLOP rate of its float32 FMAs, measured at start, so bfloat16 "
                                     "GEMMs would run slower (oneDNN's ISA: avx512_core_bf16; flags: avx2 fma"));
}

TEST(Bfloat16Choice, UnavailableBfloat16IsAnErrorNamingTheInstructionSets) {
  std::string why;
  if (cpu_bfloat16_gemm_available(&why)) {
    EXPECT_EQ(choose_cpu_gemm_precision("bf16").precision, CpuGemmPrecision::BFloat16);
    GTEST_SKIP() << "this CPU multiplies bfloat16 (" << cpu_gemm_isa()
                 << "): the refusal is checked by cli.lm.precision_refused (DNNL_MAX_CPU_ISA=AVX512_CORE)";
  }
  EXPECT_THROW(
      {
        try {
          set_cpu_gemm_precision(CpuGemmPrecision::BFloat16);
        } catch (const Error& e) {
          EXPECT_THAT(e.what(), HasSubstr(why));
          throw;
        }
      },
      Error);
  EXPECT_THROW((void)choose_cpu_gemm_precision("bf16"), Error);
  EXPECT_EQ(cpu_gemm_precision(), CpuGemmPrecision::Float32);
}

}  // namespace
}  // namespace recur
