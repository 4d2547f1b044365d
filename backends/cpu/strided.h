// Loops of the CPU backend: a thread splitter, and the N-d strided iteration that every
// elementwise kernel runs on when its operands are not all contiguous.
//
// Strides and offsets are in elements. N operands share one shape (broadcast operands carry
// stride 0 on the axes they repeat along). Before looping, size-1 axes are dropped and
// neighbouring axes merged wherever every operand steps through them as one axis, so a
// contiguous tensor, or one sliced along its first axis, is a single row.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "backends/threading.h"
#include "core/shape.h"

namespace recur::cpu {

// Work below this many simple element operations runs on the calling thread: waking a team
// of threads costs about what 32k additions take.
constexpr int64_t kParallelGrain = 32768;

// Runs body(begin, end) over [0, n): on this thread when n <= grain (or inside a parallel
// region already), else split into one contiguous chunk per thread, each at least `grain`
// long. body must not throw: check arguments before calling.
template <typename Body> void parallel_for(int64_t n, int64_t grain, const Body& body) {
  if (n <= 0) return;
  const int64_t threads = std::min<int64_t>(get_num_threads(), (n + grain - 1) / std::max<int64_t>(grain, 1));
  if (threads <= 1 || omp_in_parallel()) {
    body(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(static_cast <int>(threads))
  {
    const int64_t team = omp_get_num_threads(), me = omp_get_thread_num();
    const int64_t chunk = (n + team - 1) / team;
    const int64_t begin = me * chunk, end = std::min(n, begin + chunk);
    if (begin < end) body(begin, end);
  }
}

// The iteration space of N operands of one shape, with its axes merged as far as possible.
template <size_t N> struct StridedSpace {
  Shape shape;                     // rank >= 1
  std::array<Strides, N> strides;  // per operand
  int64_t numel = 0;
};

template <size_t N> StridedSpace<N> make_space(const Shape& shape, const std::array<const Strides*, N>& strides) {
  StridedSpace<N> space;
  space.numel = numel_of(shape);
  for (size_t axis = 0; axis < shape.size(); ++axis) {
    if (shape[axis] == 1) continue;
    bool merge = !space.shape.empty();
    for (size_t k = 0; k < N && merge; ++k) merge = space.strides[k].back() == (*strides[k])[axis] * shape[axis];
    if (merge) {
      space.shape.back() *= shape[axis];
      for (size_t k = 0; k < N; ++k) space.strides[k].back() = (*strides[k])[axis];
      continue;
    }
    space.shape.push_back(shape[axis]);
    for (size_t k = 0; k < N; ++k) space.strides[k].push_back((*strides[k])[axis]);
  }
  if (space.shape.empty()) {
    space.shape = {1};
    for (size_t k = 0; k < N; ++k) space.strides[k] = {0};
  }
  return space;
}

using Offsets1 = std::array<int64_t, 1>;
using Offsets2 = std::array<int64_t, 2>;
using Offsets3 = std::array<int64_t, 3>;
using Offsets4 = std::array<int64_t, 4>;

// Calls row(offsets, steps, count) for the elements [begin, end) of the space in row-major
// order, once per piece of an innermost row: `offsets` are each operand's offset of the
// piece's first element, `steps` each operand's innermost stride.
template <size_t N, typename Row>
void for_range(const StridedSpace<N>& space, int64_t begin, int64_t end, const Row& row) {
  if (begin >= end) return;
  const size_t rank = space.shape.size();
  const int64_t inner = space.shape[rank - 1];
  std::array<int64_t, N> steps, base{};
  for (size_t k = 0; k < N; ++k) steps[k] = space.strides[k][rank - 1];
  std::vector<int64_t> index(rank - 1);
  int64_t rest = begin / inner, column = begin % inner;
  for (size_t axis = rank - 1; axis-- > 0;) {
    index[axis] = rest % space.shape[axis];
    rest /= space.shape[axis];
    for (size_t k = 0; k < N; ++k) base[k] += index[axis] * space.strides[k][axis];
  }
  for (int64_t position = begin; position < end;) {
    const int64_t count = std::min(inner - column, end - position);
    std::array<int64_t, N> offsets;
    for (size_t k = 0; k < N; ++k) offsets[k] = base[k] + column * steps[k];
    row(offsets, steps, count);
    position += count;
    column = 0;
    for (size_t axis = rank - 1; axis-- > 0;) {  // next row: an odometer over the outer axes
      for (size_t k = 0; k < N; ++k) base[k] += space.strides[k][axis];
      if (++index[axis] < space.shape[axis]) break;
      for (size_t k = 0; k < N; ++k) base[k] -= space.shape[axis] * space.strides[k][axis];
      index[axis] = 0;
    }
  }
}

// Side of the square tiles that transposing loops walk (cpu/strided.h, for_each_tiled).
constexpr int64_t kTile = 32;

// Whether some operand steps through memory faster along the second-to-last axis than along
// the last (a transpose): row-by-row order would then touch a new cache line per element.
template <size_t N> bool needs_tiles(const StridedSpace<N>& space) {
  const size_t rank = space.shape.size();
  if (rank < 2 || space.shape[rank - 1] < 2 * kTile || space.shape[rank - 2] < 2 * kTile) return false;
  for (size_t k = 0; k < N; ++k) {
    const int64_t row_step = std::abs(space.strides[k][rank - 2]), column_step = std::abs(space.strides[k][rank - 1]);
    if (row_step != 0 && row_step < column_step && column_step != 1) return true;
  }
  return false;
}

// Like for_range over the whole space, but the last two axes are walked in kTile x kTile
// tiles (rows of one tile, then the next tile), so both a row-major and a transposed operand
// stay in cache. Tiles are split across threads.
template <size_t N, typename Row> void for_each_tiled(const StridedSpace<N>& space, const Row& row) {
  const size_t rank = space.shape.size();
  const int64_t rows = space.shape[rank - 2], cols = space.shape[rank - 1];
  const int64_t row_tiles = (rows + kTile - 1) / kTile, col_tiles = (cols + kTile - 1) / kTile;
  const int64_t outer = space.numel / (rows * cols), tiles = outer * row_tiles * col_tiles;
  std::array<int64_t, N> steps;
  for (size_t k = 0; k < N; ++k) steps[k] = space.strides[k][rank - 1];
  parallel_for(tiles, std::max<int64_t>(1, kParallelGrain / (kTile * kTile)), [&](int64_t begin, int64_t end) {
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t c0 = tile % col_tiles * kTile, r0 = tile / col_tiles % row_tiles * kTile;
      std::array<int64_t, N> base{};
      int64_t rest = tile / (col_tiles * row_tiles);
      for (size_t axis = rank - 2; axis-- > 0;) {
        const int64_t index = rest % space.shape[axis];
        rest /= space.shape[axis];
        for (size_t k = 0; k < N; ++k) base[k] += index * space.strides[k][axis];
      }
      const int64_t count = std::min(kTile, cols - c0);
      for (int64_t r = r0; r < std::min(rows, r0 + kTile); ++r) {
        std::array<int64_t, N> offsets;
        for (size_t k = 0; k < N; ++k) offsets[k] = base[k] + r * space.strides[k][rank - 2] + c0 * steps[k];
        row(offsets, steps, count);
      }
    }
  });
}

// Every element of the space, each exactly once, in no particular order: row pieces as in
// for_range (tiles for transposes), on several threads when the space is large.
template <size_t N, typename Row>
void parallel_for_each(const StridedSpace<N>& space, const Row& row, int64_t grain = kParallelGrain) {
  if (needs_tiles(space)) return for_each_tiled(space, row);
  parallel_for(space.numel, grain, [&](int64_t begin, int64_t end) { for_range(space, begin, end, row); });
}

// A shape (or strides) without one axis.
inline std::vector<int64_t> drop_axis(const std::vector<int64_t>& values, int axis) {
  std::vector<int64_t> out = values;
  out.erase(out.begin() + axis);
  return out;
}

// Walks the lanes along `axis` of N operands of one shape (a lane: the elements that differ
// only in their index on `axis`), calling lanes(offsets, steps, count) for runs of `count`
// lanes whose first elements sit at offsets + i * steps (i < count). The caller walks each
// lane with the operands' strides on `axis`. lane_length sets how many lanes a thread needs.
template <size_t N, typename Lanes> void parallel_for_each_lane(const Shape& shape, int axis,
                                                                const std::array<const Strides*, N>& strides,
                                                                int64_t lane_length, const Lanes& lanes) {
  const Shape lanes_shape = drop_axis(shape, axis);
  std::array<Strides, N> lanes_strides;
  std::array<const Strides*, N> pointers;
  for (size_t k = 0; k < N; ++k) {
    lanes_strides[k] = drop_axis(*strides[k], axis);
    pointers[k] = &lanes_strides[k];
  }
  const auto space = make_space<N>(lanes_shape, pointers);
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(lane_length, 1));
  parallel_for(space.numel, grain, [&](int64_t begin, int64_t end) { for_range(space, begin, end, lanes); });
}

}  // namespace recur::cpu
