// Fused kernels: softmax cross-entropy (one block per row), the optimizers' multi-tensor update
// (the per-element formulas of backends/optimizer_math.h, shared with the CPU) and the
// per-tensor norms of gradient clipping (two deterministic passes: block partials, then one
// ordered sum per tensor).
//
// Cross entropy, row i with target t (backend.h):
//   m = max_c x_c,  shift = m + ln sum_c e^(x_c - m),  logp_c = x_c - shift
//   loss_i = -(1 - eps) logp_t - (eps / C) sum_c logp_c                 (0 when ignored)
//   dlogits_c = g_i (e^(logp_c) - eps / C - (1 - eps) [c == t])         (0 when ignored)
#include <cmath>

#include "backends/cuda/device_common.cuh"

namespace recur::cuda {
namespace {

template <typename T> __global__ void cross_entropy_kernel(T* loss, T* logp, const T* logits, const int64_t* target,
                                                           int64_t rows, int64_t classes, int64_t ignore_index,
                                                           T picked_scale, T sum_scale, bool smoothing,
                                                           int64_t* error_record) {
  __shared__ T scratch[kThreads];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* x = logits + row * classes;
    T* y = logp + row * classes;
    T m = x[0];
    for (int64_t c = threadIdx.x; c < classes; c += blockDim.x) m = max(m, x[c]);
    m = block_reduce(m, scratch, [](T a, T b) { return max(a, b); });
    T s = 0;
    for (int64_t c = threadIdx.x; c < classes; c += blockDim.x) s += exp(x[c] - m);
    s = block_reduce(s, scratch, [](T a, T b) { return a + b; });
    const T shift = m + log(s);
    T row_sum = 0;
    for (int64_t c = threadIdx.x; c < classes; c += blockDim.x) {
      const T value = x[c] - shift;
      y[c] = value;
      row_sum += value;
    }
    if (smoothing) row_sum = block_reduce(row_sum, scratch, [](T a, T b) { return a + b; });
    if (threadIdx.x == 0) {
      const int64_t t = target[row];
      if (t == ignore_index) {
        loss[row] = 0;
      } else if (t < 0 || t >= classes) {
        record_error(error_record, DeviceErrorCode::CrossEntropyTarget, t, classes, row);
        loss[row] = T(NAN);
      } else {
        // y[t] may have been written by another thread: read it from x instead.
        T value = picked_scale * (x[t] - shift);
        if (smoothing) value = value + sum_scale * row_sum;
        loss[row] = value;
      }
    }
  }
}

template <typename T> __global__ void cross_entropy_backward_kernel(T* dlogits, const T* logp, const int64_t* target,
                                                                    const T* grad, int64_t rows, int64_t classes,
                                                                    int64_t ignore_index, T smooth, T picked) {
  const int64_t total = rows * classes;
  for (int64_t at = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; at < total; at += int64_t{gridDim.x} * blockDim.x) {
    const int64_t row = at / classes, c = at - row * classes;
    const int64_t t = target[row];
    if (t == ignore_index) {
      dlogits[at] = 0;
      continue;
    }
    if (t < 0 || t >= classes) {  // recorded by the forward
      dlogits[at] = T(NAN);
      continue;
    }
    T d = exp(logp[at]) + smooth;
    if (c == t) d = d + picked;
    dlogits[at] = d * grad[row];
  }
}

// The tensor of `list` whose chunks include block `chunk`.
__device__ __forceinline__ int tensor_of_chunk(const TensorList& list, int64_t chunk) {
  int j = 0;
  while (j + 1 < list.count && list.first_chunk[j + 1] <= chunk) ++j;
  return j;
}

template <OptimizerKind K, typename T> __global__ void optimizer_kernel(TensorList list, OptimizerCoeffs coeffs) {
  const int64_t chunk = blockIdx.x;
  const int j = tensor_of_chunk(list, chunk);
  const int64_t begin = (chunk - list.first_chunk[j]) * kListChunk;
  const int64_t end = min(begin + kListChunk, list.numel[j]);
  const auto k = optimizer_math::Coeffs<T>::from(coeffs);
  T* p = static_cast<T*>(list.data[0][j]);
  const T* g = static_cast<const T*>(list.data[1][j]);
  T* b0 = static_cast<T*>(list.data[2][j]);
  T* b1 = static_cast<T*>(list.data[3][j]);
  T* b2 = static_cast<T*>(list.data[4][j]);
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    optimizer_math::update_element<K, T>(k, p, g, b0, b1, b2, i);
}

__device__ __forceinline__ double norm_combine(double acc, double part, bool inf_norm) {
  if (inf_norm) return (part != part || part > acc) ? part : acc;  // NaN wins
  return acc + part;
}

// partial[chunk] = the chunk's sum |x|^p (or max |x|).
template <typename T> __global__ void norm_chunks_kernel(double* partial, TensorList list, double p, bool inf_norm) {
  __shared__ double scratch[kThreads];
  const int64_t chunk = blockIdx.x;
  const int j = tensor_of_chunk(list, chunk);
  const int64_t begin = (chunk - list.first_chunk[j]) * kListChunk;
  const int64_t end = min(begin + kListChunk, list.numel[j]);
  const T* x = static_cast<const T*>(list.data[0][j]);
  double acc = 0.0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const double a = fabs(static_cast<double>(x[i]));
    acc = inf_norm ? norm_combine(acc, a, true) : acc + (p == 2.0 ? a * a : p == 1.0 ? a : pow(a, p));
  }
  acc = block_reduce(acc, scratch, [inf_norm](double a, double b) { return norm_combine(a, b, inf_norm); });
  if (threadIdx.x == 0) partial[chunk] = acc;
}

