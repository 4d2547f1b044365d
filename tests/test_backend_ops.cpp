// Every backend op from one table. A row names an op, draws its inputs, runs it through
// compute:: (or the backend), and may carry a reference (the expected values, computed in
// float64 from the inputs), tolerances per dtype, and the autograd op whose backward a float64
// finite-difference check covers. From the table:
//   - every code of UnaryOp, BinaryOp and ReduceOp (backends/op_codes.h) has a row with a
//     reference and either a gradient check or the reason it has none;
//   - on the CPU, each row with a reference matches it, on contiguous inputs and on the same
//     values laid out transposed, in float32 and float64;
//   - each row with an autograd op passes gradcheck;
//   - with a GPU, every row gives on CUDA what it gives on the CPU (skipped, with the reason,
//     without one).
// Adding an op means adding its row here.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <variant>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "backends/backend.h"
#include "backends/compute.h"
#include "backends/op_names.h"
#include "core/tensor.h"
#include "test_backend_util.h"

namespace recur {
namespace {

using namespace testing_util;

const Device kGpu = Device::cuda(0);

// How a row's input is drawn.
enum class Draw { Normal, Positive, Index };

struct Input {
  Shape shape;
  Draw draw = Draw::Normal;
  int64_t index_limit = 0;  // Draw::Index: values in [0, index_limit)
};

struct Tolerance {
  double rtol, atol;  // |got - want| <= atol + rtol * |want|
};

// The enum code a row stands for, if any.
using OpCode = std::variant<std::monostate, UnaryOp, BinaryOp, ReduceOp>;

using Inputs = const std::vector<Tensor>&;
using Reference = std::function<std::vector<double>(Inputs)>;  // the output's values, row-major

struct OpRow {
  std::string name;
  std::vector<Input> inputs;
  std::function<Tensor(Inputs)> run;
  OpCode code = {};
  Reference reference = {};
  GradcheckFn gradient = {};            // the autograd op, given the inputs as float64 leaves
  std::string not_differentiable = {};  // why a row with a code has no gradient check
  Tolerance float32{1e-4, 1e-5};
  Tolerance float64{1e-10, 1e-12};

