// softmax / log-softmax along one axis and their backward passes: one block per lane, the
// block's threads striding along the axis, block-wide max and sum (the formulas are those of
// backends/cpu/softmax.cpp):
//   m = max x,  s = sum_i e^(x_i - m);  softmax y_i = e^(x_i - m) / s;  log-softmax y_i = x_i - m - ln s
//   backward:  softmax dx_i = y_i (dy_i - sum_j dy_j y_j);  log-softmax dx_i = dy_i - e^(y_i) sum_j dy_j
#include "backends/cuda/device_common.cuh"

namespace recur::cuda {
namespace {

template <typename T> __global__ void softmax_kernel(T* out, const T* in, Layout2 lanes, int64_t length,
                                                     int64_t out_step, int64_t in_step, bool log_output) {
  __shared__ T scratch[kThreads];
  for (int64_t lane = blockIdx.x; lane < lanes.numel; lane += gridDim.x) {
    int64_t at[2];
    offsets_of(lanes, lane, at);
    T* y = out + at[0];
    const T* x = in + at[1];
    T m = x[0];
    for (int64_t i = threadIdx.x; i < length; i += blockDim.x) m = max(m, x[i * in_step]);
    m = block_reduce(m, scratch, [](T a, T b) { return max(a, b); });
    T s = 0;
    for (int64_t i = threadIdx.x; i < length; i += blockDim.x) s += exp(x[i * in_step] - m);
    s = block_reduce(s, scratch, [](T a, T b) { return a + b; });
    if (log_output) {
      const T shift = m + log(s);
      for (int64_t i = threadIdx.x; i < length; i += blockDim.x) y[i * out_step] = x[i * in_step] - shift;
    } else {
      const T inverse = T(1) / s;
      for (int64_t i = threadIdx.x; i < length; i += blockDim.x) y[i * out_step] = exp(x[i * in_step] - m) * inverse;
    }
  }
}

template <typename T> __global__ void softmax_backward_kernel(T* dx, const T* y, const T* dy, Layout3 lanes,
                                                              int64_t length, int64_t dx_step, int64_t y_step,
                                                              int64_t dy_step, bool log_output) {
  __shared__ T scratch[kThreads];
  for (int64_t lane = blockIdx.x; lane < lanes.numel; lane += gridDim.x) {
    int64_t at[3];
    offsets_of(lanes, lane, at);
    T* g = dx + at[0];
    const T* yl = y + at[1];
    const T* dyl = dy + at[2];
    T total = 0;
    for (int64_t i = threadIdx.x; i < length; i += blockDim.x) {
      total += log_output ? dyl[i * dy_step] : dyl[i * dy_step] * yl[i * y_step];
    }
    total = block_reduce(total, scratch, [](T a, T b) { return a + b; });
    for (int64_t i = threadIdx.x; i < length; i += blockDim.x) {
      const T yi = yl[i * y_step], dyi = dyl[i * dy_step];
      g[i * dx_step] = log_output ? dyi - exp(yi) * total : yi * (dyi - total);
    }
  }
}

}  // namespace

void launch_softmax(cudaStream_t stream, void* out, const void* in, ElemType type, const Layout2& lanes, int64_t length,
                    int64_t out_step, int64_t in_step, SoftmaxKind kind) {
  if (lanes.numel == 0 || length == 0) return;
  const unsigned blocks = static_cast<unsigned>(lanes.numel < kMaxBlocks ? lanes.numel : kMaxBlocks);
  dispatch_computing<false>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    softmax_kernel<T><<<blocks, lane_threads(length), 0, stream>>>(
        static_cast<T*>(out), static_cast<const T*>(in), lanes, length, out_step, in_step, kind == SoftmaxKind::Log);
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

void launch_softmax_backward(cudaStream_t stream, void* dx, const void* y, const void* dy, ElemType type,
                             const Layout3& lanes, int64_t length, int64_t dx_step, int64_t y_step, int64_t dy_step,
                             SoftmaxKind kind) {
  if (lanes.numel == 0 || length == 0) return;
  const unsigned blocks = static_cast<unsigned>(lanes.numel < kMaxBlocks ? lanes.numel : kMaxBlocks);
  dispatch_computing<false>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    softmax_backward_kernel<T><<<blocks, lane_threads(length), 0, stream>>>(
        static_cast<T*>(dx), static_cast<const T*>(y), static_cast<const T*>(dy), lanes, length, dx_step, y_step,
        dy_step, kind == SoftmaxKind::Log);
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

}  // namespace recur::cuda
