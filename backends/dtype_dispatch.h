// From a runtime dtype to a compile-time one, written once for both devices: the CPU switches
// on recur::DType (backends/cpu/codec.h), the CUDA launchers on recur::cuda::ElemType
// (backends/cuda/device_common.cuh; nvcc compiles them without core/). Standard headers only.
#pragma once

#include <type_traits>

namespace recur {

// Calls f(std::integral_constant<Enum, Enum::X>{}) for the value of `type`, where Enum has the
// enumerators Float32, Float64, Float16, BFloat16 and Int64.
template <typename Enum, typename F> void dispatch_dtype(Enum type, const F& f) {
  switch (type) {
    case Enum::Float32: f(std::integral_constant<Enum, Enum::Float32>{}); return;
    case Enum::Float64: f(std::integral_constant<Enum, Enum::Float64>{}); return;
    case Enum::Float16: f(std::integral_constant<Enum, Enum::Float16>{}); return;
    case Enum::BFloat16: f(std::integral_constant<Enum, Enum::BFloat16>{}); return;
    case Enum::Int64: f(std::integral_constant<Enum, Enum::Int64>{}); return;
  }
}

}  // namespace recur