  Tolerance tolerance(DType dtype) const { return dtype == DType::Float32 ? float32 : float64; }
};

using compute::binary;
using compute::reduce;
using compute::unary;

Tensor transposed(const Tensor& t) {  // a non-contiguous view of a 2-D tensor
  return t.as_strided_raw({t.shape()[1], t.shape()[0]}, {t.strides()[1], t.strides()[0]}, t.offset());
}

// The shape NumPy broadcasting gives the inputs.
Shape broadcast_shape(const std::vector<Tensor>& inputs) {
  Shape out;
  for (const Tensor& t : inputs) {
    if (t.dim() > static_cast<int64_t>(out.size())) out.insert(out.begin(), t.dim() - out.size(), 1);
    const size_t lead = out.size() - t.shape().size();
    for (size_t i = 0; i < t.shape().size(); ++i) {
      if (t.shape()[i] != 1) out[lead + i] = t.shape()[i];
    }
  }
  return out;
}

// A reference that applies f to the broadcast inputs, element by element.
Reference per_element(std::function<double(const std::vector<double>&)> f) {
  return [f](Inputs inputs) {
    const Shape shape = broadcast_shape(inputs);
    std::vector<std::vector<double>> values;
    for (const Tensor& t : inputs) values.push_back(values_of(expanded(t, shape)));
    std::vector<double> out(numel_of(shape));
    std::vector<double> args(inputs.size());
    for (size_t i = 0; i < out.size(); ++i) {
      for (size_t k = 0; k < inputs.size(); ++k) args[k] = values[k][i];
      out[i] = f(args);
    }
    return out;
  };
}

Reference unary_reference(double (*f)(double)) {
  return per_element([f](const std::vector<double>& x) { return f(x[0]); });
}

// A reduction of input 0 over `axes` (all of them when empty), in float64, in row-major order
// of what is kept.
Reference reduce_reference(ReduceOp op, std::vector<int64_t> axes) {
  return [op, axes](Inputs inputs) {
    const Tensor& x = inputs[0];
    std::vector<bool> reduced(x.shape().size(), axes.empty());
    for (int64_t axis : axes) reduced[axis < 0 ? axis + x.dim() : axis] = true;
    Shape kept;
    for (size_t d = 0; d < x.shape().size(); ++d) {
      if (!reduced[d]) kept.push_back(x.shape()[d]);
    }
    const double start = op == ReduceOp::Max   ? -std::numeric_limits<double>::infinity()
                         : op == ReduceOp::Min ? std::numeric_limits<double>::infinity()
                                               : 0.0;
    std::vector<double> out(numel_of(kept), start);
    const double count = static_cast<double>(x.numel()) / static_cast<double>(out.size());
    for_each_index(x.shape(), [&](const std::vector<int64_t>& index) {
      int64_t at = 0;
      for (size_t d = 0; d < index.size(); ++d) {
        if (!reduced[d]) at = at * x.shape()[d] + index[d];
      }
      const double v = element(x, index);
      double& acc = out[at];
      acc = op == ReduceOp::Max ? std::max(acc, v) : op == ReduceOp::Min ? std::min(acc, v) : acc + v;
    });
    if (op == ReduceOp::Mean) {
      for (double& v : out) v /= count;
    }
    return out;
  };
}

std::vector<OpRow> op_table() {
  std::vector<OpRow> rows;
  const Input matrix{{6, 7}};

  // ---- unary: y = f(x) on a 6x7 input -------------------------------------------------------
  const auto add_unary = [&](const std::string& name, UnaryOp op, UnaryParams params, Draw draw, Reference reference,
                             GradcheckFn gradient, std::string not_differentiable = "") {
    OpRow row{name, {{{6, 7}, draw}}, [=](Inputs x) { return unary(op, x[0], params); }, op, reference, gradient};
    row.not_differentiable = not_differentiable;
    rows.push_back(row);
  };
  const auto unary_params = [](double (*f)(double, double, double), double a, double b) {
    return per_element([=](const std::vector<double>& x) { return f(x[0], a, b); });
  };
  add_unary("neg", UnaryOp::Neg, {}, Draw::Normal, unary_reference([](double x) { return -x; }),
            [](Inputs x) { return -x[0]; });
  add_unary("exp", UnaryOp::Exp, {}, Draw::Normal, unary_reference([](double x) { return std::exp(x); }),
            [](Inputs x) { return exp(x[0]); });
  add_unary("log", UnaryOp::Log, {}, Draw::Positive, unary_reference([](double x) { return std::log(x); }),
            [](Inputs x) { return log(x[0]); });
  add_unary("tanh", UnaryOp::Tanh, {}, Draw::Normal, unary_reference([](double x) { return std::tanh(x); }),
            [](Inputs x) { return tanh(x[0]); });
  add_unary("sigmoid", UnaryOp::Sigmoid, {}, Draw::Normal,
            unary_reference([](double x) { return 1.0 / (1.0 + std::exp(-x)); }),
            [](Inputs x) { return sigmoid(x[0]); });
  // Normal draws fall within eps = 1e-6 of relu's and abs's kink at 0 with negligible odds.
  add_unary("relu", UnaryOp::Relu, {}, Draw::Normal, unary_reference([](double x) { return x > 0 ? x : 0.0; }),
            [](Inputs x) { return relu(x[0]); });
  add_unary("sqrt", UnaryOp::Sqrt, {}, Draw::Positive, unary_reference([](double x) { return std::sqrt(x); }),
            [](Inputs x) { return sqrt(x[0]); });
  add_unary("abs", UnaryOp::Abs, {}, Draw::Normal, unary_reference([](double x) { return std::abs(x); }),
            [](Inputs x) { return abs(x[0]); });
  add_unary("sign", UnaryOp::Sign, {}, Draw::Normal,
            unary_reference([](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }), {},
            "a step function: no autograd op");
  add_unary("square", UnaryOp::Square, {}, Draw::Normal, unary_reference([](double x) { return x * x; }),
            [](Inputs x) { return square(x[0]); });
  add_unary("reciprocal", UnaryOp::Reciprocal, {}, Draw::Positive, unary_reference([](double x) { return 1.0 / x; }),
            [](Inputs x) { return 1.0 / x[0]; });
  const auto power = [](double x, double a, double) { return std::pow(x, a); };
  add_unary("pow_scalar", UnaryOp::PowScalar, {1.7, 0.0}, Draw::Positive, unary_params(power, 1.7, 0.0),
            [](Inputs x) { return pow(x[0], 1.7); });
  add_unary("pow_scalar_2", UnaryOp::PowScalar, {2.0, 0.0}, Draw::Normal, unary_params(power, 2.0, 0.0),
            [](Inputs x) { return pow(x[0], 2.0); });
  add_unary("pow_scalar_1", UnaryOp::PowScalar, {1.0, 0.0}, Draw::Normal, unary_params(power, 1.0, 0.0),
            [](Inputs x) { return pow(x[0], 1.0); });
  // Normal draws fall within eps of the bounds with negligible odds.
  add_unary("clamp", UnaryOp::Clamp, {-0.5, 0.7}, Draw::Normal,
            unary_params([](double x, double a, double b) { return std::min(std::max(x, a), b); }, -0.5, 0.7),
            [](Inputs x) { return clamp(x[0], -0.5, 0.7); });
  add_unary("affine", UnaryOp::Affine, {2.5, -1.0}, Draw::Normal,
            unary_params([](double x, double a, double b) { return a * x + b; }, 2.5, -1.0),
            [](Inputs x) { return 2.5 * x[0] + -1.0; });
  add_unary("gt_scalar", UnaryOp::GtScalar, {0.1, 0.0}, Draw::Normal,
            unary_params([](double x, double a, double) { return x > a ? 1.0 : 0.0; }, 0.1, 0.0), {},
            "a step function: no autograd op");
  add_unary("in_range", UnaryOp::InRange, {-0.5, 0.5}, Draw::Normal,
            unary_params([](double x, double a, double b) { return a <= x && x <= b ? 1.0 : 0.0; }, -0.5, 0.5), {},
            "a step function (clamp's derivative mask): no autograd op");
  add_unary("is_finite", UnaryOp::IsFinite, {}, Draw::Normal,
            unary_reference([](double x) { return std::isfinite(x) ? 1.0 : 0.0; }), {},
            "a constant on finite inputs: no autograd op");
  rows.push_back({"exp_of_transposed_view", {matrix}, [](Inputs x) { return unary(UnaryOp::Exp, transposed(x[0])); }});

  // ---- binary: out = f(a, b), both operands broadcast ---------------------------------------
  const auto add_binary = [&](const std::string& name, BinaryOp op, Draw draw, double (*f)(double, double),
                              GradcheckFn gradient, std::string not_differentiable = "") {
    OpRow row{name,
              {{{4, 1, 5}, draw}, {{3, 1}, draw}},
              [=](Inputs x) { return binary(op, x[0], x[1]); },
              op,
              per_element([f](const std::vector<double>& x) { return f(x[0], x[1]); }),
              gradient};
    row.not_differentiable = not_differentiable;
    rows.push_back(row);
  };
  add_binary(
      "add_broadcast", BinaryOp::Add, Draw::Normal, [](double a, double b) { return a + b; },
      [](Inputs x) { return x[0] + x[1]; });
  add_binary(
      "sub_broadcast", BinaryOp::Sub, Draw::Normal, [](double a, double b) { return a - b; },
      [](Inputs x) { return x[0] - x[1]; });
  add_binary(
      "mul_broadcast", BinaryOp::Mul, Draw::Normal, [](double a, double b) { return a * b; },
      [](Inputs x) { return x[0] * x[1]; });
  add_binary(
      "div_broadcast", BinaryOp::Div, Draw::Positive, [](double a, double b) { return a / b; },
      [](Inputs x) { return x[0] / x[1]; });
  add_binary(
      "pow_broadcast", BinaryOp::Pow, Draw::Positive, [](double a, double b) { return std::pow(a, b); },
      [](Inputs x) { return pow(x[0], x[1]); });
  add_binary(
      "maximum_broadcast", BinaryOp::Maximum, Draw::Normal, [](double a, double b) { return std::max(a, b); },
      [](Inputs x) { return maximum(x[0], x[1]); });
  add_binary(
      "minimum_broadcast", BinaryOp::Minimum, Draw::Normal, [](double a, double b) { return std::min(a, b); }, {},
      "no autograd op (maximum's gradient covers the selection)");
  const std::string comparison = "a comparison: no autograd op";
  add_binary(
      "eq_broadcast", BinaryOp::Eq, Draw::Normal, [](double a, double b) { return a == b ? 1.0 : 0.0; }, {},
      comparison);
  add_binary(
      "gt_broadcast", BinaryOp::Gt, Draw::Normal, [](double a, double b) { return a > b ? 1.0 : 0.0; }, {}, comparison);
  add_binary(
      "ge_broadcast", BinaryOp::Ge, Draw::Normal, [](double a, double b) { return a >= b ? 1.0 : 0.0; }, {},
      comparison);
  add_binary(
      "lt_broadcast", BinaryOp::Lt, Draw::Normal, [](double a, double b) { return a < b ? 1.0 : 0.0; }, {}, comparison);
  add_binary(
      "le_broadcast", BinaryOp::Le, Draw::Normal, [](double a, double b) { return a <= b ? 1.0 : 0.0; }, {},
      comparison);
  // Equal operands for the comparisons: x compared with a copy of itself.
  rows.push_back({"eq_ge_le_of_equal_operands",
                  {matrix},
                  [](Inputs x) {
                    const Tensor copy = compute::contiguous(transposed(transposed(x[0])));
                    return binary(
                        BinaryOp::Add, binary(BinaryOp::Eq, x[0], copy),
                        binary(BinaryOp::Sub, binary(BinaryOp::Ge, x[0], copy), binary(BinaryOp::Le, x[0], copy)));
                  },
                  {},
                  per_element([](const std::vector<double>&) { return 1.0; })});
  rows.push_back({"mul_scalar_operand",
                  {{{4, 5}}, {{}}},
                  [](Inputs x) { return binary(BinaryOp::Mul, x[0], x[1]); },
                  {},
                  per_element([](const std::vector<double>& x) { return x[0] * x[1]; }),
                  [](Inputs x) { return x[0] * x[1]; }});
  rows.push_back({"where_broadcast",
                  {{{4, 5}}, {{4, 5}}, {{5}}},
                  [](Inputs x) {
                    return compute::where(unary(UnaryOp::GtScalar, x[0], {0.0, 0.0}), x[1], x[2]);
                  },
                  {},
                  per_element([](const std::vector<double>& x) { return x[0] > 0.0 ? x[1] : x[2]; })});
  rows.push_back({"axpby", {matrix, matrix}, [](Inputs x) {
                    Tensor out = compute::contiguous(x[1]);
                    backend_of(out).axpby(out, 0.75, x[0], -1.5);
                    return out;
                  }});

  // ---- reductions ---------------------------------------------------------------------------
  const auto add_reduce = [&](const std::string& name, ReduceOp op, std::vector<int64_t> axes, GradcheckFn gradient,
                              std::string not_differentiable = "") {
    OpRow row{
        name,    {{{4, 5, 6}}}, [=](Inputs x) { return reduce(op, x[0], axes, false); }, op, reduce_reference(op, axes),
        gradient};
    row.not_differentiable = not_differentiable;
    rows.push_back(row);
  };
  add_reduce("sum_all", ReduceOp::Sum, {}, [](Inputs x) { return sum(x[0]); });
  add_reduce("sum_axis0", ReduceOp::Sum, {0}, [](Inputs x) { return sum(x[0], {0}); });
  add_reduce("sum_axis2", ReduceOp::Sum, {2}, [](Inputs x) { return sum(x[0], {2}); });
  add_reduce("sum_axes02", ReduceOp::Sum, {0, 2}, [](Inputs x) { return sum(x[0], {0, 2}, true); });
  add_reduce("mean_axis1", ReduceOp::Mean, {1}, [](Inputs x) { return mean(x[0], {1}); });
  add_reduce("mean_all", ReduceOp::Mean, {}, [](Inputs x) { return mean(x[0]); });
  add_reduce("max_axis2", ReduceOp::Max, {2}, [](Inputs x) { return max(x[0], 2); });
  add_reduce("min_axes01", ReduceOp::Min, {0, 1}, {}, "no autograd op (max's gradient covers the selection)");
  const Tolerance long_sum32{1e-3, 1e-4}, long_sum64{1e-9, 1e-11};  // the devices add in different orders
  rows.push_back({"sum_long_rows",
                  {{{3, 5000}}},
                  [](Inputs x) { return reduce(ReduceOp::Sum, x[0], {1}, true); },
                  {},
                  reduce_reference(ReduceOp::Sum, {1}),
                  {},
                  "",
                  long_sum32,
                  long_sum64});
  rows.push_back({"sum_columns_of_tall",
                  {{{3000, 40}}},
                  [](Inputs x) { return reduce(ReduceOp::Sum, x[0], {0}, false); },
                  {},
                  reduce_reference(ReduceOp::Sum, {0}),
                  {},
                  "",
                  long_sum32,
                  long_sum64});
  rows.push_back({"sum_to_bias",
                  {{{8, 3, 5}}},
                  [](Inputs x) {
                    return compute::sum_to(x[0], {1, 5});
                  },
                  {},
                  reduce_reference(ReduceOp::Sum, {0, 1})});
  rows.push_back({"sum_of_transposed_view", {matrix}, [](Inputs x) {
                    return reduce(ReduceOp::Sum, transposed(x[0]), {1}, false);
                  }});
  rows.push_back({"argmax_axis1", {{{5, 9, 3}}}, [](Inputs x) { return compute::argmax(x[0], 1, false); }});

  // ---- softmax, indexing, GEMM --------------------------------------------------------------
  for (int64_t axis : {-1, 0}) {
    for (SoftmaxKind kind : {SoftmaxKind::Plain, SoftmaxKind::Log}) {
      const bool log = kind == SoftmaxKind::Log;
      const std::string name = std::string(log ? "log_softmax" : "softmax") + (axis == 0 ? "_axis0" : "_last");
      // 300-wide rows in the backward's forward; narrower ones here, for central differences.
      OpRow row{name, {{{7, 30}}}, [=](Inputs x) { return compute::softmax(x[0], axis, kind); }};
      row.gradient = [=](Inputs x) { return log ? log_softmax(x[0], axis) : softmax(x[0], axis); };
      rows.push_back(row);
      rows.push_back({name + "_backward", {{{7, 300}}, {{7, 300}}}, [=](Inputs x) {
                        return compute::softmax_backward(compute::softmax(x[0], axis, kind), x[1], axis, kind);
                      }});
    }
  }
  rows.push_back({"index_select_rows",
                  {{{9, 6}}, {{13}, Draw::Index, 9}},
                  [](Inputs x) { return compute::index_select(x[0], 0, x[1]); },
                  {},
                  {},
                  [](Inputs x) { return index_select(x[0], 0, x[1]); }});
  rows.push_back({"index_select_axis1",
                  {{{4, 9, 3}}, {{5}, Draw::Index, 9}},
                  [](Inputs x) { return compute::index_select(x[0], 1, x[1]); },
                  {},
                  {},
                  [](Inputs x) { return index_select(x[0], 1, x[1]); }});
  rows.push_back({"index_add_repeated", {{{40, 6}}, {{40}, Draw::Index, 5}}, [](Inputs x) {
                    return compute::index_add({5, 6}, 0, x[1], x[0]);
                  }});

  rows.push_back({"matmul",
                  {{{5, 7}}, {{7, 3}}},
                  [](Inputs x) { return compute::matmul(x[0], x[1]); },
                  {},
                  {},
                  [](Inputs x) { return matmul(x[0], x[1]); }});
  rows.push_back({"matmul_transposed", {{{7, 5}}, {{3, 7}}}, [](Inputs x) {
                    return compute::matmul(x[0], x[1], Transpose::Yes, Transpose::Yes);
                  }});
  rows.push_back(
      {"matmul_of_views", {{{7, 5}}, {{7, 3}}}, [](Inputs x) { return compute::matmul(transposed(x[0]), x[1]); }});
  rows.push_back({"matmul_batched",
                  {{{4, 5, 7}}, {{4, 7, 3}}},
                  [](Inputs x) { return compute::matmul(x[0], x[1]); },
                  {},
                  {},
                  [](Inputs x) { return matmul(x[0], x[1]); }});
  rows.push_back({"matmul_batch_broadcast", {{{4, 5, 7}}, {{1, 3, 7}}}, [](Inputs x) {
                    return compute::matmul(x[0], x[1], Transpose::No, Transpose::Yes);
                  }});
  rows.push_back({"gemm_accumulate", {{{5, 7}}, {{7, 3}}, {{5, 3}}}, [](Inputs x) {
                    Tensor c = compute::contiguous(x[2]);
                    backend_of(c).gemm(c, x[0], Transpose::No, x[1], Transpose::No, 0.5, 2.0);
                    return c;
                  }});

  // ---- copies and conversions ---------------------------------------------------------------
  rows.push_back({"concat_axis1",
                  {{{3, 2}}, {{3, 5}}},
                  [](Inputs x) {
                    return compute::concat({x[0], x[1]}, 1);
                  },
                  {},
                  {},
                  [](Inputs x) {
                    return concat({x[0], x[1]}, 1);
                  }});
  rows.push_back(
      {"contiguous_of_transposed", {matrix}, [](Inputs x) { return compute::contiguous(transposed(x[0])); }});
  rows.push_back({"through_float16", {matrix}, [](Inputs x) {
                    return compute::convert(compute::convert(x[0], DType::Float16, x[0].device()), x[0].dtype(),
                                            x[0].device());
                  }});
  rows.push_back({"through_bfloat16", {matrix}, [](Inputs x) {
                    return compute::convert(compute::convert(x[0], DType::BFloat16, x[0].device()), x[0].dtype(),
                                            x[0].device());
                  }});
  rows.push_back({"to_int64", {matrix}, [](Inputs x) {
                    return compute::convert(unary(UnaryOp::Affine, x[0], {10.0, 0.0}), DType::Int64, x[0].device());
                  }});
  rows.push_back({"fill_strided_view", {matrix}, [](Inputs x) {
                    Tensor out = compute::contiguous(x[0]);
                    Tensor view = transposed(out);
                    view.as_strided_raw({7, 3}, {view.strides()[0], view.strides()[1] * 2}, view.offset()).fill_(4.5);
                    return out;
                  }});

  // ---- fused ops: cross entropy (rows 3 are ignored), per-tensor norms, and every optimizer's
  // multi-tensor update over two parameters (one spanning two chunks of the GPU kernel) -------
  for (double eps : {0.0, 0.1}) {
    const std::string suffix = eps > 0.0 ? "_smoothed" : "";
    const Input logits{{37, 50}}, target{{37}, Draw::Index, 50};
    rows.push_back({"cross_entropy_loss" + suffix, {logits, target}, [=](Inputs x) {
                      return compute::cross_entropy(x[0], x[1], 3, eps).first;
                    }});
    rows.push_back({"cross_entropy_logp" + suffix, {logits, target}, [=](Inputs x) {
                      return compute::cross_entropy(x[0], x[1], 3, eps).second;
                    }});
    rows.push_back({"cross_entropy_backward" + suffix, {logits, target, {{37}}}, [=](Inputs x) {
                      const Tensor logp = compute::cross_entropy(x[0], x[1], 3, eps).second;
                      return compute::cross_entropy_backward(logp, x[1], x[2], 3, eps);
                    }});
  }
  for (double p : {2.0, 1.0, 3.5, std::numeric_limits<double>::infinity()}) {
    rows.push_back({"norm_parts_p" + std::to_string(p),
                    {{{3000, 5}}, {{7}}, {{0}}, {{4100}}},
                    [=](Inputs x) { return compute::norm_parts(x, p); },
                    {},
                    {},
                    {},
                    "",
                    long_sum32,
                    long_sum64});
  }
  const auto add_optimizer = [&](const std::string& name, OptimizerKind kind, OptimizerCoeffs coeffs,
                                 std::vector<int> slots) {
    // inputs: p0, g0, p1, g1, then the used buffers of p0, then those of p1 (positive draws).
    std::vector<Input> inputs = {{{5000}}, {{5000}}, {{3, 2}}, {{3, 2}}};
    for (const Shape& shape : {Shape{5000}, Shape{3, 2}}) {
      for (size_t k = 0; k < slots.size(); ++k) inputs.push_back({shape, Draw::Positive});
    }
    rows.push_back({name, inputs, [=](Inputs x) {
                      std::vector<ParamUpdate> updates(2);
                      std::vector<Tensor> results;
                      size_t next = 4;
                      for (size_t j = 0; j < 2; ++j) {
                        updates[j].param = compute::contiguous(x[2 * j]);
                        updates[j].grad = x[2 * j + 1];
                        updates[j].coeffs = coeffs;
                        results.push_back(updates[j].param);
                        for (int slot : slots) {
                          // RMSprop's grad_avg small enough that square_avg - grad_avg^2 stays positive.
                          const double scale = kind == OptimizerKind::RMSprop && slot == 1 ? 0.1 : 1.0;
                          updates[j].buffers[slot] = unary(UnaryOp::Affine, x[next++], {scale, 0.0});
                          results.push_back(updates[j].buffers[slot]);
                        }
                      }
                      compute::optimizer_update(kind, updates);
                      std::vector<Tensor> flat;
                      for (const Tensor& t : results) flat.push_back(t.reshape({t.numel()}));
                      return compute::concat(flat, 0);
                    }});
  };
  OptimizerCoeffs sgd;
  sgd.neg_lr = -0.1, sgd.weight_decay = 0.01, sgd.l2 = true, sgd.momentum = 0.9, sgd.one_minus_dampening = 0.8;
  add_optimizer("sgd_momentum", OptimizerKind::SGD, sgd, {0});
  sgd.nesterov = true, sgd.one_minus_dampening = 1.0;
  add_optimizer("sgd_nesterov", OptimizerKind::SGD, sgd, {0});
  add_optimizer("sgd_plain", OptimizerKind::SGD, OptimizerCoeffs{.neg_lr = -0.1}, {});
  OptimizerCoeffs adam;
  adam.neg_lr = -0.01 / (1 - 0.9 * 0.9), adam.bias_correction2_sqrt = std::sqrt(1 - 0.999 * 0.999);
  adam.beta1 = 0.9, adam.one_minus_beta1 = 0.1, adam.beta2 = 0.999, adam.one_minus_beta2 = 0.001, adam.eps = 1e-8;
  adam.weight_decay = 0.01, adam.l2 = true;
  add_optimizer("adam", OptimizerKind::Adam, adam, {0, 1});
  add_optimizer("adam_amsgrad", OptimizerKind::Adam, adam, {0, 1, 2});
  adam.l2 = false, adam.decoupled = true, adam.decay_factor = 1 - 0.01 * 0.01;
  add_optimizer("adamw", OptimizerKind::Adam, adam, {0, 1});
  OptimizerCoeffs rmsprop;
  rmsprop.neg_lr = -0.01, rmsprop.beta2 = 0.99, rmsprop.one_minus_beta2 = 0.01, rmsprop.eps = 1e-8;
  add_optimizer("rmsprop", OptimizerKind::RMSprop, rmsprop, {0});
  rmsprop.momentum = 0.5;
  add_optimizer("rmsprop_centered_momentum", OptimizerKind::RMSprop, rmsprop, {0, 1, 2});
  OptimizerCoeffs adagrad;
  adagrad.neg_lr = -0.05, adagrad.eps = 1e-10, adagrad.weight_decay = 0.1, adagrad.l2 = true;
  add_optimizer("adagrad", OptimizerKind::Adagrad, adagrad, {0});
  return rows;
}

// The row's inputs, drawn on the CPU from a fixed seed.
std::vector<Tensor> cpu_inputs(const OpRow& row, DType dtype, uint64_t seed) {
  Generator generator(seed);
  std::vector<Tensor> inputs;
  for (const Input& input : row.inputs) {
    if (input.draw == Draw::Index) {
      Tensor u = rand(input.shape, TensorOptions{}.with_dtype(DType::Float64), &generator, 0.0,
                      static_cast<double>(input.index_limit) - 1e-9);
      inputs.push_back(compute::convert(u, DType::Int64, Device::cpu()));
      continue;
    }
    Tensor x = randn(input.shape, TensorOptions{}.with_dtype(dtype), &generator);
    if (input.draw == Draw::Positive) x = unary(UnaryOp::Affine, unary(UnaryOp::Abs, x), {1.0, 0.25});
    inputs.push_back(x);
  }
  return inputs;
}

// The same values in memory laid out with the axes reversed (not contiguous beyond one axis).
Tensor with_reversed_layout(const Tensor& t) {
  const Shape reversed(t.shape().rbegin(), t.shape().rend());
  const Tensor base = empty(reversed, TensorOptions{}.with_dtype(t.dtype()));
  const Strides strides(base.strides().rbegin(), base.strides().rend());
  Tensor view = base.as_strided_raw(t.shape(), strides, 0);
  backend_of(view).copy(view, t);
  return view;
}

// Every element within atol + rtol * |want|; NaN only where NaN is wanted.
void expect_close(const std::vector<double>& want, const std::vector<double>& got, Tolerance tolerance,
                  const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < want.size() && reported < 5; ++i) {
    const bool both_nan = std::isnan(want[i]) && std::isnan(got[i]);
    if (!both_nan && !(std::abs(want[i] - got[i]) <= tolerance.atol + tolerance.rtol * std::abs(want[i]))) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected " << want[i];
      ++reported;
    }
  }
}

