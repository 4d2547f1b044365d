#include "optim/clip.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/grad_mode.h"
#include "backends/compute.h"
#include "optim/fused_loop.h"

namespace recur::optim {
namespace {

// Partial sums over fixed chunks, added in order: the total does not depend on the thread count
// (an OpenMP reduction's would), so that runs are reproducible bit for bit.
constexpr int64_t kChunk = 1 << 13;

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

// A contiguous CPU tensor with grad's values: grad itself when it already is one.
Tensor host_view(const Tensor& grad) {
  Tensor host = grad.detach();
  if (!host.device().is_cpu()) host = compute::convert(host, host.dtype(), Device::cpu());
  if (!host.is_contiguous()) host = compute::contiguous(host);
  return host;
}

// Applies fn(T*, n) to grad's elements in place (through a CPU copy for GPU or strided grads).
template <typename Fn> void modify(const Tensor& grad, const Fn& fn) {
  Tensor host = host_view(grad);
  detail::dispatch_floating(host.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if (host.numel() > 0) fn(host.data<T>(), host.numel());
  });
  if (host.storage() != grad.storage()) {
    Tensor target = grad.detach();
    target.copy_(host);
  }
}

// sum |g|^p over one tensor (p = inf: max |g|, NaN if any element is NaN).
template <typename T> double norm_part(const T* data, int64_t n, double p) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
#pragma omp parallel for schedule(static) if (n >= detail::kParallelThreshold)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk, end = std::min(n, begin + kChunk);
    double acc = 0.0;
    for (int64_t i = begin; i < end; ++i) {
      const double a = std::abs(static_cast<double>(data[i]));
      if (std::isinf(p)) {
        acc = (std::isnan(a) || a > acc) ? a : acc;
        if (std::isnan(acc)) break;
      } else {
        acc += p == 2.0 ? a * a : p == 1.0 ? a : std::pow(a, p);
      }
    }
    partial[static_cast<size_t>(c)] = acc;
  }
  double total = 0.0;
  for (const double part : partial)
    total = std::isinf(p) ? ((std::isnan(part) || part > total) ? part : total) : total + part;
  return total;
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
  for (const Tensor& grad : grads) {
    const Tensor host = host_view(grad);
    detail::dispatch_floating(host.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const double part = host.numel() > 0 ? norm_part<T>(host.data<T>(), host.numel(), norm_type) : 0.0;
      accumulated = inf_norm ? ((std::isnan(part) || part > accumulated) ? part : accumulated) : accumulated + part;
    });
  }
  // total = (sum |g|^p)^(1/p)
  result.norm = inf_norm           ? accumulated
                : norm_type == 2.0 ? std::sqrt(accumulated)
                                   : std::pow(accumulated, 1.0 / norm_type);
  result.finite = std::isfinite(result.norm);
  if (!result.finite) return result;

  const double coefficient = max_norm / (result.norm + 1e-6);  // as PyTorch: max_norm / (total + 1e-6)
  if (coefficient >= 1.0) return result;
  result.clipped = true;
  for (const Tensor& grad : grads) {
    modify(grad, [&](auto* data, int64_t n) {
      using T = std::remove_pointer_t<decltype(data)>;
      const T scale = static_cast<T>(coefficient);
      detail::for_each_element(n, [&](int64_t i) { data[i] = data[i] * scale; });
    });
  }
  return result;
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type) {
  return clip_grad_norm_detailed(params, max_norm, norm_type).norm;
}

void clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  RECUR_CHECK(clip_value >= 0, "clip_grad_value_: clip_value {}, expected >= 0", clip_value);
  NoGradGuard no_grad;
  for (const Tensor& grad : gradients_of(params)) {
    modify(grad, [&](auto* data, int64_t n) {
      using T = std::remove_pointer_t<decltype(data)>;
      const T hi = static_cast<T>(clip_value), lo = -hi;
      // clamp(g, -c, c); NaN compares false both ways and stays NaN
      detail::for_each_element(n, [&](int64_t i) { data[i] = data[i] < lo ? lo : (data[i] > hi ? hi : data[i]); });
    });
  }
}

}  // namespace recur::optim
