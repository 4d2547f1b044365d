// The per-device CUDA context: one stream, the cuBLAS and cuDNN handles bound to it, the
// caching allocator and a pinned host staging buffer for transfers. The contexts live in one
// process-wide table, one per visible device, each created on first use (never at program
// start), and everything in it is created lazily too, so a machine without a GPU never touches
// the driver.
//
// All of recur's work on a device is ordered on the context's stream; copy_to_host and
// synchronize() wait for it.
//
// TF32: off by default (cuBLAS's default math mode, full float32 products); set_allow_tf32(true)
// lets float32 GEMMs use TF32 tensor cores.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <memory>
#include <mutex>

#include "backends/caching_allocator.h"

namespace recur::cuda {

// Makes `device` current for the guard's lifetime, then restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
  bool changed_ = false;
};

class CudaContext {
 public:
  explicit CudaContext(int device);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  cudaStream_t stream();
  cublasHandle_t cublas();
  cudnnHandle_t cudnn();
  CachingAllocator& allocator() { return *allocator_; }
  void synchronize();

  bool allow_tf32() const { return allow_tf32_; }
  void set_allow_tf32(bool allow);

  // The error record kernels write when they meet bad data (kernels.h: int64 [code, value,
  // limit, position], zeros when none), allocated and zeroed on first use. synchronize() and
  // copy_to_host() check it once the stream is idle and throw recur::Error for what it holds
  // (clearing it), so a bad index costs no synchronisation until the host waits anyway.
  int64_t* error_record();

  // Transfers through the pinned staging buffer. copy_from_host returns once `host` may be
  // reused (the last chunk may still be in flight from the pinned buffer); copy_to_host waits.
  void copy_from_host(void* device_dst, const void* host, size_t nbytes);
  void copy_to_host(void* host, const void* device_src, size_t nbytes);

 private:
  void* staging();              // the pinned buffer (kStagingBytes), allocated on first use
  void raise_recorded_error();  // with mutex_ held: throws what the error record holds

  int device_;
  std::mutex mutex_;  // guards the lazy creation below and the staging buffer
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  bool allow_tf32_ = false;
  std::unique_ptr<DeviceMemory> memory_;
  std::unique_ptr<CachingAllocator> allocator_;
  void* staging_ = nullptr;
  cudaEvent_t staging_done_ = nullptr;  // recorded after the last transfer out of the staging buffer
  int64_t* error_record_ = nullptr;
};

// The context of CUDA device `device` (created on first use). Throws recur::Error when that
// device is not visible, with the reason.
CudaContext& cuda_context(int device);

}  // namespace recur::cuda
