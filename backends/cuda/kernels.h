// The launchers of recur's CUDA kernels: plain C++ (no recur headers, so nvcc never sees fmt),
// called by the backend's host code (cuda_backend.cpp), which checks arguments and builds the
// layouts. Every launcher enqueues on `stream` and checks the launch error.
//
// Layouts: N operands walked together over one index space of up to kMaxDims axes; element
// (i_0, ..., i_{r-1}) of operand k lives at base_k + sum_d i_d * strides[k][d] (in elements).
// Linear indices are row-major over `sizes`.
//
// Signatures follow STYLE.md: outputs first, then inputs, then sizes and parameters.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "backends/op_codes.h"
#include "backends/optimizer_math.h"

namespace recur::cuda {

constexpr int kMaxDims = 8;

// An error a kernel finds in its data (an index out of range) cannot be thrown where it
// happens: the kernel skips the element and records the first one in the context's error
// record, int64 [code, value, limit, position] in device memory (CudaContext::error_record),
// which the host reports as recur::Error at its next synchronisation.
enum class DeviceErrorCode : int64_t { None = 0, IndexSelect = 1, IndexAdd = 2, CrossEntropyTarget = 3 };

// The same values as recur::DType (cuda_backend.cpp checks).
enum class ElemType : uint8_t { Float32, Float64, Float16, BFloat16, Int64 };

template <int N> struct StridedLayout {
  int rank = 0;
  int64_t numel = 1;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};
};
using Layout1 = StridedLayout<1>;
using Layout2 = StridedLayout<2>;
using Layout3 = StridedLayout<3>;
using Layout4 = StridedLayout<4>;

// The backend's op codes themselves (backends/op_codes.h).
using UnaryCode = ::recur::UnaryOp;
using BinaryCode = ::recur::BinaryOp;
using ReduceCode = ::recur::ReduceOp;
enum class RandomCode : uint8_t { Uniform, Normal, Bernoulli };

// ---- elementwise.cu ---------------------------------------------------------------------
// dst = convert(src) for any dtype pair (float16/bfloat16 round to nearest even; floating to
// int64 truncates, saturates and maps NaN to 0, as on the CPU). layout: [dst, src].
void launch_copy(cudaStream_t stream, void* dst, ElemType dst_type, const void* src, ElemType src_type,
                 const Layout2& layout);
void launch_fill(cudaStream_t stream, void* out, ElemType type, const Layout1& layout, double value);
// float32/float64. layout: [out, in].
void launch_unary(cudaStream_t stream, UnaryCode op, void* out, const void* in, ElemType type, const Layout2& layout,
                  double a, double b);
// float32/float64/int64 (Div and Pow floating only; the host checks). layout: [out, a, b].
void launch_binary(cudaStream_t stream, BinaryCode op, void* out, const void* a, const void* b, ElemType type,
                   const Layout3& layout);
// out = cond != 0 ? a : b. layout: [out, cond, a, b].
void launch_where(cudaStream_t stream, void* out, const void* cond, const void* a, const void* b, ElemType type,
                  const Layout4& layout);
// out = alpha * x + beta * out (beta == 0 never reads out). layout: [out, x].
void launch_axpby(cudaStream_t stream, void* out, const void* x, ElemType type, const Layout2& layout, double alpha,
                  double beta);

// ---- random.cu --------------------------------------------------------------------------
// Philox fills (core/philox.h, backend.h): element i (row-major over the layout) from block
// first_block + i / 4, word i % 4; values computed in double, rounded once to `type`
// (float16/bfloat16 through float, as the CPU's staging copy does).
// Uniform: p0 = low, p1 = high. Normal: p0 = mean, p1 = std. Bernoulli: p0 = keep_prob, p1 = scale.
void launch_random(cudaStream_t stream, RandomCode kind, void* out, ElemType type, const Layout1& layout, uint64_t seed,
                   uint64_t first_block, double p0, double p1);

// ---- reduce.cu --------------------------------------------------------------------------
// kept: the output index space, strides [out, in]; reduced: the reduced axes, in's strides.
// Output o folds the `count` elements in[kept offset + reduced offset].
struct ReducePlan {
  Layout2 kept;
  Layout1 reduced;
};
// A full sum of a large tensor splits each output over blocks (reduce.cu): reduce_chunks() is
// the number of chunks per output (1: no split), reduce_workspace_bytes() the device scratch
// launch_reduce needs for the partials (0: none; workspace may then be null).
constexpr int64_t kReduceChunk = 8192;
int64_t reduce_chunks(const ReducePlan& plan);
size_t reduce_workspace_bytes(ElemType type, const ReducePlan& plan);
void launch_reduce(cudaStream_t stream, ReduceCode op, void* out, const void* in, ElemType type, const ReducePlan& plan,
                   void* workspace);
