// The process group and the data-parallel helper on N processes: ctest runs this program under
// `mpirun -np 2` and `-np 3` (tests/CMakeLists.txt, label mpi), and once without mpirun, where
// the group is one process and MPI is never initialised. Every rank runs every test; the
// program's exit status is the same on all ranks (a failure on any rank fails them all).
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "backends/cuda_info.h"
#include "backends/distributed.h"
#include "nn/data_parallel.h"
#include "recur/config.h"

namespace recur {
namespace {

distributed::ProcessGroup& group() { return distributed::world(); }

// Element i of rank r: small integers, so every sum is exact in float32 and float64 alike.
double value_of(int rank, int64_t i) { return static_cast<double>((rank + 1) * ((i % 13) - 6)); }

template <typename T> void check_all_reduce(DType dtype, int64_t count) {
  const int size = group().size(), rank = group().rank();
  std::vector<T> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[static_cast<size_t>(i)] = static_cast<T>(value_of(rank, i));
  Tensor tensor = from_vector(values, {count}, TensorOptions{}.with_dtype(dtype));
  group().all_reduce_sum(tensor);
  const T* summed = tensor.data<T>();
  int64_t wrong = 0;
  for (int64_t i = 0; i < count; ++i) {
    double expected = 0.0;
    for (int r = 0; r < size; ++r) expected += value_of(r, i);
    if (static_cast<double>(summed[i]) != expected) ++wrong;
  }
  EXPECT_EQ(wrong, 0) << count << " elements of " << dtype_name(dtype) << " on " << size << " ranks";
}

TEST(Distributed, AllReduceSumsFloat32AndFloat64OfEverySize) {
  for (const int64_t count : {int64_t{0}, int64_t{1}, (int64_t{1} << 20) + 3}) {
    check_all_reduce<float>(DType::Float32, count);
    check_all_reduce<double>(DType::Float64, count);
  }
}

// CUDA tensors, one GPU per rank (its local rank): NCCL where recur was built with it, else
// through host memory. Whether every rank has its GPU is decided collectively, so that all ranks
// run the collectives or all skip (one rank alone in a collective would wait for ever).
TEST(Distributed, AllReduceAndBroadcastOfCudaTensorsOnEachRanksGpu) {
  std::string why;
  const int gpus = cuda_device_count(&why);
  const bool mine = gpus > group().local_rank();
  const double ready = distributed::all_reduce_sum(group(), {mine ? 1.0 : 0.0})[0];
  if (ready < group().size()) {
    GTEST_SKIP() << "needs a GPU for each rank: this host has " << gpus << (why.empty() ? "" : " (" + why + ")")
                 << " for local rank " << group().local_rank() << ", and " << ready << " of " << group().size()
                 << " ranks have theirs";
  }
  const Device device = Device::cuda(group().local_rank());
  const int size = group().size(), rank = group().rank();
  for (const int64_t count : {int64_t{1}, (int64_t{1} << 20) + 3}) {
    std::vector<float> values(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) values[static_cast<size_t>(i)] = static_cast<float>(value_of(rank, i));
    Tensor tensor = from_vector(values, {count}).to(device);
    group().all_reduce_sum(tensor);
    const std::vector<float> summed = tensor.to(Device::cpu()).to_vector<float>();
    int64_t wrong = 0;
    for (int64_t i = 0; i < count; ++i) {
      double expected = 0.0;
      for (int r = 0; r < size; ++r) expected += value_of(r, i);
      if (static_cast<double>(summed[static_cast<size_t>(i)]) != expected) ++wrong;
    }
    EXPECT_EQ(wrong, 0) << count << " float32 elements on " << device.str() << ", " << size << " ranks";
  }
  Tensor root = full({5}, static_cast<double>(rank + 7)).to(device);
  group().broadcast(root, 0);
  EXPECT_EQ(root.to(Device::cpu()).to_vector<float>(), std::vector<float>(5, 7.0f));
}

TEST(Distributed, AllReduceRefusesOtherDtypes) {
  Tensor ints = zeros({3}, TensorOptions{}.with_dtype(DType::Int64));
  EXPECT_THROW(group().all_reduce_sum(ints), Error);
}

TEST(Distributed, BroadcastCopiesTheRootsTensor) {
  const int root = group().size() - 1;
  for (const int64_t count : {int64_t{0}, int64_t{1}, (int64_t{1} << 20) + 3}) {
    Tensor tensor = full({count}, static_cast<double>(group().rank()), TensorOptions{}.with_dtype(DType::Float64));
    group().broadcast(tensor, root);
    const double* data = tensor.data<double>();
    int64_t wrong = 0;
    for (int64_t i = 0; i < count; ++i) wrong += data[i] != root ? 1 : 0;
    EXPECT_EQ(wrong, 0) << count;
  }
}

TEST(Distributed, AllGatherReturnsEveryRanksBytesInRankOrder) {
  const std::string mine(static_cast<size_t>(group().rank()) * 3, static_cast<char>('a' + group().rank()));
  const std::vector<std::string> all = group().all_gather(mine);
  ASSERT_EQ(static_cast<int>(all.size()), group().size());
  for (int r = 0; r < group().size(); ++r) {
    EXPECT_EQ(all[static_cast<size_t>(r)], std::string(static_cast<size_t>(r) * 3, static_cast<char>('a' + r)));
  }
  std::string bytes = group().rank() == 0 ? std::string("from rank 0") : std::string();
  group().broadcast_bytes(bytes, 0);
  EXPECT_EQ(bytes, "from rank 0");
  group().barrier();
}

TEST(Distributed, TheGroupMatchesTheLaunchersEnvironment) {
  const distributed::LaunchEnvironment launch = distributed::launch_environment();
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!launch.launched) {
    EXPECT_EQ(group().size(), 1);
    EXPECT_EQ(group().description(), "single process");
    EXPECT_EQ(initialized, 0) << "MPI must not be initialised in a process no launcher started";
    return;
  }
  EXPECT_EQ(initialized, 1);
  EXPECT_EQ(group().rank(), launch.rank);
  if (launch.size > 0) {
    EXPECT_EQ(group().size(), launch.size);
  }
  EXPECT_EQ(group().local_rank(), launch.local_rank);  // one host: the local rank is the rank
}

TEST(DataParallel, AveragesGradientsThroughOneBufferAndBroadcastsFromRankZero) {
  const int rank = group().rank(), size = group().size();
  const TensorOptions options = TensorOptions{}.with_dtype(DType::Float32).with_requires_grad(true);
  std::vector<Tensor> parameters{full({3, 2}, rank + 1.0, options), full({5}, rank + 1.0, options),
                                 full({2}, 7.0, options)};
  parameters[0].set_grad(full({3, 2}, 2.0 * (rank + 1), TensorOptions{}));
  parameters[1].set_grad(full({5}, -1.0 * rank, TensorOptions{}));  // the third has none: zeros
  nn::DataParallel parallel(group(), parameters);
  if (size > 1) {
    EXPECT_THROW(parallel.check_replicas_equal(), Error);
  }
  parallel.broadcast_parameters();
  EXPECT_EQ(parameters[0].data<float>()[5], 1.0f);
  EXPECT_EQ(parameters[1].data<float>()[0], 1.0f);
  parallel.check_replicas_equal();

  parallel.average_gradients();
  double mean0 = 0.0, mean1 = 0.0;
  for (int r = 0; r < size; ++r) mean0 += 2.0 * (r + 1) / size, mean1 += -1.0 * r / size;
  EXPECT_FLOAT_EQ(parameters[0].grad().data<float>()[4], static_cast<float>(mean0));
  EXPECT_FLOAT_EQ(parameters[1].grad().data<float>()[2], static_cast<float>(mean1));
  if (size > 1) {  // a group of one changes nothing
    ASSERT_TRUE(parameters[2].grad().defined());
    EXPECT_EQ(parameters[2].grad().data<float>()[1], 0.0f);
  }

  const std::vector<double> sums = parallel.sum({1.0, static_cast<double>(rank)});
  EXPECT_EQ(sums[0], size);
  EXPECT_EQ(sums[1], size * (size - 1) / 2.0);
}

TEST(DataParallel, BroadcastStateRefusesAStateOfAnotherLayout) {
  StateDict state{{"step", full({}, static_cast<double>(group().rank()), TensorOptions{}.with_dtype(DType::Float64))}};
  nn::DataParallel parallel(group(), {});
  parallel.broadcast_state(state);
  EXPECT_EQ(state["step"].data<double>()[0], 0.0);
  if (group().size() == 1) return;
  StateDict other{{group().rank() == 0 ? "a" : "b", zeros({1}, TensorOptions{})}};
  EXPECT_THROW(parallel.broadcast_state(other), Error);
}

}  // namespace
}  // namespace recur

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  recur::distributed::ProcessGroup& world = recur::distributed::world();
  const int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  const double failures = recur::distributed::all_reduce_sum(world, {static_cast<double>(failed)})[0];
  if (failures > 0 && world.rank() == 0) std::fprintf(stderr, "%g rank(s) failed\n", failures);
  return failures > 0 ? 1 : 0;
}
