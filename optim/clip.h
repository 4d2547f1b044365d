// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_. Parameters without a
// gradient are skipped.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace recur::optim {

struct ClipResult {
  double norm = 0.0;     // the total norm of all gradients before clipping
  bool finite = true;    // false when the norm is inf or NaN: the gradients were left unchanged
  bool clipped = false;  // whether the gradients were scaled down
};

// total = (sum over all gradient elements of |g|^p)^(1/p), or max |g| for p = inf, accumulated
// in float64. When total is finite and max_norm / (total + 1e-6) < 1, every gradient is scaled
// by that factor (in its own dtype). A non-finite total (an overflow or a NaN in some gradient)
// is reported, not thrown, and the gradients are left as they are: unlike PyTorch, which would
// multiply them by NaN, so that the caller can skip the step and keep training.
// norm_type must be > 0 (or inf); max_norm >= 0.
ClipResult clip_grad_norm_detailed(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);

// The same, returning just the total norm (check std::isfinite on it to detect a bad step).
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0);

// Clamps every gradient element into [-clip_value, clip_value] (NaN stays NaN). clip_value >= 0.
void clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace recur::optim