// lanes: every axis but the reduced one, strides [out, in]; each lane has `length` elements
// `in_step` apart. First maximum wins; NaN beats everything. out is int64.
void launch_argmax(cudaStream_t stream, int64_t* out, const void* in, ElemType type, const Layout2& lanes,
                   int64_t length, int64_t in_step);

// ---- softmax.cu -------------------------------------------------------------------------
// lanes: strides [out, in]; steps along the axis.
void launch_softmax(cudaStream_t stream, void* out, const void* in, ElemType type, const Layout2& lanes, int64_t length,
                    int64_t out_step, int64_t in_step, SoftmaxKind kind);
// lanes: strides [dx, y, dy].
void launch_softmax_backward(cudaStream_t stream, void* dx, const void* y, const void* dy, ElemType type,
                             const Layout3& lanes, int64_t length, int64_t dx_step, int64_t y_step, int64_t dy_step,
                             SoftmaxKind kind);

// ---- indexing.cu ------------------------------------------------------------------------
// out = in.index_select(axis, index). layout: out's shape (no axes merged), strides [out, in];
// along `axis` the coordinate c reads in at index[c * index_stride]. element_bytes: 2, 4 or 8.
void launch_index_select(cudaStream_t stream, void* out, const void* in, int element_bytes, const Layout2& layout,
                         int axis, const int64_t* index, int64_t index_stride, int64_t in_axis_size,
                         int64_t* error_record);
// out[.., index[c], ..] += src[.., c, ..] with atomics (float32/float64/int64). layout: src's
// shape, strides [out, src].
void launch_index_add(cudaStream_t stream, void* out, const void* src, ElemType type, const Layout2& layout, int axis,
                      const int64_t* index, int64_t index_stride, int64_t out_axis_size, int64_t* error_record);

// ---- fused.cu ---------------------------------------------------------------------------
// Rows of the fused softmax cross-entropy (backend.h states the formulas); logits, logp and
// dlogits [rows, classes], loss, target and grad [rows], all contiguous; float32/float64.
// A target outside [0, C) that is not ignore_index is recorded (DeviceErrorCode) and its row's
// loss and gradient are NaN.
void launch_cross_entropy(cudaStream_t stream, void* loss, void* logp, const void* logits, const int64_t* target,
                          ElemType type, int64_t rows, int64_t classes, int64_t ignore_index, double label_smoothing,
                          int64_t* error_record);
void launch_cross_entropy_backward(cudaStream_t stream, void* dlogits, const void* logp, const int64_t* target,
                                   const void* grad, ElemType type, int64_t rows, int64_t classes, int64_t ignore_index,
                                   double label_smoothing);

// Up to kMaxListTensors contiguous tensors of one dtype, walked by one launch in chunks of
// kListChunk elements: block b works on chunk b - first_chunk[j] of tensor j, where
// first_chunk[j] <= b < first_chunk[j + 1]. Passed to the kernels by value (under 4 KiB).
constexpr int kMaxListTensors = 32;
constexpr int64_t kListChunk = 4096;
struct TensorList {
  int count = 0;
  int64_t numel[kMaxListTensors] = {};
  int64_t first_chunk[kMaxListTensors + 1] = {};
  void* data[5][kMaxListTensors] = {};  // the optimizer's param, grad, b0, b1, b2 (null when absent)
};
// Appends a tensor of n elements with up to 5 data pointers; false when the list is full.
bool list_append(TensorList& list, int64_t n, void* const (&data)[5]);

// One optimizer step over every tensor of `list` (backends/optimizer_math.h), one launch.
void launch_optimizer_update(cudaStream_t stream, OptimizerKind kind, ElemType type, const TensorList& list,
                             const OptimizerCoeffs& coeffs);
// out[j] = sum |x_j|^p (or max |x_j| for infinite p) over tensor j = data[0][j] of the list,
// accumulated in float64 in a fixed order (deterministic). partial: scratch of
// list.first_chunk[list.count] doubles.
void launch_norm_parts(cudaStream_t stream, double* out, double* partial, ElemType type, const TensorList& list,
                       double p);

}  // namespace recur::cuda
