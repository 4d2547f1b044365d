// Reference-counted memory owned through a backend's allocator.
#pragma once

#include <cstddef>
#include <memory>

#include "core/device.h"

namespace recur {

// A backend's allocator. The CPU's is aligned malloc; CUDA's is a caching allocator.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
};

// A block of device memory. Freed through its allocator when the last Tensor using it goes.
class Storage {
 public:
  Storage(Allocator* allocator, Device device, size_t nbytes)
      : allocator_(allocator), device_(device), nbytes_(nbytes), data_(allocator->allocate(nbytes)) {}
  ~Storage() { allocator_->deallocate(data_, nbytes_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  Allocator* allocator_;
  Device device_;
  size_t nbytes_;
  void* data_;
};

}  // namespace recur
