// Differentiable operations: each forward computes with compute:: (backends/compute.h) and
// records its backward, written right below, as a closure over detached tensors.
//
// Notation in the comments: g is the gradient of the output, y the output.
#include "autograd/ops.h"

#include <numeric>

#include "autograd/dropout_shard.h"
#include "autograd/node.h"
#include "backends/compute.h"

namespace recur {

using autograd::record;
using Grads = std::vector<Tensor>;
namespace c = compute;

namespace {

// Sums a broadcast gradient back to an input's shape.
Tensor unbroadcast(const Tensor& g, const Shape& shape) { return g.shape() == shape ? g : c::sum_to(g, shape); }

Tensor mul_raw(const Tensor& a, const Tensor& b) { return c::binary(BinaryOp::Mul, a, b); }
Tensor affine_raw(const Tensor& x, double scale, double shift) { return c::unary(UnaryOp::Affine, x, {scale, shift}); }

// A raw view of x (sharing storage) with new shape and strides; the caller records the
// differentiable op and its backward.
Tensor view_of(const Tensor& x, const Shape& shape, const Strides& strides, int64_t offset) {
  return x.as_strided_raw(shape, strides, offset);
}

bool is_view_compatible(const Tensor& x) { return x.is_contiguous(); }

Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from) {
  Shape shape = requested;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      RECUR_CHECK(infer < 0, "reshape {} -> {}: only one dimension can be -1", shape_str(from), shape_str(requested));
      infer = static_cast<int>(i);
    } else {
      RECUR_CHECK(shape[i] >= 0, "reshape {} -> {}: negative dimension", shape_str(from), shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    RECUR_CHECK(known != 0 && numel % known == 0, "reshape {} ({} elements) -> {}: sizes do not fit", shape_str(from),
                numel, shape_str(requested));
    shape[infer] = numel / known;
  }
  RECUR_CHECK(numel_of(shape) == numel, "reshape {} ({} elements) -> {} ({} elements): element counts differ",
              shape_str(from), numel, shape_str(shape), numel_of(shape));
  return shape;
}

}  // namespace

// ---- arithmetic -------------------------------------------------------------------------

// y = a + b: da = g, db = g (each summed back over broadcast axes)
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = c::binary(BinaryOp::Add, a, b);
  return record("add", {a, b}, y, [sa = a.shape(), sb = b.shape()](const Grads& g) {
    return Grads{unbroadcast(g[0], sa), unbroadcast(g[0], sb)};
  });
}

// y = a - b: da = g, db = -g
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = c::binary(BinaryOp::Sub, a, b);
  return record("sub", {a, b}, y, [sa = a.shape(), sb = b.shape(), nb = b.requires_grad()](const Grads& g) {
    return Grads{unbroadcast(g[0], sa), nb ? unbroadcast(c::unary(UnaryOp::Neg, g[0]), sb) : Tensor()};
  });
}

// y = a * b: da = g * b, db = g * a
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = c::binary(BinaryOp::Mul, a, b);
  const bool na = a.requires_grad(), nb = b.requires_grad();
  return record("mul", {a, b}, y, [a = a.detach(), b = b.detach(), na, nb](const Grads& g) {
    return Grads{na ? unbroadcast(mul_raw(g[0], b), a.shape()) : Tensor(),
                 nb ? unbroadcast(mul_raw(g[0], a), b.shape()) : Tensor()};
  });
}

// y = a / b: da = g / b, db = -g * y / b
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = c::binary(BinaryOp::Div, a, b);
  const bool na = a.requires_grad(), nb = b.requires_grad();
  return record("div", {a, b}, y, [sa = a.shape(), b = b.detach(), y = y.detach(), na, nb](const Grads& g) {
    Tensor ga = c::binary(BinaryOp::Div, g[0], b);
    return Grads{na ? unbroadcast(ga, sa) : Tensor(),
                 nb ? unbroadcast(c::unary(UnaryOp::Neg, mul_raw(ga, y)), b.shape()) : Tensor()};
  });
}

