// The non-differentiable compute layer (backends/compute.h): checks arguments, allocates
// contiguous outputs and calls the device's backend. Broadcasting is done here, with stride-0
// views (Tensor::as_strided_raw), so a backend only ever sees operands of the output's shape.
#include "backends/compute.h"

#include <algorithm>

#include "backends/op_names.h"

namespace recur::compute {
namespace {

void check_compatible(std::string_view op, const Tensor& a, const Tensor& b) {
  RECUR_CHECK(a.dtype() == b.dtype(), "{}: operands are {} and {}: dtypes differ", op, a.describe(), b.describe());
  RECUR_CHECK(a.device() == b.device(), "{}: operands are {} and {}: devices differ", op, a.describe(), b.describe());
}

void check_floating(std::string_view op, const Tensor& x) {
  RECUR_CHECK(x.dtype() == DType::Float32 || x.dtype() == DType::Float64,
              "{}: expected a float32 or float64 tensor, got {}", op, x.describe());
}

Shape broadcast(std::string_view op, const Shape& a, const Shape& b) {
  try {
    return broadcast_shapes(a, b);
  } catch (const Error& error) {
    RECUR_FAIL("{}: {}", op, error.what());
  }
}

// A view of t with `shape` (NumPy alignment from the right), stride 0 on the new axes and on
// the axes where t has size 1.
Tensor expand_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const size_t lead = shape.size() - t.shape().size();
  Strides strides(shape.size(), 0);
  for (size_t i = 0; i < t.shape().size(); ++i) {
    if (t.shape()[i] == shape[lead + i]) strides[lead + i] = t.strides()[i];
  }
  return t.as_strided_raw(shape, strides, t.offset());
}

// A contiguous tensor's data seen with another (same-numel) shape.
Tensor reshaped(const Tensor& contiguous, const Shape& shape) {
  return contiguous.as_strided_raw(shape, contiguous_strides(shape), contiguous.offset());
}

// Normalised, sorted axes; empty means all.
std::vector<int> normalize_axes(std::string_view op, const std::vector<int64_t>& axes, const Tensor& x) {
  const size_t rank = x.shape().size();
  std::vector<int> out;
  if (axes.empty()) {
    for (size_t i = 0; i < rank; ++i) out.push_back(static_cast<int>(i));
    return out;
  }
  for (int64_t axis : axes) {
    RECUR_CHECK(axis >= -static_cast<int64_t>(rank) && axis < static_cast<int64_t>(rank),
                "{}: axis {} is out of range for {} (expected {}..{})", op, axis, x.describe(),
                -static_cast<int64_t>(rank), static_cast<int64_t>(rank) - 1);
    out.push_back(normalize_axis(axis, rank));
  }
  std::sort(out.begin(), out.end());
  RECUR_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), "{}: axes [{}] name an axis twice for {}", op,
              fmt::join(axes, ", "), x.describe());
  return out;
}

int checked_axis(std::string_view op, int64_t axis, const Tensor& x) {
  const int64_t rank = x.dim();
  RECUR_CHECK(axis >= -rank && axis < rank, "{}: axis {} is out of range for {} (expected {}..{})", op, axis,
              x.describe(), -rank, rank - 1);
  return normalize_axis(axis, static_cast<size_t>(rank));
}

std::string matrix_str(const Tensor& t, Transpose trans) {
  return shape_str(t.shape()) + (trans == Transpose::Yes ? "^T" : "");
}

}  // namespace

// ---- elementwise -----------------------------------------------------------------------

