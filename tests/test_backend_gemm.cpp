// GEMM on the CPU, with every provider this build has (OpenBLAS, and oneDNN when compiled),
// against a naive triple loop: transposes, strided and sliced views, batches, alpha/beta.
#include <limits>

#include "backends/cpu/gemm.h"
#include "test_backend_util.h"

namespace recur {
namespace {

using testing::HasSubstr;
using namespace testing_util;

Backend& cpu() { return backend_for(Device::cpu()); }

// Element (i, j) of op(m) for a 2-D view, or of batch `batch` of a 3-D one (batch 1 repeats).
double op_element(const Tensor& m, Transpose trans, int64_t batch, int64_t i, int64_t j) {
  if (trans == Transpose::Yes) std::swap(i, j);
  if (m.dim() == 2) return element(m, {i, j});
  return element(m, {m.shape()[0] == 1 ? 0 : batch, i, j});
}

// alpha * op(a) @ op(b) + beta * c0 with a triple loop, for c of `c_shape`.
std::vector<double> naive_gemm(const Shape& c_shape, const Tensor& a, Transpose ta, const Tensor& b, Transpose tb,
                               double alpha, double beta, const std::vector<double>& c0) {
  const bool batched = c_shape.size() == 3;
  const int64_t batches = batched ? c_shape[0] : 1, m = c_shape[c_shape.size() - 2], n = c_shape.back();
  const int64_t k = a.shape()[a.dim() - (ta == Transpose::Yes ? 2 : 1)];
  std::vector<double> out(static_cast<size_t>(batches * m * n));
  for (int64_t batch = 0; batch < batches; ++batch) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double total = 0.0;
        for (int64_t p = 0; p < k; ++p) total += op_element(a, ta, batch, i, p) * op_element(b, tb, batch, p, j);
        const size_t at = static_cast<size_t>((batch * m + i) * n + j);
        out[at] = alpha * total + (beta == 0.0 ? 0.0 : beta * c0[at]);
      }
    }
  }
  return out;
}

// Runs the test body once per available provider and restores the selection afterwards.
class CpuGemm : public testing::TestWithParam<GemmProvider> {
 protected:
  void SetUp() override {
    if (!gemm_provider_available(GetParam())) GTEST_SKIP() << "this build has no oneDNN";
    saved_ = gemm_provider();
    set_gemm_provider(GetParam());
  }
  void TearDown() override {
    if (gemm_provider_available(GetParam())) set_gemm_provider(saved_);
  }
  GemmProvider saved_ = GemmProvider::OpenBLAS;
};
INSTANTIATE_TEST_SUITE_P(Providers, CpuGemm, testing::Values(GemmProvider::OpenBLAS, GemmProvider::OneDNN),
                         [](const testing::TestParamInfo<GemmProvider>& info) {
                           return std::string(info.param == GemmProvider::OneDNN ? "onednn" : "openblas");
                         });

// Checks c = alpha op(a) op(b) + beta c for one set of operands.
void check_gemm(const Tensor& a, Transpose ta, const Tensor& b, Transpose tb, Tensor c, double alpha, double beta,
                const std::string& what) {
  const std::vector<double> c0 = values_of(c);
  const std::vector<double> want = naive_gemm(c.shape(), a, ta, b, tb, alpha, beta, c0);
  cpu().gemm(c, a, ta, b, tb, alpha, beta);
  const double tol = c.dtype() == DType::Float32 ? 1e-4 : 1e-12;
  expect_values_near(c, want, tol, what);
}

TEST_P(CpuGemm, MatchesNaiveLoopForEveryTransposeCombination) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const int64_t m = 7, n = 5, k = 9;
    for (Transpose ta : {Transpose::No, Transpose::Yes}) {
      for (Transpose tb : {Transpose::No, Transpose::Yes}) {
        Tensor a = random_tensor(ta == Transpose::No ? Shape{m, k} : Shape{k, m}, dtype, 1);
        Tensor b = random_tensor(tb == Transpose::No ? Shape{k, n} : Shape{n, k}, dtype, 2);
        check_gemm(a, ta, b, tb, empty({m, n}, options_for(dtype)), 1.0, 0.0,
                   fmt::format("{} ta {} tb {}", dtype_name(dtype), static_cast<int>(ta), static_cast<int>(tb)));
      }
    }
  }
}

