// The MPI process group. CPU tensors go through MPI's in-place collectives in chunks of at most
// 2^30 elements (MPI counts are ints); CUDA tensors through NCCL (backends/mpi/nccl_comm.h)
// when recur has it, else through host memory. Errors: MPI's default handler
// (MPI_ERRORS_ARE_FATAL) ends the whole job on a failed call, so a broken peer never hangs it.
#include "backends/mpi/mpi_group.h"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <thread>

#include "backends/compute.h"
#include "core/error.h"
#include "recur/config.h"

#if RECUR_HAVE_NCCL
#include "backends/mpi/nccl_comm.h"
#endif

namespace recur::distributed {

namespace {

constexpr int64_t kChunkElements = int64_t{1} << 30;

MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::Float32: return MPI_FLOAT;
    case DType::Float64: return MPI_DOUBLE;
    default: break;
  }
  RECUR_FAIL("all_reduce_sum takes a float32 or float64 tensor, got a {} one", dtype_name(dtype));
}

class MpiGroup final : public ProcessGroup {
 public:
  MpiGroup() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized == 0) {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      owns_mpi_ = true;
    }
    MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    MPI_Comm host;
    MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &host);
    MPI_Comm_rank(host, &local_rank_);
    MPI_Comm_free(&host);
  }

  ~MpiGroup() override {
#if RECUR_HAVE_NCCL
    nccl_.reset();
#endif
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized != 0) return;
    MPI_Comm_free(&comm_);
    if (owns_mpi_) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }

  std::string description() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    std::string library(version, static_cast<size_t>(length));
    library = library.substr(0, library.find_first_of(",\n"));
    std::string text = fmt::format("MPI ({}), {} processes", library, size_);
#if RECUR_HAVE_NCCL
    text += ", CUDA tensors over " + nccl_version();
#endif
    return text;
  }

  void all_reduce_sum(Tensor& tensor) override {
    const MPI_Datatype type = mpi_type(tensor.dtype());
    RECUR_CHECK(tensor.is_contiguous(), "all_reduce_sum takes a contiguous tensor, got {}", tensor.describe());
    if (tensor.device().is_cuda()) {
      cuda_collective(
          tensor, [&](Tensor& host) { all_reduce_sum(host); }, [&](auto& nccl) { nccl.all_reduce_sum(tensor); });
      return;
    }
    auto* data = static_cast<char*>(tensor.raw_data());
    const size_t element = dtype_size(tensor.dtype());
    for (int64_t first = 0; first < tensor.numel(); first += kChunkElements) {
      const int count = static_cast<int>(std::min(kChunkElements, tensor.numel() - first));
      MPI_Allreduce(MPI_IN_PLACE, data + static_cast<size_t>(first) * element, count, type, MPI_SUM, comm_);
    }
  }

  void broadcast(Tensor& tensor, int root) override {
    check_root(root);
    RECUR_CHECK(tensor.is_contiguous(), "broadcast takes a contiguous tensor, got {}", tensor.describe());
    if (tensor.device().is_cuda()) {
      cuda_collective(
          tensor, [&](Tensor& host) { broadcast(host, root); }, [&](auto& nccl) { nccl.broadcast(tensor, root); });
      return;
    }
    auto* data = static_cast<char*>(tensor.raw_data());
    const auto bytes = static_cast<int64_t>(tensor.nbytes());
    for (int64_t first = 0; first < bytes; first += kChunkElements) {
      const int count = static_cast<int>(std::min(kChunkElements, bytes - first));
      MPI_Bcast(data + first, count, MPI_BYTE, root, comm_);
    }
  }

  std::vector<std::string> all_gather(const std::string& bytes) override {
    RECUR_CHECK(bytes.size() < static_cast<size_t>(INT_MAX), "all_gather of {} bytes: at most {} per rank",
                bytes.size(), INT_MAX - 1);
    const int mine = static_cast<int>(bytes.size());
    std::vector<int> sizes(static_cast<size_t>(size_)), offsets(static_cast<size_t>(size_));
    MPI_Allgather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, comm_);
    int64_t total = 0;
    for (int r = 0; r < size_; ++r) {
      offsets[static_cast<size_t>(r)] = static_cast<int>(total);
      total += sizes[static_cast<size_t>(r)];
      RECUR_CHECK(total < INT_MAX, "all_gather of {} bytes in all: at most {}", total, INT_MAX - 1);
    }
    std::string gathered(static_cast<size_t>(total), '\0');
    MPI_Allgatherv(bytes.data(), mine, MPI_BYTE, gathered.data(), sizes.data(), offsets.data(), MPI_BYTE, comm_);
    std::vector<std::string> result;
    result.reserve(static_cast<size_t>(size_));
    for (int r = 0; r < size_; ++r) {
      result.push_back(
          gathered.substr(static_cast<size_t>(offsets[static_cast<size_t>(r)]), sizes[static_cast<size_t>(r)]));
    }
    return result;
  }

  void broadcast_bytes(std::string& bytes, int root) override {
    check_root(root);
    auto size = static_cast<int64_t>(bytes.size());
    MPI_Bcast(&size, 1, MPI_INT64_T, root, comm_);
    bytes.resize(static_cast<size_t>(size));
    for (int64_t first = 0; first < size; first += kChunkElements) {
      const int count = static_cast<int>(std::min(kChunkElements, size - first));
      MPI_Bcast(bytes.data() + first, count, MPI_BYTE, root, comm_);
    }
  }

  void barrier() override { MPI_Barrier(comm_); }

  [[noreturn]] void abort(int status) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
    std::_Exit(status);  // MPI_Abort does not return; this is for the compiler
  }

  [[noreturn]] void exit_together(int status) override {
    MPI_Barrier(comm_);
    std::fflush(stdout);
    std::fflush(stderr);
    std::thread([status] {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      std::_Exit(status);  // mpirun did not answer MPI_Finalize: it is ending the job
    }).detach();
    MPI_Comm_free(&comm_);
    if (owns_mpi_) MPI_Finalize();
    std::_Exit(status);
  }

 private:
  void check_root(int root) const {
    RECUR_CHECK(root >= 0 && root < size_, "broadcast from rank {} in a group of {}", root, size_);
  }

  // A collective on a CUDA tensor: NCCL where recur has it, else a round trip through the host.
  template <typename HostPath, typename NcclPath>
  void cuda_collective(Tensor& tensor, [[maybe_unused]] HostPath host_path, [[maybe_unused]] NcclPath nccl_path) {
#if RECUR_HAVE_NCCL
    if (!nccl_) nccl_ = make_nccl_comm(comm_, rank_, size_, tensor.device().index);
    RECUR_CHECK(nccl_->device() == tensor.device().index,
                "this rank's NCCL communicator is on cuda:{}, the tensor on {}: one device per rank", nccl_->device(),
                tensor.device().str());
    nccl_path(*nccl_);
#else
    // compute:: (not Tensor's members, which autograd defines): backends link only downward.
    Tensor host = compute::contiguous(compute::convert(tensor, tensor.dtype(), Device::cpu()));
    host_path(host);
    tensor.copy_(host);
#endif
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0;
  bool owns_mpi_ = false;
#if RECUR_HAVE_NCCL
  std::unique_ptr<NcclComm> nccl_;
#endif
};

}  // namespace

std::unique_ptr<ProcessGroup> make_mpi_group() { return std::make_unique<MpiGroup>(); }

}  // namespace recur::distributed
