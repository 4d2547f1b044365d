#include "nn/data_parallel.h"

#include <fmt/format.h>

#include <chrono>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"

namespace recur::nn {

namespace {

uint64_t fnv1a(uint64_t hash, const void* bytes, size_t count) {
  const auto* data = static_cast<const unsigned char*>(bytes);
  for (size_t i = 0; i < count; ++i) {
    hash ^= data[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

// In place, through a contiguous copy where the tensor is a strided view.
void broadcast_from_root(distributed::ProcessGroup& group, Tensor& tensor) {
  if (tensor.is_contiguous()) {
    group.broadcast(tensor, 0);
    return;
  }
  Tensor copy = tensor.contiguous();
  group.broadcast(copy, 0);
  tensor.copy_(copy);
}

}  // namespace

DataParallel::DataParallel(distributed::ProcessGroup& group, std::vector<Tensor> parameters)
    : group_(group), parameters_(std::move(parameters)) {
  for (const Tensor& parameter : parameters_) {
    RECUR_CHECK(parameter.defined(), "DataParallel: an undefined parameter");
    RECUR_CHECK(parameter.dtype() == parameters_.front().dtype() && parameter.device() == parameters_.front().device(),
                "DataParallel: every parameter must have one dtype and device: {} and {}",
                parameters_.front().describe(), parameter.describe());
    total_elements_ += parameter.numel();
  }
}

void DataParallel::broadcast_parameters() {
  if (size() == 1) return;
  NoGradGuard no_grad;
  for (Tensor& parameter : parameters_) {
    Tensor data = parameter.detach();
    broadcast_from_root(group_, data);
  }
}

void DataParallel::broadcast_state(StateDict& state) {
  if (size() == 1) return;
  std::string layout;
  for (const auto& [name, tensor] : state) layout += fmt::format("{} {}\n", name, tensor.describe());
  const std::vector<std::string> layouts = group_.all_gather(layout);  // every rank refuses alike
  for (size_t r = 1; r < layouts.size(); ++r) {
    RECUR_CHECK(layouts[r] == layouts[0], "rank {} holds another state than rank 0: rank 0's is\n{}rank {}'s is\n{}", r,
                layouts[0], r, layouts[r]);
  }
  for (auto& [name, tensor] : state) broadcast_from_root(group_, tensor);
}

void DataParallel::average_gradients() {
  if (size() == 1) return;
  NoGradGuard no_grad;
  if (!flat_.defined()) {
    flat_ = empty({total_elements_},
                  TensorOptions{}.with_dtype(parameters_.front().dtype()).with_device(parameters_.front().device()));
  }
  int64_t offset = 0;
  for (const Tensor& parameter : parameters_) {
    Tensor segment = flat_.narrow(0, offset, parameter.numel());
    const Tensor grad = parameter.grad();
    if (grad.defined()) {
      segment.copy_(grad.reshape({parameter.numel()}));
    } else {
      segment.zero_();
    }
    offset += parameter.numel();
  }
  const auto start = std::chrono::steady_clock::now();
  group_.all_reduce_sum(flat_);
  all_reduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Tensor average = mul_scalar(flat_, 1.0 / static_cast<double>(size()));
  offset = 0;
  for (Tensor& parameter : parameters_) {
    const Tensor segment = average.narrow(0, offset, parameter.numel()).reshape(parameter.shape());
    Tensor grad = parameter.grad();
    if (grad.defined()) {
      grad.copy_(segment);
    } else {
      parameter.set_grad(segment.clone());
    }
    offset += parameter.numel();
  }
}

std::vector<double> DataParallel::sum(std::vector<double> values) const {
  return distributed::all_reduce_sum(group_, std::move(values));
}

std::string DataParallel::parameter_hash() const {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const Tensor& parameter : parameters_) {
    const Tensor host = parameter.detach().to(Device::cpu()).contiguous();
    hash = fnv1a(hash, host.raw_data(), host.nbytes());
  }
  return fmt::format("{:016x}", hash);
}

void DataParallel::check_replicas_equal() const {
  const std::string mine = parameter_hash();
  if (size() == 1) return;
  const std::vector<std::string> hashes = group_.all_gather(mine);
  for (size_t r = 1; r < hashes.size(); ++r) {
    RECUR_CHECK(hashes[r] == hashes[0],
                "the replicas differ: rank {}'s parameters hash to {}, rank 0's to {} (every rank must start from the "
                "same weights and take the same steps)",
                r, hashes[r], hashes[0]);
  }
}

}  // namespace recur::nn
