// The per-device context (context.h): lazy handles, device memory for the caching allocator,
// pinned staging for host transfers.
#include "backends/cuda/context.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "backends/cuda/check.h"
#include "backends/cuda/kernels.h"
#include "backends/cuda_info.h"
#include "core/error.h"

namespace recur::cuda {
namespace {

constexpr size_t kStagingBytes = size_t{8} << 20;  // 8 MiB of pinned host memory per device
constexpr int kMaxDevices = 64;

// cudaMalloc/cudaFree on one device.
class CudaDeviceMemory final : public DeviceMemory {
 public:
  explicit CudaDeviceMemory(int device) : device_(device) {}

  void* try_allocate(size_t nbytes) override {
    DeviceGuard guard(device_);
    void* ptr = nullptr;
    const cudaError_t status = cudaMalloc(&ptr, nbytes);
    if (status == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // not sticky: clear it so later checks do not see it
      return nullptr;
    }
    RECUR_CUDA_CHECK(status);
    return ptr;
  }

  void release(void* ptr) override {
    DeviceGuard guard(device_);
    RECUR_CUDA_CHECK(cudaFree(ptr));
  }

  void synchronize() override {
    DeviceGuard guard(device_);
    RECUR_CUDA_CHECK(cudaDeviceSynchronize());
  }

  void memory_info(size_t* free_bytes, size_t* total_bytes) override {
    DeviceGuard guard(device_);
    if (cudaMemGetInfo(free_bytes, total_bytes) != cudaSuccess) {
      cudaGetLastError();
      *free_bytes = *total_bytes = 0;
    }
  }

  std::string device_name() const override { return fmt::format("cuda:{}", device_); }

 private:
  int device_;
};

}  // namespace

DeviceGuard::DeviceGuard(int device) {
  RECUR_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) {
    RECUR_CUDA_CHECK(cudaSetDevice(device));
    changed_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (changed_) cudaSetDevice(previous_);  // a destructor must not throw
}

CudaContext::CudaContext(int device)
    : device_(device),
      memory_(std::make_unique<CudaDeviceMemory>(device)),
      allocator_(std::make_unique<CachingAllocator>(memory_.get())) {}

CudaContext::~CudaContext() {
  // Contexts live until the process exits; by then the driver may be shutting down, so
  // failures are ignored here.
  allocator_.reset();
  if (cudnn_ != nullptr) cudnnDestroy(cudnn_);
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  if (staging_done_ != nullptr) cudaEventDestroy(staging_done_);
  if (staging_ != nullptr) cudaFreeHost(staging_);
  if (stream_ != nullptr) cudaStreamDestroy(stream_);
}

cudaStream_t CudaContext::stream() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stream_ == nullptr) {
    DeviceGuard guard(device_);
    RECUR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  return stream_;
}