// y = -x: dx = -g
Tensor neg(const Tensor& x) {
  Tensor y = c::unary(UnaryOp::Neg, x);
  return record("neg", {x}, y, [](const Grads& g) { return Grads{c::unary(UnaryOp::Neg, g[0])}; });
}

// y = x + value: dx = g
Tensor add_scalar(const Tensor& x, double value) {
  Tensor y = affine_raw(x, 1.0, value);
  return record("add_scalar", {x}, y, [](const Grads& g) { return Grads{g[0]}; });
}

// y = x * value: dx = g * value
Tensor mul_scalar(const Tensor& x, double value) {
  Tensor y = affine_raw(x, value, 0.0);
  return record("mul_scalar", {x}, y, [value](const Grads& g) { return Grads{affine_raw(g[0], value, 0.0)}; });
}

// y = max(a, b): the gradient goes to the larger operand, split evenly on ties.
Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor y = c::binary(BinaryOp::Maximum, a, b);
  return record("maximum", {a, b}, y, [a = a.detach(), b = b.detach()](const Grads& g) {
    // share_a = [a > b] + 0.5 [a == b]
    Tensor share_a =
        c::binary(BinaryOp::Add, c::binary(BinaryOp::Gt, a, b), affine_raw(c::binary(BinaryOp::Eq, a, b), 0.5, 0.0));
    Tensor ga = mul_raw(g[0], share_a);
    Tensor gb = c::binary(BinaryOp::Sub, g[0], ga);
    return Grads{unbroadcast(ga, a.shape()), unbroadcast(gb, b.shape())};
  });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add_scalar(a, b); }
Tensor operator+(double a, const Tensor& b) { return add_scalar(b, a); }
Tensor operator-(const Tensor& a, double b) { return add_scalar(a, -b); }
Tensor operator-(double a, const Tensor& b) { return add_scalar(neg(b), a); }
Tensor operator*(const Tensor& a, double b) { return mul_scalar(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul_scalar(b, a); }
Tensor operator/(const Tensor& a, double b) { return mul_scalar(a, 1.0 / b); }
Tensor operator/(double a, const Tensor& b) { return mul_scalar(pow(b, -1.0), a); }

// ---- linear algebra -----------------------------------------------------------------------

namespace {

// y = a @ b for 2-D or 3-D operands of equal rank: da = g @ b^T, db = a^T @ g (summed over a
// broadcast batch).
Tensor matmul_same_rank(const Tensor& a, const Tensor& b) {
  Tensor y = c::matmul(a, b);
  const bool na = a.requires_grad(), nb = b.requires_grad();
  return record("matmul", {a, b}, y, [a = a.detach(), b = b.detach(), na, nb](const Grads& g) {
    Tensor ga, gb;
    if (na) ga = unbroadcast(c::matmul(g[0], b, Transpose::No, Transpose::Yes), a.shape());
    if (nb) gb = unbroadcast(c::matmul(a, g[0], Transpose::Yes, Transpose::No), b.shape());
    return Grads{ga, gb};
  });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  RECUR_CHECK(a.dim() >= 1 && a.dim() <= 3 && b.dim() >= 1 && b.dim() <= 3,
              "matmul: operands must have 1 to 3 dimensions, got {} and {}", a.describe(), b.describe());
  if (a.dim() == 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.dim() == 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  if (a.dim() == b.dim()) return matmul_same_rank(a, b);
  if (a.dim() == 3 && b.dim() == 2) {
    // [Bt, M, K] @ [K, N]: one GEMM over the flattened rows.
    const int64_t batch = a.size(0), rows = a.size(1);
    Tensor y = matmul_same_rank(reshape(a, {batch * rows, a.size(2)}), b);
    return reshape(y, {batch, rows, b.size(1)});
  }
  return matmul_same_rank(unsqueeze(a, 0), b);  // [M, K] @ [Bt, K, N]
}

// y = x @ W^T + bias over the last axis of x: dx = g @ W, dW = g^T @ x, dbias = sum_rows(g)
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  RECUR_CHECK(weight.dim() == 2, "linear: weight must be [out_features, in_features], got {}", weight.describe());
  RECUR_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1),
              "linear: input {} has {} features, the weight {} expects {}", x.describe(), x.dim() >= 1 ? x.size(-1) : 0,
              weight.describe(), weight.size(1));
  RECUR_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == weight.size(0)),
              "linear: bias must be [{}], got {}", weight.size(0), bias.describe());
  const int64_t in_features = weight.size(1), out_features = weight.size(0);
  const int64_t rows = x.numel() / std::max<int64_t>(in_features, 1);
  Tensor x2 = x.detach().is_contiguous() ? x.detach().as_strided_raw({rows, in_features}, {in_features, 1}, x.offset())
                                         : c::contiguous(x).as_strided_raw({rows, in_features}, {in_features, 1}, 0);
  Tensor y = make_contiguous_tensor({rows, out_features}, x.dtype(), x.device());
  Backend& backend = backend_of(x);
  double beta = 0.0;
  if (bias.defined()) {
    Tensor bias_rows = bias.as_strided_raw({rows, out_features}, {0, bias.strides()[0]}, bias.offset());
    backend.copy(y, bias_rows);
    beta = 1.0;
  }
  RECUR_CHECK(weight.dtype() == x.dtype() && weight.device() == x.device(), "linear: input is {} but weight is {}",
              x.describe(), weight.describe());
  backend.gemm(y, x2, Transpose::No, weight, Transpose::Yes, 1.0, beta);
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  y = y.as_strided_raw(out_shape, contiguous_strides(out_shape), 0);
  const bool nx = x.requires_grad(), nw = weight.requires_grad(), nb = bias.defined() && bias.requires_grad();
  return record(
      "linear", {x, weight, bias}, y,
      [x2 = x2.detach(), w = weight.detach(), xs = x.shape(), rows, out_features, nx, nw, nb](const Grads& g) {
        Tensor g2 = c::contiguous(g[0]).as_strided_raw({rows, out_features}, {out_features, 1}, 0);
        Tensor gx, gw, gb;
        if (nx) {
          gx = c::matmul(g2, w);
          gx = gx.as_strided_raw(xs, contiguous_strides(xs), 0);
        }
        if (nw) gw = c::matmul(g2, x2, Transpose::Yes, Transpose::No);
        if (nb) gb = c::reduce(ReduceOp::Sum, g2, {0}, false);
        return Grads{gx, gw, gb};
      });
}

