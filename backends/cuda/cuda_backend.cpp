// The CUDA backend's host side: argument checks (the same messages as the CPU backend), layouts
// for the kernels (layout.h), and the launches (kernels.h). GEMM is in gemm.cpp.
#include "backends/cuda/cuda_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <mutex>

#include "backends/checks.h"
#include "backends/cuda/check.h"
#include "backends/cuda/context.h"
#include "backends/cuda/cudnn_rnn.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda/layout.h"
#include "backends/fused_args.h"
#include "backends/op_names.h"
#include "backends/reduce_args.h"

namespace recur {
namespace {

using cuda::elem_type;
using cuda::ElemType;
using cuda::make_layout;

void check_floating(std::string_view op, DType dtype) {
  RECUR_CHECK(dtype == DType::Float32 || dtype == DType::Float64,
              "{}: expected a float32 or float64 tensor on the GPU, got {}", op, dtype);
}

void check_computing(std::string_view op, DType dtype) {
  RECUR_CHECK(dtype == DType::Float32 || dtype == DType::Float64 || dtype == DType::Int64,
              "{}: expected a float32, float64 or int64 tensor on the GPU, got {}", op, dtype);
}

Shape drop_axis(const Shape& shape, int axis) {
  Shape out = shape;
  out.erase(out.begin() + axis);
  return out;
}

Shape with_axis_size(Shape shape, int axis, int64_t size) {
  shape[axis] = size;
  return shape;
}

}  // namespace

CudaBackend::CudaBackend(int device_index) : device_index_(device_index), context_(&cuda::cuda_context(device_index)) {}

std::string CudaBackend::name() const { return fmt::format("cuda:{}", device_index_); }

Allocator& CudaBackend::allocator() { return context_->allocator(); }

AllocatorStats CudaBackend::allocator_stats() const { return context_->allocator().stats(); }

void CudaBackend::synchronize() { context_->synchronize(); }

RnnKernels* CudaBackend::rnn() {
  const std::lock_guard<std::mutex> lock(rnn_mutex_);
  if (!rnn_) rnn_ = cuda::make_cudnn_rnn(device_index_);
  return rnn_.get();
}

void CudaBackend::set_allow_tf32(bool allow) { context_->set_allow_tf32(allow); }
bool CudaBackend::allow_tf32() const { return context_->allow_tf32(); }

void CudaBackend::check_here(std::string_view op, const Tensor& t) const {
  RECUR_CHECK(t.device() == device(), "{}: the {} backend got a tensor on another device: {}", op, name(),
              t.describe());
}

void CudaBackend::check_indices(std::string_view op, const Tensor& index, int axis, int64_t axis_size) {
  RECUR_CHECK(index.dtype() == DType::Int64 && index.dim() == 1, "{}: index must be a 1-D int64 tensor, got {}", op,
              index.describe());
  check_here(op, index);
  // The values are checked by the kernel, which reports a bad one at the next synchronisation
  // (kernels.h): reading them here would stall the stream on every embedding lookup.
  static_cast<void>(axis);
  static_cast<void>(axis_size);
}

// ---- memory -------------------------------------------------------------------------------

void CudaBackend::copy(Tensor& dst, const Tensor& src) {
  check_here("copy", dst);
  check_here("copy", src);
  check_same_shape("copy", dst, src);
  if (dst.numel() == 0) return;
  if (dst.raw_data() == src.raw_data() && dst.dtype() == src.dtype() && dst.strides() == src.strides()) return;
  cuda::DeviceGuard guard(device_index_);
  const cudaStream_t stream = context_->stream();
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    RECUR_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), dst.nbytes(), cudaMemcpyDeviceToDevice, stream));
    return;
  }
  const auto layout = make_layout<2>("copy", dst.shape(), {&dst.strides(), &src.strides()});
  cuda::launch_copy(stream, dst.raw_data(), elem_type(dst.dtype()), src.raw_data(), elem_type(src.dtype()), layout);
}

void CudaBackend::copy_from_host(Tensor& dst, const void* host, size_t nbytes) {
  check_here("copy_from_host", dst);
  RECUR_CHECK(dst.is_contiguous() && nbytes == dst.nbytes(),
              "copy_from_host: expected {} bytes into a contiguous tensor, got {} bytes for {}", dst.nbytes(), nbytes,
              dst.describe());
  context_->copy_from_host(dst.raw_data(), host, nbytes);
}

