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

// One checked input's elements.
struct GradcheckInput {
  int64_t elements = 0;
  double max_abs_error = 0.0;  // infinite where an error is NaN
  double max_rel_error = 0.0;  // over the elements whose |numeric| > 1e-6
  bool ok = true;
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  int64_t checked = 0;                 // elements compared
  std::string report;                  // the first mismatches, "input 1 element [2, 0]: analytic .. numeric .."
  std::vector<GradcheckInput> inputs;  // one per checked input, in order
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Inputs must be float64 CPU tensors; those with requires_grad are checked (they may be
// non-contiguous views). fn must be deterministic.
GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options = {});

// The comparison gradcheck() runs, for a scalar loss whose analytic gradients the caller has:
// every element j of every inputs[i] (float64 CPU tensors, perturbed in place and restored) gets
// the central difference (loss() at x_j + eps minus loss() at x_j - eps) / (2 eps), compared with
// element j of analytic[i] (any device and floating dtype; undefined reads as zeros). `names`
// label the inputs in the report ("input 1" when empty). Grad mode is left as the caller set it.
GradcheckResult compare_central_differences(const std::function<double()>& loss, const std::vector<Tensor>& inputs,
                                            const std::vector<Tensor>& analytic, const GradcheckOptions& options,
                                            const std::vector<std::string>& names = {});

}  // namespace recur
