// Helpers for the backend tests: reference reads of any strided view (independent of the
// backend's own copy), index iteration, random inputs and views with unusual strides.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/compute.h"
#include "core/tensor.h"

namespace recur::testing_util {

inline TensorOptions options_for(DType dtype) { return TensorOptions{}.with_dtype(dtype); }

// An int64 tensor (from_vector's dtype comes from its options, float32 by default).
inline Tensor int64_tensor(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector(values, shape, options_for(DType::Int64));
}

// Calls f(index) for every multi-index of shape in row-major order.
inline void for_each_index(const Shape& shape, const std::function<void(const std::vector<int64_t>&)>& f) {
  if (numel_of(shape) == 0) return;
  std::vector<int64_t> index(shape.size(), 0);
  while (true) {
    f(index);
    size_t axis = shape.size();
    while (axis > 0) {
      --axis;
      if (++index[axis] < shape[axis]) break;
      index[axis] = 0;
      if (axis == 0) return;
    }
    if (shape.empty()) return;
  }
}

// One element of a CPU tensor by multi-index, read through its strides, as double.
inline double element(const Tensor& t, const std::vector<int64_t>& index) {
  int64_t offset = 0;
  for (size_t i = 0; i < index.size(); ++i) offset += index[i] * t.strides()[i];
  return load_as_double(t.raw_data(), t.dtype(), offset);
}

// All elements in row-major order, as double.
inline std::vector<double> values_of(const Tensor& t) {
  std::vector<double> out;
  for_each_index(t.shape(), [&](const std::vector<int64_t>& index) { out.push_back(element(t, index)); });
  return out;
}

// Normal random values (seeded, reproducible).
inline Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed, double mean = 0.0, double std = 1.0) {
  Generator generator(seed);
  return randn(shape, options_for(dtype), &generator, mean, std);
}

// A view with shape `shape` whose memory is laid out transposed (axes reversed), filled with
// random values: it is not contiguous.
inline Tensor reversed_layout(const Shape& shape, DType dtype, uint64_t seed) {
  Shape reversed(shape.rbegin(), shape.rend());
  Tensor base = random_tensor(reversed, dtype, seed);
  Strides strides(base.strides().rbegin(), base.strides().rend());
  return base.as_strided_raw(shape, strides, 0);
}

// A view of `shape` that takes every other element of the last axis from a larger tensor.
inline Tensor every_other_column(const Shape& shape, DType dtype, uint64_t seed) {
  Shape wide = shape;
  wide.back() = shape.back() * 2;
  Tensor base = random_tensor(wide, dtype, seed);
  Strides strides = base.strides();
  strides.back() = 2;
  return base.as_strided_raw(shape, strides, 1);
}

// t expanded to shape with stride 0 on the broadcast axes (NumPy alignment).
inline Tensor expanded(const Tensor& t, const Shape& shape) {
  const size_t lead = shape.size() - t.shape().size();
  Strides strides(shape.size(), 0);
  for (size_t i = 0; i < t.shape().size(); ++i) {
    if (t.shape()[i] == shape[lead + i]) strides[lead + i] = t.strides()[i];
  }
  return t.as_strided_raw(shape, strides, t.offset());
}

inline double tolerance(DType dtype) { return dtype == DType::Float32 ? 2e-5 : 1e-12; }

// Elementwise |got - want| <= atol + rtol * |want| (NaN matches NaN).
inline void expect_values_near(const Tensor& got, const std::vector<double>& want, double rtol,
                               const std::string& what = "") {
  const std::vector<double> values = values_of(got);
  ASSERT_EQ(values.size(), want.size()) << what;
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(values[i])) << what << " element " << i;
      continue;
    }
    if (std::isinf(want[i])) {
      EXPECT_EQ(values[i], want[i]) << what << " element " << i;
      continue;
    }
    EXPECT_NEAR(values[i], want[i], rtol + rtol * std::abs(want[i])) << what << " element " << i;
  }
}

}  // namespace recur::testing_util