// ---- shape ------------------------------------------------------------------------------

Tensor reshape(const Tensor& x, const Shape& requested) {
  const Shape shape = infer_shape(requested, x.numel(), x.shape());
  if (shape == x.shape()) return x;
  Tensor source = is_view_compatible(x) ? x : contiguous(x);
  Tensor y = view_of(source.detach(), shape, contiguous_strides(shape), source.offset());
  return record("reshape", {source}, y,
                [from = x.shape()](const Grads& g) { return Grads{reshape(c::contiguous(g[0]), from)}; });
}

Tensor transpose(const Tensor& x, int64_t axis0, int64_t axis1) {
  const int a0 = normalize_axis(axis0, x.shape().size()), a1 = normalize_axis(axis1, x.shape().size());
  Shape shape = x.shape();
  Strides strides = x.strides();
  std::swap(shape[a0], shape[a1]);
  std::swap(strides[a0], strides[a1]);
  Tensor y = view_of(x, shape, strides, x.offset());
  return record("transpose", {x}, y, [a0, a1](const Grads& g) { return Grads{transpose(g[0], a0, a1)}; });
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& axes) {
  const size_t rank = x.shape().size();
  RECUR_CHECK(axes.size() == rank, "permute: {} axes given for a tensor of rank {}", axes.size(), rank);
  Shape shape(rank);
  Strides strides(rank);
  std::vector<int64_t> inverse(rank, -1);
  for (size_t i = 0; i < rank; ++i) {
    const int axis = normalize_axis(axes[i], rank);
    RECUR_CHECK(inverse[axis] < 0, "permute: axis {} appears twice in {}", axis, shape_str(axes));
    inverse[axis] = static_cast<int64_t>(i);
    shape[i] = x.shape()[axis];
    strides[i] = x.strides()[axis];
  }
  Tensor y = view_of(x, shape, strides, x.offset());
  return record("permute", {x}, y, [inverse](const Grads& g) { return Grads{permute(g[0], inverse)}; });
}

