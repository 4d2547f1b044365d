#include "backends/fused_args.h"

#include <cmath>

namespace recur {
namespace {

void check_here(const char* op, Device device, const char* what, const Tensor& t) {
  RECUR_CHECK(t.defined(), "{}: {} is undefined", op, what);
  RECUR_CHECK(t.device() == device, "{}: {} is on {}, expected {}", op, what, t.device(), device);
  RECUR_CHECK(t.is_contiguous(), "{}: {} must be contiguous, got {}", op, what, t.describe());
}

void check_floating(const char* op, const char* what, const Tensor& t) {
  RECUR_CHECK(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, "{}: {} must be float32 or float64, got {}",
              op, what, t.describe());
}

void check_rows(const char* op, Device device, const Tensor& matrix, const char* matrix_name, const Tensor& target) {
  check_here(op, device, matrix_name, matrix);
  check_floating(op, matrix_name, matrix);
  RECUR_CHECK(matrix.dim() == 2, "{}: {} must be [N, C], got {}", op, matrix_name, matrix.describe());
  check_here(op, device, "target", target);
  RECUR_CHECK(target.dtype() == DType::Int64 && target.dim() == 1 && target.size(0) == matrix.size(0),
              "{}: target must be int64 [{}] for {} {}, got {}", op, matrix.size(0), matrix_name, matrix.describe(),
              target.describe());
}

void check_like(const char* op, Device device, const char* what, const Tensor& t, const Shape& shape, DType dtype) {
  check_here(op, device, what, t);
  RECUR_CHECK(t.shape() == shape && t.dtype() == dtype, "{}: {} must be {} {}, got {}", op, what, dtype,
              shape_str(shape), t.describe());
}

}  // namespace

void check_cross_entropy_args(Device device, const Tensor& loss, const Tensor& logp, const Tensor& logits,
                              const Tensor& target) {
  const char* op = "cross_entropy";
  check_rows(op, device, logits, "logits", target);
  check_like(op, device, "loss", loss, {logits.size(0)}, logits.dtype());
  check_like(op, device, "logp", logp, logits.shape(), logits.dtype());
}

void check_cross_entropy_backward_args(Device device, const Tensor& dlogits, const Tensor& logp, const Tensor& target,
                                       const Tensor& grad_loss) {
  const char* op = "cross_entropy_backward";
  check_rows(op, device, logp, "logp", target);
  check_like(op, device, "dlogits", dlogits, logp.shape(), logp.dtype());
  check_like(op, device, "grad_loss", grad_loss, {logp.size(0)}, logp.dtype());
}

BufferUse buffer_use(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::SGD: return {{false, false, false}, {true, false, false}};
    case OptimizerKind::Adam: return {{true, true, false}, {false, false, true}};
    case OptimizerKind::RMSprop: return {{true, false, false}, {false, true, true}};
    case OptimizerKind::Adagrad: return {{true, false, false}, {false, false, false}};
  }
  return {};
}

void check_optimizer_updates(Device device, OptimizerKind kind, const std::vector<ParamUpdate>& updates) {
  const char* op = "optimizer_update";
  const BufferUse use = buffer_use(kind);
  static const char* const kBufferNames[3] = {"buffer 0", "buffer 1", "buffer 2"};
  for (const ParamUpdate& u : updates) {
    check_here(op, device, "param", u.param);
    check_floating(op, "param", u.param);
    check_like(op, device, "grad", u.grad, u.param.shape(), u.param.dtype());
    for (int k = 0; k < 3; ++k) {
      if (u.buffers[k].defined()) {
        RECUR_CHECK(use.required[k] || use.optional[k], "{}: {} is given but this optimizer does not use it", op,
                    kBufferNames[k]);
        check_like(op, device, kBufferNames[k], u.buffers[k], u.param.shape(), u.param.dtype());
      } else {
        RECUR_CHECK(!use.required[k], "{}: {} is required for parameter {}", op, kBufferNames[k], u.param.describe());
      }
    }
  }
}

void check_norm_parts_args(Device device, const Tensor& out, const std::vector<Tensor>& tensors, double p) {
  const char* op = "norm_parts";
  RECUR_CHECK(p > 0, "{}: p must be > 0 (or infinity), got {}", op, p);
  check_like(op, device, "out", out, {static_cast<int64_t>(tensors.size())}, DType::Float64);
  for (const Tensor& t : tensors) {
    check_here(op, device, "tensor", t);
    check_floating(op, "tensor", t);
  }
}

}  // namespace recur
