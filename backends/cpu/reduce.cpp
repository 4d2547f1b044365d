// Reductions (sum, mean, max, min over any set of axes) and argmax.
//
// The input's axes are split into kept axes K and reduced axes R (neighbours of the same kind
// merged where the strides allow). Outputs are numbered in row-major order over K, which is
// out's own order when out is contiguous. Two loops:
//  - columns: the innermost axis is kept and unit-stride (e.g. a bias gradient, the sum over
//    the rows of [N, D]): rows of R are folded into a block of output accumulators, so the
//    inner loop runs along contiguous memory and vectorises;
//  - lanes: otherwise (e.g. the last axis reduced): each output folds its R elements, with a
//    pairwise sum when the innermost reduced axis is unit-stride.
// Few outputs over many elements (a full sum, a bias gradient over many rows) split R into
// parts folded in parallel and combined in order afterwards. The split depends on the sizes
// only, never on the thread count, so every result is the same whatever the threads.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backends/cpu/checks.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dispatch.h"
#include "backends/cpu/math.h"
#include "backends/cpu/strided.h"
#include "backends/elementwise_math.h"
#include "backends/op_names.h"
#include "backends/reduce_args.h"

namespace recur {
namespace {

template <typename T, ReduceOp Op> struct Reducer {
  static constexpr bool kSum = Op == ReduceOp::Sum || Op == ReduceOp::Mean;
  static T identity() { return elementwise_math::reduce_identity<Op, T>(); }
  static T combine(T acc, T x) { return elementwise_math::reduce_combine<Op>(acc, x); }
  static T fold(const T* x, int64_t n, int64_t step) {
    if constexpr (kSum) {
      return step == 1 ? cpu::pairwise_sum(x, n) : cpu::pairwise_sum_strided(x, n, step);
    } else {
      T acc = identity();
      for (int64_t i = 0; i < n; ++i) acc = combine(acc, x[i * step]);
      return acc;
    }
  }
};

// One run of axes after merging: its size and the input's stride.
struct Axis {
  int64_t size, stride;
};

// Element offset of kept-linear index `linear` over `axes` (row-major).
int64_t offset_of(int64_t linear, const std::vector<Axis>& axes) {
  int64_t offset = 0;
  for (size_t i = axes.size(); i-- > 0;) {
    offset += linear % axes[i].size * axes[i].stride;
    linear /= axes[i].size;
  }
  return offset;
}

struct Plan {
  std::vector<Axis> kept, reduced;
  int64_t outputs = 1, count = 1;
  cpu::StridedSpace<1> reduced_space;  // R, walked for each output
};

Plan make_plan(const Tensor& in, const std::vector<bool>& is_reduced) {
  Plan plan;
  int last_kind = -1;  // 0 kept, 1 reduced
  for (size_t axis = 0; axis < in.shape().size(); ++axis) {
    const int64_t size = in.shape()[axis], stride = in.strides()[axis];
    const int kind = is_reduced[axis] ? 1 : 0;
    (kind ? plan.count : plan.outputs) *= size;
    if (size == 1) continue;
    std::vector<Axis>& list = kind ? plan.reduced : plan.kept;
    if (kind == last_kind && list.back().stride == stride * size) {
      list.back() = {list.back().size * size, stride};
    } else {
      list.push_back({size, stride});
    }
    last_kind = kind;
  }
  Shape shape;
  Strides strides;
  for (const Axis& axis : plan.reduced) shape.push_back(axis.size), strides.push_back(axis.stride);
  plan.reduced_space = cpu::make_space<1>(shape, {&strides});
  return plan;
}

template <typename T, ReduceOp Op> class Reduction {
 public:
  using R = Reducer<T, Op>;
  static constexpr int64_t kBlock = 256;  // output columns folded at once by the column loop

  Reduction(const Plan& plan, const T* in, bool innermost_kept) : plan_(plan), in_(in) {
    columns_ = innermost_kept && !plan.kept.empty() && plan.kept.back().stride == 1 && plan.count > 1;
    if (columns_) {
      width_ = plan.kept.back().size;
      outer_axes_.assign(plan.kept.begin(), plan.kept.end() - 1);
    }
  }

  // Work items: output blocks for the column loop, outputs for the lane loop.
  int64_t items() const { return columns_ ? plan_.outputs / width_ * ((width_ + kBlock - 1) / kBlock) : plan_.outputs; }
  int64_t outputs_per_item() const { return columns_ ? std::min(width_, kBlock) : 1; }

  // Folds R elements [r0, r1) into the outputs of items [begin, end); dst is indexed by the
  // kept-linear output index and is initialised (to the identity) here.
  void run(int64_t r0, int64_t r1, int64_t begin, int64_t end, T* dst) const {
    if (!columns_) {
      for (int64_t item = begin; item < end; ++item) {
        const T* base = in_ + offset_of(item, plan_.kept);
        T acc = R::identity();
        cpu::for_range(plan_.reduced_space, r0, r1, [&](const cpu::Offsets1& at, const cpu::Offsets1& step, int64_t n) {
          acc = R::combine(acc, R::fold(base + at[0], n, step[0]));
        });
        dst[item] = acc;
      }
      return;
    }
    const int64_t blocks = (width_ + kBlock - 1) / kBlock;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t outer = item / blocks, c0 = item % blocks * kBlock, w = std::min(kBlock, width_ - c0);
      const T* base = in_ + offset_of(outer, outer_axes_) + c0;
      T* acc = dst + outer * width_ + c0;
      // Sums are folded 64 rows at a time into `block`, then into acc: two-level summation.
      T block[kBlock];
      for (int64_t j = 0; j < w; ++j) acc[j] = block[j] = R::identity();
      int64_t rows_in_block = 0;
      cpu::for_range(plan_.reduced_space, r0, r1, [&](const cpu::Offsets1& at, const cpu::Offsets1& step, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          const T* row = base + at[0] + i * step[0];
          for (int64_t j = 0; j < w; ++j) block[j] = R::combine(block[j], row[j]);
          if (++rows_in_block == 64) {
            for (int64_t j = 0; j < w; ++j) acc[j] = R::combine(acc[j], block[j]), block[j] = R::identity();
            rows_in_block = 0;
          }
        }
      });
      for (int64_t j = 0; j < w; ++j) acc[j] = R::combine(acc[j], block[j]);
    }
  }

