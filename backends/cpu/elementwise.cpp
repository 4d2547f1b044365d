// Elementwise primitives: unary, binary, where, axpby.
//
// Each op's formula (backends/elementwise_math.h, shared with the CUDA kernels) is instantiated
// into its own loop over contiguous data (vectorised by the compiler) or over strided rows
// (cpu/strided.h). Binary and where receive operands already expanded to the output's shape, so
// broadcast axes have stride 0.
#include <type_traits>

#include "backends/cpu/checks.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dispatch.h"
#include "backends/cpu/strided.h"
#include "backends/elementwise_math.h"
#include "backends/op_names.h"

namespace recur {
namespace {

namespace math = elementwise_math;
using cpu::Offsets2;
using cpu::Offsets3;
using cpu::Offsets4;

// out = f(in)
template <typename T, typename F> void map_unary(Tensor& out, const Tensor& in, const F& f) {
  T* o = static_cast<T*>(out.raw_data());
  const T* x = static_cast<const T*>(in.raw_data());
  if (out.is_contiguous() && in.is_contiguous()) {
    cpu::parallel_for(out.numel(), cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) o[i] = f(x[i]);
    });
    return;
  }
  const auto space = cpu::make_space<2>(out.shape(), {&out.strides(), &in.strides()});
  cpu::parallel_for_each(space, [&](const Offsets2& at, const Offsets2& step, int64_t count) {
    T* po = o + at[0];
    const T* px = x + at[1];
    if (step[0] == 1 && step[1] == 1) {
      for (int64_t i = 0; i < count; ++i) po[i] = f(px[i]);
    } else {
      for (int64_t i = 0; i < count; ++i) po[i * step[0]] = f(px[i * step[1]]);
    }
  });
}

// out = f(a, b), with the common broadcast rows (one operand constant along the row) kept
// vectorisable.
template <typename T, typename F> void map_binary(Tensor& out, const Tensor& a, const Tensor& b, const F& f) {
  T* o = static_cast<T*>(out.raw_data());
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  if (out.is_contiguous() && a.is_contiguous() && b.is_contiguous()) {
    cpu::parallel_for(out.numel(), cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) o[i] = f(pa[i], pb[i]);
    });
    return;
  }
  const auto space = cpu::make_space<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()});
  cpu::parallel_for_each(space, [&](const Offsets3& at, const Offsets3& step, int64_t count) {
    T* ro = o + at[0];
    const T* ra = pa + at[1];
    const T* rb = pb + at[2];
    if (step[0] == 1 && step[1] == 1 && step[2] == 1) {
      for (int64_t i = 0; i < count; ++i) ro[i] = f(ra[i], rb[i]);
    } else if (step[0] == 1 && step[1] == 1 && step[2] == 0) {
      const T vb = rb[0];
      for (int64_t i = 0; i < count; ++i) ro[i] = f(ra[i], vb);
    } else if (step[0] == 1 && step[1] == 0 && step[2] == 1) {
      const T va = ra[0];
      for (int64_t i = 0; i < count; ++i) ro[i] = f(va, rb[i]);
    } else {
      for (int64_t i = 0; i < count; ++i) ro[i * step[0]] = f(ra[i * step[1]], rb[i * step[2]]);
    }
  });
}

template <typename T> void unary_typed(UnaryOp op, Tensor& out, const Tensor& in, UnaryParams params) {
  const T a = static_cast<T>(params.a), b = static_cast<T>(params.b);
  // An exponent of 2 or 1 picks its exact formula once, outside the loop (x^2 stays vectorised).
  if (op == UnaryOp::PowScalar && a == T(2)) op = UnaryOp::Square;
  if (op == UnaryOp::PowScalar && a == T(1)) return map_unary<T>(out, in, [](T x) { return x; });
  math::visit(op, [&](auto tag) {
    constexpr UnaryOp kOp = decltype(tag)::value;
    map_unary<T>(out, in, [a, b](T x) { return math::unary<kOp>(x, a, b); });
  });
}

