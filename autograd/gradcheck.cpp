#include "autograd/gradcheck.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "backends/compute.h"

namespace recur {

namespace {

// Storage offset (in elements) of row-major element `linear` of a strided tensor.
int64_t strided_offset(const Tensor& t, int64_t linear) {
  int64_t offset = t.offset();
  for (size_t axis = t.shape().size(); axis-- > 0;) {
    const int64_t size = t.shape()[axis];
    offset += (linear % size) * t.strides()[axis];
    linear /= size;
  }
  return offset;
}

std::string index_str(const Shape& shape, int64_t linear) {
  Shape index(shape.size());
  for (size_t axis = shape.size(); axis-- > 0;) {
    index[axis] = linear % shape[axis];
    linear /= shape[axis];
  }
  return shape_str(index);
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, GradcheckOptions options) {
  for (const Tensor& input : inputs) {
    if (!input.defined() || !input.requires_grad()) continue;
    RECUR_CHECK(input.dtype() == DType::Float64 && input.device().is_cpu(),
                "gradcheck needs float64 CPU inputs, got {}", input.describe());
  }
  // The projection weights r, fixed for every evaluation.
  Tensor probe;
  {
    NoGradGuard no_grad;
    probe = fn(inputs);
  }
  RECUR_CHECK(probe.dtype() == DType::Float64, "gradcheck: the function returned {}, expected float64",
              probe.describe());
  Generator generator(options.seed);
  Tensor weights = rand(probe.shape(), TensorOptions{}.with_dtype(DType::Float64), &generator, 0.5, 1.5);

  auto loss = [&](const std::vector<Tensor>& xs) { return sum(mul(fn(xs), weights)); };

  // Analytic gradients.
  std::vector<Tensor> targets;
  std::vector<size_t> target_index;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined() && inputs[i].requires_grad()) {
      targets.push_back(inputs[i]);
      target_index.push_back(i);
    }
  }
  RECUR_CHECK(!targets.empty(), "gradcheck: no input requires grad");
  std::vector<Tensor> analytic = autograd::grad({loss(inputs)}, targets, {Tensor()});

  GradcheckResult result;
  int mismatches = 0;
  NoGradGuard no_grad;
  for (size_t t = 0; t < targets.size(); ++t) {
    const Tensor& x = targets[t];
    double* base = static_cast<double*>(x.storage()->data());
    const Tensor grad = analytic[t].defined() ? compute::contiguous(analytic[t]) : zeros(x.shape(), {DType::Float64});
    const double* grad_data = grad.data<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      double& element = base[strided_offset(x, j)];
      const double saved = element;
      element = saved + options.eps;
      const double plus = loss(inputs).item();
      element = saved - options.eps;
      const double minus = loss(inputs).item();
      element = saved;
      const double numeric = (plus - minus) / (2.0 * options.eps);
      const double value = grad_data[j];
      const double abs_error = std::abs(value - numeric);
      const double rel_error = abs_error / std::max(std::abs(numeric), 1e-12);
      result.max_abs_error = std::max(result.max_abs_error, abs_error);
      if (std::abs(numeric) > 1e-6) result.max_rel_error = std::max(result.max_rel_error, rel_error);
      ++result.checked;
      if (!(abs_error <= options.atol + options.rtol * std::abs(numeric))) {
        result.ok = false;
        if (++mismatches <= 5) {
          result.report += fmt::format("input {} element {}: analytic {:.10g}, numeric {:.10g}\n", target_index[t],
                                       index_str(x.shape(), j), value, numeric);
        }
      }
    }
  }
  if (mismatches > 5) result.report += fmt::format("... {} mismatches in all\n", mismatches);
  return result;
}

}  // namespace recur
