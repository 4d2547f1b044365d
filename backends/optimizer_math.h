// The optimizers' per-element updates, written once for both devices: the CPU backend runs
// them in an OpenMP loop (backends/cpu/fused.cpp), the CUDA backend in one multi-tensor kernel
// (backends/cuda/fused.cu). Plain C++ with no recur includes, so nvcc compiles it as is.
//
// Each update follows PyTorch 1.13's single-tensor formula (torch/optim/*.py) operation for
// operation; the coefficients are computed by the optimizer on the host in float64 (as PyTorch
// does with Python floats) and rounded to the parameter's type once, before the loop.
//
// Buffers per kind (absent ones are null):
//   SGD      b0 momentum_buffer (momentum != 0)
//   Adam     b0 exp_avg, b1 exp_avg_sq, b2 max_exp_avg_sq (amsgrad)
//   RMSprop  b0 square_avg, b1 grad_avg (centered), b2 momentum_buffer (momentum > 0)
//   Adagrad  b0 sum
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define RECUR_OPTIMIZER_FN __host__ __device__
#else
#define RECUR_OPTIMIZER_FN
#endif

namespace recur {

enum class OptimizerKind : uint8_t { SGD, Adam, RMSprop, Adagrad };

// One parameter's coefficients, in float64 (fields a kind does not use keep their defaults).
struct OptimizerCoeffs {
  double neg_lr = 0.0;        // SGD, RMSprop: -lr; Adam: -lr / (1 - beta1^t); Adagrad: -lr / (1 + (t-1) lr_decay)
  double weight_decay = 0.0;  // the L2 term g + wd * p, applied when `l2`
  double decay_factor = 1.0;  // decoupled decay (AdamW): p * (1 - lr * wd), applied when `decoupled`
  double momentum = 0.0;      // SGD, RMSprop
  double one_minus_dampening = 1.0;           // SGD
  double beta1 = 0.0, one_minus_beta1 = 1.0;  // Adam
  double beta2 = 0.0, one_minus_beta2 = 1.0;  // Adam; RMSprop's alpha and 1 - alpha
  double eps = 0.0;                           // Adam, RMSprop, Adagrad
  double bias_correction2_sqrt = 1.0;         // Adam: sqrt(1 - beta2^t)
  bool l2 = false, decoupled = false;
  bool nesterov = false;    // SGD
  bool first_step = false;  // SGD: the momentum buffer starts as the gradient

  bool operator==(const OptimizerCoeffs&) const = default;
};

namespace optimizer_math {

template <typename T> RECUR_OPTIMIZER_FN inline T square_root(T x) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == sizeof(float)) {
    return sqrtf(x);
  } else {
    return sqrt(x);
  }
#else
  return std::sqrt(x);
#endif
}

// The coefficients rounded to T.
template <typename T> struct Coeffs {
  T neg_lr, weight_decay, decay_factor, momentum, one_minus_dampening;
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, bias_correction2_sqrt;
  bool l2, decoupled, nesterov, first_step;

  RECUR_OPTIMIZER_FN static Coeffs from(const OptimizerCoeffs& c) {
    return {static_cast<T>(c.neg_lr),
            static_cast<T>(c.weight_decay),
            static_cast<T>(c.decay_factor),
            static_cast<T>(c.momentum),
            static_cast<T>(c.one_minus_dampening),
            static_cast<T>(c.beta1),
            static_cast<T>(c.one_minus_beta1),
            static_cast<T>(c.beta2),
            static_cast<T>(c.one_minus_beta2),
            static_cast<T>(c.eps),
            static_cast<T>(c.bias_correction2_sqrt),
            c.l2,
            c.decoupled,
            c.nesterov,
            c.first_step};
  }
};

// Updates element i of a parameter p with gradient g and buffers b0..b2 (see the table above).
template <OptimizerKind K, typename T>
RECUR_OPTIMIZER_FN inline void update_element(const Coeffs<T>& k, T* p, const T* g, T* b0, T* b1, T* b2, int64_t i) {
  if constexpr (K == OptimizerKind::SGD) {
    T d = g[i];
    if (k.l2) d = d + k.weight_decay * p[i];  // g + wd * p
    if (b0 != nullptr) {
      // b = g on the first step, else momentum * b + (1 - dampening) * g
      const T b = k.first_step ? d : b0[i] * k.momentum + k.one_minus_dampening * d;
      b0[i] = b;
      d = k.nesterov ? d + k.momentum * b : b;
    }
    p[i] = p[i] + k.neg_lr * d;  // p - lr * g
  } else if constexpr (K == OptimizerKind::Adam) {
    T q = p[i], d = g[i];
    if (k.decoupled) q = q * k.decay_factor;  // p * (1 - lr * wd)
    if (k.l2) d = d + k.weight_decay * q;     // g + wd * p
    const T m = b0[i] * k.beta1 + k.one_minus_beta1 * d;
    const T v = b1[i] * k.beta2 + k.one_minus_beta2 * d * d;
    b0[i] = m;
    b1[i] = v;
    T v_used = v;
    if (b2 != nullptr) {  // torch.maximum: NaN wins
      const T old = b2[i];
      v_used = (v != v || v > old) ? v : old;
      b2[i] = v_used;
    }
    const T denom = square_root(v_used) / k.bias_correction2_sqrt + k.eps;
    p[i] = q + (k.neg_lr * m) / denom;  // addcdiv: p + (-step_size * m) / denom
  } else if constexpr (K == OptimizerKind::RMSprop) {
    T d = g[i];
    if (k.l2) d = d + k.weight_decay * p[i];                  // g + wd * p
    const T s = b0[i] * k.beta2 + k.one_minus_beta2 * d * d;  // addcmul: s + ((1 - alpha) * g) * g
    b0[i] = s;
    T avg;
    if (b1 != nullptr) {
      const T a = b1[i] * k.beta2 + k.one_minus_beta2 * d;
      b1[i] = a;
      avg = square_root(s + (-a) * a);  // addcmul(a, a, value=-1), then sqrt
    } else {
      avg = square_root(s);
    }
    avg = avg + k.eps;
    if (b2 != nullptr) {
      const T b = b2[i] * k.momentum + d / avg;
      b2[i] = b;
      p[i] = p[i] + k.neg_lr * b;  // p - lr * b
    } else {
      p[i] = p[i] + (k.neg_lr * d) / avg;  // addcdiv: p + (-lr * g) / avg
    }
  } else {  // Adagrad
    T d = g[i];
    if (k.l2) d = d + k.weight_decay * p[i];  // g + wd * p
    const T s = b0[i] + d * d;                // addcmul(g, g, value=1)
    b0[i] = s;
    const T std_dev = square_root(s) + k.eps;
    p[i] = p[i] + (k.neg_lr * d) / std_dev;  // addcdiv: p + (-clr * g) / std
  }
}

}  // namespace optimizer_math
}  // namespace recur