std::string code_name(const OpCode& code) {
  if (const auto* op = std::get_if<UnaryOp>(&code)) return "UnaryOp " + std::string(op_name(*op));
  if (const auto* op = std::get_if<BinaryOp>(&code)) return "BinaryOp " + std::string(op_name(*op));
  if (const auto* op = std::get_if<ReduceOp>(&code)) return "ReduceOp " + std::string(op_name(*op));
  return "no code";
}

// Every code of an op enum, found as the values 0..255 that op_name knows (its switch has one
// case per code, and backends/op_names.cpp makes a missing case a compile error).
template <typename Op> std::vector<Op> every_code(std::string_view unknown_name) {
  std::vector<Op> codes;
  for (int value = 0; value < 256; ++value) {
    const Op op = static_cast<Op>(value);
    if (op_name(op) != unknown_name) codes.push_back(op);
  }
  return codes;
}

TEST(BackendOps, EveryOpCodeHasARowWithAReferenceAndAGradientDecision) {
  const std::vector<OpRow> rows = op_table();
  std::vector<OpCode> codes;
  for (UnaryOp op : every_code<UnaryOp>("unary")) codes.emplace_back(op);
  for (BinaryOp op : every_code<BinaryOp>("binary")) codes.emplace_back(op);
  for (ReduceOp op : every_code<ReduceOp>("reduce")) codes.emplace_back(op);
  EXPECT_GE(codes.size(), 30u) << "op_name no longer names the codes";
  std::vector<std::string> missing;
  for (const OpCode& code : codes) {
    bool found = false;
    for (const OpRow& row : rows) found = found || row.code == code;
    if (!found) missing.push_back(code_name(code));
  }
  std::string listed;
  for (const std::string& name : missing) listed += (listed.empty() ? "" : ", ") + name;
  EXPECT_TRUE(missing.empty()) << "op codes without a row in op_table(): " << listed;
  for (const OpRow& row : rows) {
    if (std::holds_alternative<std::monostate>(row.code)) continue;
    EXPECT_TRUE(row.reference) << row.name << " (" << code_name(row.code) << ") has no reference";
    EXPECT_TRUE(row.gradient || !row.not_differentiable.empty())
        << row.name << " (" << code_name(row.code) << ") has neither an autograd op nor a reason for none";
  }
}

