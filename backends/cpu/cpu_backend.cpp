// The CPU backend object and its allocator. The primitives are defined in the files named in
// cpu_backend.h.
#include "backends/cpu/cpu_backend.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "backends/threading.h"

namespace recur {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kLargeBlock = size_t{1} << 20;  // cached from here up

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

void* aligned_or_null(size_t nbytes) {
  // aligned_alloc needs a size that is a multiple of the alignment, and never 0 here.
  const size_t rounded = (std::max<size_t>(nbytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
  return std::aligned_alloc(kAlignment, rounded);
}

// The C library's heap, as the caching allocator's raw memory.
class HostMemory final : public DeviceMemory {
 public:
  void* try_allocate(size_t nbytes) override { return aligned_or_null(nbytes); }
  void release(void* ptr) override { std::free(ptr); }
  void synchronize() override {}
  void memory_info(size_t* free_bytes, size_t* total_bytes) override {
    const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    *free_bytes = static_cast<size_t>(sysconf(_SC_AVPHYS_PAGES)) * page;
    *total_bytes = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * page;
  }
  std::string device_name() const override { return "cpu"; }
};

CachePolicy host_policy(DeviceMemory& memory) {
  size_t free_bytes = 0, total_bytes = 0;
  memory.memory_info(&free_bytes, &total_bytes);
  CachePolicy policy;
  policy.max_cached_bytes = kAddressSanitizer ? 0 : total_bytes / 8;
  policy.reuse_slack = 0.25;
  return policy;
}

}  // namespace

CpuAllocator::CpuAllocator()
    : host_(std::make_unique<HostMemory>()),
      large_(std::make_unique<CachingAllocator>(host_.get(), host_policy(*host_))) {}

CpuAllocator::~CpuAllocator() = default;

bool CpuAllocator::caches_large_blocks() const { return !kAddressSanitizer; }

void* CpuAllocator::allocate(size_t nbytes) {
  allocations_.fetch_add(1, std::memory_order_relaxed);
  if (nbytes >= kLargeBlock) return large_->allocate(nbytes);  // names the request when it fails
  void* ptr = aligned_or_null(nbytes);
  RECUR_CHECK(ptr != nullptr, "out of memory: could not allocate {} bytes on the cpu", nbytes);
  return ptr;
}

void CpuAllocator::deallocate(void* ptr, size_t nbytes) {
  if (nbytes >= kLargeBlock) {
    large_->deallocate(ptr, nbytes);
  } else {
    std::free(ptr);
  }
}

CpuBackend::CpuBackend() {
  get_num_threads();  // applies the default thread budget to OpenMP and OpenBLAS
}

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  return backend;
}

}  // namespace recur
