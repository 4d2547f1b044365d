// Losses: the classification losses are fused ops recorded here, with their backward beside the
// forward; the reductions are ordinary differentiable sum/mul on the per-row losses.
//
// N = rows (every axis of the target), C = classes (the logits' last axis).
#include "nn/losses.h"

#include <vector>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/compute.h"

namespace recur::nn {

using autograd::record;
using Grads = std::vector<Tensor>;
namespace c = compute;

namespace {

Tensor affine(const Tensor& x, double scale, double shift) { return c::unary(UnaryOp::Affine, x, {scale, shift}); }
Tensor mul_raw(const Tensor& a, const Tensor& b) { return c::binary(BinaryOp::Mul, a, b); }
Tensor add_raw(const Tensor& a, const Tensor& b) { return c::binary(BinaryOp::Add, a, b); }

// x's elements, row-major, as a contiguous tensor of `shape` (no graph).
Tensor reshaped(const Tensor& x, const Shape& shape) {
  Tensor contiguous = x.is_contiguous() ? x.detach() : c::contiguous(x);
  return contiguous.as_strided_raw(shape, contiguous_strides(shape), contiguous.offset());
}

Tensor reduce_loss(const Tensor& per_element, Reduction reduction) {
  switch (reduction) {
    case Reduction::None: return per_element;
    case Reduction::Sum: return sum(per_element);
    case Reduction::Mean: return mean(per_element);
  }
  return per_element;
}

void check_float(const char* op, const char* what, const Tensor& t) {
  RECUR_CHECK(t.defined(), "{}: {} is undefined", op, what);
  RECUR_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, "{}: {} must be float32 or float64, got {}",
              op, what, t.describe());
}

// softplus(z) = max(z, 0) + log(1 + e^-|z|), without a graph.
Tensor softplus_raw(const Tensor& z) {
  Tensor decay = c::unary(UnaryOp::Exp, affine(c::unary(UnaryOp::Abs, z), -1.0, 0.0));
  return add_raw(c::unary(UnaryOp::Relu, z), c::unary(UnaryOp::Log, affine(decay, 1.0, 1.0)));
}

// Whether `from` broadcasts to exactly `to` (NumPy rules, trailing axes aligned).
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  for (size_t i = 1; i <= from.size(); ++i) {
    const int64_t size = from[from.size() - i];
    if (size != 1 && size != to[to.size() - i]) return false;
  }
  return true;
}

// Where each row's target sits in the flattened [N * C] scores, and which rows count.
struct TargetPicks {
  int64_t rows = 0, classes = 0;
  Tensor flat_index;    // int64 [N]: i * C + t_i (i * C for ignored rows, whose weight is 0)
  Tensor weight;        // [N] in the scores' dtype: w_i = [t_i != ignore_index]
  int64_t counted = 0;  // sum_i w_i
};

// Checks scores [..., C] against target [...] (int64, leading shape, values in [0, C) unless
// ignored; read on the host unless check_values is false) and returns the number of rows that
// count (-1 when the values were not read).
int64_t check_targets(const char* op, const Tensor& scores, const Tensor& target, int64_t ignore_index,
                      std::vector<int64_t>* values = nullptr, bool check_values = true) {
  RECUR_CHECK(scores.dim() >= 1, "{}: expected scores [..., C] with at least 1 dimension, got {}", op,
              scores.describe());
  RECUR_CHECK(target.defined() && target.dtype() == DType::Int64, "{}: target must be int64 class indices, got {}", op,
              target.defined() ? target.describe() : std::string("an undefined tensor"));
  const Shape leading(scores.shape().begin(), scores.shape().end() - 1);
  RECUR_CHECK(target.shape() == leading, "{}: target has shape {}, expected {} for scores {}", op,
              shape_str(target.shape()), shape_str(leading), scores.describe());
  RECUR_CHECK(target.device() == scores.device(), "{}: target is on {} but scores are on {}", op, target.device(),
              scores.device());
  if (!check_values) return -1;
  const int64_t classes = scores.size(-1);
  std::vector<int64_t> targets = target.to_vector<int64_t>();
  int64_t counted = 0;
  for (const int64_t t : targets) {
    if (t == ignore_index) continue;
    RECUR_CHECK(t >= 0 && t < classes, "{}: target {} is out of range for {} classes", op, t, classes);
    ++counted;
  }
  if (values != nullptr) *values = std::move(targets);
  return counted;
}

