// The NCCL communicator of an MPI group (backends/mpi/nccl_comm.h).
#include "backends/mpi/nccl_comm.h"

#include <fmt/format.h>
#include <mpi.h>
#include <nccl.h>

#include "backends/cuda/check.h"
#include "backends/cuda/context.h"
#include "core/error.h"

#define RECUR_NCCL_CHECK(expression)                                                    \
  do {                                                                                  \
    const ncclResult_t recur_status_ = (expression);                                    \
    RECUR_CHECK(recur_status_ == ncclSuccess, "{} failed: {} ({}, {}:{})", #expression, \
                ncclGetErrorString(recur_status_), __func__, __FILE__, __LINE__);       \
  } while (0)

namespace recur::distributed {

namespace {

ncclDataType_t nccl_type(DType dtype) {
  switch (dtype) {
    case DType::Float32: return ncclFloat32;
    case DType::Float64: return ncclFloat64;
    default: break;
  }
  RECUR_FAIL("NCCL all-reduce takes a float32 or float64 tensor, got a {} one", dtype_name(dtype));
}

class Nccl final : public NcclComm {
 public:
  Nccl(MPI_Comm comm, int rank, int size, int device) : device_(device) {
    ncclUniqueId id;
    if (rank == 0) RECUR_NCCL_CHECK(ncclGetUniqueId(&id));
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm);
    const cuda::DeviceGuard guard(device_);
    RECUR_NCCL_CHECK(ncclCommInitRank(&comm_, size, id, rank));
  }
  ~Nccl() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
  }

  int device() const override { return device_; }

  void all_reduce_sum(Tensor& tensor) override {
    const cuda::DeviceGuard guard(device_);
    void* data = tensor.raw_data();
    RECUR_NCCL_CHECK(ncclAllReduce(data, data, static_cast<size_t>(tensor.numel()), nccl_type(tensor.dtype()), ncclSum,
                                   comm_, cuda::cuda_context(device_).stream()));
  }

  void broadcast(Tensor& tensor, int root) override {
    const cuda::DeviceGuard guard(device_);
    void* data = tensor.raw_data();
    RECUR_NCCL_CHECK(
        ncclBroadcast(data, data, tensor.nbytes(), ncclUint8, root, comm_, cuda::cuda_context(device_).stream()));
  }

 private:
  int device_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<NcclComm> make_nccl_comm(MPI_Comm comm, int rank, int size, int device) {
  return std::make_unique<Nccl>(comm, rank, size, device);
}

std::string nccl_version() {
  int version = 0;
  if (ncclGetVersion(&version) != ncclSuccess) return "NCCL";
  return fmt::format("NCCL {}.{}.{}", version / 10000, (version / 100) % 100, version % 100);
}

}  // namespace recur::distributed
