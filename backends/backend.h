// The backend interface: the few dozen primitives every device provides.
//
// Conventions (STYLE.md): outputs first, then inputs, then parameters. Every tensor argument
// already lives on this backend's device. Outputs are allocated by the caller with the exact
// shape the op produces; inputs may be strided views (including stride-0 broadcast views:
// the caller expands both operands of a binary op to the output's shape). A backend may run
// asynchronously on its device's stream; synchronize() waits.
//
// Dtypes: float32 and float64 everywhere; int64 for indices and where noted; float16/bfloat16
// only through copy() (conversion) and, where a backend says so, GEMM.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backends/op_codes.h"
#include "backends/optimizer_math.h"
#include "backends/rnn.h"
#include "core/tensor.h"

namespace recur {

// The parameters of the unary ops that name them (backends/op_codes.h).
struct UnaryParams {
  double a = 0.0, b = 0.0;
};

enum class Transpose : uint8_t { No, Yes };

// One parameter's fused optimizer update (optimizer_update below): param, grad and the buffers
// are contiguous, of one shape, dtype (float32 or float64) and device; buffers[k] is b<k> of
// backends/optimizer_math.h's table, undefined when the kind or the options do not use it.
struct ParamUpdate {
  Tensor param;  // updated in place, as are the buffers
  Tensor grad;
  Tensor buffers[3];
  OptimizerCoeffs coeffs;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  virtual std::string name() const = 0;
  virtual Allocator& allocator() = 0;
  virtual void synchronize() {}

  // ---- memory -------------------------------------------------------------------------
  // dst = src, any strides on both sides, same shape; converts between dtypes (including
  // float16/bfloat16 and int64). Both on this device.
  virtual void copy(Tensor& dst, const Tensor& src) = 0;
  // Contiguous bytes between host memory and a contiguous tensor of this device.
  virtual void copy_from_host(Tensor& dst, const void* host, size_t nbytes) = 0;
  virtual void copy_to_host(void* host, const Tensor& src, size_t nbytes) = 0;
  virtual void fill(Tensor& out, double value) = 0;

  // ---- random (Philox 4x32-10, core/philox.h) -------------------------------------------
  // Element i (row-major over out) uses block first_block + i / 4, word i % 4. Normal numbers
  // come from Box-Muller on word pairs (0,1) and (2,3) of a block: z0 = r cos(t), z1 = r sin(t)
  // with r = sqrt(-2 ln u0), t = 2 pi u1, u = Philox::to_unit(word).
  virtual void fill_uniform(Tensor& out, uint64_t seed, uint64_t first_block, double low, double high) = 0;
  virtual void fill_normal(Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std) = 0;
  // out = (u < keep_prob) ? scale : 0 (dropout masks).
  virtual void fill_bernoulli(Tensor& out, uint64_t seed, uint64_t first_block, double keep_prob, double scale) = 0;

