// c = alpha * op(a) @ op(b) + beta * c on the CPU, through OpenBLAS or oneDNN (cpu/gemm.h).
//
// The operands reach the providers as backends/gemm_args.h describes (row-major matrices with a
// leading dimension and a transpose flag, a contiguous copy when no stride is a unit one).
// Batches loop over the leading axis; an operand of batch 1 (or batch stride 0) is reused for
// every batch. When b is shared and a and c are row-major with batches stacked densely, the
// batches merge into one GEMM of Bt * M rows.
#include "backends/cpu/gemm.h"

#include <cblas.h>

#include <atomic>
#include <climits>
#include <cstdlib>

#include "backends/cpu/cpu_backend.h"
#include "backends/gemm_args.h"
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

// Batch `batch` of an operand's matrices.
template <typename T> const T* matrix_of(const GemmOperand& operand, int64_t batch) {
  return static_cast<const T*>(operand.tensor.raw_data()) + (operand.batches == 1 ? 0 : batch * operand.batch_stride);
}

void check_blas_int(int64_t value, const char* what) {
  RECUR_CHECK(value <= INT_MAX, "gemm: {} = {} exceeds the BLAS 32-bit integer range", what, value);
}

// The flag a BlasMatrix carries, as the providers' calls below take it.
Transpose transpose_of(const BlasMatrix& matrix) { return matrix.transposed ? Transpose::Yes : Transpose::No; }

template <typename T> void provider_gemm(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                                         const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  for (int64_t value : {m, n, k, lda, ldb, ldc}) check_blas_int(value, "a size or leading dimension");
#if RECUR_HAVE_ONEDNN
  if constexpr (std::is_same_v<T, float>) {
    if (gemm_provider() == GemmProvider::OneDNN) {
      const dnnl_status_t status =
          dnnl_sgemm(trans_a == Transpose::Yes ? 'T' : 'N', trans_b == Transpose::Yes ? 'T' : 'N', m, n, k, alpha, a,
                     lda, b, ldb, beta, c, ldc);
      RECUR_CHECK(status == dnnl_success, "dnnl_sgemm failed with status {} (M={}, N={}, K={})",
                  static_cast<int>(status), m, n, k);
      return;
    }
  }
#endif
  const CBLAS_TRANSPOSE ta = trans_a == Transpose::Yes ? CblasTrans : CblasNoTrans,
                        tb = trans_b == Transpose::Yes ? CblasTrans : CblasNoTrans;
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                static_cast<int>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, im, in, ik, alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), beta, c,
                static_cast<int>(ldc));
  }
}

template <typename T>
void gemm_typed(Tensor& c, const GemmOperand& a, const GemmOperand& b, const GemmDims& d, double alpha, double beta) {
  const int64_t m = d.m, n = d.n, k = d.k, batches = d.batches;
  const int64_t c_batch_stride = c.dim() == 3 ? c.strides()[0] : 0;
  const int64_t ldc = gemm_ldc(c, d);
  T* c_data = static_cast<T*>(c.raw_data());
  const T ta = static_cast<T>(alpha), tb = static_cast<T>(beta);
  // Shared b, row-major a with batches stacked densely, c likewise: one GEMM of Bt * M rows.
  const bool merge = batches > 1 && (b.batches == 1 || b.batch_stride == 0) && !a.blas.transposed &&
                     a.batches == batches && a.batch_stride == m * a.blas.ld && c_batch_stride == m * ldc;
  if (merge) {
    provider_gemm<T>(Transpose::No, transpose_of(b.blas), batches * m, n, k, ta, matrix_of<T>(a, 0), a.blas.ld,
                     matrix_of<T>(b, 0), b.blas.ld, tb, c_data, ldc);
    return;
  }
  for (int64_t batch = 0; batch < batches; ++batch) {
    provider_gemm<T>(transpose_of(a.blas), transpose_of(b.blas), m, n, k, ta, matrix_of<T>(a, batch), a.blas.ld,
                     matrix_of<T>(b, batch), b.blas.ld, tb, c_data + batch * c_batch_stride, ldc);
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

std::string cpu_gemm_isa() {
#if RECUR_HAVE_ONEDNN
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return fmt::format("oneDNN ISA 0x{:x}", static_cast<unsigned>(dnnl_get_effective_cpu_isa()));
  }
#else
  return "none";
#endif
}

std::string cpu_native_gemm_precisions() {
  const std::string isa = cpu_gemm_isa();
  if (isa == "avx512_core_amx") return "float32, bfloat16 (AMX)";
  if (isa == "avx512_core_bf16") return "float32, bfloat16 (AVX512-BF16)";
  return "float32";
}

void CpuBackend::gemm(Tensor& c, const Tensor& a, Transpose trans_a, const Tensor& b, Transpose trans_b, double alpha,
                      double beta) {
  const GemmDims d = check_gemm_args(c, a, trans_a, b, trans_b);
  RECUR_CHECK(c.dtype() == DType::Float32 || c.dtype() == DType::Float64,
              "gemm: expected float32 or float64 on the CPU, got {}", c.describe());
  if (c.numel() == 0) return;
  if (d.k == 0) {  // an empty sum: c = beta * c
    if (beta == 0.0) return fill(c, 0.0);
    return unary(UnaryOp::Affine, c, c, {beta, 0.0});
  }
  const bool in_place = gemm_output_in_place(c, d);
  Tensor target = c;
  if (!in_place) {
    target = make_contiguous_tensor(c.shape(), c.dtype(), Device::cpu());
    if (beta != 0.0) copy(target, c);
  }
  const GemmOperand oa(a, d.trans_a), ob(b, d.trans_b);
  if (c.dtype() == DType::Float32) {
    gemm_typed<float>(target, oa, ob, d, alpha, beta);
  } else {
    gemm_typed<double>(target, oa, ob, d, alpha, beta);
  }
  if (!in_place) copy(c, target);
}

}  // namespace recur

namespace recur::cpu {

template <typename T> void gemm_raw(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                                    const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  provider_gemm<T>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template void gemm_raw<float>(Transpose, Transpose, int64_t, int64_t, int64_t, float, const float*, int64_t,
                              const float*, int64_t, float, float*, int64_t);
template void gemm_raw<double>(Transpose, Transpose, int64_t, int64_t, int64_t, double, const double*, int64_t,
                               const double*, int64_t, double, double*, int64_t);

}  // namespace recur::cpu