 private:
  const Plan& plan_;
  const T* in_;
  bool columns_ = false;
  int64_t width_ = 1;
  std::vector<Axis> outer_axes_;
};

// The most parts R is split into: enough to keep 16 threads busy when few outputs remain.
constexpr int64_t kMaxParts = 16;

template <typename T, ReduceOp Op>
void reduce_typed(Tensor& out, const Tensor& in, const std::vector<bool>& is_reduced) {
  const Plan plan = make_plan(in, is_reduced);
  // Is the innermost non-trivial axis kept?
  bool innermost_kept = false;
  for (size_t axis = in.shape().size(); axis-- > 0;) {
    if (in.shape()[axis] == 1) continue;
    innermost_kept = !is_reduced[axis];
    break;
  }
  const Reduction<T, Op> reduction(plan, static_cast<const T*>(in.raw_data()), innermost_kept);
  const bool direct = out.is_contiguous();
  Tensor staging = direct ? out : make_contiguous_tensor(out.shape(), out.dtype(), Device::cpu());
  T* dst = static_cast<T*>(staging.raw_data());
  const int64_t items = reduction.items(), count = plan.count;
  const int64_t work = count * plan.outputs;
  const int64_t parts = std::min({kMaxParts, (work + cpu::kParallelGrain - 1) / cpu::kParallelGrain, count / 2});
  if (items >= kMaxParts || parts < 2) {
    const int64_t grain =
        std::max<int64_t>(1, cpu::kParallelGrain / std::max<int64_t>(1, count * reduction.outputs_per_item()));
    cpu::parallel_for(items, grain, [&](int64_t begin, int64_t end) { reduction.run(0, count, begin, end, dst); });
  } else {
    // Few outputs, many elements each: split R into parts, each folding into its own copy of
    // the outputs, then combine the parts in order.
    std::vector<T> partial(static_cast<size_t>(parts * plan.outputs));
    cpu::parallel_for(parts, 1, [&](int64_t begin, int64_t end) {
      for (int64_t part = begin; part < end; ++part) {
        reduction.run(count * part / parts, count * (part + 1) / parts, 0, items, partial.data() + part * plan.outputs);
      }
    });
    for (int64_t i = 0; i < plan.outputs; ++i) {
      T acc = partial[i];
      for (int64_t part = 1; part < parts; ++part) acc = Reducer<T, Op>::combine(acc, partial[part * plan.outputs + i]);
      dst[i] = acc;
    }
  }
  if constexpr (Op == ReduceOp::Mean) {
    const T divisor = static_cast<T>(count);  // 0 / 0 gives NaN for an empty mean, as it should
    for (int64_t i = 0; i < plan.outputs; ++i) dst[i] /= divisor;
  }
  if (!direct) cpu_backend().copy(out, staging);
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, Tensor& out, const Tensor& in, const std::vector<int>& axes) {
  const std::string_view name = op_name(op);
  cpu::check_same_dtype(name, out, in);
  const std::vector<bool> is_reduced = check_reduce_args(name, op, out, in, axes);
  if (out.numel() == 0) return;
  cpu::dispatch_computing(in.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (op) {
      case ReduceOp::Sum: return reduce_typed<T, ReduceOp::Sum>(out, in, is_reduced);
      case ReduceOp::Mean: return reduce_typed<T, ReduceOp::Mean>(out, in, is_reduced);
      case ReduceOp::Max: return reduce_typed<T, ReduceOp::Max>(out, in, is_reduced);
      case ReduceOp::Min: return reduce_typed<T, ReduceOp::Min>(out, in, is_reduced);
    }
  });
}