void CudaBackend::copy_to_host(void* host, const Tensor& src, size_t nbytes) {
  check_here("copy_to_host", src);
  RECUR_CHECK(src.is_contiguous() && nbytes == src.nbytes(),
              "copy_to_host: expected {} bytes from a contiguous tensor, got {} bytes for {}", src.nbytes(), nbytes,
              src.describe());
  context_->copy_to_host(host, src.raw_data(), nbytes);
}

void CudaBackend::fill(Tensor& out, double value) {
  check_here("fill", out);
  if (out.numel() == 0) return;
  cuda::DeviceGuard guard(device_index_);
  cuda::launch_fill(context_->stream(), out.raw_data(), elem_type(out.dtype()),
                    make_layout<1>("fill", out.shape(), {&out.strides()}), value);
}

// ---- random -------------------------------------------------------------------------------

namespace {
void random_fill(CudaBackend& backend, cuda::RandomCode kind, Tensor& out, uint64_t seed, uint64_t first_block,
                 double p0, double p1) {
  RECUR_CHECK(out.device() == backend.device(), "random fill: the {} backend got a tensor on another device: {}",
              backend.name(), out.describe());
  RECUR_CHECK(is_floating(out.dtype()), "random fill: expected a floating-point tensor, got {}", out.describe());
  if (out.numel() == 0) return;
  cuda::DeviceGuard guard(backend.device().index);
  cuda::launch_random(backend.context().stream(), kind, out.raw_data(), elem_type(out.dtype()),
                      make_layout<1>("random fill", out.shape(), {&out.strides()}), seed, first_block, p0, p1);
}
}  // namespace

void CudaBackend::fill_uniform(Tensor& out, uint64_t seed, uint64_t first_block, double low, double high) {
  random_fill(*this, cuda::RandomCode::Uniform, out, seed, first_block, low, high);
}

void CudaBackend::fill_normal(Tensor& out, uint64_t seed, uint64_t first_block, double mean, double std) {
  random_fill(*this, cuda::RandomCode::Normal, out, seed, first_block, mean, std);
}

void CudaBackend::fill_bernoulli(Tensor& out, uint64_t seed, uint64_t first_block, double keep_prob, double scale) {
  random_fill(*this, cuda::RandomCode::Bernoulli, out, seed, first_block, keep_prob, scale);
}

// ---- elementwise --------------------------------------------------------------------------

void CudaBackend::unary(UnaryOp op, Tensor& out, const Tensor& in, UnaryParams params) {
  const std::string_view name = op_name(op);
  check_here(name, out);
  check_here(name, in);
  check_same_shape(name, out, in);
  check_same_dtype(name, out, in);
  check_floating(name, out.dtype());
  if (out.numel() == 0) return;
  cuda::DeviceGuard guard(device_index_);
  cuda::launch_unary(context_->stream(), op, out.raw_data(), in.raw_data(), elem_type(out.dtype()),
                     make_layout<2>(name, out.shape(), {&out.strides(), &in.strides()}), params.a, params.b);
}

void CudaBackend::binary(BinaryOp op, Tensor& out, const Tensor& a, const Tensor& b) {
  const std::string_view name = op_name(op);
  for (const Tensor* t : {static_cast<const Tensor*>(&out), &a, &b}) check_here(name, *t);
  check_same_shape(name, out, a);
  check_same_shape(name, out, b);
  check_same_dtype(name, out, a);
  check_same_dtype(name, out, b);
  check_computing(name, out.dtype());
  RECUR_CHECK(out.dtype() != DType::Int64 || (op != BinaryOp::Div && op != BinaryOp::Pow),
              "{}: not supported for {} tensors on the GPU (expected float32 or float64)", name, out.dtype());
  if (out.numel() == 0) return;
  cuda::DeviceGuard guard(device_index_);
  cuda::launch_binary(context_->stream(), op, out.raw_data(), a.raw_data(), b.raw_data(), elem_type(out.dtype()),
                      make_layout<3>(name, out.shape(), {&out.strides(), &a.strides(), &b.strides()}));
}

void CudaBackend::where(Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_here("where", out);
  for (const Tensor* t : {&cond, &a, &b}) {
    check_here("where", *t);
    check_same_shape("where", out, *t);
    check_same_dtype("where", out, *t);
  }
  check_computing("where", out.dtype());
  if (out.numel() == 0) return;
  cuda::DeviceGuard guard(device_index_);
  cuda::launch_where(
      context_->stream(), out.raw_data(), cond.raw_data(), a.raw_data(), b.raw_data(), elem_type(out.dtype()),
      make_layout<4>("where", out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()}));
}

