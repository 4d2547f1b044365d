// The CPU GEMM providers: OpenBLAS (cblas_sgemm/cblas_dgemm) always, and oneDNN's dnnl_sgemm
// for float32 when recur was built with oneDNN (RECUR_HAVE_ONEDNN). Which one runs is a runtime
// setting of backends/settings.h (gemm_provider(), set_gemm_provider(), RECUR_GEMM); tests run
// every provider that way. float64 always runs on OpenBLAS. While cpu_gemm_precision() is
// BFloat16, every float32 GEMM here rounds its operands to bfloat16 and runs on oneDNN's matmul
// primitive with float32 accumulation and output (settings.h says when that is available).
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

// gemm_raw<float> in bfloat16 with B given already rounded (`b_rounded`: bfloat16 bits in B's
// layout, leading dimension ldb), for weights that many GEMMs read (the fused RNN layer rounds
// them once per call); A is rounded on the fly. Only while cpu_gemm_precision() is BFloat16.
void gemm_raw_rounded_b(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float* a, int64_t lda, const uint16_t* b_rounded, int64_t ldb, float beta, float* c,
                        int64_t ldc);

// The same with both operands given rounded (bfloat16 bits in their layouts and leading dimensions).
void gemm_raw_rounded(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const uint16_t* a_rounded, int64_t lda, const uint16_t* b_rounded, int64_t ldb, float beta,
                      float* c, int64_t ldc);

// out = bfloat16(in), rounded to nearest even: the [rows, cols] matrix `in` of leading dimension
// ld into the dense [rows, cols] `out`.
void round_to_bfloat16(uint16_t* out, const float* in, int64_t rows, int64_t cols, int64_t ld);

}  // namespace recur::cpu