Tensor slice(const Tensor& x, int64_t axis, int64_t start, int64_t end, int64_t step) {
  const int a = normalize_axis(axis, x.shape().size());
  const int64_t size = x.shape()[a];
  RECUR_CHECK(step >= 1, "slice: step must be >= 1, got {}", step);
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  Shape shape = x.shape();
  Strides strides = x.strides();
  shape[a] = (end - start + step - 1) / step;
  strides[a] *= step;
  Tensor y = view_of(x, shape, strides, x.offset() + start * x.strides()[a]);
  return record("slice", {x}, y, [from = x.shape(), a, start, step](const Grads& g) {
    Tensor gx = zeros(from, TensorOptions{}.with_dtype(g[0].dtype()).with_device(g[0].device()));
    Strides strides = gx.strides();
    const int64_t offset = start * strides[a];
    strides[a] *= step;
    Tensor window = gx.as_strided_raw(g[0].shape(), strides, offset);
    backend_of(gx).copy(window, g[0]);
    return Grads{gx};
  });
}

Tensor narrow(const Tensor& x, int64_t axis, int64_t start, int64_t length) {
  const int a = normalize_axis(axis, x.shape().size());
  RECUR_CHECK(start >= 0 && length >= 0 && start + length <= x.shape()[a],
              "narrow: [{}, {}) is out of range for axis {} of size {} in {}", start, start + length, a, x.shape()[a],
              x.describe());
  return slice(x, a, start, start + length);
}

Tensor select(const Tensor& x, int64_t axis, int64_t index) {
  const int a = normalize_axis(axis, x.shape().size());
  const int64_t size = x.shape()[a];
  RECUR_CHECK(index >= -size && index < size, "select: index {} is out of range for axis {} of size {} in {}", index, a,
              size, x.describe());
  if (index < 0) index += size;
  return squeeze(slice(x, a, index, index + 1), a);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  RECUR_CHECK(shape.size() >= x.shape().size(), "expand: cannot expand {} to fewer dimensions {}", x.describe(),
              shape_str(shape));
  const size_t lead = shape.size() - x.shape().size();
  Shape out = shape;
  Strides strides(shape.size(), 0);
  for (size_t i = 0; i < x.shape().size(); ++i) {
    const int64_t from = x.shape()[i];
    int64_t& to = out[lead + i];
    if (to == -1) to = from;
    RECUR_CHECK(from == to || from == 1, "expand: {} cannot expand to {} (axis {}: {} -> {})", x.describe(),
                shape_str(shape), i, from, to);
    strides[lead + i] = from == to ? x.strides()[i] : 0;
  }
  if (out == x.shape()) return x;
  Tensor y = view_of(x, out, strides, x.offset());
  return record("expand", {x}, y, [from = x.shape()](const Grads& g) { return Grads{unbroadcast(g[0], from)}; });
}

Tensor squeeze(const Tensor& x, int64_t axis) {
  const int a = normalize_axis(axis, x.shape().size());
  RECUR_CHECK(x.shape()[a] == 1, "squeeze: axis {} of {} has size {}, expected 1", a, x.describe(), x.shape()[a]);
  Shape shape = x.shape();
  Strides strides = x.strides();
  shape.erase(shape.begin() + a);
  strides.erase(strides.begin() + a);
  Tensor y = view_of(x, shape, strides, x.offset());
  return record("squeeze", {x}, y, [a](const Grads& g) { return Grads{unsqueeze(g[0], a)}; });
}