void CudaBackend::axpby(Tensor& out, double alpha, const Tensor& x, double beta) {
  check_here("axpby", out);
  check_here("axpby", x);
  check_same_shape("axpby", out, x);
  check_same_dtype("axpby", out, x);
  // Every floating dtype: the autograd engine accumulates gradients with axpby, also those of
  // float16/bfloat16 tensors (computed in float32, rounded once).
  RECUR_CHECK(is_floating(out.dtype()), "axpby: expected a floating-point tensor on the GPU, got {}", out.dtype());
  if (out.numel() == 0) return;
  cuda::DeviceGuard guard(device_index_);
  cuda::launch_axpby(context_->stream(), out.raw_data(), x.raw_data(), elem_type(out.dtype()),
                     make_layout<2>("axpby", out.shape(), {&out.strides(), &x.strides()}), alpha, beta);
}

// ---- reductions ---------------------------------------------------------------------------

void CudaBackend::reduce(ReduceOp op, Tensor& out, const Tensor& in, const std::vector<int>& axes) {
  const std::string_view name = op_name(op);
  check_here(name, out);
  check_here(name, in);
  check_same_dtype(name, out, in);
  check_computing(name, in.dtype());
  const std::vector<bool> is_reduced = check_reduce_args(name, op, out, in, axes);
  const size_t rank = in.shape().size();
  if (out.numel() == 0) return;
  Shape kept_shape, reduced_shape;
  Strides kept_out, kept_in, reduced_in;
  for (size_t axis = 0; axis < rank; ++axis) {
    if (is_reduced[axis]) {
      reduced_shape.push_back(in.shape()[axis]);
      reduced_in.push_back(in.strides()[axis]);
    } else {
      kept_shape.push_back(in.shape()[axis]);
      kept_out.push_back(out.strides()[axis]);
      kept_in.push_back(in.strides()[axis]);
    }
  }
  cuda::ReducePlan plan;
  plan.kept = make_layout<2>(name, kept_shape, {&kept_out, &kept_in});
  plan.reduced = make_layout<1>(name, reduced_shape, {&reduced_in});
  cuda::DeviceGuard guard(device_index_);
  // Scratch for the partials of a split reduction (a full sum over many elements), from the
  // caching allocator; freed when this call returns, after the stream-ordered kernels are queued.
  const size_t scratch_bytes = cuda::reduce_workspace_bytes(elem_type(in.dtype()), plan);
  const Tensor scratch = scratch_bytes > 0 ? make_contiguous_tensor({static_cast<int64_t>((scratch_bytes + 7) / 8)},
                                                                    DType::Float64, device())
                                           : Tensor();
  cuda::launch_reduce(context_->stream(), op, out.raw_data(), in.raw_data(), elem_type(in.dtype()), plan,
                      scratch.defined() ? scratch.raw_data() : nullptr);
}

void CudaBackend::argmax(Tensor& out, const Tensor& in, int axis) {
  check_here("argmax", out);
  check_here("argmax", in);
  RECUR_CHECK(axis >= 0 && axis < in.dim(), "argmax: axis {} is out of range for {}", axis, in.describe());
  RECUR_CHECK(out.dtype() == DType::Int64, "argmax: output must be int64, got {}", out.describe());
  check_computing("argmax", in.dtype());
  Shape expected = in.shape();
  expected[axis] = 1;
  RECUR_CHECK(out.shape() == expected, "argmax: output {} should have shape {} for input {} along axis {}",
              out.describe(), shape_str(expected), in.describe(), axis);
  if (out.numel() == 0) return;
  const int64_t length = in.shape()[axis];
  RECUR_CHECK(length > 0, "argmax: axis {} of {} is empty", axis, in.describe());
  const Strides out_strides = drop_axis(out.strides(), axis), in_strides = drop_axis(in.strides(), axis);
  cuda::DeviceGuard guard(device_index_);
  cuda::launch_argmax(context_->stream(), static_cast<int64_t*>(out.raw_data()), in.raw_data(), elem_type(in.dtype()),
                      make_layout<2>("argmax", drop_axis(in.shape(), axis), {&out_strides, &in_strides}), length,
                      in.strides()[axis]);
}

void CudaBackend::softmax(Tensor& out, const Tensor& in, int axis, SoftmaxKind kind) {
  const char* name = kind == SoftmaxKind::Log ? "log_softmax" : "softmax";
  check_here(name, out);
  check_here(name, in);
  check_same_shape(name, out, in);
  check_same_dtype(name, out, in);
  check_floating(name, in.dtype());
  RECUR_CHECK(axis >= 0 && axis < in.dim(), "{}: axis {} is out of range for {}", name, axis, in.describe());
  if (out.numel() == 0) return;
  const Strides out_strides = drop_axis(out.strides(), axis), in_strides = drop_axis(in.strides(), axis);
  cuda::DeviceGuard guard(device_index_);
  cuda::launch_softmax(context_->stream(), out.raw_data(), in.raw_data(), elem_type(in.dtype()),
                       make_layout<2>(name, drop_axis(in.shape(), axis), {&out_strides, &in_strides}), in.shape()[axis],
                       out.strides()[axis], in.strides()[axis], kind);
}

