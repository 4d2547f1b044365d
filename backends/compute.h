// Non-differentiable tensor compute: allocates outputs, checks arguments (shapes, dtypes,
// devices, with messages naming them) and dispatches to the device's backend. autograd/ builds
// the differentiable ops on these; optimizers and evaluation code call them directly.
#pragma once

#include <utility>
#include <vector>

#include "backends/backend.h"

namespace recur::compute {

// Elementwise. binary/where broadcast (NumPy rules); operands must share dtype and device.
Tensor unary(UnaryOp op, const Tensor& x, UnaryParams params = {});
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Reductions over `axes` (negative allowed; empty = all axes).
Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes, bool keepdim);
// Sums a broadcast gradient back to `shape` (the inverse of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim);
Tensor softmax(const Tensor& x, int64_t axis, SoftmaxKind kind);
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t axis, SoftmaxKind kind);

// Fused softmax cross-entropy over the rows of logits [N, C] with int64 targets [N] (backend.h
// states the formulas; every target must be in [0, C) or ignore_index): {loss [N], logp [N, C]}.
std::pair<Tensor, Tensor> cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                                        double label_smoothing);
// dlogits [N, C] from the forward's logp and the per-row loss gradient [N].
Tensor cross_entropy_backward(const Tensor& logp, const Tensor& target, const Tensor& grad_loss, int64_t ignore_index,
                              double label_smoothing);
// One fused optimizer step over parameters that all live on one device (optim/).
void optimizer_update(OptimizerKind kind, const std::vector<ParamUpdate>& updates);
// float64 [k] on the tensors' device (all on one): sum |x_j|^p, or max |x_j| for infinite p.
Tensor norm_parts(const std::vector<Tensor>& tensors, double p);
// Indexing: index is int64 1-D on x's device.
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index);
// Returns zeros(shape) with src's rows added at `index` along axis.
Tensor index_add(const Shape& shape, int64_t axis, const Tensor& index, const Tensor& src);
void index_add_(Tensor& out, int64_t axis, const Tensor& index, const Tensor& src);

// a @ b with optional transposes: 2-D x 2-D, or batched 3-D x 3-D (batch 1 broadcasts).
Tensor matmul(const Tensor& a, const Tensor& b, Transpose trans_a = Transpose::No, Transpose trans_b = Transpose::No);

// Joins along an existing axis (all other sizes equal).
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);

// A contiguous copy (same dtype and device).
Tensor contiguous(const Tensor& x);
// A copy in another dtype and/or on another device.
Tensor convert(const Tensor& x, DType dtype, Device device);

// Dropout mask: keep_prob chance of 1/keep_prob, else 0, from the generator's stream.
Tensor dropout_mask(const Shape& shape, DType dtype, Device device, double keep_prob, Generator& generator);

}  // namespace recur::compute
