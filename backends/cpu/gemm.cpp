// c = alpha * op(a) @ op(b) + beta * c on the CPU, through OpenBLAS or oneDNN (cpu/gemm.h).
//
// The operands reach the providers as backends/gemm_args.h describes (row-major matrices with a
// leading dimension and a transpose flag, a contiguous copy when no stride is a unit one).
// Batches loop over the leading axis; an operand of batch 1 (or batch stride 0) is reused for
// every batch. When b is shared and a and c are row-major with batches stacked densely, the
// batches merge into one GEMM of Bt * M rows.
//
// bfloat16 operands (cpu_gemm_precision() BFloat16): each float32 operand is rounded into a
// thread-local buffer that grows to the largest operand and is reused, and oneDNN's matmul
// primitive multiplies (bf16 src and weights, f32 dst, alpha as its output scale, beta as a sum
// post-op). Primitives are cached per thread, per shape, leading dimensions, transposes, alpha and
// beta. oneDNN's kernels run on OpenMP: called inside a parallel region (the fused RNN layer's
// thread team), a primitive runs on the calling thread alone.
#include "backends/cpu/gemm.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/gemm_args.h"
#include "recur/config.h"

#if RECUR_HAVE_ONEDNN
#include <oneapi/dnnl/dnnl.h>

#include <oneapi/dnnl/dnnl.hpp>
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

// ---- bfloat16 operands ------------------------------------------------------------------------

std::atomic<int> g_precision{static_cast<int>(CpuGemmPrecision::Float32)};

bool bfloat16_gemm() { return g_precision.load(std::memory_order_relaxed) == int(CpuGemmPrecision::BFloat16); }

// The stored matrix of op(X) [rows, cols]: X itself, or [cols, rows] when transposed.
struct Stored {
  int64_t rows, cols;
};
Stored stored_of(Transpose trans, int64_t rows, int64_t cols) {
  return trans == Transpose::Yes ? Stored{cols, rows} : Stored{rows, cols};
}

#if RECUR_HAVE_ONEDNN
struct MatmulKey {
  int64_t m, n, k, lda, ldb, ldc;
  Transpose trans_a, trans_b;
  float alpha, beta;
  bool operator==(const MatmulKey&) const = default;
};
struct MatmulKeyHash {
  size_t operator()(const MatmulKey& key) const {
    size_t h = 0;
    for (int64_t v : {key.m, key.n, key.k, key.lda, key.ldb, key.ldc, int64_t(key.trans_a), int64_t(key.trans_b)}) {
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    }
    return h ^ std::hash<float>()(key.alpha) * 31u ^ std::hash<float>()(key.beta);
  }
};

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// op(X) [rows, cols] over X stored row-major with leading dimension ld.
dnnl::memory::desc matrix_desc(int64_t rows, int64_t cols, int64_t ld, Transpose trans, dnnl::memory::data_type type) {
  const dnnl::memory::dims strides = trans == Transpose::Yes ? dnnl::memory::dims{1, ld} : dnnl::memory::dims{ld, 1};
  return dnnl::memory::desc({rows, cols}, type, strides);
}

struct Matmul {
  dnnl::matmul primitive;
  dnnl::memory::desc a, b, c;
};

const Matmul& bfloat16_matmul(const MatmulKey& key) {
  thread_local std::unordered_map<MatmulKey, Matmul, MatmulKeyHash> cache;
  if (auto found = cache.find(key); found != cache.end()) return found->second;
  if (cache.size() >= 256) cache.clear();  // shapes come and go (the last batch, evaluation)
  using Type = dnnl::memory::data_type;
  Matmul matmul{{},
                matrix_desc(key.m, key.k, key.lda, key.trans_a, Type::bf16),
                matrix_desc(key.k, key.n, key.ldb, key.trans_b, Type::bf16),
                matrix_desc(key.m, key.n, key.ldc, Transpose::No, Type::f32)};
  dnnl::primitive_attr attr;
  if (key.alpha != 1.0f) attr.set_output_scales(0, {key.alpha});
  if (key.beta != 0.0f) {
    dnnl::post_ops sum;
    sum.append_sum(key.beta);  // C = alpha * A B + beta * C
    attr.set_post_ops(sum);
  }
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(matmul.a, matmul.b, matmul.c), attr, cpu_engine());
  matmul.primitive = dnnl::matmul(pd);
  return cache.emplace(key, std::move(matmul)).first->second;
}
#endif

