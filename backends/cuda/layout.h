// Host-side construction of the kernels' strided layouts (kernels.h) from recur tensors: axes
// of size 1 are dropped and neighbouring axes merged where every operand allows, so most
// layouts end up with one or two axes. More than kMaxDims axes after merging is an error.
#pragma once

#include <array>
#include <string_view>

#include "backends/cuda/kernels.h"
#include "core/tensor.h"

namespace recur::cuda {

// KeepEveryAxis: for a kernel that indexes one axis by its position (index_select, index_add).
enum class AxisMerging : uint8_t { Merge, KeepEveryAxis };

template <int N> StridedLayout<N> make_layout(std::string_view op, const Shape& shape,
                                              const std::array<const Strides*, N>& strides,
                                              AxisMerging merging = AxisMerging::Merge) {
  const bool merge = merging == AxisMerging::Merge;
  StridedLayout<N> layout;
  layout.numel = numel_of(shape);
  int rank = 0;
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    const int64_t size = shape[axis];
    if (merge && size == 1) continue;
    bool mergeable = merge && rank > 0;
    for (int k = 0; k < N && mergeable; ++k) {
      mergeable = layout.strides[k][rank - 1] == (*strides[k])[axis] * size;
    }
    if (mergeable) {
      layout.sizes[rank - 1] *= size;
      for (int k = 0; k < N; ++k) layout.strides[k][rank - 1] = (*strides[k])[axis];
      continue;
    }
    RECUR_CHECK(rank < kMaxDims, "{}: the CUDA backend handles at most {} non-mergeable axes, got shape {}", op,
                kMaxDims, shape_str(shape));
    layout.sizes[rank] = size;
    for (int k = 0; k < N; ++k) layout.strides[k][rank] = (*strides[k])[axis];
    ++rank;
  }
  layout.rank = rank;
  return layout;
}

inline ElemType elem_type(DType dtype) { return static_cast<ElemType>(static_cast<uint8_t>(dtype)); }

static_assert(static_cast<int>(ElemType::Float32) == static_cast<int>(DType::Float32) &&
              static_cast<int>(ElemType::Float64) == static_cast<int>(DType::Float64) &&
              static_cast<int>(ElemType::Float16) == static_cast<int>(DType::Float16) &&
              static_cast<int>(ElemType::BFloat16) == static_cast<int>(DType::BFloat16) &&
              static_cast<int>(ElemType::Int64) == static_cast<int>(DType::Int64));

}  // namespace recur::cuda