void CudaBackend::softmax_backward(Tensor& dx, const Tensor& y, const Tensor& dy, int axis, SoftmaxKind kind) {
  const char* name = kind == SoftmaxKind::Log ? "log_softmax_backward" : "softmax_backward";
  for (const Tensor* t : {static_cast<const Tensor*>(&dx), &y, &dy}) check_here(name, *t);
  check_same_shape(name, dx, y);
  check_same_shape(name, dx, dy);
  check_same_dtype(name, dx, y);
  check_same_dtype(name, dx, dy);
  check_floating(name, y.dtype());
  RECUR_CHECK(axis >= 0 && axis < y.dim(), "{}: axis {} is out of range for {}", name, axis, y.describe());
  if (dx.numel() == 0) return;
  const Strides dx_strides = drop_axis(dx.strides(), axis), y_strides = drop_axis(y.strides(), axis),
                dy_strides = drop_axis(dy.strides(), axis);
  cuda::DeviceGuard guard(device_index_);
  cuda::launch_softmax_backward(
      context_->stream(), dx.raw_data(), y.raw_data(), dy.raw_data(), elem_type(y.dtype()),
      make_layout<3>(name, drop_axis(y.shape(), axis), {&dx_strides, &y_strides, &dy_strides}), y.shape()[axis],
      dx.strides()[axis], y.strides()[axis], dy.strides()[axis], kind);
}

// ---- indexing -----------------------------------------------------------------------------

void CudaBackend::index_select(Tensor& out, const Tensor& in, int axis, const Tensor& index) {
  check_here("index_select", out);
  check_here("index_select", in);
  RECUR_CHECK(axis >= 0 && axis < in.dim(), "index_select: axis {} is out of range for {}", axis, in.describe());
  check_same_dtype("index_select", out, in);
  check_indices("index_select", index, axis, in.shape()[axis]);
  const int64_t count = index.numel();
  RECUR_CHECK(out.shape() == with_axis_size(in.shape(), axis, count),
              "index_select: output {} should have shape {} for input {} with {} indices along axis {}", out.describe(),
              shape_str(with_axis_size(in.shape(), axis, count)), in.describe(), count, axis);
  if (out.numel() == 0) return;
  cuda::DeviceGuard guard(device_index_);
  const auto layout =
      make_layout<2>("index_select", out.shape(), {&out.strides(), &in.strides()}, cuda::AxisMerging::KeepEveryAxis);
  cuda::launch_index_select(context_->stream(), out.raw_data(), in.raw_data(), static_cast<int>(dtype_size(in.dtype())),
                            layout, axis, static_cast<const int64_t*>(index.raw_data()), index.strides()[0],
                            in.shape()[axis], context_->error_record());
}

void CudaBackend::index_add(Tensor& out, int axis, const Tensor& index, const Tensor& src) {
  check_here("index_add", out);
  check_here("index_add", src);
  RECUR_CHECK(axis >= 0 && axis < out.dim(), "index_add: axis {} is out of range for {}", axis, out.describe());
  check_same_dtype("index_add", out, src);
  check_computing("index_add", out.dtype());
  check_indices("index_add", index, axis, out.shape()[axis]);
  const int64_t count = index.numel();
  RECUR_CHECK(src.shape() == with_axis_size(out.shape(), axis, count),
              "index_add: source {} should have shape {} to add into {} at {} indices along axis {}", src.describe(),
              shape_str(with_axis_size(out.shape(), axis, count)), out.describe(), count, axis);
  if (src.numel() == 0) return;
  cuda::DeviceGuard guard(device_index_);
  const auto layout =
      make_layout<2>("index_add", src.shape(), {&out.strides(), &src.strides()}, cuda::AxisMerging::KeepEveryAxis);
  cuda::launch_index_add(context_->stream(), out.raw_data(), src.raw_data(), elem_type(out.dtype()), layout, axis,
                         static_cast<const int64_t*>(index.raw_data()), index.strides()[0], out.shape()[axis],
                         context_->error_record());
}

// ---- fused ops ----------------------------------------------------------------------------

