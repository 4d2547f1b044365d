// NCCL for the CUDA tensors of an MPI process group, set up the way llm.c does: rank 0 makes
// the unique id (ncclGetUniqueId), MPI broadcasts it, every rank joins with ncclCommInitRank on
// its tensor's device. The collectives run on the device context's stream, ordered after the
// work that produced the tensor. Private to recur_backends; needs mpi.h included before it.
#pragma once

#include <mpi.h>

#include <memory>
#include <string>

#include "core/tensor.h"

namespace recur::distributed {

class NcclComm {
 public:
  virtual ~NcclComm() = default;
  virtual int device() const = 0;
  virtual void all_reduce_sum(Tensor& tensor) = 0;
  virtual void broadcast(Tensor& tensor, int root) = 0;
};

// Collective over `comm` (an MPI_Comm, passed as its handle); every rank on CUDA device `device`.
std::unique_ptr<NcclComm> make_nccl_comm(MPI_Comm comm, int rank, int size, int device);
// "NCCL 2.21.5", for descriptions.
std::string nccl_version();

}  // namespace recur::distributed