template <typename T> void binary_typed(BinaryOp op, Tensor& out, const Tensor& a, const Tensor& b) {
  math::visit(op, [&](auto tag) {
    constexpr BinaryOp kOp = decltype(tag)::value;
    if constexpr (math::kFloatingOnly<kOp> && !std::is_floating_point_v<T>) {
      RECUR_FAIL("{}: not supported for {} tensors on the CPU (expected float32 or float64)", op_name(op), out.dtype());
    } else {
      map_binary<T>(out, a, b, [](T x, T y) { return math::binary<kOp>(x, y); });
    }
  });
}

}  // namespace

void CpuBackend::unary(UnaryOp op, Tensor& out, const Tensor& in, UnaryParams params) {
  const std::string_view name = op_name(op);
  cpu::check_same_shape(name, out, in);
  cpu::check_same_dtype(name, out, in);
  if (out.numel() == 0) return;
  cpu::dispatch_floating(out.dtype(), name,
                         [&](auto tag) { unary_typed<typename decltype(tag)::type>(op, out, in, params); });
}

void CpuBackend::binary(BinaryOp op, Tensor& out, const Tensor& a, const Tensor& b) {
  const std::string_view name = op_name(op);
  cpu::check_same_shape(name, out, a);
  cpu::check_same_shape(name, out, b);
  cpu::check_same_dtype(name, out, a);
  cpu::check_same_dtype(name, out, b);
  if (out.numel() == 0) return;
  cpu::dispatch_computing(out.dtype(), name,
                          [&](auto tag) { binary_typed<typename decltype(tag)::type>(op, out, a, b); });
}

void CpuBackend::where(Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  for (const Tensor* t : {&cond, &a, &b}) {
    cpu::check_same_shape("where", out, *t);
    cpu::check_same_dtype("where", out, *t);
  }
  if (out.numel() == 0) return;
  cpu::dispatch_computing(out.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out.raw_data());
    const T* pc = static_cast<const T*>(cond.raw_data());
    const T* pa = static_cast<const T*>(a.raw_data());
    const T* pb = static_cast<const T*>(b.raw_data());
    const auto space = cpu::make_space<4>(out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()});
    cpu::parallel_for_each(space, [&](const Offsets4& at, const Offsets4& step, int64_t count) {
      T* ro = o + at[0];
      const T *rc = pc + at[1], *ra = pa + at[2], *rb = pb + at[3];
      if (step[0] == 1 && step[1] == 1 && step[2] == 1 && step[3] == 1) {
        for (int64_t i = 0; i < count; ++i) ro[i] = rc[i] != T(0) ? ra[i] : rb[i];
      } else {
        for (int64_t i = 0; i < count; ++i) {
          ro[i * step[0]] = rc[i * step[1]] != T(0) ? ra[i * step[2]] : rb[i * step[3]];
        }
      }
    });
  });
}

void CpuBackend::axpby(Tensor& out, double alpha, const Tensor& x, double beta) {
  cpu::check_same_shape("axpby", out, x);
  cpu::check_same_dtype("axpby", out, x);
  if (out.numel() == 0) return;
  cpu::dispatch_floating(out.dtype(), "axpby", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T a = static_cast<T>(alpha), b = static_cast<T>(beta);
    // beta == 0 never reads out, so uninitialised memory (NaN patterns) cannot leak in.
    if (beta == 0.0) return map_unary<T>(out, x, [a](T v) { return a * v; });
    T* o = static_cast<T*>(out.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    const auto space = cpu::make_space<2>(out.shape(), {&out.strides(), &x.strides()});
    cpu::parallel_for_each(space, [&](const Offsets2& at, const Offsets2& step, int64_t count) {
      T* ro = o + at[0];
      const T* rx = px + at[1];
      if (step[0] == 1 && step[1] == 1) {
        for (int64_t i = 0; i < count; ++i) ro[i] = a * rx[i] + b * ro[i];
      } else {
        for (int64_t i = 0; i < count; ++i) ro[i * step[0]] = a * rx[i * step[1]] + b * ro[i * step[0]];
      }
    });
  });
}

}  // namespace recur