Tensor unsqueeze(const Tensor& x, int64_t axis) {
  const int a = normalize_axis(axis, x.shape().size() + 1);
  Shape shape = x.shape();
  Strides strides = x.strides();
  const int64_t stride = a < static_cast<int>(strides.size()) ? strides[a] * shape[a] : 1;
  shape.insert(shape.begin() + a, 1);
  strides.insert(strides.begin() + a, stride);
  Tensor y = view_of(x, shape, strides, x.offset());
  return record("unsqueeze", {x}, y, [a](const Grads& g) { return Grads{squeeze(g[0], a)}; });
}

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  RECUR_CHECK(!xs.empty(), "concat: no tensors given");
  const int a = normalize_axis(axis, xs[0].shape().size());
  Tensor y = c::concat(xs, a);
  std::vector<int64_t> sizes;
  for (const Tensor& x : xs) sizes.push_back(x.shape()[a]);
  return record("concat", xs, y, [a, sizes](const Grads& g) {
    Grads grads;
    int64_t start = 0;
    for (int64_t size : sizes) {
      grads.push_back(slice(g[0], a, start, start + size));
      start += size;
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& xs, int64_t axis) {
  RECUR_CHECK(!xs.empty(), "stack: no tensors given");
  const int a = normalize_axis(axis, xs[0].shape().size() + 1);
  std::vector<Tensor> expanded;
  for (const Tensor& x : xs) {
    RECUR_CHECK(x.shape() == xs[0].shape(), "stack: tensors must have the same shape, got {} and {}", xs[0].describe(),
                x.describe());
    expanded.push_back(unsqueeze(x, a));
  }
  return concat(expanded, a);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t axis) {
  const int a = normalize_axis(axis, x.shape().size());
  RECUR_CHECK(split_size >= 1, "split: split_size must be >= 1, got {}", split_size);
  std::vector<Tensor> parts;
  for (int64_t start = 0; start < x.shape()[a]; start += split_size) {
    parts.push_back(slice(x, a, start, std::min(start + split_size, x.shape()[a])));
  }
  return parts;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t axis) {
  RECUR_CHECK(chunks >= 1, "chunk: chunks must be >= 1, got {}", chunks);
  const int a = normalize_axis(axis, x.shape().size());
  const int64_t size = (x.shape()[a] + chunks - 1) / chunks;
  return split(x, std::max<int64_t>(size, 1), a);
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor y = c::contiguous(x);
  return record("contiguous", {x}, y, [](const Grads& g) { return Grads{g[0]}; });
}

Tensor to_dtype(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor y = c::convert(x, dtype, x.device());
  if (!is_floating(dtype)) return y;
  return record("to_dtype", {x}, y,
                [from = x.dtype()](const Grads& g) { return Grads{c::convert(g[0], from, g[0].device())}; });
}

Tensor to_device(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  Tensor y = c::convert(x, x.dtype(), device);
  return record("to_device", {x}, y,
                [from = x.device()](const Grads& g) { return Grads{c::convert(g[0], g[0].dtype(), from)}; });
}

// ---- reductions ---------------------------------------------------------------------------

namespace {

// x's shape with 1 on the reduced axes (empty axes = all).
Shape kept_shape(const Shape& shape, const std::vector<int64_t>& axes) {
  Shape kept = shape;
  if (axes.empty()) {
    std::fill(kept.begin(), kept.end(), 1);
  } else {
    for (int64_t axis : axes) kept[normalize_axis(axis, shape.size())] = 1;
  }
  return kept;
}

int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& axes) {
  return numel_of(shape) / std::max<int64_t>(numel_of(kept_shape(shape, axes)), 1);
}

// g (reduced, keepdim or not) broadcast back to `shape`.
Tensor broadcast_back(const Tensor& g, const Shape& shape, const std::vector<int64_t>& axes) {
  const Shape kept = kept_shape(shape, axes);
  Tensor gk = c::contiguous(g);
  gk = gk.as_strided_raw(kept, contiguous_strides(kept), 0);
  return gk.as_strided_raw(
      shape,
      [&] {
        Strides strides = gk.strides();
        for (size_t i = 0; i < shape.size(); ++i) {
          if (kept[i] != shape[i]) strides[i] = 0;
        }
        return strides;
      }(),
      0);
}

}  // namespace

Tensor sum(const Tensor& x) { return sum(x, {}, false); }

// y = sum over axes: dx = g broadcast back over the reduced axes
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  Tensor y = c::reduce(ReduceOp::Sum, x, axes, keepdim);
  return record("sum", {x}, y,
                [from = x.shape(), axes](const Grads& g) { return Grads{broadcast_back(g[0], from, axes)}; });
}

