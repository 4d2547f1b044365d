// c = alpha * op(a) @ op(b) + beta * c on the CPU, through OpenBLAS or oneDNN (cpu/gemm.h).
//
// M, N, K: c is [M, N], op(a) is [M, K], op(b) is [K, N]; Bt = batches (3-D operands).
// Both providers take row-major matrices with a leading dimension (ld, the row stride) and a
// transpose flag. A stored matrix with strides (row_stride, column_stride) is passed as:
//   column_stride == 1: itself, ld = row_stride;
//   row_stride == 1:    the row-major transpose of itself (a transposed contiguous matrix),
//                       ld = column_stride, with the transpose flag flipped;
//   otherwise (or ld too small, e.g. a stride-0 broadcast inside the matrix): a contiguous copy.
// Batches loop over the leading axis; an operand of batch 1 (or batch stride 0) is reused for
// every batch. When b is shared and a and c are row-major with batches stacked densely, the
// batches merge into one GEMM of Bt * M rows.
#include "backends/cpu/gemm.h"

#include <cblas.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <optional>

#include "backends/cpu/cpu_backend.h"
#include "recur/config.h"

#if RECUR_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

namespace recur {
namespace {

// -1: not decided yet (the default and RECUR_GEMM are read on first use).
std::atomic<int> g_provider{-1};

GemmProvider default_provider() {
  const char* text = std::getenv("RECUR_GEMM");
  if (text == nullptr || *text == '\0') {
    return gemm_provider_available(GemmProvider::OneDNN) ? GemmProvider::OneDNN : GemmProvider::OpenBLAS;
  }
  const std::string value = text;
  RECUR_CHECK(value == "openblas" || value == "onednn", "RECUR_GEMM={}: expected openblas or onednn", value);
  const GemmProvider provider = value == "onednn" ? GemmProvider::OneDNN : GemmProvider::OpenBLAS;
  RECUR_CHECK(gemm_provider_available(provider),
              "RECUR_GEMM=onednn, but recur was built without oneDNN (configure with libdnnl-dev installed)");
  return provider;
}

// A matrix as the providers take it.
struct BlasMatrix {
  bool transposed;  // the flag passed to the provider
  int64_t ld;
};

// rows x cols stored with (row_stride, column_stride), to be used as op(stored) with `trans`.
std::optional<BlasMatrix> blas_layout(int64_t rows, int64_t cols, int64_t row_stride, int64_t column_stride,
                                      bool trans) {
  if ((column_stride == 1 || cols == 1) && (rows == 1 || row_stride >= std::max<int64_t>(cols, 1))) {
    return BlasMatrix{trans, rows == 1 ? std::max<int64_t>(cols, 1) : row_stride};
  }
  if ((row_stride == 1 || rows == 1) && (cols == 1 || column_stride >= std::max<int64_t>(rows, 1))) {
    return BlasMatrix{!trans, cols == 1 ? std::max<int64_t>(rows, 1) : column_stride};
  }
  return std::nullopt;
}

// A 2-D or 3-D operand seen as batches of stored matrices.
struct Operand {
  Tensor tensor;  // possibly a contiguous copy of the caller's
  int64_t batches = 1, batch_stride = 0, rows = 0, cols = 0, row_stride = 0, column_stride = 0;
  BlasMatrix blas{false, 1};

  Operand(const Tensor& t, bool trans) : tensor(t) {
    std::optional<BlasMatrix> layout = read(trans);
    if (!layout) {  // no unit stride: copy into a contiguous tensor
      tensor = make_contiguous_tensor(t.shape(), t.dtype(), Device::cpu());
      cpu_backend().copy(tensor, t);
      layout = read(trans);
    }
    blas = *layout;
  }

  std::optional<BlasMatrix> read(bool trans) {
    const int64_t rank = tensor.dim();
    batches = rank == 3 ? tensor.shape()[0] : 1;
    batch_stride = rank == 3 && batches > 1 ? tensor.strides()[0] : 0;
    rows = tensor.shape()[rank - 2], cols = tensor.shape()[rank - 1];
    row_stride = tensor.strides()[rank - 2], column_stride = tensor.strides()[rank - 1];
    return blas_layout(rows, cols, row_stride, column_stride, trans);
  }

  template <typename T> const T* matrix(int64_t batch) const {
    return static_cast<const T*>(tensor.raw_data()) + (batches == 1 ? 0 : batch * batch_stride);
  }
};

void check_blas_int(int64_t value, const char* what) {
  RECUR_CHECK(value <= INT_MAX, "gemm: {} = {} exceeds the BLAS 32-bit integer range", what, value);
}

template <typename T> void provider_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                                         const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  for (int64_t value : {m, n, k, lda, ldb, ldc}) check_blas_int(value, "a size or leading dimension");
#if RECUR_HAVE_ONEDNN
  if constexpr (std::is_same_v<T, float>) {
    if (gemm_provider() == GemmProvider::OneDNN) {
      const dnnl_status_t status =
          dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      RECUR_CHECK(status == dnnl_success, "dnnl_sgemm failed with status {} (M={}, N={}, K={})",
                  static_cast<int>(status), m, n, k);
      return;
    }
  }
#endif
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                static_cast<int>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                static_cast<int>(ldc));
  }
}

