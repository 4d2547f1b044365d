// The process group: the launcher's environment, the group of one, and world(), which creates
// the MPI group (backends/mpi/mpi_group.cpp) only when an MPI launcher started the process.
#include "backends/distributed.h"

#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "recur/config.h"

#if RECUR_HAVE_MPI
#include "backends/mpi/mpi_group.h"
#endif

namespace recur::distributed {

namespace {

// The variable's value as a non-negative int, or -1 when it is unset.
int env_int(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return -1;
  char* end = nullptr;
  const long parsed = std::strtol(value, &end, 10);
  RECUR_CHECK(end != value && *end == '\0' && parsed >= 0 && parsed < (1L << 30),
              "environment variable {}={}: expected a non-negative integer", name, value);
  return static_cast<int>(parsed);
}

// A process alone: every collective is the identity.
class SingleProcessGroup final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string description() const override { return "single process"; }
  void all_reduce_sum(Tensor& tensor) override {
    RECUR_CHECK(tensor.dtype() == DType::Float32 || tensor.dtype() == DType::Float64,
                "all_reduce_sum takes a float32 or float64 tensor, got {}", tensor.describe());
  }
  void broadcast(Tensor&, int root) override { check_root(root); }
  std::vector<std::string> all_gather(const std::string& bytes) override { return {bytes}; }
  void broadcast_bytes(std::string&, int root) override { check_root(root); }
  void barrier() override {}
  [[noreturn]] void abort(int status) override { std::exit(status); }
  [[noreturn]] void exit_together(int status) override { std::exit(status); }

 private:
  static void check_root(int root) { RECUR_CHECK(root == 0, "broadcast from rank {} in a group of 1", root); }
};

std::mutex world_mutex;
std::unique_ptr<ProcessGroup> world_group;

}  // namespace

LaunchEnvironment launch_environment() {
  LaunchEnvironment launch;
  struct Source {
    const char* rank;
    const char* size;
    const char* local_rank;
  };
  // The first variable set decides; SLURM_* complete what a PMI launcher under Slurm leaves out.
  for (const Source source :
       {Source{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
        Source{"PMIX_RANK", "SLURM_NTASKS", "SLURM_LOCALID"}, Source{"PMI_RANK", "PMI_SIZE", "SLURM_LOCALID"}}) {
    const int rank = env_int(source.rank);
    if (rank < 0) continue;
    launch.launched = true;
    launch.variable = source.rank;
    launch.rank = rank;
    const int size = env_int(source.size), local_rank = env_int(source.local_rank);
    launch.size = size > 0 ? size : 0;  // 0: known only once MPI is initialised
    launch.local_rank = local_rank >= 0 ? local_rank : 0;
    return launch;
  }
  return launch;
}

ProcessGroup& world() {
  const std::lock_guard<std::mutex> lock(world_mutex);
  if (world_group) return *world_group;
  const LaunchEnvironment launch = launch_environment();
  if (!launch.launched) {
    world_group = std::make_unique<SingleProcessGroup>();
    return *world_group;
  }
#if RECUR_HAVE_MPI
  world_group = make_mpi_group();
#else
  RECUR_CHECK(launch.size == 1,
              "this process was started by an MPI launcher ({} is set, {} processes), but this build of recur has no "
              "MPI (configure with RECUR_MPI=ON after installing libopenmpi-dev)",
              launch.variable, launch.size == 0 ? std::string("an unknown number of") : std::to_string(launch.size));
  world_group = std::make_unique<SingleProcessGroup>();
#endif
  return *world_group;
}

bool world_created() {
  const std::lock_guard<std::mutex> lock(world_mutex);
  return world_group != nullptr;
}

std::vector<double> all_reduce_sum(ProcessGroup& group, std::vector<double> values) {
  if (group.size() == 1 || values.empty()) return values;
  Tensor tensor =
      from_vector(values, {static_cast<int64_t>(values.size())}, TensorOptions{}.with_dtype(DType::Float64));
  group.all_reduce_sum(tensor);
  const double* summed = tensor.data<double>();
  values.assign(summed, summed + values.size());
  return values;
}

}  // namespace recur::distributed
