// softmax / log-softmax along one axis, and their backward passes, lane by lane.
//
// With L = the axis length, along each lane x[0..L):
//   m = max x,  s = sum_i e^(x_i - m)
//   softmax:      y_i = e^(x_i - m) / s
//   log-softmax:  y_i = x_i - m - ln s
// Backward, from y and dy:
//   softmax:      dx_i = y_i (dy_i - sum_j dy_j y_j)
//   log-softmax:  dx_i = dy_i - e^(y_i) sum_j dy_j
// A lane of a contiguous tensor's last axis has unit strides and vectorises; along another
// axis, neighbouring lanes are processed together (softmax_lanes).
#include <cmath>
#include <type_traits>

#include "backends/cpu/checks.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/dispatch.h"
#include "backends/cpu/strided.h"

namespace recur {
namespace {

// Step is int64_t, or Unit for the unit-stride instantiation that vectorises.
using Unit = std::integral_constant<int64_t, 1>;

template <typename T, typename Step>
void softmax_lane(T* y, Step y_step, const T* x, Step x_step, int64_t length, bool log) {
  T m = x[0];
  for (int64_t i = 1; i < length; ++i) m = std::max(m, x[i * x_step]);
  if (log) {
    T s = 0;
    for (int64_t i = 0; i < length; ++i) s += std::exp(x[i * x_step] - m);
    const T shift = m + std::log(s);
    for (int64_t i = 0; i < length; ++i) y[i * y_step] = x[i * x_step] - shift;
    return;
  }
  T s = 0;
  for (int64_t i = 0; i < length; ++i) {
    const T e = std::exp(x[i * x_step] - m);
    y[i * y_step] = e;
    s += e;
  }
  const T inverse = T(1) / s;
  for (int64_t i = 0; i < length; ++i) y[i * y_step] *= inverse;
}

template <typename T, typename Step> void softmax_backward_lane(T* dx, Step dx_step, const T* y, Step y_step,
                                                                const T* dy, Step dy_step, int64_t length, bool log) {
  T total = 0;
  if (log) {
    for (int64_t i = 0; i < length; ++i) total += dy[i * dy_step];
    for (int64_t i = 0; i < length; ++i) dx[i * dx_step] = dy[i * dy_step] - std::exp(y[i * y_step]) * total;
    return;
  }
  for (int64_t i = 0; i < length; ++i) total += dy[i * dy_step] * y[i * y_step];
  for (int64_t i = 0; i < length; ++i) dx[i * dx_step] = y[i * y_step] * (dy[i * dy_step] - total);
}

// `width` (<= kLaneGroup) neighbouring lanes at once, for an axis that is not the unit-stride
// one (e.g. axis 0 of a contiguous matrix): the inner loops run along the contiguous lanes,
// so each step along the axis reads whole cache lines.
constexpr int64_t kLaneGroup = 64;

template <typename T>
void softmax_lanes(T* y, int64_t y_step, const T* x, int64_t x_step, int64_t length, int64_t width, bool log) {
  T m[kLaneGroup], s[kLaneGroup];
  for (int64_t w = 0; w < width; ++w) m[w] = x[w], s[w] = 0;
  for (int64_t i = 1; i < length; ++i) {
    const T* xi = x + i * x_step;
    for (int64_t w = 0; w < width; ++w) m[w] = std::max(m[w], xi[w]);
  }
  for (int64_t i = 0; i < length; ++i) {
    const T* xi = x + i * x_step;
    T* yi = y + i * y_step;
    for (int64_t w = 0; w < width; ++w) {
      const T e = std::exp(xi[w] - m[w]);
      if (!log) yi[w] = e;
      s[w] += e;
    }
  }
  for (int64_t w = 0; w < width; ++w) s[w] = log ? m[w] + std::log(s[w]) : T(1) / s[w];
  for (int64_t i = 0; i < length; ++i) {
    const T* xi = x + i * x_step;
    T* yi = y + i * y_step;
    if (log) {
      for (int64_t w = 0; w < width; ++w) yi[w] = xi[w] - s[w];
    } else {
      for (int64_t w = 0; w < width; ++w) yi[w] *= s[w];
    }
  }
}

template <typename T> void softmax_backward_lanes(T* dx, int64_t dx_step, const T* y, int64_t y_step, const T* dy,
                                                  int64_t dy_step, int64_t length, int64_t width, bool log) {
  T total[kLaneGroup];
  for (int64_t w = 0; w < width; ++w) total[w] = 0;
  for (int64_t i = 0; i < length; ++i) {
    const T *yi = y + i * y_step, *dyi = dy + i * dy_step;
    for (int64_t w = 0; w < width; ++w) total[w] += log ? dyi[w] : dyi[w] * yi[w];
  }
  for (int64_t i = 0; i < length; ++i) {
    const T *yi = y + i * y_step, *dyi = dy + i * dy_step;
    T* dxi = dx + i * dx_step;
    if (log) {
      for (int64_t w = 0; w < width; ++w) dxi[w] = dyi[w] - std::exp(yi[w]) * total[w];
    } else {
      for (int64_t w = 0; w < width; ++w) dxi[w] = yi[w] * (dyi[w] - total[w]);
    }
  }
}

}  // namespace

void CpuBackend::softmax(Tensor& out, const Tensor& in, int axis, SoftmaxKind kind) {
  const char* name = kind == SoftmaxKind::Log ? "log_softmax" : "softmax";
  const bool log = kind == SoftmaxKind::Log;
  cpu::check_same_shape(name, out, in);
  cpu::check_same_dtype(name, out, in);
  RECUR_CHECK(axis >= 0 && axis < in.dim(), "{}: axis {} is out of range for {}", name, axis, in.describe());
  if (out.numel() == 0) return;
  const int64_t length = in.shape()[axis];
  const int64_t in_step = in.strides()[axis], out_step = out.strides()[axis];
  cpu::dispatch_floating(in.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* y = static_cast<T*>(out.raw_data());
    const T* x = static_cast<const T*>(in.raw_data());
    cpu::parallel_for_each_lane<2>(
        in.shape(), axis, {&out.strides(), &in.strides()}, length,
        [&](const cpu::Offsets2& at, const cpu::Offsets2& steps, int64_t count) {
          if (count > 1 && steps[0] == 1 && steps[1] == 1 && (in_step != 1 || out_step != 1)) {
            for (int64_t w = 0; w < count; w += kLaneGroup) {
              softmax_lanes<T>(y + at[0] + w, out_step, x + at[1] + w, in_step, length, std::min(kLaneGroup, count - w),
                               log);
            }
            return;
          }
          for (int64_t i = 0; i < count; ++i) {
            T* yl = y + at[0] + i * steps[0];
            const T* xl = x + at[1] + i * steps[1];
            if (in_step == 1 && out_step == 1) {
              softmax_lane<T>(yl, Unit{}, xl, Unit{}, length, log);
            } else {
              softmax_lane<T>(yl, out_step, xl, in_step, length, log);
            }
          }
        });
  });
}