// Checks the targets and builds the picks.
TargetPicks pick_targets(const char* op, const Tensor& scores, const Tensor& target, int64_t ignore_index) {
  std::vector<int64_t> targets;
  TargetPicks picks;
  picks.counted = check_targets(op, scores, target, ignore_index, &targets);
  picks.classes = scores.size(-1);
  picks.rows = static_cast<int64_t>(targets.size());
  std::vector<int64_t> flat_index(targets.size());
  std::vector<double> weight(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    const int64_t row_start = static_cast<int64_t>(i) * picks.classes;
    const bool counts = targets[i] != ignore_index;
    flat_index[i] = counts ? row_start + targets[i] : row_start;
    weight[i] = counts ? 1.0 : 0.0;
  }
  const Device device = scores.device();
  picks.flat_index =
      from_vector<int64_t>(flat_index, {picks.rows}, TensorOptions{}.with_dtype(DType::Int64).with_device(device));
  picks.weight =
      from_vector<double>(weight, {picks.rows}, TensorOptions{}.with_dtype(scores.dtype()).with_device(device));
  return picks;
}

// Per-row losses -> the requested reduction; Mean divides by the number of counted rows.
Tensor reduce_rows(const Tensor& per_row, Reduction reduction, int64_t counted) {
  if (reduction != Reduction::Mean) return reduce_loss(per_row, reduction);
  return sum(per_row) / static_cast<double>(counted);  // NaN when nothing counted (0 * inf)
}

}  // namespace

// ---- cross entropy -----------------------------------------------------------------------------

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options) {
  check_float("cross_entropy", "logits", logits);
  const double eps = options.label_smoothing;
  const int64_t ignore = options.ignore_index;
  RECUR_CHECK(eps >= 0.0 && eps <= 1.0, "cross_entropy: label_smoothing must be in [0, 1], got {}", eps);
  // CPU targets are checked here; a GPU's are checked by the kernel (reported at the next
  // synchronisation), and the number of counted rows stays on the device.
  const bool on_host = logits.device().is_cpu();
  const int64_t counted = check_targets("cross_entropy", logits, target, ignore, nullptr, on_host);
  const int64_t classes = logits.size(-1), rows = target.numel();
  RECUR_CHECK(classes > 0, "cross_entropy: logits {} have no classes", logits.describe());

  // One fused op each way (backend.h):
  //   logp = log_softmax(logits)                 loss_i = w_i ( -(1 - eps) logp[i, t_i] - (eps / C) sum_c logp[i, c] )
  //   dlogits[i, c] = g_i w_i ( softmax[i, c] - (1 - eps) [c == t_i] - eps / C )
  const Tensor flat_target = reshaped(target, {rows});
  auto [loss, logp] = c::cross_entropy(reshaped(logits, {rows, classes}), flat_target, ignore, eps);
  auto backward = [logp = logp, flat_target, ignore, eps, logits_shape = logits.shape()](const Grads& g) {
    if (!g[0].defined()) return Grads{Tensor()};
    const Tensor grad_rows = reshaped(g[0], {logp.size(0)});
    return Grads{reshaped(c::cross_entropy_backward(logp, flat_target, grad_rows, ignore, eps), logits_shape)};
  };
  Tensor per_row = record("cross_entropy", {logits}, reshaped(loss, target.shape()), backward);
  if (on_host || options.reduction != Reduction::Mean) return reduce_rows(per_row, options.reduction, counted);
  // counted = N - #(t_i == ignore_index), on the device (NaN mean when nothing counts, as on the CPU)
  const Tensor ignore_t =
      full({}, static_cast<double>(ignore), TensorOptions{}.with_dtype(DType::Int64).with_device(target.device()));
  const Tensor ignored = c::convert(c::binary(BinaryOp::Eq, flat_target, ignore_t), logits.dtype(), logits.device());
  const Tensor counted_rows = affine(c::reduce(ReduceOp::Sum, ignored, {}, false), -1.0, static_cast<double>(rows));
  return sum(per_row) / counted_rows;
}

// ---- negative log-likelihood ---------------------------------------------------------------------

