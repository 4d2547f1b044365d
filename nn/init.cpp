// Initializers: draw into a fresh tensor, then copy into the parameter's storage.
#include "nn/init.h"

#include <cmath>
#include <vector>

#include "autograd/grad_mode.h"

namespace recur::nn::init {

namespace {

void check_floating(const Tensor& tensor, const char* what) {
  RECUR_CHECK(tensor.defined(), "{}: the tensor is undefined", what);
  RECUR_CHECK(is_floating(tensor.dtype()), "{}: expected a floating-point tensor, got {}", what, tensor.describe());
}

// Draws in float64 for float64 tensors, else in float32 (half types are converted by copy_).
TensorOptions draw_options(const Tensor& tensor) {
  return TensorOptions{}
      .with_dtype(tensor.dtype() == DType::Float64 ? DType::Float64 : DType::Float32)
      .with_device(tensor.device());
}

// Writes values into tensor's storage without recording a graph.
Tensor& assign(Tensor& tensor, const Tensor& values) {
  NoGradGuard no_grad;
  Tensor destination = tensor.detach();
  destination.copy_(values);
  return tensor;
}

double fan_of(const Tensor& tensor, FanMode mode) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  return static_cast<double>(mode == FanMode::FanIn ? fan_in : fan_out);
}

}  // namespace

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  RECUR_CHECK(tensor.defined() && tensor.dim() >= 2,
              "fan in and fan out need a tensor with at least 2 dimensions, got {}",
              tensor.defined() ? tensor.describe() : std::string("an undefined tensor"));
  int64_t receptive = 1;
  for (int64_t axis = 2; axis < tensor.dim(); ++axis) receptive *= tensor.size(axis);
  return {tensor.size(1) * receptive, tensor.size(0) * receptive};
}

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::Relu: return std::sqrt(2.0);
    case Nonlinearity::LeakyRelu: return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::Selu: return 3.0 / 4.0;
  }
  return 1.0;
}

Tensor& uniform_(Tensor& tensor, double low, double high, Generator* generator) {
  check_floating(tensor, "uniform_");
  RECUR_CHECK(low <= high, "uniform_: expected low <= high, got low={} high={}", low, high);
  return assign(tensor, rand(tensor.shape(), draw_options(tensor), generator, low, high));
}

Tensor& normal_(Tensor& tensor, double mean, double std, Generator* generator) {
  check_floating(tensor, "normal_");
  RECUR_CHECK(std >= 0.0, "normal_: expected std >= 0, got {}", std);
  return assign(tensor, randn(tensor.shape(), draw_options(tensor), generator, mean, std));
}

Tensor& constant_(Tensor& tensor, double value) {
  check_floating(tensor, "constant_");
  NoGradGuard no_grad;
  Tensor destination = tensor.detach();
  destination.fill_(value);
  return tensor;
}

Tensor& zeros_(Tensor& tensor) { return constant_(tensor, 0.0); }
Tensor& ones_(Tensor& tensor) { return constant_(tensor, 1.0); }

// a = gain * sqrt(6 / (fan_in + fan_out)) = sqrt(3) * std
Tensor& xavier_uniform_(Tensor& tensor, double gain, Generator* generator) {
  check_floating(tensor, "xavier_uniform_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double a = std::sqrt(3.0) * std;
  return uniform_(tensor, -a, a, generator);
}

// std = gain * sqrt(2 / (fan_in + fan_out))
Tensor& xavier_normal_(Tensor& tensor, double gain, Generator* generator) {
  check_floating(tensor, "xavier_normal_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_(tensor, 0.0, std, generator);
}

// bound = sqrt(3) * gain / sqrt(fan)
Tensor& kaiming_uniform_(Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity, Generator* generator) {
  check_floating(tensor, "kaiming_uniform_");
  const double fan = fan_of(tensor, mode);
  RECUR_CHECK(fan > 0, "kaiming_uniform_: zero fan for {}", tensor.describe());
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan);
  const double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, generator);
}

// std = gain / sqrt(fan)
Tensor& kaiming_normal_(Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity, Generator* generator) {
  check_floating(tensor, "kaiming_normal_");
  const double fan = fan_of(tensor, mode);
  RECUR_CHECK(fan > 0, "kaiming_normal_: zero fan for {}", tensor.describe());
  return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(fan), generator);
}

Tensor& orthogonal_(Tensor& tensor, double gain, Generator* generator) {
  check_floating(tensor, "orthogonal_");
  RECUR_CHECK(tensor.dim() >= 2, "orthogonal_: expected a tensor with at least 2 dimensions, got {}",
              tensor.describe());
  if (tensor.numel() == 0) return tensor;
  const int64_t rows = tensor.size(0), cols = tensor.numel() / rows;
  const std::vector<double> drawn =
      randn({rows, cols}, TensorOptions{}.with_dtype(DType::Float64), generator).to_vector<double>();

  // A [m, n], m >= n: the drawn matrix, transposed when it is wider than tall. Column j of A is
  // a[j * m + i] (column-major, so Gram-Schmidt walks contiguous columns).
  const bool wide = rows < cols;
  const int64_t m = wide ? cols : rows, n = wide ? rows : cols;
  std::vector<double> q(static_cast<size_t>(m * n));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      // wide: A[c, r] is element c of column r; else A[r, c] is element r of column c
      const size_t at = static_cast<size_t>(wide ? r * m + c : c * m + r);
      q[at] = drawn[static_cast<size_t>(r * cols + c)];
    }
  }
  // Modified Gram-Schmidt, twice per column ("twice is enough"): q_j = (a_j - sum_k <q_k, a_j> q_k)
  // / norm. R's diagonal is then the positive norm, the sign convention PyTorch enforces with
  // q *= sign(diag(R)).
  for (int64_t j = 0; j < n; ++j) {
    double* column = &q[static_cast<size_t>(j * m)];
    for (int pass = 0; pass < 2; ++pass) {
      for (int64_t k = 0; k < j; ++k) {
        const double* basis = &q[static_cast<size_t>(k * m)];
        double dot = 0.0;
        for (int64_t i = 0; i < m; ++i) dot += basis[i] * column[i];
        for (int64_t i = 0; i < m; ++i) column[i] -= dot * basis[i];
      }
    }
    double norm = 0.0;
    for (int64_t i = 0; i < m; ++i) norm += column[i] * column[i];
    norm = std::sqrt(norm);
    RECUR_CHECK(norm > 0.0, "orthogonal_: the random matrix for {} is rank deficient", tensor.describe());
    for (int64_t i = 0; i < m; ++i) column[i] /= norm;
  }

  std::vector<double> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const double value = wide ? q[static_cast<size_t>(r * m + c)] : q[static_cast<size_t>(c * m + r)];
      out[static_cast<size_t>(r * cols + c)] = gain * value;
    }
  }
  return assign(tensor, from_vector<double>(out, tensor.shape(), TensorOptions{}.with_dtype(DType::Float64)));
}

}  // namespace recur::nn::init