void CudaBackend::cross_entropy(Tensor& loss, Tensor& logp, const Tensor& logits, const Tensor& target,
                                int64_t ignore_index, double label_smoothing) {
  check_cross_entropy_args(device(), loss, logp, logits, target);
  if (logits.numel() == 0) return;
  cuda::DeviceGuard guard(device_index_);
  cuda::launch_cross_entropy(context_->stream(), loss.raw_data(), logp.raw_data(), logits.raw_data(),
                             static_cast<const int64_t*>(target.raw_data()), elem_type(logits.dtype()), logits.size(0),
                             logits.size(1), ignore_index, label_smoothing, context_->error_record());
}

void CudaBackend::cross_entropy_backward(Tensor& dlogits, const Tensor& logp, const Tensor& target,
                                         const Tensor& grad_loss, int64_t ignore_index, double label_smoothing) {
  check_cross_entropy_backward_args(device(), dlogits, logp, target, grad_loss);
  if (logp.numel() == 0) return;
  cuda::DeviceGuard guard(device_index_);
  cuda::launch_cross_entropy_backward(
      context_->stream(), dlogits.raw_data(), logp.raw_data(), static_cast<const int64_t*>(target.raw_data()),
      grad_loss.raw_data(), elem_type(logp.dtype()), logp.size(0), logp.size(1), ignore_index, label_smoothing);
}

// Parameters with the same dtype and coefficients share a launch (up to kMaxListTensors each):
// for a model trained with one parameter group, one launch per dtype.
void CudaBackend::optimizer_update(OptimizerKind kind, const std::vector<ParamUpdate>& updates) {
  check_optimizer_updates(device(), kind, updates);
  cuda::DeviceGuard guard(device_index_);
  std::vector<bool> done(updates.size(), false);
  for (size_t first = 0; first < updates.size(); ++first) {
    if (done[first]) continue;
    const DType dtype = updates[first].param.dtype();
    const OptimizerCoeffs& coeffs = updates[first].coeffs;
    cuda::TensorList list;
    for (size_t i = first; i < updates.size(); ++i) {
      const ParamUpdate& u = updates[i];
      // The first one always joins (a NaN coefficient never compares equal, even to itself).
      if (done[i] || (i != first && (u.param.dtype() != dtype || !(u.coeffs == coeffs)))) continue;
      void* const data[5] = {u.param.raw_data(), u.grad.raw_data(),
                             u.buffers[0].defined() ? u.buffers[0].raw_data() : nullptr,
                             u.buffers[1].defined() ? u.buffers[1].raw_data() : nullptr,
                             u.buffers[2].defined() ? u.buffers[2].raw_data() : nullptr};
      if (!cuda::list_append(list, u.param.numel(), data)) break;
      done[i] = true;
    }
    cuda::launch_optimizer_update(context_->stream(), kind, elem_type(dtype), list, coeffs);
  }
}

void CudaBackend::norm_parts(Tensor& out, const std::vector<Tensor>& tensors, double p) {
  check_norm_parts_args(device(), out, tensors, p);
  if (tensors.empty()) return;
  cuda::DeviceGuard guard(device_index_);
  // Lists of one dtype, in order; each writes its tensors' slots of out.
  size_t first = 0;
  while (first < tensors.size()) {
    const DType dtype = tensors[first].dtype();
    cuda::TensorList list;
    size_t end = first;
    while (end < tensors.size() && tensors[end].dtype() == dtype) {
      void* const data[5] = {tensors[end].raw_data(), nullptr, nullptr, nullptr, nullptr};
      if (!cuda::list_append(list, tensors[end].numel(), data)) break;
      ++end;
    }
    // Scratch from the caching allocator; stream order keeps it alive for the kernels.
    Tensor partial =
        make_contiguous_tensor({std::max<int64_t>(list.first_chunk[list.count], 1)}, DType::Float64, device());
    cuda::launch_norm_parts(context_->stream(), out.data<double>() + first, partial.data<double>(), elem_type(dtype),
                            list, p);
    first = end;
  }
}

// ---- the backends, one per device ---------------------------------------------------------

CudaBackend& cuda_backend(int index) {
  // Never destroyed, like the contexts (context.cpp).
  static std::mutex mutex;
  static auto* backends = new std::array<CudaBackend*, 64>{};
  std::lock_guard<std::mutex> lock(mutex);
  RECUR_CHECK(index >= 0 && index < static_cast<int>(backends->size()), "cuda:{}: device index out of range", index);
  if ((*backends)[index] == nullptr) (*backends)[index] = new CudaBackend(index);
  return *(*backends)[index];
}

}  // namespace recur
