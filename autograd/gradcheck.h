// Finite-difference gradient checks (float64, CPU).
//
// For f: inputs -> output, the check projects the output on fixed random weights r
// (L = sum(f(x) * r), so non-scalar outputs are covered) and compares, for every element j of
// every input that requires grad, the analytic dL/dx_j from backward with the central
// difference (L(x + eps e_j) - L(x - eps e_j)) / (2 eps). An element passes when
// |analytic - numeric| <= atol + rtol * |numeric|.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace recur {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-5;
  uint64_t seed = 1234;  // for the projection weights
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  int64_t checked = 0;  // elements compared
  std::string report;   // the first mismatches, "input 1 element [2, 0]: analytic .. numeric .."
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Inputs must be float64 CPU tensors; those with requires_grad are checked (they may be
// non-contiguous views). fn must be deterministic.
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace recur
