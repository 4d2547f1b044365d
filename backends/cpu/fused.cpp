// The CPU backend's fused ops: softmax cross-entropy row by row, the optimizers' updates
// (backends/optimizer_math.h) and the per-tensor norms of gradient clipping. Large inputs are
// split across the OpenMP threads.
#include <algorithm>
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dispatch.h"
#include "backends/cpu/math.h"
#include "backends/fused_args.h"

namespace recur {
namespace {

constexpr int64_t kParallelThreshold = 1 << 15;  // elements

// Row i of the cross entropy:
//   m = max_c x_c,  shift = m + ln sum_c e^(x_c - m),  logp_c = x_c - shift
//   loss = -(1 - eps) logp_t - (eps / C) sum_c logp_c   (0 for an ignored row)
// Each pass over the row is a SIMD loop (exp_of is branch-free for float), which matters at a
// word vocabulary's tens of thousands of classes.
template <typename T> void cross_entropy_rows(T* loss, T* logp, const T* logits, const int64_t* target, int64_t rows,
                                              int64_t classes, int64_t ignore_index, double eps) {
  const T picked_scale = static_cast<T>(-(1.0 - eps)), sum_scale = static_cast<T>(-eps / static_cast<double>(classes));
#pragma omp parallel for schedule(static) if (rows * classes >= kParallelThreshold)
  for (int64_t i = 0; i < rows; ++i) {
    const T* x = logits + i * classes;
    T* y = logp + i * classes;
    T m = x[0];
#pragma omp simd reduction(max : m)
    for (int64_t c = 1; c < classes; ++c) m = m > x[c] ? m : x[c];
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < classes; ++c) s += cpu::exp_of(x[c] - m);
    const T shift = m + std::log(s);
    T row_sum = 0;
#pragma omp simd reduction(+ : row_sum)
    for (int64_t c = 0; c < classes; ++c) {
      y[c] = x[c] - shift;
      row_sum += y[c];
    }
    const int64_t t = target[i];
    if (t == ignore_index) {
      loss[i] = 0;
      continue;
    }
    T value = picked_scale * y[t];
    if (eps > 0.0) value = value + sum_scale * row_sum;
    loss[i] = value;
  }
}

// dlogits_c = g (e^(logp_c) - eps / C - (1 - eps) [c == t]), 0 for an ignored row.
template <typename T> void cross_entropy_backward_rows(T* dlogits, const T* logp, const int64_t* target, const T* grad,
                                                       int64_t rows, int64_t classes, int64_t ignore_index,
                                                       double eps) {
  const T smooth = static_cast<T>(-eps / static_cast<double>(classes)), picked = static_cast<T>(-(1.0 - eps));
#pragma omp parallel for schedule(static) if (rows * classes >= kParallelThreshold)
  for (int64_t i = 0; i < rows; ++i) {
    const T* y = logp + i * classes;
    T* d = dlogits + i * classes;
    const int64_t t = target[i];
    if (t == ignore_index) {
      std::fill(d, d + classes, T(0));
      continue;
    }
    const T g = grad[i];
#pragma omp simd
    for (int64_t c = 0; c < classes; ++c) d[c] = (cpu::exp_of(y[c]) + smooth) * g;
    d[t] = (cpu::exp_of(y[t]) + smooth + picked) * g;
  }
}

template <OptimizerKind K, typename T> void update_parameter(const ParamUpdate& u) {
  const int64_t n = u.param.numel();
  if (n == 0) return;
  const auto k = optimizer_math::Coeffs<T>::from(u.coeffs);
  T* p = u.param.data<T>();
  const T* g = u.grad.data<T>();
  T* b0 = u.buffers[0].defined() ? u.buffers[0].data<T>() : nullptr;
  T* b1 = u.buffers[1].defined() ? u.buffers[1].data<T>() : nullptr;
  T* b2 = u.buffers[2].defined() ? u.buffers[2].data<T>() : nullptr;
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
  for (int64_t i = 0; i < n; ++i) optimizer_math::update_element<K, T>(k, p, g, b0, b1, b2, i);
}

template <typename T> void update_parameter(OptimizerKind kind, const ParamUpdate& u) {
  switch (kind) {
    case OptimizerKind::SGD: update_parameter<OptimizerKind::SGD, T>(u); return;
    case OptimizerKind::Adam: update_parameter<OptimizerKind::Adam, T>(u); return;
    case OptimizerKind::RMSprop: update_parameter<OptimizerKind::RMSprop, T>(u); return;
    case OptimizerKind::Adagrad: update_parameter<OptimizerKind::Adagrad, T>(u); return;
  }
}

// sum |x|^p over one tensor, in float64 chunks combined in order (p = inf: max |x|, NaN when
// any element is NaN).
constexpr int64_t kNormChunk = 1 << 13;

template <typename T> double norm_part(const T* data, int64_t n, double p) {
  const int64_t chunks = (n + kNormChunk - 1) / kNormChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  const bool inf_norm = std::isinf(p);
#pragma omp parallel for schedule(static) if (n >= kParallelThreshold)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kNormChunk, end = std::min(n, begin + kNormChunk);
    double acc = 0.0;
    for (int64_t i = begin; i < end; ++i) {
      const double a = std::abs(static_cast<double>(data[i]));
      if (inf_norm) {
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
    total = inf_norm ? ((std::isnan(part) || part > total) ? part : total) : total + part;
  return total;
}

// Every target in [0, C) or ignore_index (checked before the parallel loops, which must not throw).
void check_targets(const char* op, const Tensor& target, int64_t classes, int64_t ignore_index) {
  const int64_t* t = target.numel() > 0 ? target.data<int64_t>() : nullptr;
  for (int64_t i = 0; i < target.numel(); ++i) {
    RECUR_CHECK(t[i] == ignore_index || (t[i] >= 0 && t[i] < classes),
                "{}: target {} (row {}) is out of range for {} classes", op, t[i], i, classes);
  }
}

}  // namespace

void CpuBackend::cross_entropy(Tensor& loss, Tensor& logp, const Tensor& logits, const Tensor& target,
                               int64_t ignore_index, double label_smoothing) {
  check_cross_entropy_args(device(), loss, logp, logits, target);
  if (logits.numel() == 0) return;
  check_targets("cross_entropy", target, logits.size(1), ignore_index);
  cpu::dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cross_entropy_rows<T>(loss.data<T>(), logp.data<T>(), logits.data<T>(), target.data<int64_t>(), logits.size(0),
                          logits.size(1), ignore_index, label_smoothing);
  });
}