Tensor mean(const Tensor& x) { return mean(x, {}, false); }

// y = sum / n: dx = g / n broadcast back
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  RECUR_CHECK(x.numel() > 0, "mean of an empty tensor {}", x.describe());
  Tensor y = c::reduce(ReduceOp::Mean, x, axes, keepdim);
  const double n = static_cast<double>(reduced_count(x.shape(), axes));
  return record("mean", {x}, y, [from = x.shape(), axes, n](const Grads& g) {
    return Grads{broadcast_back(affine_raw(g[0], 1.0 / n, 0.0), from, axes)};
  });
}

// y = max over axis: the gradient goes to the maxima, split evenly among ties.
Tensor max(const Tensor& x, int64_t axis, bool keepdim) {
  RECUR_CHECK(x.numel() > 0, "max of an empty tensor {}", x.describe());
  const int a = normalize_axis(axis, x.shape().size());
  Tensor y = c::reduce(ReduceOp::Max, x, {a}, keepdim);
  return record("max", {x}, y, [x = x.detach(), y = y.detach(), a](const Grads& g) {
    const std::vector<int64_t> axes{a};
    Tensor is_max = c::binary(BinaryOp::Eq, x, broadcast_back(y, x.shape(), axes));
    Tensor count = c::reduce(ReduceOp::Sum, is_max, axes, true);
    Tensor share = c::binary(BinaryOp::Div, is_max, count);
    return Grads{mul_raw(share, broadcast_back(g[0], x.shape(), axes))};
  });
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) { return c::argmax(x, axis, keepdim); }

// ---- elementwise functions ----------------------------------------------------------------

// y = e^x: dx = g * y
Tensor exp(const Tensor& x) {
  Tensor y = c::unary(UnaryOp::Exp, x);
  return record("exp", {x}, y, [y = y.detach()](const Grads& g) { return Grads{mul_raw(g[0], y)}; });
}

// y = ln x: dx = g / x
Tensor log(const Tensor& x) {
  Tensor y = c::unary(UnaryOp::Log, x);
  return record("log", {x}, y, [x = x.detach()](const Grads& g) { return Grads{c::binary(BinaryOp::Div, g[0], x)}; });
}

// y = tanh x: dx = g * (1 - y^2)
Tensor tanh(const Tensor& x) {
  Tensor y = c::unary(UnaryOp::Tanh, x);
  return record("tanh", {x}, y, [y = y.detach()](const Grads& g) {
    return Grads{mul_raw(g[0], affine_raw(c::unary(UnaryOp::Square, y), -1.0, 1.0))};
  });
}

// y = 1 / (1 + e^-x): dx = g * y * (1 - y)
Tensor sigmoid(const Tensor& x) {
  Tensor y = c::unary(UnaryOp::Sigmoid, x);
  return record("sigmoid", {x}, y, [y = y.detach()](const Grads& g) {
    return Grads{mul_raw(g[0], mul_raw(y, affine_raw(y, -1.0, 1.0)))};
  });
}

// y = max(x, 0): dx = g * [x > 0]
Tensor relu(const Tensor& x) {
  Tensor y = c::unary(UnaryOp::Relu, x);
  return record("relu", {x}, y, [x = x.detach()](const Grads& g) {
    return Grads{mul_raw(g[0], c::unary(UnaryOp::GtScalar, x, {0.0, 0.0}))};
  });
}

