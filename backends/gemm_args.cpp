#include "backends/gemm_args.h"

#include <algorithm>

namespace recur {

GemmDims check_gemm_args(const Tensor& c, const Tensor& a, Transpose trans_a, const Tensor& b, Transpose trans_b) {
  const int64_t rank = c.dim();
  RECUR_CHECK((rank == 2 || rank == 3) && a.dim() >= 2 && a.dim() <= rank && b.dim() >= 2 && b.dim() <= rank,
              "gemm: expected 2-D matrices or 3-D batches, got c {}, a {}, b {}", c.describe(), a.describe(),
              b.describe());
  RECUR_CHECK(a.dtype() == c.dtype() && b.dtype() == c.dtype(), "gemm: dtypes differ: c {}, a {}, b {}", c.describe(),
              a.describe(), b.describe());
  GemmDims d;
  d.trans_a = trans_a == Transpose::Yes;
  d.trans_b = trans_b == Transpose::Yes;
  d.m = a.shape()[a.dim() - (d.trans_a ? 1 : 2)];
  d.k = a.shape()[a.dim() - (d.trans_a ? 2 : 1)];
  const int64_t kb = b.shape()[b.dim() - (d.trans_b ? 1 : 2)];
  d.n = b.shape()[b.dim() - (d.trans_b ? 2 : 1)];
  d.batches = rank == 3 ? c.shape()[0] : 1;
  const auto batch_ok = [&](const Tensor& t) { return t.dim() == 2 || t.shape()[0] == 1 || t.shape()[0] == d.batches; };
  RECUR_CHECK(d.k == kb && c.shape()[rank - 2] == d.m && c.shape()[rank - 1] == d.n && batch_ok(a) && batch_ok(b),
              "gemm: sizes do not match: c {} = op(a {}){} @ op(b {}){}", c.describe(), a.describe(),
              d.trans_a ? "^T" : "", b.describe(), d.trans_b ? "^T" : "");
  return d;
}

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

namespace {

std::optional<BlasMatrix> read_operand(const Tensor& t, bool trans, int64_t& batches, int64_t& batch_stride) {
  const int64_t rank = t.dim();
  batches = rank == 3 ? t.shape()[0] : 1;
  batch_stride = rank == 3 && batches > 1 ? t.strides()[0] : 0;
  return blas_layout(t.shape()[rank - 2], t.shape()[rank - 1], t.strides()[rank - 2], t.strides()[rank - 1], trans);
}

}  // namespace

GemmOperand::GemmOperand(const Tensor& t, bool trans) : tensor(t) {
  std::optional<BlasMatrix> layout = read_operand(tensor, trans, batches, batch_stride);
  if (!layout) {  // no unit stride: copy into a contiguous tensor
    tensor = make_contiguous_tensor(t.shape(), t.dtype(), t.device());
    backend_of(t).copy(tensor, t);
    layout = read_operand(tensor, trans, batches, batch_stride);
  }
  blas = *layout;
}

bool gemm_output_in_place(const Tensor& c, const GemmDims& d) {
  const int64_t rank = c.dim();
  return (c.strides()[rank - 1] == 1 || d.n == 1) && (d.m == 1 || c.strides()[rank - 2] >= d.n) &&
         (rank == 2 || d.batches == 1 || c.strides()[0] != 0);
}

int64_t gemm_ldc(const Tensor& c, const GemmDims& d) {
  return d.m == 1 ? std::max<int64_t>(d.n, 1) : c.strides()[c.dim() - 2];
}

}  // namespace recur
