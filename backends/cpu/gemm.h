// The CPU GEMM providers: OpenBLAS (cblas_sgemm/cblas_dgemm) always, and oneDNN's dnnl_sgemm
// for float32 when recur was built with oneDNN (RECUR_HAVE_ONEDNN). Which one runs is a runtime
// setting of backends/settings.h (gemm_provider(), set_gemm_provider(), RECUR_GEMM); tests run
// every provider that way. float64 always runs on OpenBLAS.
#pragma once

#include <cstdint>
#include <string>

#include "backends/backend.h"
#include "backends/settings.h"  // the provider: GemmProvider, gemm_provider(), ...

namespace recur::cpu {

// Row-major C[m, n] = alpha * op(A) @ op(B) + beta * C on raw host pointers, through the
// provider in use (the fused RNN path calls this per time step: no tensors, no allocation).
template <typename T> void gemm_raw(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                                    const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace recur::cpu
