// The caching allocator (backends/caching_allocator.h) over a fake device memory: size classes,
// reuse across steps, the CPU's policy (reuse of a larger cached block, a bound on the cached
// bytes), the flush before giving up and the out-of-memory message; and the CPU allocator's use
// of it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "backends/caching_allocator.h"
#include "backends/cpu/cpu_backend.h"
#include "core/error.h"

namespace recur {
namespace {

using ::testing::HasSubstr;

// Device memory with a budget, recording what the allocator asks of it.
class FakeDeviceMemory final : public DeviceMemory {
 public:
  explicit FakeDeviceMemory(size_t budget) : budget_(budget) {}
  ~FakeDeviceMemory() override {
    for (auto& [ptr, size] : blocks_) ::operator delete(ptr);
  }
  void* try_allocate(size_t nbytes) override {
    if (used_ + nbytes > budget_) return nullptr;
    void* ptr = ::operator new(nbytes);
    blocks_[ptr] = nbytes;
    used_ += nbytes;
    ++mallocs;
    return ptr;
  }
  void release(void* ptr) override {
    used_ -= blocks_.at(ptr);
    blocks_.erase(ptr);
    ::operator delete(ptr);
    ++frees;
  }
  void synchronize() override { ++synchronizations; }
  void memory_info(size_t* free_bytes, size_t* total_bytes) override {
    *free_bytes = budget_ - used_;
    *total_bytes = budget_;
  }
  std::string device_name() const override { return "cuda:7"; }

  int mallocs = 0, frees = 0, synchronizations = 0;