void CpuBackend::softmax_backward(Tensor& dx, const Tensor& y, const Tensor& dy, int axis, SoftmaxKind kind) {
  const char* name = kind == SoftmaxKind::Log ? "log_softmax_backward" : "softmax_backward";
  const bool log = kind == SoftmaxKind::Log;
  cpu::check_same_shape(name, dx, y);
  cpu::check_same_shape(name, dx, dy);
  cpu::check_same_dtype(name, dx, y);
  cpu::check_same_dtype(name, dx, dy);
  RECUR_CHECK(axis >= 0 && axis < y.dim(), "{}: axis {} is out of range for {}", name, axis, y.describe());
  if (dx.numel() == 0) return;
  const int64_t length = y.shape()[axis];
  const int64_t dx_step = dx.strides()[axis], y_step = y.strides()[axis], dy_step = dy.strides()[axis];
  cpu::dispatch_floating(y.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* pdx = static_cast<T*>(dx.raw_data());
    const T* py = static_cast<const T*>(y.raw_data());
    const T* pdy = static_cast<const T*>(dy.raw_data());
    const bool unit = dx_step == 1 && y_step == 1 && dy_step == 1;
    cpu::parallel_for_each_lane<3>(y.shape(), axis, {&dx.strides(), &y.strides(), &dy.strides()}, length,
                                   [&](const cpu::Offsets3& at, const cpu::Offsets3& steps, int64_t count) {
                                     if (count > 1 && steps[0] == 1 && steps[1] == 1 && steps[2] == 1 && !unit) {
                                       for (int64_t w = 0; w < count; w += kLaneGroup) {
                                         softmax_backward_lanes<T>(pdx + at[0] + w, dx_step, py + at[1] + w, y_step,
                                                                   pdy + at[2] + w, dy_step, length,
                                                                   std::min(kLaneGroup, count - w), log);
                                       }
                                       return;
                                     }
                                     for (int64_t i = 0; i < count; ++i) {
                                       T* dxl = pdx + at[0] + i * steps[0];
                                       const T *yl = py + at[1] + i * steps[1], *dyl = pdy + at[2] + i * steps[2];
                                       if (unit) {
                                         softmax_backward_lane<T>(dxl, Unit{}, yl, Unit{}, dyl, Unit{}, length, log);
                                       } else {
                                         softmax_backward_lane<T>(dxl, dx_step, yl, y_step, dyl, dy_step, length, log);
                                       }
                                     }
                                   });
  });
}

}  // namespace recur
