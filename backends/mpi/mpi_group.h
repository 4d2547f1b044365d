// The MPI process group (Open MPI, or any MPI-3 library), with NCCL for CUDA tensors where
// recur was built with it. Private to recur_backends: backends/distributed.h is the interface.
#pragma once

#include <memory>

#include "backends/distributed.h"

namespace recur::distributed {

// Initialises MPI (MPI_THREAD_FUNNELED: one thread of the process calls MPI), which finalises
// when the group is destroyed.
std::unique_ptr<ProcessGroup> make_mpi_group();

}  // namespace recur::distributed