// A^T B with M > N and K >= 64 (a weight gradient's shape), C a slice of a wider matrix
// (ldc > N), alpha and beta, and beta = 0 over NaN.
TEST_P(CpuGemm, TransposedAWithMoreRowsThanColumnsMatchesNaiveLoop) {
  const int64_t m = 37, n = 19, k = 70;
  Tensor a = random_tensor({k, m}, DType::Float32, 21);
  Tensor b = random_tensor({k, n}, DType::Float32, 22);
  Tensor wide = random_tensor({m, n + 5}, DType::Float32, 23);
  check_gemm(a, Transpose::Yes, b, Transpose::No, wide.as_strided_raw({m, n}, {n + 5, 1}, 2), 0.5, -1.5,
             "A^T B into a slice, alpha and beta");
  Tensor garbage = full({m, n}, std::numeric_limits<double>::quiet_NaN(), options_for(DType::Float32));
  check_gemm(a, Transpose::Yes, b, Transpose::No, garbage, 1.0, 0.0, "A^T B, beta 0 over NaN");
}

TEST_P(CpuGemm, UsesTransposedAndRowSlicedViewsThroughLeadingDimensions) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    // a: a transposed contiguous matrix (row stride 1); b: rows 2..7 of a wider matrix.
    Tensor a = reversed_layout({6, 4}, dtype, 3);
    Tensor wide = random_tensor({10, 12}, dtype, 4);
    Tensor b = wide.as_strided_raw({4, 5}, {12, 1}, 2 * 12 + 3);
    check_gemm(a, Transpose::No, b, Transpose::No, empty({6, 5}, options_for(dtype)), 1.0, 0.0, "views");
    check_gemm(a, Transpose::Yes, reversed_layout({6, 3}, dtype, 5), Transpose::No, empty({4, 3}, options_for(dtype)),
               1.0, 0.0, "transposed view, transposed flag");
  }
}

TEST_P(CpuGemm, CopiesOperandsWithoutAUnitStride) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor a = every_other_column({5, 4}, dtype, 6);
    Tensor b = expanded(random_tensor({1, 3}, dtype, 7), {4, 3});  // stride 0 rows
    check_gemm(a, Transpose::No, b, Transpose::No, empty({5, 3}, options_for(dtype)), 1.0, 0.0, "no unit stride");
  }
}

TEST_P(CpuGemm, AlphaAndBetaScaleAndAccumulateAndBetaZeroIgnoresNaN) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor a = random_tensor({6, 8}, dtype, 8);
    Tensor b = random_tensor({8, 4}, dtype, 9);
    check_gemm(a, Transpose::No, b, Transpose::No, random_tensor({6, 4}, dtype, 10), 0.5, -2.0, "alpha beta");
    Tensor garbage = full({6, 4}, std::numeric_limits<double>::quiet_NaN(), options_for(dtype));
    check_gemm(a, Transpose::No, b, Transpose::No, garbage, 2.0, 0.0, "beta 0 over NaN");
  }
}

