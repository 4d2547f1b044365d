// The CUDA backend's host-side machinery, most of which runs without a GPU: the error-check
// macros' messages, the device port of Philox against core/philox.h, and the registry's answer
// when no device is visible. (The caching allocator: test_caching_allocator.cpp.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "core/philox.h"
#include "recur/config.h"

#if RECUR_HAVE_CUDA

#include "backends/cuda/check.h"
#include "backends/cuda/layout.h"
#include "backends/cuda/philox.cuh"

namespace recur {
namespace {

using ::testing::HasSubstr;

void failing_cuda_call() { RECUR_CUDA_CHECK(cudaErrorInvalidValue); }
void failing_cublas_call() { RECUR_CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED); }
void failing_cudnn_call() { RECUR_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); }

std::string message_of(void (*call)()) {
  try {
    call();
  } catch (const Error& error) {
    return error.what();
  }
  return "(no exception)";
}

TEST(CudaCheck, MessageNamesStatusExpressionFunctionFileAndLine) {
  const std::string message =
      cuda::cuda_error_message(cudaErrorMemoryAllocation, "cudaMalloc(&ptr, nbytes)", "allocate", "context.cpp", 42);
  EXPECT_THAT(message, HasSubstr("CUDA error cudaErrorMemoryAllocation"));
  EXPECT_THAT(message, HasSubstr("out of memory"));
  EXPECT_THAT(message, HasSubstr("in cudaMalloc(&ptr, nbytes)"));
  EXPECT_THAT(message, HasSubstr("at allocate (context.cpp:42)"));
}

TEST(CudaCheck, MacrosThrowRecurErrorWithTheFailingExpression) {
  const std::string cuda_message = message_of(failing_cuda_call);
  EXPECT_THAT(cuda_message, HasSubstr("cudaErrorInvalidValue"));
  EXPECT_THAT(cuda_message, HasSubstr("in cudaErrorInvalidValue at failing_cuda_call"));
  EXPECT_THAT(cuda_message, HasSubstr("test_cuda_runtime.cpp:"));
  const std::string cublas_message = message_of(failing_cublas_call);
  EXPECT_THAT(cublas_message, HasSubstr("cuBLAS error CUBLAS_STATUS_NOT_INITIALIZED"));
  EXPECT_THAT(cublas_message, HasSubstr("at failing_cublas_call"));
  const std::string cudnn_message = message_of(failing_cudnn_call);
  EXPECT_THAT(cudnn_message, HasSubstr("cuDNN error CUDNN_STATUS_BAD_PARAM"));
  EXPECT_THAT(cudnn_message, HasSubstr("at failing_cudnn_call"));
}

TEST(CudaPhilox, DevicePortMatchesCpuGeneratorAndKnownAnswers) {
  const cuda::PhiloxWords zero = cuda::philox_block(0, 0, 0);
  EXPECT_EQ(zero.word[0], 0x6627e8d5u);
  EXPECT_EQ(zero.word[3], 0x9b00dbd8u);
  for (uint64_t seed : {uint64_t{0}, uint64_t{1234}, ~uint64_t{0}, uint64_t{0x299f31d0a4093822}}) {
    for (uint64_t counter : {uint64_t{0}, uint64_t{1}, uint64_t{77}, uint64_t{1} << 40, ~uint64_t{0}}) {
      const std::array<uint32_t, 4> want = Philox::block(seed, counter, counter ^ 0x1234);
      const cuda::PhiloxWords got = cuda::philox_block(seed, counter, counter ^ 0x1234);
      for (int k = 0; k < 4; ++k) EXPECT_EQ(got.word[k], want[k]) << seed << " " << counter << " " << k;
      EXPECT_EQ(cuda::philox_unit(got.word[0]), Philox::to_unit(want[0]));
    }
  }
}

TEST(CudaLayout, MergesAxesEveryOperandAllowsAndDropsSizeOne) {
  const Strides contiguous = contiguous_strides({2, 3, 4});
  const auto flat = cuda::make_layout<1>("test", {2, 3, 4}, {&contiguous});
  EXPECT_EQ(flat.rank, 1);
  EXPECT_EQ(flat.numel, 24);
  EXPECT_EQ(flat.sizes[0], 24);
  EXPECT_EQ(flat.strides[0][0], 1);
  // [4, 5] against a row broadcast (stride 0 on axis 0): the axes cannot merge.
  const Strides rows = {5, 1}, broadcast = {0, 1};
  const auto two = cuda::make_layout<2>("test", {4, 5}, {&rows, &broadcast});
  EXPECT_EQ(two.rank, 2);
  EXPECT_EQ(two.strides[1][0], 0);
  // Size-1 axes vanish, unless merging is off (index ops keep every axis in place).
  const Strides padded = contiguous_strides({3, 1, 4});
  EXPECT_EQ(cuda::make_layout<1>("test", {3, 1, 4}, {&padded}).rank, 1);
  EXPECT_EQ(cuda::make_layout<1>("test", {3, 1, 4}, {&padded}, cuda::AxisMerging::KeepEveryAxis).rank, 3);
  // A transposed matrix stays two axes, in the output's order.
  const Strides transposed = {1, 3};
  const auto t = cuda::make_layout<1>("test", {3, 3}, {&transposed});
  EXPECT_EQ(t.rank, 2);
  EXPECT_EQ(t.strides[0][0], 1);
  EXPECT_EQ(t.strides[0][1], 3);
  // Nine axes that cannot merge are more than the kernels take.
  const Shape nine(9, 2);
  Strides alternating;
  for (int i = 0; i < 9; ++i) alternating.push_back(int64_t{1} << (2 * (8 - i)));
  EXPECT_THROW(cuda::make_layout<1>("test", nine, {&alternating}), Error);
}

TEST(CudaRegistry, MissingDeviceIsAClearError) {
  std::string why;
  const int count = cuda_device_count(&why);
  try {
    backend_for(Device::cuda(count));
    FAIL() << "expected an error for cuda:" << count;
  } catch (const Error& error) {
    if (count == 0) {
      EXPECT_THAT(error.what(), HasSubstr("requested, but no CUDA device is visible"));
      EXPECT_THAT(error.what(), HasSubstr(why));
    } else {
      EXPECT_THAT(error.what(), HasSubstr("CUDA device(s) are visible"));
    }
  }
}

}  // namespace
}  // namespace recur

#else  // !RECUR_HAVE_CUDA

TEST(CudaRuntime, NeedsTheCudaBackend) { GTEST_SKIP() << "recur was built without the CUDA backend"; }

#endif
