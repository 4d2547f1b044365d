#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

  NoGradGuard no_grad;
  std::vector<std::string> names;
  for (size_t index : target_index) names.push_back(fmt::format("input {}", index));
  return compare_central_differences([&] { return loss(inputs).item(); }, targets, analytic, options, names);
}

GradcheckResult compare_central_differences(const std::function<double()>& loss, const std::vector<Tensor>& inputs,
                                            const std::vector<Tensor>& analytic, const GradcheckOptions& options,
                                            const std::vector<std::string>& names) {
  RECUR_CHECK(analytic.size() == inputs.size() && (names.empty() || names.size() == inputs.size()),
              "gradcheck: {} inputs, {} analytic gradients and {} names", inputs.size(), analytic.size(), names.size());
  GradcheckResult result;
  int mismatches = 0;
  for (size_t t = 0; t < inputs.size(); ++t) {
    const Tensor& x = inputs[t];
    RECUR_CHECK(x.dtype() == DType::Float64 && x.device().is_cpu(), "gradcheck needs float64 CPU inputs, got {}",
                x.describe());
    const std::vector<double> grad =
        analytic[t].defined() ? analytic[t].to_vector<double>() : std::vector<double>(static_cast<size_t>(x.numel()));
    RECUR_CHECK(static_cast<int64_t>(grad.size()) == x.numel(), "gradcheck: input {} has a gradient {}", x.describe(),
                analytic[t].describe());
    double* base = static_cast<double*>(x.storage()->data());
    GradcheckInput checked;
    checked.elements = x.numel();
    for (int64_t j = 0; j < x.numel(); ++j) {
      double& element = base[strided_offset(x, j)];
      const double saved = element;
      element = saved + options.eps;
      const double plus = loss();
      element = saved - options.eps;
      const double minus = loss();
      element = saved;
      const double numeric = (plus - minus) / (2.0 * options.eps);
      const double value = grad[static_cast<size_t>(j)];
      const double abs_error = std::abs(value - numeric);
      checked.max_abs_error =
          std::isnan(abs_error) ? std::numeric_limits<double>::infinity() : std::max(checked.max_abs_error, abs_error);
      if (std::abs(numeric) > 1e-6)
        checked.max_rel_error = std::max(checked.max_rel_error, abs_error / std::abs(numeric));
      if (!(abs_error <= options.atol + options.rtol * std::abs(numeric))) {
        checked.ok = false;
        if (++mismatches <= 5) {
          result.report += fmt::format("{} element {}: analytic {:.10g}, numeric {:.10g}\n",
                                       names.empty() ? fmt::format("input {}", t) : names[t], index_str(x.shape(), j),
                                       value, numeric);
        }
      }
    }
    result.ok = result.ok && checked.ok;
    result.max_abs_error = std::max(result.max_abs_error, checked.max_abs_error);
    result.max_rel_error = std::max(result.max_rel_error, checked.max_rel_error);
    result.checked += checked.elements;
    result.inputs.push_back(checked);
  }
  if (mismatches > 5) result.report += fmt::format("... {} mismatches in all\n", mismatches);
  return result;
}

}  // namespace recur