cublasHandle_t CudaContext::cublas() {
  const cudaStream_t s = stream();
  std::lock_guard<std::mutex> lock(mutex_);
  if (cublas_ == nullptr) {
    DeviceGuard guard(device_);
    RECUR_CUBLAS_CHECK(cublasCreate(&cublas_));
    RECUR_CUBLAS_CHECK(cublasSetStream(cublas_, s));
    RECUR_CUBLAS_CHECK(cublasSetMathMode(cublas_, allow_tf32_ ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  }
  return cublas_;
}

cudnnHandle_t CudaContext::cudnn() {
  const cudaStream_t s = stream();
  std::lock_guard<std::mutex> lock(mutex_);
  if (cudnn_ == nullptr) {
    DeviceGuard guard(device_);
    RECUR_CUDNN_CHECK(cudnnCreate(&cudnn_));
    RECUR_CUDNN_CHECK(cudnnSetStream(cudnn_, s));
  }
  return cudnn_;
}

void CudaContext::set_allow_tf32(bool allow) {
  std::lock_guard<std::mutex> lock(mutex_);
  allow_tf32_ = allow;
  if (cublas_ != nullptr) {
    DeviceGuard guard(device_);
    RECUR_CUBLAS_CHECK(cublasSetMathMode(cublas_, allow ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  }
}

void CudaContext::synchronize() {
  const cudaStream_t s = stream();
  DeviceGuard guard(device_);
  RECUR_CUDA_CHECK(cudaStreamSynchronize(s));
  std::lock_guard<std::mutex> lock(mutex_);  // error_record_ is created and cleared under the lock
  raise_recorded_error();
}

int64_t* CudaContext::error_record() {
  const cudaStream_t s = stream();
  std::lock_guard<std::mutex> lock(mutex_);
  if (error_record_ == nullptr) {
    DeviceGuard guard(device_);
    void* record = nullptr;
    RECUR_CUDA_CHECK(cudaMalloc(&record, 4 * sizeof(int64_t)));
    RECUR_CUDA_CHECK(cudaMemsetAsync(record, 0, 4 * sizeof(int64_t), s));
    error_record_ = static_cast<int64_t*>(record);
  }
  return error_record_;
}

void CudaContext::raise_recorded_error() {
  if (error_record_ == nullptr) return;
  // Read and cleared on the context's stream: it is non-blocking, so cudaMemcpy and cudaMemset
  // (the legacy default stream) would not be ordered with the kernels that write the record.
  int64_t record[4] = {};
  RECUR_CUDA_CHECK(cudaMemcpyAsync(record, error_record_, sizeof(record), cudaMemcpyDeviceToHost, stream_));
  RECUR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  if (record[0] == 0) return;
  RECUR_CUDA_CHECK(cudaMemsetAsync(error_record_, 0, sizeof(record), stream_));
  const int64_t value = record[1], limit = record[2], position = record[3];
  const std::string later =
      fmt::format("found on cuda:{} by the kernel and reported at the next synchronisation", device_);
  switch (static_cast<DeviceErrorCode>(record[0])) {
    case DeviceErrorCode::IndexSelect:
      RECUR_FAIL("index_select: index {} (at position {}) is out of range for an axis of size {} ({})", value, position,
                 limit, later);
    case DeviceErrorCode::IndexAdd:
      RECUR_FAIL("index_add: index {} (at position {}) is out of range for an axis of size {} ({})", value, position,
                 limit, later);
    case DeviceErrorCode::CrossEntropyTarget:
      RECUR_FAIL("cross_entropy: target {} (row {}) is out of range for {} classes ({})", value, position, limit,
                 later);
    default: RECUR_FAIL("cuda:{}: a kernel recorded an unknown error code {}", device_, record[0]);
  }
}

void* CudaContext::staging() {
  if (staging_ == nullptr) {
    DeviceGuard guard(device_);
    RECUR_CUDA_CHECK(cudaMallocHost(&staging_, kStagingBytes));
    RECUR_CUDA_CHECK(cudaEventCreateWithFlags(&staging_done_, cudaEventDisableTiming));
  }
  return staging_;
}

void CudaContext::copy_from_host(void* device_dst, const void* host, size_t nbytes) {
  if (nbytes == 0) return;
  const cudaStream_t s = stream();
  std::lock_guard<std::mutex> lock(mutex_);
  DeviceGuard guard(device_);
  char* pinned = static_cast<char*>(staging());
  for (size_t done = 0; done < nbytes; done += kStagingBytes) {
    const size_t chunk = std::min(kStagingBytes, nbytes - done);
    // The previous transfer out of the staging buffer must finish before it is overwritten.
    RECUR_CUDA_CHECK(cudaEventSynchronize(staging_done_));
    std::memcpy(pinned, static_cast<const char*>(host) + done, chunk);
    RECUR_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(device_dst) + done, pinned, chunk, cudaMemcpyHostToDevice, s));
    RECUR_CUDA_CHECK(cudaEventRecord(staging_done_, s));
  }
}

void CudaContext::copy_to_host(void* host, const void* device_src, size_t nbytes) {
  if (nbytes == 0) return;
  const cudaStream_t s = stream();
  std::lock_guard<std::mutex> lock(mutex_);
  DeviceGuard guard(device_);
  char* pinned = static_cast<char*>(staging());
  for (size_t done = 0; done < nbytes; done += kStagingBytes) {
    const size_t chunk = std::min(kStagingBytes, nbytes - done);
    RECUR_CUDA_CHECK(
        cudaMemcpyAsync(pinned, static_cast<const char*>(device_src) + done, chunk, cudaMemcpyDeviceToHost, s));
    RECUR_CUDA_CHECK(cudaStreamSynchronize(s));
    std::memcpy(static_cast<char*>(host) + done, pinned, chunk);
  }
  raise_recorded_error();
}

CudaContext& cuda_context(int device) {
  // Deliberately never destroyed: tensors in static objects may free memory during exit, and
  // the driver may already be shutting down then.
  static std::mutex mutex;
  static auto* contexts = new std::array<CudaContext*, kMaxDevices>{};
  std::lock_guard<std::mutex> lock(mutex);
  static std::string why;
  static const int count = cuda_device_count(&why);  // counted once per process
  RECUR_CHECK(count > 0, "cuda:{} requested, but no CUDA device is visible: {}", device, why);
  RECUR_CHECK(device >= 0 && device < count && device < kMaxDevices,
              "cuda:{} requested, but only {} CUDA device(s) are visible", device, count);
  if ((*contexts)[device] == nullptr) (*contexts)[device] = new CudaContext(device);
  return *(*contexts)[device];
}

}  // namespace recur::cuda