void CpuBackend::argmax(Tensor& out, const Tensor& in, int axis) {
  RECUR_CHECK(axis >= 0 && axis < in.dim(), "argmax: axis {} is out of range for {}", axis, in.describe());
  RECUR_CHECK(out.dtype() == DType::Int64, "argmax: output must be int64, got {}", out.describe());
  Shape expected = in.shape();
  expected[axis] = 1;
  RECUR_CHECK(out.shape() == expected, "argmax: output {} should have shape {} for input {} along axis {}",
              out.describe(), shape_str(expected), in.describe(), axis);
  if (out.numel() == 0) return;
  const int64_t length = in.shape()[axis], step = in.strides()[axis];
  RECUR_CHECK(length > 0, "argmax: axis {} of {} is empty", axis, in.describe());
  cpu::dispatch_computing(in.dtype(), "argmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = static_cast<const T*>(in.raw_data());
    int64_t* o = static_cast<int64_t*>(out.raw_data());
    const auto argmax_lane = [&](const T* lane) {
      T best = lane[0];
      int64_t best_index = 0;
      for (int64_t i = 1; i < length; ++i) {
        const T value = lane[i * step];
        if (elementwise_math::argmax_better(value, best)) best = value, best_index = i;
      }
      return best_index;
    };
    cpu::parallel_for_each_lane<2>(in.shape(), axis, {&in.strides(), &out.strides()}, length,
                                   [&](const cpu::Offsets2& at, const cpu::Offsets2& steps, int64_t count) {
                                     for (int64_t i = 0; i < count; ++i)
                                       o[at[1] + i * steps[1]] = argmax_lane(x + at[0] + i * steps[0]);
                                   });
  });
}

}  // namespace recur
