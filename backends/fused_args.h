// The argument checks every backend's fused ops share (backend.h, "fused ops"): shapes, dtypes,
// contiguity and the device, with messages that name the tensors.
#pragma once

#include <vector>

#include "backends/backend.h"

namespace recur {

// logits [N, C] float32/float64 and target int64 [N]; loss [N] and logp [N, C] in logits' dtype.
void check_cross_entropy_args(Device device, const Tensor& loss, const Tensor& logp, const Tensor& logits,
                              const Tensor& target);
void check_cross_entropy_backward_args(Device device, const Tensor& dlogits, const Tensor& logp, const Tensor& target,
                                       const Tensor& grad_loss);
// Each update: param, grad and the buffers its kind uses, contiguous, of one shape and dtype.
void check_optimizer_updates(Device device, OptimizerKind kind, const std::vector<ParamUpdate>& updates);
// out float64 [k], one element per tensor; tensors float32/float64 and contiguous.
void check_norm_parts_args(Device device, const Tensor& out, const std::vector<Tensor>& tensors, double p);

// Which buffers an update of `kind` reads and writes: required (always), optional (when defined).
struct BufferUse {
  bool required[3];
  bool optional[3];
};
BufferUse buffer_use(OptimizerKind kind);

}  // namespace recur