TEST(BackendOps, CpuMatchesTheReference) {
  uint64_t seed = 100;
  for (const OpRow& row : op_table()) {
    if (!row.reference) continue;
    for (DType dtype : {DType::Float32, DType::Float64}) {
      const std::vector<Tensor> inputs = cpu_inputs(row, dtype, ++seed);
      const std::vector<double> want = row.reference(inputs);
      const std::string what = row.name + " in " + std::string(dtype_name(dtype));
      expect_close(want, values_of(row.run(inputs)), row.tolerance(dtype), what);
      std::vector<Tensor> relaid;
      for (const Tensor& x : inputs) relaid.push_back(with_reversed_layout(x));
      expect_close(want, values_of(row.run(relaid)), row.tolerance(dtype), what + ", inputs laid out reversed");
    }
  }
}

// Every row runs on the CPU and gives a finite result, so a failure on a GPU machine points at
// the CUDA backend, not at the row.
TEST(BackendOps, EveryRowRunsOnTheCpu) {
  uint64_t seed = 100;
  for (const OpRow& row : op_table()) {
    for (DType dtype : {DType::Float32, DType::Float64}) {
      const Tensor result = row.run(cpu_inputs(row, dtype, ++seed));
      for (double value : result.to_vector<double>()) ASSERT_TRUE(std::isfinite(value)) << row.name;
    }
  }
}