template <typename T> void gemm_typed(Tensor& c, const Operand& a, const Operand& b, int64_t m, int64_t n, int64_t k,
                                      double alpha, double beta) {
  const int64_t rank = c.dim(), batches = rank == 3 ? c.shape()[0] : 1;
  const int64_t c_batch_stride = rank == 3 ? c.strides()[0] : 0;
  const int64_t ldc = m == 1 ? std::max<int64_t>(n, 1) : c.strides()[rank - 2];
  T* c_data = static_cast<T*>(c.raw_data());
  const T ta = static_cast<T>(alpha), tb = static_cast<T>(beta);
  // Shared b, row-major a with batches stacked densely, c likewise: one GEMM of Bt * M rows.
  const bool merge = batches > 1 && (b.batches == 1 || b.batch_stride == 0) && !a.blas.transposed &&
                     a.batches == batches && a.batch_stride == m * a.blas.ld && c_batch_stride == m * ldc;
  if (merge) {
    provider_gemm<T>(false, b.blas.transposed, batches * m, n, k, ta, a.matrix<T>(0), a.blas.ld, b.matrix<T>(0),
                     b.blas.ld, tb, c_data, ldc);
    return;
  }
  for (int64_t batch = 0; batch < batches; ++batch) {
    provider_gemm<T>(a.blas.transposed, b.blas.transposed, m, n, k, ta, a.matrix<T>(batch), a.blas.ld,
                     b.matrix<T>(batch), b.blas.ld, tb, c_data + batch * c_batch_stride, ldc);
  }
}

}  // namespace

bool gemm_provider_available(GemmProvider provider) {
  return provider == GemmProvider::OpenBLAS || (provider == GemmProvider::OneDNN && RECUR_HAVE_ONEDNN);
}

void set_gemm_provider(GemmProvider provider) {
  RECUR_CHECK(gemm_provider_available(provider),
              "set_gemm_provider(onednn): recur was built without oneDNN (configure with libdnnl-dev installed)");
  g_provider.store(static_cast<int>(provider));
}

GemmProvider gemm_provider() {
  int provider = g_provider.load();
  if (provider < 0) {
    provider = static_cast<int>(default_provider());
    int expected = -1;
    g_provider.compare_exchange_strong(expected, provider);
    provider = g_provider.load();
  }
  return static_cast<GemmProvider>(provider);
}

std::string gemm_provider_name() { return gemm_provider() == GemmProvider::OneDNN ? "onednn" : "openblas"; }

std::string openblas_info() {
  std::string config = openblas_get_config();
  while (!config.empty() && config.back() == ' ') config.pop_back();
  return fmt::format("{} ({} threads)", config, openblas_get_num_threads());
}

void CpuBackend::gemm(Tensor& c, const Tensor& a, Transpose trans_a, const Tensor& b, Transpose trans_b, double alpha,
                      double beta) {
  const int64_t rank = c.dim();
  RECUR_CHECK((rank == 2 || rank == 3) && a.dim() >= 2 && a.dim() <= rank && b.dim() >= 2 && b.dim() <= rank,
              "gemm: expected 2-D matrices or 3-D batches, got c {}, a {}, b {}", c.describe(), a.describe(),
              b.describe());
  RECUR_CHECK(a.dtype() == c.dtype() && b.dtype() == c.dtype(), "gemm: dtypes differ: c {}, a {}, b {}", c.describe(),
              a.describe(), b.describe());
  RECUR_CHECK(c.dtype() == DType::Float32 || c.dtype() == DType::Float64,
              "gemm: expected float32 or float64 on the CPU, got {}", c.describe());
  const bool ta = trans_a == Transpose::Yes, tb = trans_b == Transpose::Yes;
  const int64_t m = a.shape()[a.dim() - (ta ? 1 : 2)], k = a.shape()[a.dim() - (ta ? 2 : 1)];
  const int64_t kb = b.shape()[b.dim() - (tb ? 1 : 2)], n = b.shape()[b.dim() - (tb ? 2 : 1)];
  const int64_t batches = rank == 3 ? c.shape()[0] : 1;
  const auto batch_ok = [&](const Tensor& t) { return t.dim() == 2 || t.shape()[0] == 1 || t.shape()[0] == batches; };
  RECUR_CHECK(k == kb && c.shape()[rank - 2] == m && c.shape()[rank - 1] == n && batch_ok(a) && batch_ok(b),
              "gemm: sizes do not match: c {} = op(a {}){} @ op(b {}){}", c.describe(), a.describe(), ta ? "^T" : "",
              b.describe(), tb ? "^T" : "");
  if (c.numel() == 0) return;
  if (k == 0) {  // an empty sum: c = beta * c
    if (beta == 0.0) return fill(c, 0.0);
    return unary(UnaryOp::Affine, c, c, {beta, 0.0});
  }
  // c needs a unit column stride; anything else computes into a contiguous buffer.
  const bool c_ok = (c.strides()[rank - 1] == 1 || n == 1) && (m == 1 || c.strides()[rank - 2] >= n);
  Tensor target = c;
  if (!c_ok) {
    target = make_contiguous_tensor(c.shape(), c.dtype(), Device::cpu());
    if (beta != 0.0) copy(target, c);
  }
  const Operand oa(a, ta), ob(b, tb);
  if (c.dtype() == DType::Float32) {
    gemm_typed<float>(target, oa, ob, m, n, k, alpha, beta);
  } else {
    gemm_typed<double>(target, oa, ob, m, n, k, alpha, beta);
  }
  if (!c_ok) copy(c, target);
}

}  // namespace recur

namespace recur::cpu {

template <typename T> void gemm_raw(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                                    const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  provider_gemm<T>(trans_a == Transpose::Yes, trans_b == Transpose::Yes, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template void gemm_raw<float>(Transpose, Transpose, int64_t, int64_t, int64_t, float, const float*, int64_t,
                              const float*, int64_t, float, float*, int64_t);
template void gemm_raw<double>(Transpose, Transpose, int64_t, int64_t, int64_t, double, const double*, int64_t,
                               const double*, int64_t, double, double*, int64_t);

}  // namespace recur::cpu