Tensor unary(UnaryOp op, const Tensor& x, UnaryParams params) {
  check_floating(op_name(op), x);
  Tensor out = make_contiguous_tensor(x.shape(), x.dtype(), x.device());
  backend_of(x).unary(op, out, x, params);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const std::string_view name = op_name(op);
  check_compatible(name, a, b);
  const Shape shape = broadcast(name, a.shape(), b.shape());
  Tensor out = make_contiguous_tensor(shape, a.dtype(), a.device());
  backend_of(a).binary(op, out, expand_to(a, shape), expand_to(b, shape));
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_compatible("where", a, b);
  RECUR_CHECK(cond.device() == a.device(), "where: condition {} and operands {} are on different devices",
              cond.describe(), a.describe());
  // The backend takes the condition in the operands' dtype (nonzero = true).
  const Tensor mask = cond.dtype() == a.dtype() ? cond : convert(cond, a.dtype(), a.device());
  const Shape shape = broadcast("where", broadcast("where", mask.shape(), a.shape()), b.shape());
  Tensor out = make_contiguous_tensor(shape, a.dtype(), a.device());
  backend_of(a).where(out, expand_to(mask, shape), expand_to(a, shape), expand_to(b, shape));
  return out;
}

// ---- reductions ------------------------------------------------------------------------

Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  const std::string_view name = op_name(op);
  const std::vector<int> reduced = normalize_axes(name, axes, x);
  Shape kept = x.shape(), dropped;
  for (int axis : reduced) kept[axis] = 1;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (!std::binary_search(reduced.begin(), reduced.end(), static_cast<int>(i))) dropped.push_back(kept[i]);
  }
  Tensor out = make_contiguous_tensor(kept, x.dtype(), x.device());
  backend_of(x).reduce(op, out, x, reduced);
  return keepdim ? out : reshaped(out, dropped);
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> axes;
  bool ok = lead >= 0;
  for (int64_t i = 0; ok && i < x.dim(); ++i) {
    if (i < lead) {
      axes.push_back(i);
    } else if (shape[i - lead] == 1 && x.shape()[i] != 1) {
      axes.push_back(i);
    } else {
      ok = shape[i - lead] == x.shape()[i];
    }
  }
  RECUR_CHECK(ok, "sum_to: cannot sum {} to {} (the target must broadcast to the source)", x.describe(),
              shape_str(shape));
  return reshaped(reduce(ReduceOp::Sum, x, axes, true), shape);
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) {
  const int a = checked_axis("argmax", axis, x);
  Shape kept = x.shape();
  kept[a] = 1;
  Tensor out = make_contiguous_tensor(kept, DType::Int64, x.device());
  backend_of(x).argmax(out, x, a);
  if (keepdim) return out;
  kept.erase(kept.begin() + a);
  return reshaped(out, kept);
}

Tensor softmax(const Tensor& x, int64_t axis, SoftmaxKind kind) {
  const std::string_view name = kind == SoftmaxKind::Log ? "log_softmax" : "softmax";
  check_floating(name, x);
  const int a = checked_axis(name, axis, x);
  Tensor out = make_contiguous_tensor(x.shape(), x.dtype(), x.device());
  backend_of(x).softmax(out, x, a, kind);
  return out;
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t axis, SoftmaxKind kind) {
  const std::string_view name = kind == SoftmaxKind::Log ? "log_softmax_backward" : "softmax_backward";
  check_compatible(name, y, dy);
  check_floating(name, y);
  RECUR_CHECK(y.shape() == dy.shape(), "{}: output {} and its gradient {} differ in shape", name, y.describe(),
              dy.describe());
  const int a = checked_axis(name, axis, y);
  Tensor dx = make_contiguous_tensor(y.shape(), y.dtype(), y.device());
  backend_of(y).softmax_backward(dx, y, dy, a, kind);
  return dx;
}

// ---- fused ops -------------------------------------------------------------------------

std::pair<Tensor, Tensor> cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                                        double label_smoothing) {
  check_floating("cross_entropy", logits);
  RECUR_CHECK(logits.dim() == 2, "cross_entropy: expected logits [N, C], got {}", logits.describe());
  const Tensor x = logits.is_contiguous() ? logits : contiguous(logits);
  const Tensor t = target.is_contiguous() ? target : contiguous(target);
  Tensor loss = make_contiguous_tensor({x.size(0)}, x.dtype(), x.device());
  Tensor logp = make_contiguous_tensor(x.shape(), x.dtype(), x.device());
  backend_of(x).cross_entropy(loss, logp, x, t, ignore_index, label_smoothing);
  return {loss, logp};
}

