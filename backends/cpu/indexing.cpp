// index_select and index_add along any axis.
//
// Viewing a contiguous tensor as [outer, A, inner] (A = the indexed axis), index_select copies
// rows of `inner` elements: out[o, i, :] = in[o, index[i], :], and index_add adds them back:
// out[o, index[i], :] += src[o, i, :]. index_add walks the indices in order on one thread per
// (outer, column block), so repeated indices accumulate without races. Other layouts go
// through per-index slice copies/additions on strided views.
#include <cstring>

#include "backends/cpu/checks.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dispatch.h"
#include "backends/cpu/strided.h"

namespace recur {
namespace {

// The indices as a vector, each checked against the axis size.
std::vector<int64_t> read_indices(std::string_view op, const Tensor& index, int axis, int64_t axis_size) {
  RECUR_CHECK(index.dtype() == DType::Int64 && index.dim() == 1, "{}: index must be a 1-D int64 tensor, got {}", op,
              index.describe());
  cpu::check_cpu(op, index);
  const int64_t* data = static_cast<const int64_t*>(index.raw_data());
  const int64_t step = index.strides()[0];
  std::vector<int64_t> indices(static_cast<size_t>(index.numel()));
  for (size_t i = 0; i < indices.size(); ++i) {
    const int64_t value = data[static_cast<int64_t>(i) * step];
    RECUR_CHECK(value >= 0 && value < axis_size, "{}: index {} is out of range for axis {} of size {}", op, value, axis,
                axis_size);
    indices[i] = value;
  }
  return indices;
}

// One slice of t at position `position` along axis: a view of rank - 1.
Tensor slice_at(const Tensor& t, int axis, int64_t position) {
  return t.as_strided_raw(cpu::drop_axis(t.shape(), axis), cpu::drop_axis(t.strides(), axis),
                          t.offset() + position * t.strides()[axis]);
}

struct Blocks {
  int64_t outer = 1, inner = 1;
};

Blocks blocks_around(const Shape& shape, int axis) {
  Blocks blocks;
  for (int i = 0; i < axis; ++i) blocks.outer *= shape[i];
  for (size_t i = axis + 1; i < shape.size(); ++i) blocks.inner *= shape[i];
  return blocks;
}

Shape with_axis_size(Shape shape, int axis, int64_t size) {
  shape[axis] = size;
  return shape;
}

}  // namespace

void CpuBackend::index_select(Tensor& out, const Tensor& in, int axis, const Tensor& index) {
  RECUR_CHECK(axis >= 0 && axis < in.dim(), "index_select: axis {} is out of range for {}", axis, in.describe());
  cpu::check_same_dtype("index_select", out, in);
  const std::vector<int64_t> indices = read_indices("index_select", index, axis, in.shape()[axis]);
  const int64_t count = static_cast<int64_t>(indices.size());
  RECUR_CHECK(out.shape() == with_axis_size(in.shape(), axis, count),
              "index_select: output {} should have shape {} for input {} with {} indices along axis {}", out.describe(),
              shape_str(with_axis_size(in.shape(), axis, count)), in.describe(), count, axis);
  if (out.numel() == 0) return;
  if (out.is_contiguous() && in.is_contiguous()) {
    const Blocks blocks = blocks_around(in.shape(), axis);
    const int64_t axis_size = in.shape()[axis];
    const size_t element = dtype_size(in.dtype());
    const size_t row_bytes = static_cast<size_t>(blocks.inner) * element;
    const char* src = static_cast<const char*>(in.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    const int64_t grain = std::max<int64_t>(1, cpu::kParallelGrain / blocks.inner);
    cpu::parallel_for(blocks.outer * count, grain, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t o = item / count, i = item % count;
        std::memcpy(dst + static_cast<size_t>(item) * row_bytes,
                    src + static_cast<size_t>(o * axis_size + indices[i]) * row_bytes, row_bytes);
      }
    });
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    Tensor dst = slice_at(out, axis, i);
    copy(dst, slice_at(in, axis, indices[i]));
  }
}

void CpuBackend::index_add(Tensor& out, int axis, const Tensor& index, const Tensor& src) {
  RECUR_CHECK(axis >= 0 && axis < out.dim(), "index_add: axis {} is out of range for {}", axis, out.describe());
  cpu::check_same_dtype("index_add", out, src);
  const std::vector<int64_t> indices = read_indices("index_add", index, axis, out.shape()[axis]);
  const int64_t count = static_cast<int64_t>(indices.size());
  RECUR_CHECK(src.shape() == with_axis_size(out.shape(), axis, count),
              "index_add: source {} should have shape {} to add into {} at {} indices along axis {}", src.describe(),
              shape_str(with_axis_size(out.shape(), axis, count)), out.describe(), count, axis);
  if (src.numel() == 0) return;
  if (!(out.is_contiguous() && src.is_contiguous())) {
    for (int64_t i = 0; i < count; ++i) {
      Tensor dst = slice_at(out, axis, indices[i]);
      binary(BinaryOp::Add, dst, dst, slice_at(src, axis, i));
    }
    return;
  }
  cpu::dispatch_computing(out.dtype(), "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const Blocks blocks = blocks_around(out.shape(), axis);
    const int64_t axis_size = out.shape()[axis], inner = blocks.inner;
    constexpr int64_t kColumns = 512;  // columns per work item
    const int64_t column_blocks = (inner + kColumns - 1) / kColumns;
    T* dst = static_cast<T*>(out.raw_data());
    const T* from = static_cast<const T*>(src.raw_data());
    const int64_t grain = std::max<int64_t>(1, cpu::kParallelGrain / (count * std::min(inner, kColumns)));
    cpu::parallel_for(blocks.outer * column_blocks, grain, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t o = item / column_blocks, c0 = item % column_blocks * kColumns;
        const int64_t width = std::min(kColumns, inner - c0);
        for (int64_t i = 0; i < count; ++i) {
          T* row = dst + (o * axis_size + indices[i]) * inner + c0;
          const T* add = from + (o * count + i) * inner + c0;
          for (int64_t j = 0; j < width; ++j) row[j] += add[j];
        }
      }
    });
  });
}

}  // namespace recur