Tensor nll_loss(const Tensor& logp, const Tensor& target, const NllLossOptions& options) {
  check_float("nll_loss", "log-probabilities", logp);
  const TargetPicks picks = pick_targets("nll_loss", logp, target, options.ignore_index);
  const int64_t rows = picks.rows, classes = picks.classes;

  // loss_i = -w_i logp[i, t_i]
  Tensor picked = c::index_select(reshaped(logp, {rows * classes}), 0, picks.flat_index);
  Tensor loss = reshaped(mul_raw(affine(picked, -1.0, 0.0), picks.weight), target.shape());

  Tensor per_row = record("nll_loss", {logp}, loss, [picks, logp_shape = logp.shape()](const Grads& g) {
    if (!g[0].defined()) return Grads{Tensor()};
    // dlogp[i, c] = -g_i w_i [c == t_i]
    const int64_t n = picks.rows;
    Tensor src = affine(mul_raw(reshaped(g[0], {n}), picks.weight), -1.0, 0.0);
    Tensor d = c::index_add({n * picks.classes}, 0, picks.flat_index, src);
    return Grads{reshaped(d, logp_shape)};
  });
  return reduce_rows(per_row, options.reduction, picks.counted);
}

// ---- regression -----------------------------------------------------------------------------------

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_float("mse_loss", "input", input);
  check_float("mse_loss", "target", target);
  RECUR_CHECK(input.shape() == target.shape() && input.dtype() == target.dtype(),
              "mse_loss: input {} and target {} must have the same shape and dtype", input.describe(),
              target.describe());
  return reduce_loss(square(input - target), reduction);  // (x - y)^2
}

// ---- binary cross entropy ------------------------------------------------------------------------

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction reduction,
                                        const Tensor& pos_weight) {
  const char* op = "binary_cross_entropy_with_logits";
  check_float(op, "logits", logits);
  check_float(op, "target", target);
  RECUR_CHECK(target.shape() == logits.shape() && target.dtype() == logits.dtype(),
              "{}: target {} must have the logits' shape and dtype {}", op, target.describe(), logits.describe());
  const bool weighted = pos_weight.defined();
  if (weighted) {
    check_float(op, "pos_weight", pos_weight);
    RECUR_CHECK(pos_weight.dtype() == logits.dtype() && broadcasts_to(pos_weight.shape(), logits.shape()),
                "{}: pos_weight {} must have the logits' dtype and broadcast to the logits {}", op,
                pos_weight.describe(), logits.describe());
  }
  Tensor x = logits.detach(), y = target.detach();
  Tensor pw = weighted ? pos_weight.detach() : Tensor();

  // softplus(-x) = max(-x, 0) + log(1 + e^-|x|)
  Tensor softplus_neg = softplus_raw(c::unary(UnaryOp::Neg, x));
  // l = 1 + (pos_weight - 1) y  (1 without pos_weight)
  Tensor log_weight = weighted ? affine(mul_raw(affine(pw, 1.0, -1.0), y), 1.0, 1.0) : Tensor();
  // loss = (1 - y) x + l softplus(-x)
  Tensor one_minus_y = affine(y, -1.0, 1.0);
  Tensor loss = add_raw(mul_raw(one_minus_y, x), weighted ? mul_raw(log_weight, softplus_neg) : softplus_neg);

  auto backward = [x, one_minus_y, log_weight, softplus_neg, pw, target_grad = target.requires_grad()](const Grads& g) {
    if (!g[0].defined()) return Grads{Tensor(), Tensor()};
    // dx = g ((1 - y) - l sigmoid(-x))
    Tensor sigmoid_neg = c::unary(UnaryOp::Sigmoid, c::unary(UnaryOp::Neg, x));
    Tensor weighted_sigmoid = log_weight.defined() ? mul_raw(log_weight, sigmoid_neg) : sigmoid_neg;
    Tensor dx = mul_raw(g[0], c::binary(BinaryOp::Sub, one_minus_y, weighted_sigmoid));
    Tensor dy;
    if (target_grad) {
      // dy = g (-x + (pos_weight - 1) softplus(-x))
      Tensor slope = affine(x, -1.0, 0.0);
      if (pw.defined()) slope = add_raw(slope, mul_raw(affine(pw, 1.0, -1.0), softplus_neg));
      dy = mul_raw(g[0], slope);
    }
    return Grads{dx, dy};
  };
  Tensor per_element = record("binary_cross_entropy_with_logits", {logits, target}, loss, backward);
  return reduce_loss(per_element, reduction);
}

}  // namespace recur::nn
