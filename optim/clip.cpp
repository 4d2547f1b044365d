#include "optim/clip.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/grad_mode.h"
#include "backends/compute.h"

namespace recur::optim {
namespace {

std::vector<Tensor> gradients_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  for (const Tensor& param : params) {
    if (param.defined() && param.grad().defined()) grads.push_back(param.grad());
  }
  for (const Tensor& grad : grads) {
    RECUR_CHECK(grad.dtype() == DType::Float32 || grad.dtype() == DType::Float64,
                "gradient clipping needs float32 or float64 gradients, got {}", grad.describe());
  }
  return grads;
}

// sum |g|^p (or max |g| for p = inf) of each gradient, computed where it lives by the backend's
// norm_parts (fixed chunks added in order, so the result does not depend on the thread count);
// only these k numbers come to the host.
std::vector<double> norm_parts_of(const std::vector<Tensor>& grads, double p) {
  std::vector<double> parts(grads.size(), 0.0);
  std::vector<bool> done(grads.size(), false);
  for (size_t first = 0; first < grads.size(); ++first) {
    if (done[first]) continue;
    const Device device = grads[first].device();
    std::vector<size_t> indices;
    std::vector<Tensor> tensors;
    for (size_t i = first; i < grads.size(); ++i) {
      if (done[i] || grads[i].device() != device) continue;
      done[i] = true;
      indices.push_back(i);
      tensors.push_back(grads[i].is_contiguous() ? grads[i].detach() : compute::contiguous(grads[i].detach()));
    }
    const std::vector<double> values = compute::norm_parts(tensors, p).to_vector<double>();
    for (size_t j = 0; j < indices.size(); ++j) parts[indices[j]] = values[j];
  }
  return parts;
}

// grad = f(grad) in place, on the gradient's device.
void apply_in_place(const Tensor& grad, UnaryOp op, UnaryParams params) {
  Tensor target = grad.detach();
  backend_of(target).unary(op, target, target, params);
}

}  // namespace

ClipResult clip_grad_norm_detailed(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  RECUR_CHECK(norm_type > 0, "clip_grad_norm_: norm_type {}, expected > 0 (or infinity)", norm_type);
  RECUR_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm {}, expected >= 0", max_norm);
  NoGradGuard no_grad;
  const std::vector<Tensor> grads = gradients_of(params);
  ClipResult result;
  const bool inf_norm = std::isinf(norm_type);
  double accumulated = 0.0;
  for (const double part : norm_parts_of(grads, norm_type))
    accumulated = inf_norm ? ((std::isnan(part) || part > accumulated) ? part : accumulated) : accumulated + part;
  // total = (sum |g|^p)^(1/p)
  result.norm = inf_norm           ? accumulated
                : norm_type == 2.0 ? std::sqrt(accumulated)
                                   : std::pow(accumulated, 1.0 / norm_type);
  result.finite = std::isfinite(result.norm);
  if (!result.finite) return result;

  const double coefficient = max_norm / (result.norm + 1e-6);  // as PyTorch: max_norm / (total + 1e-6)
  if (coefficient >= 1.0) return result;
  result.clipped = true;
  for (const Tensor& grad : grads) apply_in_place(grad, UnaryOp::Affine, {coefficient, 0.0});  // g * coefficient
  return result;
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  return clip_grad_norm_detailed(params, max_norm, norm_type).norm;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  RECUR_CHECK(clip_value >= 0, "clip_grad_value_: clip_value {}, expected >= 0", clip_value);
  NoGradGuard no_grad;
  // clamp(g, -c, c); NaN stays NaN
  for (const Tensor& grad : gradients_of(params)) apply_in_place(grad, UnaryOp::Clamp, {-clip_value, clip_value});
}

}  // namespace recur::optim
