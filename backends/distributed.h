// Processes that train one model together (data parallelism, docs/DISTRIBUTED.md): a process
// group with the collectives a data-parallel trainer needs, over the engines clusters run. MPI
// (Open MPI's mpirun, or Slurm's `srun --mpi=pmix`) starts the processes and carries CPU
// tensors and bytes; NCCL, set up over MPI, all-reduces CUDA tensors where recur was built with
// it (recur/config.h: RECUR_HAVE_MPI, RECUR_HAVE_NCCL). recur has no transport of its own.
//
// A process that no MPI launcher started is a group of one, and MPI is never initialised in it:
// world() reads the launcher's environment variables first (launch_environment()).
//
// Every collective must be called by every rank of the group, in the same order, with the same
// sizes; a mismatch is undefined (MPI's rule), so callers keep their collectives unconditional.
// The MPI and NCCL headers are private to recur_backends: this header needs neither.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace recur::distributed {

// What the launcher's environment says, read without initialising anything.
struct LaunchEnvironment {
  bool launched = false;  // started by mpirun / srun (one of the variables below is set)
  int rank = 0, size = 1, local_rank = 0;
  std::string variable;  // the variable that told ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK")
};
// Open MPI's mpirun sets OMPI_COMM_WORLD_{SIZE,RANK,LOCAL_RANK}; a PMIx launcher (srun
// --mpi=pmix, PRRTE) PMIX_RANK; MPICH's hydra and srun --mpi=pmi2 PMI_RANK and PMI_SIZE; Slurm
// SLURM_NTASKS and SLURM_LOCALID.
LaunchEnvironment launch_environment();

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The rank among the processes of this host (which GPU a rank takes).
  virtual int local_rank() const = 0;
  // "single process", "MPI (Open MPI v4.1.4)", with ", NCCL 2.x" where CUDA tensors use NCCL.
  virtual std::string description() const = 0;

  // In place: tensor <- the sum over the ranks of their tensors. float32 or float64, contiguous,
  // of the same shape on every rank; on the CPU (MPI) or a CUDA device (NCCL on the device's
  // stream; without NCCL through host memory). Ranks add in an order fixed by the group's size,
  // so a run repeated with the same size gives the same bits.
  virtual void all_reduce_sum(Tensor& tensor) = 0;
  // In place: every rank's tensor <- root's (same shape and dtype on every rank; any dtype).
  virtual void broadcast(Tensor& tensor, int root) = 0;
  // Every rank's bytes, in rank order (the sizes may differ).
  virtual std::vector<std::string> all_gather(const std::string& bytes) = 0;
  // Root's bytes on every rank.
  virtual void broadcast_bytes(std::string& bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ends every process of the job with `status` (MPI_Abort). A group of one exits.
  [[noreturn]] virtual void abort(int status) = 0;
  // Ends this process with `status` once every rank has reached this call (a barrier), giving
  // MPI_Finalize half a second: its fence goes through the launcher, and after SIGTERM Open MPI's
  // mpirun is busy ending the job and would answer only after its SIGKILL timeout (1 s). A group
  // of one exits.
  [[noreturn]] virtual void exit_together(int status) = 0;
};

// This process's group: created on the first call, MPI initialised then when launched by an MPI
// launcher, finalised at exit. recur::Error when launched so by a build without MPI, with more
// than one process.
ProcessGroup& world();
// Whether world() has been created (and, when launched, MPI initialised).
bool world_created();

// The sum over the ranks of `values` (float64, through all_reduce_sum), for scalars.
std::vector<double> all_reduce_sum(ProcessGroup& group, std::vector<double> values);

}  // namespace recur::distributed