void CpuBackend::cross_entropy_backward(Tensor& dlogits, const Tensor& logp, const Tensor& target,
                                        const Tensor& grad_loss, int64_t ignore_index, double label_smoothing) {
  check_cross_entropy_backward_args(device(), dlogits, logp, target, grad_loss);
  if (logp.numel() == 0) return;
  check_targets("cross_entropy_backward", target, logp.size(1), ignore_index);
  cpu::dispatch_floating(logp.dtype(), "cross_entropy_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    cross_entropy_backward_rows<T>(dlogits.data<T>(), logp.data<T>(), target.data<int64_t>(), grad_loss.data<T>(),
                                   logp.size(0), logp.size(1), ignore_index, label_smoothing);
  });
}

void CpuBackend::optimizer_update(OptimizerKind kind, const std::vector<ParamUpdate>& updates) {
  check_optimizer_updates(device(), kind, updates);
  for (const ParamUpdate& u : updates) {
    cpu::dispatch_floating(u.param.dtype(), "optimizer_update",
                           [&](auto tag) { update_parameter<typename decltype(tag)::type>(kind, u); });
  }
}

void CpuBackend::norm_parts(Tensor& out, const std::vector<Tensor>& tensors, double p) {
  check_norm_parts_args(device(), out, tensors, p);
  double* parts = tensors.empty() ? nullptr : out.data<double>();
  for (size_t j = 0; j < tensors.size(); ++j) {
    const Tensor& t = tensors[j];
    cpu::dispatch_floating(t.dtype(), "norm_parts", [&](auto tag) {
      using T = typename decltype(tag)::type;
      parts[j] = t.numel() > 0 ? norm_part<T>(t.data<T>(), t.numel(), p) : 0.0;
    });
  }
}

}  // namespace recur