TEST(BackendOps, GradientsMatchFiniteDifferences) {
  uint64_t seed = 500;
  for (const OpRow& row : op_table()) {
    if (!row.gradient) continue;
    std::vector<Tensor> inputs = cpu_inputs(row, DType::Float64, ++seed);
    for (Tensor& x : inputs) {
      if (x.dtype() == DType::Float64) x.requires_grad_();
    }
    const GradcheckResult result = gradcheck(row.gradient, inputs);
    EXPECT_TRUE(result.ok) << row.name << ": " << result.report << "max abs error " << result.max_abs_error;
    EXPECT_GT(result.checked, 0) << row.name;
  }
}

TEST(BackendOps, CudaMatchesTheCpu) {
  std::string why;
  if (cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device: " << why;
  uint64_t seed = 100;
  for (const OpRow& row : op_table()) {
    for (DType dtype : {DType::Float32, DType::Float64}) {
      const std::vector<Tensor> on_cpu = cpu_inputs(row, dtype, ++seed);
      std::vector<Tensor> on_gpu;
      for (const Tensor& x : on_cpu) on_gpu.push_back(compute::convert(x, x.dtype(), kGpu));
      const Tensor want = row.run(on_cpu);
      const Tensor got = row.run(on_gpu);
      const std::string what = row.name + " in " + std::string(dtype_name(dtype));
      ASSERT_EQ(want.shape(), got.shape()) << what;
      ASSERT_EQ(want.dtype(), got.dtype()) << what;
      ASSERT_TRUE(got.device().is_cuda()) << what << ": the result left the GPU";
      expect_close(want.to_vector<double>(), got.to_vector<double>(), row.tolerance(dtype), what + " on CUDA");
    }
  }
}

}  // namespace
}  // namespace recur