TEST_P(CpuGemm, BatchedGemmBroadcastsBatchOneOperands) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const int64_t batches = 3, m = 4, k = 5, n = 6;
    Tensor a3 = random_tensor({batches, m, k}, dtype, 11);
    Tensor b3 = random_tensor({batches, k, n}, dtype, 12);
    Tensor a1 = random_tensor({1, m, k}, dtype, 13);
    Tensor b1 = random_tensor({1, k, n}, dtype, 14);
    const TensorOptions opts = options_for(dtype);
    check_gemm(a3, Transpose::No, b3, Transpose::No, empty({batches, m, n}, opts), 1.0, 0.0, "full batches");
    check_gemm(a3, Transpose::No, b1, Transpose::No, empty({batches, m, n}, opts), 1.0, 0.0, "shared b (merged)");
    check_gemm(a1, Transpose::No, b3, Transpose::No, empty({batches, m, n}, opts), 1.0, 0.0, "shared a");
    check_gemm(a3, Transpose::No, expanded(b1, {batches, k, n}), Transpose::No, empty({batches, m, n}, opts), 1.0, 0.0,
               "stride-0 batch");
    Tensor bt = random_tensor({batches, n, k}, dtype, 15);
    check_gemm(a3, Transpose::No, bt, Transpose::Yes, random_tensor({batches, m, n}, dtype, 16), 1.0, 1.0,
               "transposed batches with beta");
  }
}

TEST_P(CpuGemm, WritesIntoOutputsWithoutUnitColumnStride) {
  Tensor a = random_tensor({3, 4}, DType::Float64, 17);
  Tensor b = random_tensor({4, 5}, DType::Float64, 18);
  Tensor c = reversed_layout({3, 5}, DType::Float64, 19);
  check_gemm(a, Transpose::No, b, Transpose::No, c, 1.0, 1.0, "transposed c");
}

TEST_P(CpuGemm, EmptyInnerDimensionScalesC) {
  Tensor a = empty({3, 0});
  Tensor b = empty({0, 2});
  Tensor c = full({3, 2}, 4.0);
  cpu().gemm(c, a, Transpose::No, b, Transpose::No, 1.0, 0.5);
  expect_values_near(c, std::vector<double>(6, 2.0), 0.0);
}

TEST_P(CpuGemm, MatmulComputesBatchedProducts) {
  Tensor a = random_tensor({2, 3, 4}, DType::Float32, 20);
  Tensor b = random_tensor({4, 5}, DType::Float32, 21);
  Tensor c = compute::matmul(a, b);
  ASSERT_EQ(c.shape(), (Shape{2, 3, 5}));
  expect_values_near(c, naive_gemm({2, 3, 5}, a, Transpose::No, b, Transpose::No, 1.0, 0.0, {}), 1e-4);
  Tensor at = random_tensor({4, 3}, DType::Float32, 22);
  Tensor c2 = compute::matmul(at, b, Transpose::Yes);
  expect_values_near(c2, naive_gemm({3, 5}, at, Transpose::Yes, b, Transpose::No, 1.0, 0.0, {}), 1e-4);
}

TEST(CpuGemmErrors, MatmulNamesShapesWhenInnerSizesDiffer) {
  Tensor a = zeros({2, 3});
  Tensor b = zeros({4, 5});
  try {
    compute::matmul(a, b);
    FAIL() << "expected recur::Error";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("matmul: [2, 3] @ [4, 5]: inner sizes 3 and 4 differ"));
  }
  EXPECT_THROW(compute::matmul(zeros({2, 3, 4}), zeros({5, 4, 2})), Error);  // batches 2 and 5
  EXPECT_THROW(compute::matmul(zeros({2, 3}), zeros({3, 2}, options_for(DType::Float64))), Error);
  EXPECT_THROW(compute::matmul(zeros({3}), zeros({3, 2})), Error);
}

TEST(CpuGemmErrors, ProviderSelectionIsNamedAndRejectsMissingProviders) {
  const GemmProvider saved = gemm_provider();
  set_gemm_provider(GemmProvider::OpenBLAS);
  EXPECT_EQ(gemm_provider_name(), "openblas");
  if (gemm_provider_available(GemmProvider::OneDNN)) {
    set_gemm_provider(GemmProvider::OneDNN);
    EXPECT_EQ(gemm_provider_name(), "onednn");
  } else {
    EXPECT_THROW(set_gemm_provider(GemmProvider::OneDNN), Error);
  }
  set_gemm_provider(saved);
  EXPECT_THAT(openblas_info(), HasSubstr("threads"));
}

}  // namespace
}  // namespace recur