// y = x^p: dx = g * p * x^(p-1)
Tensor pow(const Tensor& x, double exponent) {
  Tensor y = c::unary(UnaryOp::PowScalar, x, {exponent, 0.0});
  return record("pow", {x}, y, [x = x.detach(), exponent](const Grads& g) {
    Tensor d = affine_raw(c::unary(UnaryOp::PowScalar, x, {exponent - 1.0, 0.0}), exponent, 0.0);
    return Grads{mul_raw(g[0], d)};
  });
}

// y = a^b: da = g * b * a^(b-1), db = g * y * ln a
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor y = c::binary(BinaryOp::Pow, a, b);
  const bool na = a.requires_grad(), nb = b.requires_grad();
  return record("pow", {a, b}, y, [a = a.detach(), b = b.detach(), y = y.detach(), na, nb](const Grads& g) {
    Tensor ga, gb;
    if (na) {
      Tensor d = mul_raw(b, c::binary(BinaryOp::Pow, a, affine_raw(b, 1.0, -1.0)));
      ga = unbroadcast(mul_raw(g[0], d), a.shape());
    }
    if (nb) gb = unbroadcast(mul_raw(g[0], mul_raw(y, c::unary(UnaryOp::Log, a))), b.shape());
    return Grads{ga, gb};
  });
}

// y = sqrt x: dx = g / (2 y)
Tensor sqrt(const Tensor& x) {
  Tensor y = c::unary(UnaryOp::Sqrt, x);
  return record("sqrt", {x}, y, [y = y.detach()](const Grads& g) {
    return Grads{c::binary(BinaryOp::Div, g[0], affine_raw(y, 2.0, 0.0))};
  });
}

// y = x^2: dx = 2 g x
Tensor square(const Tensor& x) {
  Tensor y = c::unary(UnaryOp::Square, x);
  return record("square", {x}, y,
                [x = x.detach()](const Grads& g) { return Grads{mul_raw(g[0], affine_raw(x, 2.0, 0.0))}; });
}

// y = |x|: dx = g * sign(x)
Tensor abs(const Tensor& x) {
  Tensor y = c::unary(UnaryOp::Abs, x);
  return record("abs", {x}, y,
                [x = x.detach()](const Grads& g) { return Grads{mul_raw(g[0], c::unary(UnaryOp::Sign, x))}; });
}

// y = min(max(x, low), high): dx = g * [low <= x <= high]
Tensor clamp(const Tensor& x, double low, double high) {
  RECUR_CHECK(low <= high, "clamp: low {} is greater than high {}", low, high);
  Tensor y = c::unary(UnaryOp::Clamp, x, {low, high});
  return record("clamp", {x}, y, [x = x.detach(), low, high](const Grads& g) {
    return Grads{mul_raw(g[0], c::unary(UnaryOp::InRange, x, {low, high}))};
  });
}

// y = softmax(x): dx = y * (g - sum(g * y))
Tensor softmax(const Tensor& x, int64_t axis) {
  const int a = normalize_axis(axis, x.shape().size());
  Tensor y = c::softmax(x, a, SoftmaxKind::Plain);
  return record("softmax", {x}, y, [y = y.detach(), a](const Grads& g) {
    return Grads{c::softmax_backward(y, g[0], a, SoftmaxKind::Plain)};
  });
}

// y = log_softmax(x): dx = g - exp(y) * sum(g)
Tensor log_softmax(const Tensor& x, int64_t axis) {
  const int a = normalize_axis(axis, x.shape().size());
  Tensor y = c::softmax(x, a, SoftmaxKind::Log);
  return record("log_softmax", {x}, y, [y = y.detach(), a](const Grads& g) {
    return Grads{c::softmax_backward(y, g[0], a, SoftmaxKind::Log)};
  });
}

// ---- indexing and masking -----------------------------------------------------------------

// y = x.index_select(axis, index): dx = zeros with g's slices added at index
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index) {
  const int a = normalize_axis(axis, x.shape().size());
  Tensor y = c::index_select(x, a, index);
  return record("index_select", {x}, y, [from = x.shape(), a, index = index.detach()](const Grads& g) {
    return Grads{c::index_add(from, a, index, g[0])};
  });
}

