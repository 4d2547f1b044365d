// softmax / log-softmax along one axis, and their backward passes, lane by lane.
//
// With L = the axis length, along each lane x[0..L):
//   m = max x,  s = sum_i e^(x_i - m)
//   softmax:      y_i = e^(x_i - m) / s
//   log-softmax:  y_i = x_i - m - ln s
// Backward, from y and dy:
//   softmax:      dx_i = y_i (dy_i - sum_j dy_j y_j)
//   log-softmax:  dx_i = dy_i - e^(y_i) sum_j dy_j
// A lane of a contiguous tensor's last axis has unit strides and vectorises.
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

}  // namespace

void CpuBackend::softmax(Tensor& out, const Tensor& in, int axis, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
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
    cpu::parallel_for_each_lane<2>(in.shape(), axis, {&out.strides(), &in.strides()}, length,
                                   [&](const cpu::Offsets2& at) {
                                     if (in_step == 1 && out_step == 1) {
                                       softmax_lane<T>(y + at[0], Unit{}, x + at[1], Unit{}, length, log);
                                     } else {
                                       softmax_lane<T>(y + at[0], out_step, x + at[1], in_step, length, log);
                                     }
                                   });
  });
}

void CpuBackend::softmax_backward(Tensor& dx, const Tensor& y, const Tensor& dy, int axis, bool log) {
  const char* name = log ? "log_softmax_backward" : "softmax_backward";
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
    cpu::parallel_for_each_lane<3>(
        y.shape(), axis, {&dx.strides(), &y.strides(), &dy.strides()}, length, [&](const cpu::Offsets3& at) {
          if (dx_step == 1 && y_step == 1 && dy_step == 1) {
            softmax_backward_lane<T>(pdx + at[0], Unit{}, py + at[1], Unit{}, pdy + at[2], Unit{}, length, log);
          } else {
            softmax_backward_lane<T>(pdx + at[0], dx_step, py + at[1], y_step, pdy + at[2], dy_step, length, log);
          }
        });
  });
}

}  // namespace recur
