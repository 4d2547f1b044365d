// Differentiable operations. Each records a Node when grad mode is on and an input requires
// grad; each backward is written beside its forward in ops.cpp.
#pragma once

#include <vector>

#include "autograd/grad_mode.h"
#include "core/tensor.h"

namespace recur {

// ---- arithmetic (broadcasting) --------------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor add_scalar(const Tensor& x, double value);
Tensor mul_scalar(const Tensor& x, double value);
Tensor maximum(const Tensor& a, const Tensor& b);  // gradient to the larger (split on ties)

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(const Tensor& a, double b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);
Tensor operator/(double a, const Tensor& b);

// ---- linear algebra ---------------------------------------------------------------------
// [M, K] @ [K, N]; batched [Bt, M, K] @ [Bt, K, N] (or [K, N] shared by every batch); a 1-D
// operand is treated as a row or column vector, as NumPy does.
Tensor matmul(const Tensor& a, const Tensor& b);
// x @ weight^T + bias (the Linear layer's product, one GEMM).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- shape ----------------------------------------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& axes);
Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length);
Tensor select(const Tensor& x, int64_t axis, int64_t index);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, int64_t axis);
Tensor unsqueeze(const Tensor& x, int64_t axis);
Tensor concat(const std::vector<Tensor>& xs, int64_t axis);
Tensor stack(const std::vector<Tensor>& xs, int64_t axis);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t axis);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t axis);
Tensor contiguous(const Tensor& x);
Tensor to_dtype(const Tensor& x, DType dtype);
Tensor to_device(const Tensor& x, Device device);

// ---- reductions -------------------------------------------------------------------------
Tensor sum(const Tensor& x);  // all elements, 0-d result
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim = false);
Tensor max(const Tensor& x, int64_t axis, bool keepdim = false);     // gradient to the argmax
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim = false);  // int64, not differentiable

// ---- elementwise functions --------------------------------------------------------------
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor pow(const Tensor& x, const Tensor& exponent);
Tensor sqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor clamp(const Tensor& x, double low, double high);  // gradient 1 inside [low, high], 0 outside
Tensor softmax(const Tensor& x, int64_t axis);
Tensor log_softmax(const Tensor& x, int64_t axis);

// ---- indexing and masking ---------------------------------------------------------------
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index);
// weight [V, D], indices int64 of any shape -> indices.shape + [D]; rows equal to padding_idx
// (when >= 0) get no gradient.
Tensor embedding(const Tensor& weight, const Tensor& indices, int64_t padding_idx = -1);
// cond (any dtype, nonzero = true) picks a or b; not differentiable in cond.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// Inverted dropout: zero with probability p, scale the rest by 1/(1-p); identity when not
// training or p == 0.
Tensor dropout(const Tensor& x, double p, bool training, Generator* generator = nullptr);

}  // namespace recur
