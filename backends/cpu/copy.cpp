// copy (any strides, any dtype pair), fill, and transfers between host memory and a tensor.
#include <cstring>

#include "backends/cpu/checks.h"
#include "backends/cpu/codec.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/strided.h"

namespace recur {
namespace {

using cpu::Codec;

// memcpy is bandwidth-bound: split only large copies (bytes).
constexpr int64_t kParallelCopyBytes = int64_t{1} << 20;

void parallel_memcpy(void* dst, const void* src, int64_t nbytes) {
  cpu::parallel_for(nbytes, kParallelCopyBytes, [&](int64_t begin, int64_t end) {
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin, end - begin);
  });
}

template <DType DstType, DType SrcType> void copy_kernel(Tensor& dst, const Tensor& src) {
  using DstStorage = typename Codec<DstType>::Storage;
  using SrcStorage = typename Codec<SrcType>::Storage;
  using DstValue = typename Codec<DstType>::Value;
  const auto convert = [](SrcStorage s) {
    return Codec<DstType>::store(cpu::convert_value<DstValue>(Codec<SrcType>::load(s)));
  };
  DstStorage* out = static_cast<DstStorage*>(dst.raw_data());
  const SrcStorage* in = static_cast<const SrcStorage*>(src.raw_data());
  if (dst.is_contiguous() && src.is_contiguous()) {
    if constexpr (DstType == SrcType) {
      parallel_memcpy(out, in, static_cast<int64_t>(dst.nbytes()));
    } else {
      cpu::parallel_for(dst.numel(), cpu::kParallelGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) out[i] = convert(in[i]);
      });
    }
    return;
  }
  const auto space = cpu::make_space<2>(dst.shape(), {&dst.strides(), &src.strides()});
  cpu::parallel_for_each(space, [&](const cpu::Offsets2& at, const cpu::Offsets2& step, int64_t count) {
    DstStorage* o = out + at[0];
    const SrcStorage* x = in + at[1];
    if (step[0] == 1 && step[1] == 1) {
      for (int64_t i = 0; i < count; ++i) o[i] = convert(x[i]);
    } else if (step[0] == 1 && step[1] == 0) {
      const DstStorage value = convert(x[0]);
      for (int64_t i = 0; i < count; ++i) o[i] = value;
    } else {
      for (int64_t i = 0; i < count; ++i) o[i * step[0]] = convert(x[i * step[1]]);
    }
  });
}

template <DType Type> void fill_kernel(Tensor& out, double value) {
  using Storage = typename Codec<Type>::Storage;
  const Storage stored = Codec<Type>::store(cpu::convert_value<typename Codec<Type>::Value>(value));
  Storage* data = static_cast<Storage*>(out.raw_data());
  if (out.is_contiguous()) {
    cpu::parallel_for(out.numel(), cpu::kParallelGrain,
                      [&](int64_t begin, int64_t end) { std::fill(data + begin, data + end, stored); });
    return;
  }
  const auto space = cpu::make_space<1>(out.shape(), {&out.strides()});
  cpu::parallel_for_each(space, [&](const cpu::Offsets1& at, const cpu::Offsets1& step, int64_t count) {
    for (int64_t i = 0; i < count; ++i) data[at[0] + i * step[0]] = stored;
  });
}

}  // namespace

void CpuBackend::copy(Tensor& dst, const Tensor& src) {
  cpu::check_cpu("copy", dst);
  cpu::check_cpu("copy", src);
  cpu::check_same_shape("copy", dst, src);
  if (dst.numel() == 0) return;
  // A copy onto itself (same memory, same layout) has nothing to do; memcpy must not overlap.
  if (dst.raw_data() == src.raw_data() && dst.dtype() == src.dtype() && dst.strides() == src.strides()) return;
  cpu::dispatch_any(dst.dtype(), [&](auto dst_type) {
    cpu::dispatch_any(src.dtype(), [&](auto src_type) { copy_kernel<dst_type.value, src_type.value>(dst, src); });
  });
}

void CpuBackend::copy_from_host(Tensor& dst, const void* host, size_t nbytes) {
  RECUR_CHECK(dst.is_contiguous() && nbytes == dst.nbytes(),
              "copy_from_host: expected {} bytes into a contiguous tensor, got {} bytes for {}", dst.nbytes(), nbytes,
              dst.describe());
  if (nbytes > 0) parallel_memcpy(dst.raw_data(), host, static_cast<int64_t>(nbytes));
}

void CpuBackend::copy_to_host(void* host, const Tensor& src, size_t nbytes) {
  RECUR_CHECK(src.is_contiguous() && nbytes == src.nbytes(),
              "copy_to_host: expected {} bytes from a contiguous tensor, got {} bytes for {}", src.nbytes(), nbytes,
              src.describe());
  if (nbytes > 0) parallel_memcpy(host, src.raw_data(), static_cast<int64_t>(nbytes));
}

void CpuBackend::fill(Tensor& out, double value) {
  cpu::check_cpu("fill", out);
  if (out.numel() == 0) return;
  cpu::dispatch_any(out.dtype(), [&](auto type) { fill_kernel<type.value>(out, value); });
}

}  // namespace recur
