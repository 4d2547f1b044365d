#include "optim/state_values.h"

#include <cstring>

#include "backends/compute.h"

namespace recur::optim::detail {
namespace {

// The entry as a contiguous CPU tensor of the expected dtype.
Tensor host_entry(const StateDict& dict, const std::string& key, DType dtype, const std::string& owner) {
  const auto it = dict.find(key);
  RECUR_CHECK(it != dict.end(), "{}: the state dict has no '{}'", owner, key);
  Tensor tensor = it->second;
  RECUR_CHECK(tensor.defined(), "{}: state dict entry '{}' is undefined", owner, key);
  RECUR_CHECK(tensor.dtype() == dtype, "{}: state dict entry '{}' is {}, expected {}", owner, key, tensor.describe(),
              dtype);
  if (!tensor.device().is_cpu()) tensor = compute::convert(tensor.detach(), dtype, Device::cpu());
  if (!tensor.is_contiguous()) tensor = compute::contiguous(tensor.detach());
  return tensor;
}

template <typename T> Tensor scalar_of(T value) {
  Tensor tensor = make_contiguous_tensor({}, dtype_of<T>(), Device::cpu());
  *tensor.data<T>() = value;
  return tensor;
}

template <typename T> T read_scalar(const StateDict& dict, const std::string& key, const std::string& owner) {
  const Tensor tensor = host_entry(dict, key, dtype_of<T>(), owner);
  RECUR_CHECK(tensor.numel() == 1, "{}: state dict entry '{}' is {}, expected one number", owner, key,
              tensor.describe());
  return *tensor.data<T>();
}

template <typename T> Tensor vector_of(const std::vector<T>& values) {
  Tensor tensor = make_contiguous_tensor({static_cast<int64_t>(values.size())}, dtype_of<T>(), Device::cpu());
  if (!values.empty()) std::memcpy(tensor.raw_data(), values.data(), values.size() * sizeof(T));
  return tensor;
}

template <typename T>
std::vector<T> read_vector(const StateDict& dict, const std::string& key, const std::string& owner) {
  const Tensor tensor = host_entry(dict, key, dtype_of<T>(), owner);
  RECUR_CHECK(tensor.dim() == 1, "{}: state dict entry '{}' is {}, expected a 1-D tensor", owner, key,
              tensor.describe());
  const T* data = tensor.numel() > 0 ? tensor.data<T>() : nullptr;
  return std::vector<T>(data, data + tensor.numel());
}

}  // namespace

Tensor float64_scalar(double value) { return scalar_of(value); }
Tensor int64_scalar(int64_t value) { return scalar_of(value); }

double read_float64(const StateDict& dict, const std::string& key, const std::string& owner) {
  return read_scalar<double>(dict, key, owner);
}

int64_t read_int64(const StateDict& dict, const std::string& key, const std::string& owner) {
  return read_scalar<int64_t>(dict, key, owner);
}

Tensor float64_vector(const std::vector<double>& values) { return vector_of(values); }
Tensor int64_vector(const std::vector<int64_t>& values) { return vector_of(values); }

std::vector<double> read_float64_vector(const StateDict& dict, const std::string& key, const std::string& owner) {
  return read_vector<double>(dict, key, owner);
}

std::vector<int64_t> read_int64_vector(const StateDict& dict, const std::string& key, const std::string& owner) {
  return read_vector<int64_t>(dict, key, owner);
}

}  // namespace recur::optim::detail
