// A caching allocator: freed blocks go back to size-class bins and are handed out again, so a
// training loop that allocates the same shapes every step reaches the device's allocator (and,
// on the CPU, the kernel's page faults) only during its first step. The CUDA context caches all
// of a GPU's memory with it; the CPU allocator its large blocks (cpu_backend.h).
//
// Size classes: requests are rounded up to a multiple of 512 bytes below 1 MiB and to a
// multiple of 2 MiB above; a bin holds free blocks of exactly one rounded size. A request takes
// a block of its own class, or, with `CachePolicy::reuse_slack`, the smallest cached block at
// most that fraction larger (so sequences of varying length reuse the longest one's blocks).
// All work is ordered: the CPU's is synchronous, a GPU's on the device's one stream, so a block
// freed by one op and reused by the next is safe without events.
//
// When the device's allocator fails, the cache is emptied (after synchronising) and the request
// retried; if it still fails, recur::Error names the device, the request, the bytes in use by
// tensors, the bytes cached in free blocks and the device's free/total memory.
//
// The raw memory comes through `DeviceMemory`, so the caching logic and the messages are tested
// with a fake (tests/test_caching_allocator.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/storage.h"

namespace recur {

// Raw memory: cudaMalloc/cudaFree on a GPU (cuda/context.cpp), aligned_alloc/free on the CPU
// (cpu/cpu_backend.cpp), a fake in tests.
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  // nullptr when the device is out of memory; throws recur::Error on any other failure.
  virtual void* try_allocate(size_t nbytes) = 0;
  virtual void release(void* ptr) = 0;
  // Waits for all work on the device (before cached blocks are given back to the driver).
  virtual void synchronize() = 0;
  // The device's free and total memory in bytes.
  virtual void memory_info(size_t* free_bytes, size_t* total_bytes) = 0;
  virtual std::string device_name() const = 0;
};

struct AllocatorStats {
  size_t in_use_bytes = 0;  // rounded sizes of blocks held by tensors
  size_t cached_bytes = 0;  // rounded sizes of free blocks in the bins
  size_t peak_in_use_bytes = 0;
  uint64_t allocations = 0;         // allocate() calls
  uint64_t cache_hits = 0;          // of those, served from a bin
  uint64_t device_allocations = 0;  // the device allocator's calls that succeeded
  uint64_t cache_flushes = 0;       // times the cache was emptied to retry an allocation
};

// What is cached. The defaults (a GPU's) cache every freed block, of its exact class.
struct CachePolicy {
  // A freed block that would take the cached bytes above this is given back at once.
  size_t max_cached_bytes = SIZE_MAX;
  // A request may take a cached block up to this fraction larger than its own class.
  double reuse_slack = 0.0;
};

class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(DeviceMemory* memory, CachePolicy policy = {}) : memory_(memory), policy_(policy) {}
  ~CachingAllocator() override;
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A zero-byte request still gets a valid, unique block (of the smallest size class).
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) override;

  AllocatorStats stats() const;
  // Gives every free block back to the driver (after waiting for the device).
  void empty_cache();

  // The size class of a request (exposed for tests).
  static size_t rounded_size(size_t nbytes);

 private:
  void release_cached_locked();

  DeviceMemory* memory_;
  CachePolicy policy_;
  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_bins_;  // rounded size -> free blocks
  std::unordered_map<void*, size_t> live_;          // block -> rounded size
  AllocatorStats stats_;
};

// "1.50 MiB" and the like, for messages.
std::string format_bytes(size_t nbytes);

}  // namespace recur