// C = alpha * op(A) @ op(B) + beta * C with A and B bfloat16 bits, C float32.
void bfloat16_gemm_rounded(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                           const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta, float* c,
                           int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum: C = beta * C
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    }
    return;
  }
#if RECUR_HAVE_ONEDNN
  try {
    const Matmul& matmul = bfloat16_matmul({m, n, k, lda, ldb, ldc, trans_a, trans_b, alpha, beta});
    thread_local dnnl::stream stream(cpu_engine());
    dnnl::memory a_memory(matmul.a, cpu_engine(), const_cast<uint16_t*>(a));
    dnnl::memory b_memory(matmul.b, cpu_engine(), const_cast<uint16_t*>(b));
    dnnl::memory c_memory(matmul.c, cpu_engine(), c);
    matmul.primitive.execute(stream,
                             {{DNNL_ARG_SRC, a_memory}, {DNNL_ARG_WEIGHTS, b_memory}, {DNNL_ARG_DST, c_memory}});
    stream.wait();
  } catch (const dnnl::error& e) {
    RECUR_FAIL("oneDNN's bfloat16 matmul failed: {} (status {}; M={}, N={}, K={})", e.what(),
               static_cast<int>(e.status), m, n, k);
  }
#else
  (void)trans_a, (void)trans_b, (void)alpha, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc;
  RECUR_FAIL("bfloat16 GEMM: recur was built without oneDNN, which runs them");
#endif
}

// The stored matrix of op(X) rounded into `buffer` (dense), and its leading dimension.
const uint16_t* rounded_operand(std::vector<uint16_t>& buffer, Transpose trans, int64_t rows, int64_t cols,
                                const float* x, int64_t ld, int64_t& rounded_ld) {
  const Stored stored = stored_of(trans, rows, cols);
  const size_t size = static_cast<size_t>(stored.rows * stored.cols);
  if (buffer.size() < size) buffer.resize(size);
  cpu::round_to_bfloat16(buffer.data(), x, stored.rows, stored.cols, ld);
  rounded_ld = std::max<int64_t>(stored.cols, 1);
  return buffer.data();
}

thread_local std::vector<uint16_t> t_rounded_a, t_rounded_b;

void bfloat16_gemm(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  int64_t rounded_lda = 0, rounded_ldb = 0;
  const uint16_t* ra = rounded_operand(t_rounded_a, trans_a, m, k, a, lda, rounded_lda);
  const uint16_t* rb = rounded_operand(t_rounded_b, trans_b, k, n, b, ldb, rounded_ldb);
  bfloat16_gemm_rounded(trans_a, trans_b, m, n, k, alpha, ra, rounded_lda, rb, rounded_ldb, beta, c, ldc);
}

// The flags of /proc/cpuinfo's first "flags" line.
std::vector<std::string> cpu_flags() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::vector<std::string> flags;
    for (std::string word; words >> word;) flags.push_back(word);
    return flags;
  }
  return {};
}

// ---- the providers ------------------------------------------------------------------------------

