// Scalars in a state dict: 0-d float64 tensors for hyper-parameters, 0-d int64 tensors for
// counts, so that they are saved and restored exactly (safetensors keeps the raw bytes).
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "core/state_dict.h"

namespace recur::optim::detail {

Tensor float64_scalar(double value);
Tensor int64_scalar(int64_t value);

// Reads dict[key] as a one-element float64 / int64 tensor; recur::Error naming `owner` and the
// key when it is missing or of another dtype or size.
double read_float64(const StateDict& dict, const std::string& key, const std::string& owner);
int64_t read_int64(const StateDict& dict, const std::string& key, const std::string& owner);
// A 1-D float64 tensor and back.
Tensor float64_vector(const std::vector<double>& values);
std::vector<double> read_float64_vector(const StateDict& dict, const std::string& key, const std::string& owner);
// A 1-D int64 tensor and back.
Tensor int64_vector(const std::vector<int64_t>& values);
std::vector<int64_t> read_int64_vector(const StateDict& dict, const std::string& key, const std::string& owner);

}  // namespace recur::optim::detail
