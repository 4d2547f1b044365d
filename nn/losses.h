// Loss functions with PyTorch's semantics (torch.nn.functional), differentiable.
//
// Shapes: N = rows, C = classes. The class axis is the LAST axis: logits [..., C] with target
// [...] (a language model's [T, B, V] logits and [T, B] targets work as they are). This differs
// from PyTorch's [N, C, d1, ...] layout for inputs of more than 2 dimensions; for [N, C] and
// [C] the two agree.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace recur::nn {

enum class Reduction : uint8_t {
  None,  // one loss per element (per row for the classification losses)
  Mean,  // the mean (over non-ignored rows for the classification losses)
  Sum,
};

struct CrossEntropyOptions {
  int64_t ignore_index = -100;   // rows whose target equals this contribute nothing
  double label_smoothing = 0.0;  // epsilon in [0, 1]
  Reduction reduction = Reduction::Mean;
};

// One fused op, with logp = log_softmax(logits) over the class axis and w_i = [t_i != ignore]:
//   loss_i = w_i * ( -(1 - eps) logp[i, t_i] - (eps / C) sum_c logp[i, c] )
//   Mean: sum_i loss_i / sum_i w_i (NaN when every row is ignored, as in PyTorch)
//   d loss_i / d logits[i, c] = w_i * ( softmax[i, c] - (1 - eps) [c == t_i] - eps / C )
// target is int64 with logits' leading shape; every non-ignored target must be in [0, C).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& options = {});

struct NllLossOptions {
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
};

// loss_i = -w_i logp[i, t_i] on log-probabilities logp [..., C]; Mean divides by sum_i w_i.
Tensor nll_loss(const Tensor& logp, const Tensor& target, const NllLossOptions& options = {});

// loss = (input - target)^2, elementwise; shapes and dtypes must match.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);

// Numerically stable binary cross-entropy on logits x with targets y in [0, 1] (same shape):
//   loss = (1 - y) x + l (max(-x, 0) + log(1 + e^-|x|)),   l = 1 + (pos_weight - 1) y
// which is max(x, 0) - x y + log(1 + e^-|x|) without pos_weight (pos_weight broadcasts against
// x, one weight per class on the last axis). Differentiable in x and y, not in pos_weight:
//   dx = (1 - y) - l sigmoid(-x),   dy = -x + (pos_weight - 1) softplus(-x)
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction reduction = Reduction::Mean, const Tensor& pos_weight = Tensor());

}  // namespace recur::nn
