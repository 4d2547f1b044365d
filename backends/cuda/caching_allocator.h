// A caching allocator for device memory: freed blocks go back to size-class bins and are
// handed out again, so a training loop that allocates the same shapes every step calls
// cudaMalloc only during its first step.
//
// Size classes: requests are rounded up to a multiple of 512 bytes below 1 MiB and to a
// multiple of 2 MiB above; a bin holds free blocks of exactly one rounded size. All work is
// ordered on the device's one stream, so a block freed by one op and reused by the next is
// safe without events.
//
// When cudaMalloc fails, the cache is emptied (after synchronising) and the request retried;
// if it still fails, recur::Error names the device, the request, the bytes in use by tensors,
// the bytes cached in free blocks and the device's free/total memory.
//
// The raw device memory comes through `DeviceMemory`, so the caching logic and the messages
// are tested on machines without a GPU (tests/test_cuda_runtime.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/storage.h"

namespace recur::cuda {

// Raw device memory: cudaMalloc/cudaFree on a real device (context.cpp), a fake in tests.
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
  uint64_t device_allocations = 0;  // cudaMalloc calls that succeeded
  uint64_t cache_flushes = 0;       // times the cache was emptied to retry an allocation
};

class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(DeviceMemory* memory) : memory_(memory) {}
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
  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_bins_;  // rounded size -> free blocks
  std::unordered_map<void*, size_t> live_;          // block -> rounded size
  AllocatorStats stats_;
};

// "1.50 MiB" and the like, for messages.
std::string format_bytes(size_t nbytes);

}  // namespace recur::cuda
