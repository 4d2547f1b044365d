// The CPU backend object and its allocator. The primitives are defined in the files named in
// cpu_backend.h.
#include "backends/cpu/cpu_backend.h"

#include <cstdlib>

#include "backends/threading.h"

namespace recur {

namespace {
constexpr size_t kAlignment = 64;
}

void* CpuAllocator::allocate(size_t nbytes) {
  // aligned_alloc needs a size that is a multiple of the alignment, and never 0 here.
  const size_t rounded = (std::max<size_t>(nbytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  void* ptr = std::aligned_alloc(kAlignment, rounded);
  RECUR_CHECK(ptr != nullptr, "out of memory: could not allocate {} bytes on the cpu", nbytes);
  allocations_.fetch_add(1, std::memory_order_relaxed);
  return ptr;
}

void CpuAllocator::deallocate(void* ptr, size_t /*nbytes*/) { std::free(ptr); }

CpuBackend::CpuBackend() {
  get_num_threads();  // applies the default thread budget to OpenMP and OpenBLAS
}

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace recur
