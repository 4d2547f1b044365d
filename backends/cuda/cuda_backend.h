// The CUDA backend: every primitive of backends/backend.h on one device, as recur's own
// kernels (elementwise.cu, random.cu, reduce.cu, softmax.cu, indexing.cu) and cuBLAS (gemm.cpp),
// all ordered on the device context's stream (context.h).
//
// Dtypes as on the CPU: float32 and float64 everywhere; int64 for copy, fill, index ops,
// argmax's output, where, binary ops (not Div or Pow) and Sum/Max/Min; float16/bfloat16
// through copy(), fill() and the random fills, and in GEMM (float32 accumulation) when
// enabled with set_allow_reduced_precision(true), which also lets nn::RNN run cuDNN on
// float16/bfloat16 weights and data (float32 accumulation).
//
// This header includes no CUDA header, so host code anywhere may include it.
#pragma once

#include <memory>
#include <mutex>

#include "backends/backend.h"

namespace recur::cuda {
class CudaContext;
}  // namespace recur::cuda

namespace recur {

struct AllocatorStats;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device_index);
  Device device() const override { return Device::cuda(device_index_); }
  std::string name() const override;
  Allocator& allocator() override;
  void synchronize() override;

  cuda::CudaContext& context() { return *context_; }
  AllocatorStats allocator_stats() const;
  // TF32 for float32 GEMMs (off by default).
  void set_allow_tf32(bool allow);
  bool allow_tf32() const;
  // float16/bfloat16 GEMM and cuDNN RNN with float32 accumulation (off by default: such
  // operands are an error).
  void set_allow_reduced_precision(bool allow) { reduced_precision_ = allow; }
  bool reduced_precision_allowed() const { return reduced_precision_; }

  void copy(Tensor& dst, const Tensor& src) override;
  void copy_from_host(Tensor& dst, const void* host, size_t nbytes) override;
  void copy_to_host(void* host, const Tensor& src, size_t nbytes) override;
  void fill(Tensor& out, double value) override;

  void fill_uniform(Tensor& out, uint64_t seed, uint64_t first_block, double low, double high) override;
  void fill_normal(Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std) override;
  void fill_bernoulli(Tensor& out, uint64_t seed, uint64_t first_block, double keep_prob, double scale) override;

  void unary(UnaryOp op, Tensor& out, const Tensor& in, UnaryParams params = {}) override;
  void binary(BinaryOp op, Tensor& out, const Tensor& a, const Tensor& b) override;
  void where(Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void axpby(Tensor& out, double alpha, const Tensor& x, double beta) override;

  void reduce(ReduceOp op, Tensor& out, const Tensor& in, const std::vector<int>& axes) override;
  void argmax(Tensor& out, const Tensor& in, int axis) override;
  void softmax(Tensor& out, const Tensor& in, int axis, SoftmaxKind kind) override;
  void softmax_backward(Tensor& dx, const Tensor& y, const Tensor& dy, int axis, SoftmaxKind kind) override;

  void index_select(Tensor& out, const Tensor& in, int axis, const Tensor& index) override;
  void index_add(Tensor& out, int axis, const Tensor& index, const Tensor& src) override;

  void gemm(Tensor& c, const Tensor& a, Transpose trans_a, const Tensor& b, Transpose trans_b, double alpha = 1.0,
            double beta = 0.0) override;

  void cross_entropy(Tensor& loss, Tensor& logp, const Tensor& logits, const Tensor& target, int64_t ignore_index,
                     double label_smoothing) override;
  void cross_entropy_backward(Tensor& dlogits, const Tensor& logp, const Tensor& target, const Tensor& grad_loss,
                              int64_t ignore_index, double label_smoothing) override;
  void optimizer_update(OptimizerKind kind, const std::vector<ParamUpdate>& updates) override;
  void norm_parts(Tensor& out, const std::vector<Tensor>& tensors, double p) override;
  // cuDNN's RNN on this device (backends/cuda/cudnn_rnn.h), created on first use; it keeps this
  // device's plan cache.
  RnnKernels* rnn() override;

 private:
  void check_here(std::string_view op, const Tensor& t) const;
  // The index tensor's dtype, rank and device; its values are checked by the kernels.
  void check_indices(std::string_view op, const Tensor& index, int axis, int64_t axis_size);

  int device_index_;
  cuda::CudaContext* context_;
  bool reduced_precision_ = false;
  std::unique_ptr<RnnKernels> rnn_;
  std::mutex rnn_mutex_;
};

// The backend of CUDA device `index` (created on first use; backends/registry.cpp hands it
// out). Throws recur::Error, with the reason, when that device is not visible.
CudaBackend& cuda_backend(int index);

}  // namespace recur
