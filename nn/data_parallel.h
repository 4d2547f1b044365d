// Data parallelism over a process group (backends/distributed.h): every rank holds the whole
// model, computes the gradients of its share of the batch, and all ranks step with the average.
//
//   start:       broadcast the parameters (and the optimizer's state) from rank 0
//   every step:  gradients -> one flat buffer -> all-reduce (sum) -> / size -> gradients
//
// With the loss of each rank the mean over its share of equal size, the average of the ranks'
// gradients is the gradient of the mean over the whole batch: N ranks compute what one process
// computes with the whole batch, to rounding. recur's models are small (the 877k-parameter
// reference model has 3.5 MB of gradients), so one all-reduce of one buffer per step, after the
// backward pass, is the design (Horovod's fusion buffer with a single bucket); PyTorch DDP's
// buckets overlapped with backward would pay only for much larger models.
//
// In a group of one every call returns at once and nothing is copied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/distributed.h"
#include "core/state_dict.h"
#include "core/tensor.h"

namespace recur::nn {

class DataParallel {
 public:
  // `parameters`: the model's, in an order every rank shares (Module::parameters()), of one
  // dtype and one device.
  DataParallel(distributed::ProcessGroup& group, std::vector<Tensor> parameters);

  distributed::ProcessGroup& group() const { return group_; }
  int rank() const { return group_.rank(); }
  int size() const { return group_.size(); }
  bool is_root() const { return group_.rank() == 0; }

  // Every rank's parameters <- rank 0's.
  void broadcast_parameters();
  // Every rank's tensors of `state` <- rank 0's, in place (an optimizer's state_dict(), whose
  // tensors are the optimizer's own, or any state dict). The names, shapes and dtypes must be
  // rank 0's: recur::Error on every rank otherwise, naming the first rank that differs.
  void broadcast_state(StateDict& state);

  // Replaces every parameter's gradient with the average over the ranks, through one flat
  // buffer and one all-reduce. A parameter without a gradient counts as zeros (and gets one).
  void average_gradients();
  // The sum over the ranks of each value (float64), for losses, counts and flags.
  std::vector<double> sum(std::vector<double> values) const;

  // FNV-1a of every parameter's bytes, in order ("0123456789abcdef").
  std::string parameter_hash() const;
  // recur::Error on every rank when a rank's parameters differ from rank 0's, naming the ranks
  // and the hashes (after broadcast_parameters, or a step, every replica must be equal).
  void check_replicas_equal() const;

  // Seconds spent in average_gradients()'s all-reduce, summed since construction (benchmarks).
  double all_reduce_seconds() const { return all_reduce_seconds_; }

 private:
  distributed::ProcessGroup& group_;
  std::vector<Tensor> parameters_;
  int64_t total_elements_ = 0;
  Tensor flat_;  // the gradient buffer, allocated on the first average_gradients()
  double all_reduce_seconds_ = 0.0;
};

}  // namespace recur::nn