template <typename T> void provider_gemm(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                                         const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>) {
    if (bfloat16_gemm()) return bfloat16_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
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

std::string cpu_gemm_flags() {
  const std::vector<std::string> flags = cpu_flags();
  if (flags.empty()) return "unknown";
  std::string named;
  for (const char* wanted : {"avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}) {
    if (std::find(flags.begin(), flags.end(), wanted) == flags.end()) continue;
    named += named.empty() ? wanted : std::string(" ") + wanted;
  }
  return named.empty() ? "none of avx2, fma, avx512f, avx512_bf16, amx_bf16" : named;
}

bool cpu_bfloat16_gemm_available(std::string* why) {
  const std::string isa = cpu_gemm_isa();
  if (isa == "avx512_core_bf16" || isa == "avx512_core_amx") return true;
  if (why == nullptr) return false;
  if (RECUR_HAVE_ONEDNN) {
    *why = fmt::format(
        "this CPU has no bfloat16 GEMM instructions (oneDNN's ISA here: {}; CPU flags: {}); bfloat16 "
        "GEMMs need AVX512-BF16 or AMX-BF16, and recur does not emulate them",
        isa, cpu_gemm_flags());
  } else {
    *why = "recur was built without oneDNN, which runs the bfloat16 GEMMs (configure with libdnnl-dev installed)";
  }
  return false;
}

void set_cpu_gemm_precision(CpuGemmPrecision precision) {
  std::string why;
  RECUR_CHECK(precision == CpuGemmPrecision::Float32 || cpu_bfloat16_gemm_available(&why),
              "bfloat16 GEMMs on the CPU: {}", why);
  g_precision.store(static_cast<int>(precision));
}

CpuGemmPrecision cpu_gemm_precision() { return static_cast<CpuGemmPrecision>(g_precision.load()); }

std::string cpu_gemm_precision_name(CpuGemmPrecision precision) {
  return precision == CpuGemmPrecision::BFloat16 ? "bf16" : "f32";
}

CpuGemmPrecisionChoice choose_cpu_gemm_precision(const std::string& request) {
  RECUR_CHECK(request == "f32" || request == "bf16" || request == "auto",
              "--precision must be f32, bf16 or auto, got '{}'", request);
  if (request == "f32") return {CpuGemmPrecision::Float32, "float32: asked for (--precision f32)"};
  std::string why;
  const bool available = cpu_bfloat16_gemm_available(&why);
  if (request == "bf16") {
    RECUR_CHECK(available, "--precision bf16: {}", why);
    return {CpuGemmPrecision::BFloat16,
            fmt::format("bfloat16 GEMM operands: asked for (--precision bf16; oneDNN's ISA here: {})", cpu_gemm_isa())};
  }
  if (!available) return {CpuGemmPrecision::Float32, "float32: " + why};
  const std::string isa = cpu_gemm_isa();
  return auto_cpu_gemm_precision(isa, isa == "avx512_core_amx" ? 0.0 : cpu_bfloat16_dot_speedup(), cpu_gemm_flags());
}

CpuGemmPrecisionChoice auto_cpu_gemm_precision(const std::string& isa, double bf16_dot_speedup,
                                               const std::string& flags) {
  if (isa == "avx512_core_amx") {
    return {CpuGemmPrecision::BFloat16,
            "bfloat16 GEMM operands: this CPU has AMX-BF16, where bfloat16 GEMMs run faster than float32"};
  }
  // Without AMX the bfloat16 kernels run on VDPBF16PS: they pay where it outruns the FMAs.
  if (bf16_dot_speedup >= kBfloat16AutoSpeedup) {
    return {CpuGemmPrecision::BFloat16,
            fmt::format("bfloat16 GEMM operands: this CPU's bfloat16 dot products (AVX512-BF16) run {:.2f}x the "
                        "FLOP rate of its float32 FMAs, measured at start (oneDNN's ISA: {}; flags: {})",
                        bf16_dot_speedup, isa, flags)};
  }
  return {CpuGemmPrecision::Float32,
          fmt::format("float32: this CPU's bfloat16 dot products (AVX512-BF16, no AMX) run {:.2f}x the FLOP rate of "
                      "its float32 FMAs, measured at start, so bfloat16 GEMMs would run slower (oneDNN's ISA: {}; "
                      "flags: {})",
                      bf16_dot_speedup, isa, flags)};
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

void gemm_raw_rounded_b(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float* a, int64_t lda, const uint16_t* b_rounded, int64_t ldb, float beta, float* c,
                        int64_t ldc) {
  RECUR_CHECK(bfloat16_gemm(), "gemm_raw_rounded_b: the CPU GEMMs' precision is float32, not bfloat16");
  int64_t rounded_lda = 0;
  const uint16_t* ra = rounded_operand(t_rounded_a, trans_a, m, k, a, lda, rounded_lda);
  bfloat16_gemm_rounded(trans_a, trans_b, m, n, k, alpha, ra, rounded_lda, b_rounded, ldb, beta, c, ldc);
}

void gemm_raw_rounded(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const uint16_t* a_rounded, int64_t lda, const uint16_t* b_rounded, int64_t ldb, float beta,
                      float* c, int64_t ldc) {
  RECUR_CHECK(bfloat16_gemm(), "gemm_raw_rounded: the CPU GEMMs' precision is float32, not bfloat16");
  bfloat16_gemm_rounded(trans_a, trans_b, m, n, k, alpha, a_rounded, lda, b_rounded, ldb, beta, c, ldc);
}

void round_to_bfloat16(uint16_t* out, const float* in, int64_t rows, int64_t cols, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = in + r * ld;
    uint16_t* dst = out + r * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) dst[j] = float_to_bfloat16(row[j]);
  }
}

template void gemm_raw<float>(Transpose, Transpose, int64_t, int64_t, int64_t, float, const float*, int64_t,
                              const float*, int64_t, float, float*, int64_t);
template void gemm_raw<double>(Transpose, Transpose, int64_t, int64_t, int64_t, double, const double*, int64_t,
                               const double*, int64_t, double, double*, int64_t);

}  // namespace recur::cpu
