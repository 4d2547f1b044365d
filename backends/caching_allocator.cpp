// The caching allocator's bins, statistics and out-of-memory message (caching_allocator.h).
#include "backends/caching_allocator.h"

#include <fmt/format.h>

#include "core/error.h"

namespace recur {
namespace {

constexpr size_t kSmallLimit = size_t{1} << 20;  // 1 MiB
constexpr size_t kSmallGranule = 512;
constexpr size_t kLargeGranule = size_t{2} << 20;  // 2 MiB

size_t round_up(size_t value, size_t granule) { return (value + granule - 1) / granule * granule; }

}  // namespace

std::string format_bytes(size_t nbytes) {
  const double value = static_cast<double>(nbytes);
  if (nbytes >= (size_t{1} << 30)) return fmt::format("{:.2f} GiB", value / (1 << 30));
  if (nbytes >= (size_t{1} << 20)) return fmt::format("{:.2f} MiB", value / (1 << 20));
  if (nbytes >= (size_t{1} << 10)) return fmt::format("{:.2f} KiB", value / (1 << 10));
  return fmt::format("{} bytes", nbytes);
}

size_t CachingAllocator::rounded_size(size_t nbytes) {
  if (nbytes == 0) return kSmallGranule;
  return nbytes < kSmallLimit ? round_up(nbytes, kSmallGranule) : round_up(nbytes, kLargeGranule);
}

CachingAllocator::~CachingAllocator() {
  // Blocks still held by tensors at exit are left to the driver (the context goes with the
  // process); the cached ones are returned. Never throws.
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, blocks] : free_bins_) {
      for (void* block : blocks) memory_->release(block);
    }
    free_bins_.clear();
  } catch (...) {
  }
}

void* CachingAllocator::allocate(size_t nbytes) {
  size_t size = rounded_size(nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.allocations;
  void* block = nullptr;
  // The smallest non-empty bin of this class or larger, within the policy's slack.
  const auto limit = static_cast<size_t>(static_cast<double>(size) * (1.0 + policy_.reuse_slack));
  auto bin = free_bins_.lower_bound(size);
  while (bin != free_bins_.end() && bin->second.empty() && bin->first <= limit) ++bin;
  if (bin != free_bins_.end() && !bin->second.empty() && bin->first <= limit) {
    size = bin->first;
    block = bin->second.back();
    bin->second.pop_back();
    stats_.cached_bytes -= size;
    ++stats_.cache_hits;
  } else {
    block = memory_->try_allocate(size);
    if (block == nullptr && stats_.cached_bytes > 0) {
      release_cached_locked();
      ++stats_.cache_flushes;
      block = memory_->try_allocate(size);
    }
    if (block == nullptr) {
      size_t free_bytes = 0, total_bytes = 0;
      memory_->memory_info(&free_bytes, &total_bytes);
      RECUR_FAIL(
          "out of memory on {}: tried to allocate {} ({} bytes, {} with rounding); {} in use by tensors, {} cached "
          "in free blocks (already released to retry), the device has {} free of {}",
          memory_->device_name(), format_bytes(nbytes), nbytes, format_bytes(size), format_bytes(stats_.in_use_bytes),
          format_bytes(stats_.cached_bytes), format_bytes(free_bytes), format_bytes(total_bytes));
    }
    ++stats_.device_allocations;
  }
  live_.emplace(block, size);
  stats_.in_use_bytes += size;
  stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
  return block;
}

void CachingAllocator::deallocate(void* ptr, size_t /*nbytes*/) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = live_.find(ptr);
  if (it == live_.end()) return;  // not ours: never happens through Storage; ignore rather than throw in a destructor
  const size_t size = it->second;
  live_.erase(it);
  stats_.in_use_bytes -= size;
  if (stats_.cached_bytes + size > policy_.max_cached_bytes) {
    memory_->synchronize();
    memory_->release(ptr);
    return;
  }
  free_bins_[size].push_back(ptr);
  stats_.cached_bytes += size;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() {
  if (stats_.cached_bytes == 0) return;
  memory_->synchronize();
  for (auto& [size, blocks] : free_bins_) {
    for (void* block : blocks) memory_->release(block);
    blocks.clear();
  }
  free_bins_.clear();
  stats_.cached_bytes = 0;
}

}  // namespace recur