  // ---- elementwise --------------------------------------------------------------------
  virtual void unary(UnaryOp op, Tensor& out, const Tensor& in, UnaryParams params = {}) = 0;
  virtual void binary(BinaryOp op, Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // out = cond != 0 ? a : b (operands expanded to out's shape; cond in out's dtype).
  virtual void where(Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = 0;
  // out = alpha * x + beta * out (out contiguous).
  virtual void axpby(Tensor& out, double alpha, const Tensor& x, double beta) = 0;

  // ---- reductions ---------------------------------------------------------------------
  // Reduces `in` over `axes` (sorted, unique); out has in's rank with size 1 on those axes.
  virtual void reduce(ReduceOp op, Tensor& out, const Tensor& in, const std::vector<int>& axes) = 0;
  // Index of the maximum along axis (first on ties); out is int64 with size 1 on that axis.
  virtual void argmax(Tensor& out, const Tensor& in, int axis) = 0;
  // softmax or log-softmax along axis, numerically stable (max subtracted).
  virtual void softmax(Tensor& out, const Tensor& in, int axis, SoftmaxKind kind) = 0;
  // Backward of softmax: dx = y * (dy - sum(dy * y)); of log-softmax: dx = dy - exp(y) * sum(dy).
  virtual void softmax_backward(Tensor& dx, const Tensor& y, const Tensor& dy, int axis, SoftmaxKind kind) = 0;

  // ---- indexing -----------------------------------------------------------------------
  // out = in.index_select(axis, index): index is int64 1-D; each index checked against the
  // axis size (recur::Error naming the bad index). A backend that runs asynchronously checks in
  // its kernel, skips a bad index and throws at its next synchronisation (synchronize(), a
  // copy to the host) rather than stall its stream on every call.
  virtual void index_select(Tensor& out, const Tensor& in, int axis, const Tensor& index) = 0;
  // out.index_add_(axis, index, src): out[..., index[i], ...] += src[..., i, ...] (embedding
  // gradients; repeated indices accumulate).
  virtual void index_add(Tensor& out, int axis, const Tensor& index, const Tensor& src) = 0;

  // ---- linear algebra -----------------------------------------------------------------
  // c = alpha * op(a) @ op(b) + beta * c. 2-D: a [M, K] (after op), b [K, N], c [M, N].
  // 3-D: batched over the leading axis (a or b may have batch 1 with stride 0 to broadcast).
  // Matrices may be strided with a unit stride on either axis; c must have a unit column stride.
  virtual void gemm(Tensor& c, const Tensor& a, Transpose trans_a, const Tensor& b, Transpose trans_b,
                    double alpha = 1.0, double beta = 0.0) = 0;

  // ---- fused ops ----------------------------------------------------------------------
  // Fused softmax cross-entropy over rows (nn/losses.cpp): logits [N, C] and target int64 [N],
  // both contiguous; outputs loss [N] and logp [N, C] (kept for the backward), contiguous:
  //   logp[i, c] = log_softmax(logits[i, :])[c]
  //   loss[i]    = w_i ( -(1 - eps) logp[i, t_i] - (eps / C) sum_c logp[i, c] ),  w_i = [t_i != ignore_index]
  // A target outside [0, C) that is not ignore_index is a recur::Error: at once on the CPU (the
  // caller checks CPU targets), at the next synchronisation on an asynchronous backend, whose
  // kernel makes that row NaN.
  virtual void cross_entropy(Tensor& loss, Tensor& logp, const Tensor& logits, const Tensor& target,
                             int64_t ignore_index, double label_smoothing) = 0;
  // dlogits[i, c] = g_i w_i ( exp(logp[i, c]) - (1 - eps) [c == t_i] - eps / C ); grad_loss g is [N].
  virtual void cross_entropy_backward(Tensor& dlogits, const Tensor& logp, const Tensor& target,
                                      const Tensor& grad_loss, int64_t ignore_index, double label_smoothing) = 0;
  // One update of every parameter in `updates` (all on this device), as one pass per parameter
  // on the CPU and one kernel launch for many parameters on a GPU. optim/ computes the coeffs.
  virtual void optimizer_update(OptimizerKind kind, const std::vector<ParamUpdate>& updates) = 0;
  // out (float64 [k], contiguous, this device)[j] = sum |x_j|^p over tensor j (float32 or
  // float64, contiguous), or max |x_j| when p is infinite (NaN when any element is NaN); 0 for
  // an empty tensor. Accumulated in float64 (gradient-norm clipping, optim/clip.cpp).
  virtual void norm_parts(Tensor& out, const std::vector<Tensor>& tensors, double p) = 0;

  // ---- optional capabilities ------------------------------------------------------------
  // The fused RNN (backends/rnn.h), or null when this backend has none (the cell graph runs).
  virtual RnnKernels* rnn() { return nullptr; }
};

// The backend of a device (explicit registration in backends/registry.cpp: the CPU always,
// CUDA when compiled with RECUR_CUDA and a device is visible).
Backend& backend_for(Device device);
inline Backend& backend_of(const Tensor& t) { return backend_for(t.device()); }
// The allocator of a device's backend: what a Storage on that device allocates and frees
// through (make_contiguous_tensor hands it over).
Allocator& allocator_for(Device device);

// Throws recur::Error unless `device` can be used here: the CPU always; cuda:N when recur has
// the CUDA backend and more than N devices are visible. The message starts with `asked_by`
// when given (a program's option, "--device cuda") and gives the reason `recur info` gives.
// backend_for checks this; programs call it to refuse a device before doing any work.
void check_device(Device device, std::string_view asked_by = {});

// Whether the CUDA backend was compiled in, and how many devices it sees (0 when none, with
// the reason in `why`).
bool cuda_compiled();
int cuda_device_count(std::string* why = nullptr);

}  // namespace recur