// out[j] = the chunks of tensor j combined in order (one thread per tensor).
__global__ void norm_combine_kernel(double* out, const double* partial, TensorList list, bool inf_norm) {
  const int j = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (j >= list.count) return;
  double acc = 0.0;
  for (int64_t c = list.first_chunk[j]; c < list.first_chunk[j + 1]; ++c) acc = norm_combine(acc, partial[c], inf_norm);
  out[j] = acc;
}

}  // namespace

void launch_cross_entropy(cudaStream_t stream, void* loss, void* logp, const void* logits, const int64_t* target,
                          ElemType type, int64_t rows, int64_t classes, int64_t ignore_index, double label_smoothing,
                          int64_t* error_record) {
  if (rows == 0 || classes == 0) return;
  const unsigned blocks = static_cast<unsigned>(rows < kMaxBlocks ? rows : kMaxBlocks);
  dispatch_computing<false>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cross_entropy_kernel<T><<<blocks, lane_threads(classes), 0, stream>>>(
        static_cast<T*>(loss), static_cast<T*>(logp), static_cast<const T*>(logits), target, rows, classes,
        ignore_index, static_cast<T>(-(1.0 - label_smoothing)),
        static_cast<T>(-label_smoothing / static_cast<double>(classes)), label_smoothing > 0.0, error_record);
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

void launch_cross_entropy_backward(cudaStream_t stream, void* dlogits, const void* logp, const int64_t* target,
                                   const void* grad, ElemType type, int64_t rows, int64_t classes, int64_t ignore_index,
                                   double label_smoothing) {
  if (rows == 0 || classes == 0) return;
  dispatch_computing<false>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cross_entropy_backward_kernel<T><<<blocks_for(rows * classes), kThreads, 0, stream>>>(
        static_cast<T*>(dlogits), static_cast<const T*>(logp), target, static_cast<const T*>(grad), rows, classes,
        ignore_index, static_cast<T>(-label_smoothing / static_cast<double>(classes)),
        static_cast<T>(-(1.0 - label_smoothing)));
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

bool list_append(TensorList& list, int64_t n, void* const (&data)[5]) {
  if (list.count == kMaxListTensors) return false;
  const int j = list.count++;
  list.numel[j] = n;
  for (int k = 0; k < 5; ++k) list.data[k][j] = data[k];
  list.first_chunk[j + 1] = list.first_chunk[j] + (n + kListChunk - 1) / kListChunk;
  return true;
}

void launch_optimizer_update(cudaStream_t stream, OptimizerKind kind, ElemType type, const TensorList& list,
                             const OptimizerCoeffs& coeffs) {
  const int64_t chunks = list.first_chunk[list.count];
  if (chunks == 0) return;
  dispatch_computing<false>(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const unsigned blocks = static_cast<unsigned>(chunks);
    switch (kind) {
      case OptimizerKind::SGD:
        optimizer_kernel<OptimizerKind::SGD, T><<<blocks, kThreads, 0, stream>>>(list, coeffs);
        break;
      case OptimizerKind::Adam:
        optimizer_kernel<OptimizerKind::Adam, T><<<blocks, kThreads, 0, stream>>>(list, coeffs);
        break;
      case OptimizerKind::RMSprop:
        optimizer_kernel<OptimizerKind::RMSprop, T><<<blocks, kThreads, 0, stream>>>(list, coeffs);
        break;
      case OptimizerKind::Adagrad:
        optimizer_kernel<OptimizerKind::Adagrad, T><<<blocks, kThreads, 0, stream>>>(list, coeffs);
        break;
    }
  });
  RECUR_CUDA_CHECK_LAUNCH();
}

void launch_norm_parts(cudaStream_t stream, double* out, double* partial, ElemType type, const TensorList& list,
                       double p) {
  if (list.count == 0) return;
  const bool inf_norm = std::isinf(p);
  const int64_t chunks = list.first_chunk[list.count];
  if (chunks > 0) {
    dispatch_computing<false>(type, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      norm_chunks_kernel<T><<<static_cast<unsigned>(chunks), kThreads, 0, stream>>>(partial, list, p, inf_norm);
    });
    RECUR_CUDA_CHECK_LAUNCH();
  }
  norm_combine_kernel<<<1, kMaxListTensors, 0, stream>>>(out, partial, list, inf_norm);
  RECUR_CUDA_CHECK_LAUNCH();
}

}  // namespace recur::cuda
