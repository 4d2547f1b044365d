// The CPU backend: float32 and float64 everywhere, int64 for copies, fills, indexing, argmax,
// where, binary ops (not Div or Pow) and Sum/Max/Min reductions; float16 and bfloat16 through
// copy() only. Under set_cpu_gemm_precision(BFloat16) (backends/settings.h) the float32 GEMMs
// round their float32 operands to bfloat16 inside and accumulate in float32 (cpu/gemm.h).
//
// Each group of primitives lives in its own file: copy.cpp (copy, fill, host transfers),
// elementwise.cpp (unary, binary, where, axpby), reduce.cpp (reduce, argmax), softmax.cpp,
// indexing.cpp, random.cpp and gemm.cpp. Loops are plain (vectorised by the compiler) on
// contiguous data, strided N-d loops otherwise (cpu/strided.h), and run on OpenMP threads
// above a size threshold.
#pragma once

#include <atomic>
#include <memory>

#include "backends/backend.h"
#include "backends/caching_allocator.h"

namespace recur {

// 64-byte aligned host memory (a cache line, and an AVX-512 vector). A zero-byte request gets
// a valid, unique pointer. Blocks of 1 MiB and more (a step's activations, logits and their
// gradients) are cached between steps (backends/caching_allocator.h, up to 1/8 of the
// machine's memory, a cached block at most 1/4 larger than the request may serve it), so a
// training loop does not page-fault its large buffers in anew every step; smaller ones come
// from the C library's heap, which already reuses them. Builds with AddressSanitizer cache
// nothing, so that every use after free is still reported.
class CpuAllocator final : public Allocator {
 public:
  CpuAllocator();
  ~CpuAllocator() override;
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;
  // How many allocations were made so far (tests check that hot loops make none).
  uint64_t allocation_count() const { return allocations_.load(std::memory_order_relaxed); }
  bool caches_large_blocks() const;
  AllocatorStats large_block_stats() const { return large_->stats(); }

 private:
  std::unique_ptr<DeviceMemory> host_;
  std::unique_ptr<CachingAllocator> large_;
  std::atomic<uint64_t> allocations_{0};
};

class CpuBackend final : public Backend {
 public:
  CpuBackend();
  Device device() const override { return Device::cpu(); }
  std::string name() const override { return "cpu"; }
  Allocator& allocator() override { return allocator_; }
  const CpuAllocator& cpu_allocator() const { return allocator_; }

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
  // One layer and one direction per call (rnn_kernels.cpp, on rnn_layer.h's fused layer).
  RnnKernels* rnn() override;

 private:
  CpuAllocator allocator_;
};

// The one CPU backend (created on first use; backends/registry.cpp hands it out).
CpuBackend& cpu_backend();

}  // namespace recur
