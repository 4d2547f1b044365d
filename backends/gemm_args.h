// What every backend's gemm() shares (backend.h): the argument checks, and how a strided
// operand is handed to a BLAS that takes row-major matrices with a leading dimension and a
// transpose flag (OpenBLAS and oneDNN directly; cuBLAS through the column-major swap
// c^T = op(b)^T op(a)^T). A stored matrix with strides (row_stride, column_stride) is passed as:
//   column_stride == 1: itself, ld = row_stride;
//   row_stride == 1:    the row-major transpose of itself (a transposed contiguous matrix),
//                       ld = column_stride, with the transpose flag flipped;
//   otherwise (or ld too small, e.g. a stride-0 broadcast inside the matrix): a contiguous copy.
// M, N, K: c is [M, N], op(a) is [M, K], op(b) is [K, N]; Bt = batches (3-D operands).
#pragma once

#include <cstdint>
#include <optional>

#include "backends/backend.h"

namespace recur {

struct GemmDims {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0, batches = 1;
};

// Ranks, dtypes (all the same; the backend checks which it computes) and sizes.
GemmDims check_gemm_args(const Tensor& c, const Tensor& a, Transpose trans_a, const Tensor& b, Transpose trans_b);

// A matrix as the BLAS takes it.
struct BlasMatrix {
  bool transposed;  // the flag passed to the BLAS
  int64_t ld;
};

// rows x cols stored with (row_stride, column_stride), to be used as op(stored) with `trans`;
// nullopt when neither stride is a usable unit stride.
std::optional<BlasMatrix> blas_layout(int64_t rows, int64_t cols, int64_t row_stride, int64_t column_stride,
                                      bool trans);

// A 2-D or 3-D operand as batches of BLAS matrices. One the BLAS cannot take as it is is copied
// into a contiguous tensor on its device first. batch_stride is 0 when one matrix serves every
// batch.
struct GemmOperand {
  GemmOperand(const Tensor& t, bool trans);
  Tensor tensor;  // the caller's, or its contiguous copy
  int64_t batches = 1, batch_stride = 0;
  BlasMatrix blas{false, 1};
};

// Whether c can be written in place (a unit column stride, rows at least N apart, and no
// stride-0 batch axis that would make batches overwrite each other); else the backend computes
// into a contiguous tensor and copies back.
bool gemm_output_in_place(const Tensor& c, const GemmDims& dims);
// c's leading dimension.
int64_t gemm_ldc(const Tensor& c, const GemmDims& dims);

}  // namespace recur