Tensor cross_entropy_backward(const Tensor& logp, const Tensor& target, const Tensor& grad_loss, int64_t ignore_index,
                              double label_smoothing) {
  const Tensor t = target.is_contiguous() ? target : contiguous(target);
  const Tensor g = grad_loss.is_contiguous() ? grad_loss : contiguous(grad_loss);
  Tensor dlogits = make_contiguous_tensor(logp.shape(), logp.dtype(), logp.device());
  backend_of(logp).cross_entropy_backward(dlogits, logp, t, g, ignore_index, label_smoothing);
  return dlogits;
}

void optimizer_update(OptimizerKind kind, const std::vector<ParamUpdate>& updates) {
  if (updates.empty()) return;
  backend_of(updates.front().param).optimizer_update(kind, updates);
}

Tensor norm_parts(const std::vector<Tensor>& tensors, double p) {
  const Device device = tensors.empty() ? Device::cpu() : tensors.front().device();
  Tensor out = make_contiguous_tensor({static_cast<int64_t>(tensors.size())}, DType::Float64, device);
  backend_for(device).norm_parts(out, tensors, p);
  return out;
}

// ---- indexing --------------------------------------------------------------------------

namespace {
void check_index(std::string_view op, const Tensor& index, const Tensor& x) {
  RECUR_CHECK(index.dtype() == DType::Int64 && index.dim() == 1, "{}: index must be a 1-D int64 tensor, got {}", op,
              index.describe());
  RECUR_CHECK(index.device() == x.device(), "{}: index {} and tensor {} are on different devices", op, index.describe(),
              x.describe());
}
}  // namespace

Tensor index_select(const Tensor& x, int64_t axis, const Tensor& index) {
  check_index("index_select", index, x);
  const int a = checked_axis("index_select", axis, x);
  Shape shape = x.shape();
  shape[a] = index.numel();
  Tensor out = make_contiguous_tensor(shape, x.dtype(), x.device());
  backend_of(x).index_select(out, x, a, index);
  return out;
}

Tensor index_add(const Shape& shape, int64_t axis, const Tensor& index, const Tensor& src) {
  Tensor out = make_contiguous_tensor(shape, src.dtype(), src.device());
  backend_of(out).fill(out, 0.0);
  index_add_(out, axis, index, src);
  return out;
}

void index_add_(Tensor& out, int64_t axis, const Tensor& index, const Tensor& src) {
  check_compatible("index_add", out, src);
  check_index("index_add", index, out);
  const int a = checked_axis("index_add", axis, out);
  Shape expected = out.shape();
  expected[a] = index.numel();
  RECUR_CHECK(src.shape() == expected, "index_add: source {} should have shape {} to add {} rows into {} along axis {}",
              src.describe(), shape_str(expected), index.numel(), out.describe(), a);
  backend_of(out).index_add(out, a, index, src);
}

// ---- linear algebra --------------------------------------------------------------------

Tensor matmul(const Tensor& a, const Tensor& b, Transpose trans_a, Transpose trans_b) {
  check_compatible("matmul", a, b);
  check_floating("matmul", a);
  const std::string operands = matrix_str(a, trans_a) + " @ " + matrix_str(b, trans_b);
  RECUR_CHECK((a.dim() == 2 || a.dim() == 3) && (b.dim() == 2 || b.dim() == 3),
              "matmul: {}: expected 2-D matrices or 3-D batches of matrices", operands);
  const bool ta = trans_a == Transpose::Yes, tb = trans_b == Transpose::Yes;
  const int64_t m = a.size(ta ? -1 : -2), k = a.size(ta ? -2 : -1);
  const int64_t kb = b.size(tb ? -1 : -2), n = b.size(tb ? -2 : -1);
  RECUR_CHECK(k == kb, "matmul: {}: inner sizes {} and {} differ", operands, k, kb);
  Shape shape = {m, n};
  if (a.dim() == 3 || b.dim() == 3) {
    const int64_t batch_a = a.dim() == 3 ? a.size(0) : 1, batch_b = b.dim() == 3 ? b.size(0) : 1;
    RECUR_CHECK(batch_a == batch_b || batch_a == 1 || batch_b == 1,
                "matmul: {}: batch sizes {} and {} differ (expected equal, or one of them 1)", operands, batch_a,
                batch_b);
    shape.insert(shape.begin(), std::max(batch_a, batch_b));
  }
  Tensor out = make_contiguous_tensor(shape, a.dtype(), a.device());
  backend_of(a).gemm(out, a, trans_a, b, trans_b, 1.0, 0.0);
  return out;
}