Tensor embedding(const Tensor& weight, const Tensor& indices, int64_t padding_idx) {
  RECUR_CHECK(weight.dim() == 2, "embedding: weight must be [num_embeddings, embedding_dim], got {}",
              weight.describe());
  RECUR_CHECK(indices.dtype() == DType::Int64, "embedding: indices must be int64, got {}", indices.describe());
  RECUR_CHECK(indices.device() == weight.device(), "embedding: indices on {} but weight on {}", indices.device(),
              weight.device());
  const int64_t dim = weight.size(1);
  Tensor flat = c::contiguous(indices);
  flat = flat.as_strided_raw({indices.numel()}, {1}, 0);
  Tensor rows = c::index_select(weight, 0, flat);
  Shape out_shape = indices.shape();
  out_shape.push_back(dim);
  Tensor y = rows.as_strided_raw(out_shape, contiguous_strides(out_shape), 0);
  return record("embedding", {weight}, y, [from = weight.shape(), flat, padding_idx, dim](const Grads& g) {
    Tensor g2 = c::contiguous(g[0]);
    g2 = g2.as_strided_raw({flat.numel(), dim}, {dim, 1}, 0);
    if (padding_idx >= 0) {
      // rows whose index is padding_idx contribute nothing: keep = 1 - [index == padding_idx]
      Tensor index = c::convert(flat, g2.dtype(), g2.device()).as_strided_raw({flat.numel(), 1}, {1, 0}, 0);
      const double pad = static_cast<double>(padding_idx);
      Tensor keep = affine_raw(c::unary(UnaryOp::InRange, index, {pad, pad}), -1.0, 1.0);
      g2 = mul_raw(g2, keep);
    }
    return Grads{c::index_add(from, 0, flat, g2)};
  });
}

// y = cond ? a : b: da = cond ? g : 0, db = cond ? 0 : g
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Tensor y = c::where(cond, a, b);
  return record("where", {a, b}, y, [cond = cond.detach(), sa = a.shape(), sb = b.shape()](const Grads& g) {
    Tensor zero = zeros({}, TensorOptions{}.with_dtype(g[0].dtype()).with_device(g[0].device()));
    return Grads{unbroadcast(c::where(cond, g[0], zero), sa), unbroadcast(c::where(cond, zero, g[0]), sb)};
  });
}

// y = x * mask, mask = 1/(1-p) with probability 1-p else 0: dx = g * mask
Tensor dropout(const Tensor& x, double p, bool training, Generator* generator) {
  RECUR_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability must be in [0, 1], got {}", p);
  if (!training || p == 0.0) return x;
  if (p == 1.0) return mul_scalar(x, 0.0);
  Generator& gen = generator ? *generator : default_generator();
  const DropoutShard shard = dropout_shard();
  Tensor mask;
  if (shard.global > 0 && x.dim() >= 2) {  // this rank's slice of the global batch's mask
    RECUR_CHECK(shard.first >= 0 && shard.first + x.shape()[1] <= shard.global,
                "dropout: streams [{}, {}) are outside the global batch of {}", shard.first, shard.first + x.shape()[1],
                shard.global);
    Shape global_shape = x.shape();
    global_shape[1] = shard.global;
    mask = c::contiguous(
        c::dropout_mask(global_shape, x.dtype(), x.device(), 1.0 - p, gen).narrow(1, shard.first, x.shape()[1]));
  } else {
    mask = c::dropout_mask(x.shape(), x.dtype(), x.device(), 1.0 - p, gen);
  }
  Tensor y = mul_raw(x, mask);
  return record("dropout", {x}, y, [mask](const Grads& g) { return Grads{mul_raw(g[0], mask)}; });
}

}  // namespace recur

namespace recur {

namespace {
thread_local DropoutShard current_shard;
}  // namespace

DropoutShard dropout_shard() { return current_shard; }

DropoutShardGuard::DropoutShardGuard(DropoutShard shard) : previous_(current_shard) { current_shard = shard; }

DropoutShardGuard::~DropoutShardGuard() { current_shard = previous_; }

}  // namespace recur
