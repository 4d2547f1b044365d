// c = alpha * op(a) @ op(b) + beta * c through cuBLAS (cublasGemmEx / cublasGemmStridedBatchedEx).
//
// M, N, K: c is [M, N], op(a) is [M, K], op(b) is [K, N]; Bt = batches (3-D operands).
// recur's matrices are row-major; cuBLAS's are column-major. A row-major matrix with leading
// dimension ld is, read column-major, its transpose with the same ld, so the row-major product
// C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T: cuBLAS gets (B, A) in
// that order with sizes (N, M, K) and each operand's own transpose flag. Operand layouts are
// those of every backend (backends/gemm_args.h). A batch of 1 (or batch stride 0) is broadcast
// with stride 0.
//
// Precision: float32 computes in float32 (CUBLAS_COMPUTE_32F) unless TF32 is allowed
// (CudaBackend::set_allow_tf32); float64 in float64; float16/bfloat16 (opt-in) in float32.
#include <climits>

#include "backends/cuda/check.h"
#include "backends/cuda/context.h"
#include "backends/cuda/cuda_backend.h"
#include "backends/gemm_args.h"

namespace recur {
namespace {

int checked_int(int64_t value, const char* what) {
  RECUR_CHECK(value >= 0 && value <= INT_MAX, "gemm: {} = {} exceeds cuBLAS's 32-bit integer range", what, value);
  return static_cast<int>(value);
}

struct GemmTypes {
  cudaDataType_t data;
  cublasComputeType_t compute;
  bool double_scalars;
};

GemmTypes gemm_types(DType dtype, bool allow_tf32) {
  switch (dtype) {
    case DType::Float32: return {CUDA_R_32F, allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, false};
    case DType::Float64: return {CUDA_R_64F, CUBLAS_COMPUTE_64F, true};
    case DType::Float16: return {CUDA_R_16F, CUBLAS_COMPUTE_32F, false};
    case DType::BFloat16: return {CUDA_R_16BF, CUBLAS_COMPUTE_32F, false};
    default: RECUR_FAIL("gemm: {} is not a floating-point dtype", dtype);
  }
}

}  // namespace

void CudaBackend::gemm(Tensor& c, const Tensor& a, Transpose trans_a, const Tensor& b, Transpose trans_b, double alpha,
                       double beta) {
  for (const Tensor* t : {static_cast<const Tensor*>(&c), &a, &b}) check_here("gemm", *t);
  const GemmDims d = check_gemm_args(c, a, trans_a, b, trans_b);
  const bool reduced = c.dtype() == DType::Float16 || c.dtype() == DType::BFloat16;
  RECUR_CHECK(c.dtype() == DType::Float32 || c.dtype() == DType::Float64 || (reduced && reduced_precision_),
              "gemm: expected float32 or float64 on the GPU, got {}{}", c.describe(),
              reduced ? " (float16/bfloat16 GEMM is opt-in: set_allow_reduced_precision(true))" : "");
  const int64_t m = d.m, n = d.n, k = d.k, batches = d.batches;
  if (c.numel() == 0) return;
  if (k == 0) {  // an empty sum: c = beta * c
    if (beta == 0.0) return fill(c, 0.0);
    RECUR_CHECK(!reduced, "gemm: K = 0 with beta != 0 is not supported for {}", c.describe());
    return unary(UnaryOp::Affine, c, c, {beta, 0.0});
  }
  const bool in_place = gemm_output_in_place(c, d);
  Tensor target = c;
  if (!in_place) {
    target = make_contiguous_tensor(c.shape(), c.dtype(), c.device());
    if (beta != 0.0) copy(target, c);
  }
  const GemmOperand oa(a, d.trans_a), ob(b, d.trans_b);
  const int64_t ldc = gemm_ldc(target, d);
  const int64_t c_batch_stride = c.dim() == 3 ? target.strides()[0] : 0;
  const GemmTypes types = gemm_types(c.dtype(), context_->allow_tf32());
  const float alpha_f = static_cast<float>(alpha), beta_f = static_cast<float>(beta);
  const void* alpha_ptr = types.double_scalars ? static_cast<const void*>(&alpha) : &alpha_f;
  const void* beta_ptr = types.double_scalars ? static_cast<const void*>(&beta) : &beta_f;
  const cublasOperation_t op_b = ob.blas.transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = oa.blas.transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int cm = checked_int(n, "N"), cn = checked_int(m, "M"), ck = checked_int(k, "K");
  const int lda = checked_int(oa.blas.ld, "lda"), ldb = checked_int(ob.blas.ld, "ldb");
  const int ldc_int = checked_int(ldc, "ldc");
  cuda::DeviceGuard guard(device_index_);
  cublasHandle_t handle = context_->cublas();
  if (batches == 1) {
    RECUR_CUBLAS_CHECK(cublasGemmEx(handle, op_b, op_a, cm, cn, ck, alpha_ptr, ob.tensor.raw_data(), types.data, ldb,
                                    oa.tensor.raw_data(), types.data, lda, beta_ptr, target.raw_data(), types.data,
                                    ldc_int, types.compute, CUBLAS_GEMM_DEFAULT));
  } else {
    const long long stride_a = oa.batches == 1 ? 0 : oa.batch_stride;
    const long long stride_b = ob.batches == 1 ? 0 : ob.batch_stride;
    RECUR_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        handle, op_b, op_a, cm, cn, ck, alpha_ptr, ob.tensor.raw_data(), types.data, ldb, stride_b,
        oa.tensor.raw_data(), types.data, lda, stride_a, beta_ptr, target.raw_data(), types.data, ldc_int,
        static_cast<long long>(c_batch_stride), checked_int(batches, "batches"), types.compute, CUBLAS_GEMM_DEFAULT));
  }
  if (!in_place) copy(c, target);
}

}  // namespace recur