// ---- joining, copies, conversions --------------------------------------------------------

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  RECUR_CHECK(!xs.empty(), "concat: expected at least one tensor, got none");
  const Tensor& first = xs[0];
  RECUR_CHECK(first.dim() > 0, "concat: cannot join 0-d tensors ({}); unsqueeze them first", first.describe());
  const int a = checked_axis("concat", axis, first);
  Shape shape = first.shape();
  shape[a] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    check_compatible("concat", first, x);
    bool same = x.dim() == first.dim();
    for (int64_t d = 0; same && d < x.dim(); ++d) same = d == a || x.shape()[d] == first.shape()[d];
    RECUR_CHECK(same, "concat: tensor {} is {} but tensor 0 is {}: all sizes but axis {} must match", i, x.describe(),
                first.describe(), a);
    shape[a] += x.shape()[a];
  }
  Tensor out = make_contiguous_tensor(shape, first.dtype(), first.device());
  Backend& backend = backend_of(first);
  int64_t position = 0;
  for (const Tensor& x : xs) {
    if (x.numel() > 0) {
      Tensor window = out.as_strided_raw(x.shape(), out.strides(), out.offset() + position * out.strides()[a]);
      backend.copy(window, x);
    }
    position += x.shape()[a];
  }
  return out;
}

Tensor contiguous(const Tensor& x) {
  Tensor out = make_contiguous_tensor(x.shape(), x.dtype(), x.device());
  backend_of(x).copy(out, x);
  return out;
}

Tensor convert(const Tensor& x, DType dtype, Device device) {
  if (x.device() == device) {
    Tensor out = make_contiguous_tensor(x.shape(), dtype, device);
    backend_of(x).copy(out, x);
    return out;
  }
  // Across devices: a contiguous copy on the source device, to host memory, converted there,
  // then onto the target device.
  Tensor host;
  if (x.device().is_cpu()) {
    host = x;
  } else {
    const Tensor staged = contiguous(x);
    host = make_contiguous_tensor(x.shape(), x.dtype(), Device::cpu());
    backend_of(x).copy_to_host(host.raw_data(), staged, staged.nbytes());
  }
  if (device.is_cpu()) return host.dtype() == dtype ? host : convert(host, dtype, device);
  const Tensor ready = host.dtype() == dtype && host.is_contiguous() ? host : convert(host, dtype, Device::cpu());
  Tensor out = make_contiguous_tensor(x.shape(), dtype, device);
  backend_for(device).copy_from_host(out, ready.raw_data(), ready.nbytes());
  return out;
}

// ---- random ----------------------------------------------------------------------------

Tensor dropout_mask(const Shape& shape, DType dtype, Device device, double keep_prob, Generator& generator) {
  RECUR_CHECK(keep_prob > 0.0 && keep_prob <= 1.0, "dropout_mask: keep_prob must be in (0, 1], got {}", keep_prob);
  RECUR_CHECK(dtype == DType::Float32 || dtype == DType::Float64, "dropout_mask: expected float32 or float64, got {}",
              dtype);
  Tensor out = make_contiguous_tensor(shape, dtype, device);
  const uint64_t first_block = generator.reserve(static_cast<uint64_t>(out.numel()));
  backend_for(device).fill_bernoulli(out, generator.seed(), first_block, keep_prob, 1.0 / keep_prob);
  return out;
}

}  // namespace recur::compute
