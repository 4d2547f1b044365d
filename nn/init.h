// Parameter initializers, in place and seeded: each draws from `generator` (the default
// generator, recur::manual_seed, when null) and writes into the tensor's existing storage
// without recording a graph, so module parameters keep their identity. PyTorch's formulas
// (torch.nn.init), with fans as in `_calculate_fan_in_and_fan_out`:
//   fan_in = size(1) * receptive, fan_out = size(0) * receptive, receptive = prod(sizes[2:]).
#pragma once

#include <cstdint>
#include <utility>

#include "core/tensor.h"

namespace recur::nn::init {

enum class FanMode : uint8_t { FanIn, FanOut };
enum class Nonlinearity : uint8_t { Linear, Sigmoid, Tanh, Relu, LeakyRelu, Selu };

// (fan_in, fan_out); throws for tensors with fewer than 2 dimensions.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor);
// The recommended gain: 1 (linear, sigmoid), 5/3 (tanh), sqrt(2) (relu),
// sqrt(2 / (1 + a^2)) (leaky relu with negative slope a), 3/4 (selu).
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);

Tensor& uniform_(Tensor& tensor, double low = 0.0, double high = 1.0, Generator* generator = nullptr);
Tensor& normal_(Tensor& tensor, double mean = 0.0, double std = 1.0, Generator* generator = nullptr);
Tensor& constant_(Tensor& tensor, double value);
Tensor& zeros_(Tensor& tensor);
Tensor& ones_(Tensor& tensor);

// U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).
Tensor& xavier_uniform_(Tensor& tensor, double gain = 1.0, Generator* generator = nullptr);
// N(0, std), std = gain * sqrt(2 / (fan_in + fan_out)).
Tensor& xavier_normal_(Tensor& tensor, double gain = 1.0, Generator* generator = nullptr);
// U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).
// Linear's default is a = sqrt(5) with LeakyRelu: bound = 1 / sqrt(fan_in).
Tensor& kaiming_uniform_(Tensor& tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                         Nonlinearity nonlinearity = Nonlinearity::LeakyRelu, Generator* generator = nullptr);
// N(0, std), std = gain / sqrt(fan).
Tensor& kaiming_normal_(Tensor& tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyRelu, Generator* generator = nullptr);
// gain * Q of the QR decomposition of a standard normal [rows, numel / rows] matrix (transposed
// when wider than tall), with R's diagonal made positive: orthonormal rows or columns. Computed
// in float64 on the CPU (modified Gram-Schmidt, two passes).
Tensor& orthogonal_(Tensor& tensor, double gain = 1.0, Generator* generator = nullptr);

}  // namespace recur::nn::init