 private:
  size_t budget_, used_ = 0;
  std::map<void*, size_t> blocks_;
};

TEST(CachingAllocator, SizeClassesRoundToGranules) {
  EXPECT_EQ(CachingAllocator::rounded_size(0), 512u);
  EXPECT_EQ(CachingAllocator::rounded_size(1), 512u);
  EXPECT_EQ(CachingAllocator::rounded_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::rounded_size((1u << 20) - 1), 1u << 20);
  EXPECT_EQ(CachingAllocator::rounded_size((1u << 20) + 1), 2u << 20);
  EXPECT_EQ(CachingAllocator::rounded_size((5u << 20)), 6u << 20);
}

TEST(CachingAllocator, ReusesFreedBlocksAcrossSteps) {
  FakeDeviceMemory memory(64u << 20);
  CachingAllocator allocator(&memory);
  for (int step = 0; step < 3; ++step) {
    void* a = allocator.allocate(1000);
    void* b = allocator.allocate(3u << 20);
    void* c = allocator.allocate(0);
    EXPECT_NE(a, c);
    allocator.deallocate(a, 1000);
    allocator.deallocate(b, 3u << 20);
    allocator.deallocate(c, 0);
  }
  EXPECT_EQ(memory.mallocs, 3);  // only the first step reaches the device
  const AllocatorStats stats = allocator.stats();
  EXPECT_EQ(stats.allocations, 9u);
  EXPECT_EQ(stats.cache_hits, 6u);
  EXPECT_EQ(stats.device_allocations, 3u);
  EXPECT_EQ(stats.in_use_bytes, 0u);
  EXPECT_EQ(stats.cached_bytes, 1024u + (4u << 20) + 512u);
  EXPECT_EQ(stats.peak_in_use_bytes, 1024u + (4u << 20) + 512u);
  allocator.empty_cache();
  EXPECT_EQ(allocator.stats().cached_bytes, 0u);
  EXPECT_EQ(memory.frees, 3);
}

TEST(CachingAllocator, FlushesTheCacheBeforeGivingUp) {
  FakeDeviceMemory memory(8u << 20);
  CachingAllocator allocator(&memory);
  void* a = allocator.allocate(6u << 20);
  allocator.deallocate(a, 6u << 20);       // cached: 6 MiB of the 8 MiB budget
  void* b = allocator.allocate(4u << 20);  // needs the cache given back first
  EXPECT_NE(b, nullptr);
  EXPECT_EQ(allocator.stats().cache_flushes, 1u);
  EXPECT_GE(memory.synchronizations, 1);
  allocator.deallocate(b, 4u << 20);
}

TEST(CachingAllocator, OutOfMemoryNamesRequestInUseAndCached) {
  FakeDeviceMemory memory(8u << 20);
  CachingAllocator allocator(&memory);
  void* held = allocator.allocate(3u << 20);  // 4 MiB class, in use
  try {
    allocator.allocate(10u << 20);
    FAIL() << "expected an out-of-memory error";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_THAT(message, HasSubstr("out of memory on cuda:7"));
    EXPECT_THAT(message, HasSubstr("tried to allocate 10.00 MiB"));
    EXPECT_THAT(message, HasSubstr("4.00 MiB in use by tensors"));
    EXPECT_THAT(message, HasSubstr("0 bytes cached"));
    EXPECT_THAT(message, HasSubstr("4.00 MiB free of 8.00 MiB"));
  }
  allocator.deallocate(held, 3u << 20);
}

TEST(CachingAllocator, ReusesALargerCachedBlockWithinTheSlack) {
  FakeDeviceMemory memory(256u << 20);
  CachingAllocator allocator(&memory, CachePolicy{SIZE_MAX, 0.25});
  void* longest = allocator.allocate(40u << 20);  // 40 MiB class
  allocator.deallocate(longest, 40u << 20);
  void* shorter = allocator.allocate(34u << 20);  // 34 MiB class: 40 is within 25%
  EXPECT_EQ(shorter, longest);
  EXPECT_EQ(memory.mallocs, 1);
  EXPECT_EQ(allocator.stats().in_use_bytes, 40u << 20);  // it keeps its own class
  allocator.deallocate(shorter, 34u << 20);
  EXPECT_EQ(allocator.stats().cached_bytes, 40u << 20);  // back in the 40 MiB bin
  void* much_shorter = allocator.allocate(20u << 20);    // 40 is more than 25% larger
  EXPECT_NE(much_shorter, longest);
  EXPECT_EQ(memory.mallocs, 2);
  allocator.deallocate(much_shorter, 20u << 20);
}

TEST(CachingAllocator, ExactClassesWithoutSlack) {
  FakeDeviceMemory memory(256u << 20);
  CachingAllocator allocator(&memory);
  void* a = allocator.allocate(40u << 20);
  allocator.deallocate(a, 40u << 20);
  void* b = allocator.allocate(38u << 20);
  EXPECT_EQ(memory.mallocs, 2);
  allocator.deallocate(b, 38u << 20);
}

TEST(CachingAllocator, GivesBackWhatWouldPassTheBound) {
  FakeDeviceMemory memory(256u << 20);
  CachingAllocator allocator(&memory, CachePolicy{10u << 20, 0.0});
  void* a = allocator.allocate(6u << 20);
  void* b = allocator.allocate(6u << 20);
  allocator.deallocate(a, 6u << 20);  // cached: 6 MiB
  allocator.deallocate(b, 6u << 20);  // 12 MiB would pass 10: released
  EXPECT_EQ(allocator.stats().cached_bytes, 6u << 20);
  EXPECT_EQ(memory.frees, 1);
  EXPECT_GE(memory.synchronizations, 1);
}

TEST(CpuAllocator, LargeBlocksComeBackFromTheCacheAligned) {
  CpuAllocator allocator;
  void* first = allocator.allocate(8u << 20);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 64, 0u);
  static_cast<char*>(first)[(8u << 20) - 1] = 1;
  allocator.deallocate(first, 8u << 20);
  void* again = allocator.allocate(7u << 20);
  if (allocator.caches_large_blocks()) {
    EXPECT_EQ(again, first);
  }
  allocator.deallocate(again, 7u << 20);
  void* small = allocator.allocate(100);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small) % 64, 0u);
  allocator.deallocate(small, 100);
  EXPECT_EQ(allocator.allocation_count(), 3u);
}

}  // namespace
}  // namespace recur
