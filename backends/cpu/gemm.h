// The CPU GEMM providers: OpenBLAS (cblas_sgemm/cblas_dgemm) always, and oneDNN's dnnl_sgemm
// for float32 when recur was built with oneDNN (RECUR_HAVE_ONEDNN). oneDNN is the default
// where available; the environment variable RECUR_GEMM=openblas|onednn overrides the default,
// and set_gemm_provider() overrides both (tests run every provider this way). float64 always
// runs on OpenBLAS.
#pragma once

#include <cstdint>
#include <string>

#include "backends/backend.h"

namespace recur {

enum class GemmProvider : uint8_t { OpenBLAS, OneDNN };

// Whether this build can use the provider.
bool gemm_provider_available(GemmProvider provider);
// Selects the float32 GEMM provider; throws recur::Error for one this build lacks.
void set_gemm_provider(GemmProvider provider);
// The provider in use (the default, or RECUR_GEMM, until set_gemm_provider is called;
// an unknown or unavailable RECUR_GEMM value throws recur::Error naming it).
GemmProvider gemm_provider();
// "openblas" or "onednn".
std::string gemm_provider_name();
// OpenBLAS's build configuration and thread count, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... (2 threads)".
std::string openblas_info();

}  // namespace recur

namespace recur::cpu {

// Row-major C[m, n] = alpha * op(A) @ op(B) + beta * C on raw host pointers, through the
// provider in use (the fused RNN path calls this per time step: no tensors, no allocation).
template <typename T> void gemm_raw(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                                    const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace recur::cpu
