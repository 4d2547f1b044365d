// The folder of a training run (docs/TRAINING.md, "The run folder"): config.json, metrics.csv,
// loss.svg, the lock and the checkpoints (examples/lm/checkpoint.h). A RunFolder holds the
// folder's lock (examples/lm/run_lock.h) for its lifetime, so one process trains in it at a time.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "examples/lm/checkpoint.h"
#include "examples/lm/metrics.h"
#include "examples/lm/progress.h"
#include "examples/lm/run_lock.h"

namespace recur::lm {

class RunFolder {
 public:
  RunFolder() = default;
  // A new run's folder: `out`, or runs/<timestamp> when empty; created and locked. recur::Error
  // when it already holds a run (checked again under the lock).
  static RunFolder create(const std::string& out, Reporter& reporter);
  // The folder of a run to resume (--resume DIR), locked. recur::Error when there is no such
  // folder, or another process holds its lock.
  static RunFolder open(const std::string& dir, Reporter& reporter);
  // The folder of a run that another process holds, to read only, without its lock: the other
  // ranks of a data-parallel run read what rank 0 locked (examples/lm/data_parallel_run.h).
  static RunFolder read_only(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::string config_path() const { return dir_ + "/config.json"; }
  bool has_config() const;
  bool has_checkpoint() const;  // a complete latest checkpoint (checkpoint_dir_if_any)

  // config.json, parsed (recur::Error naming the file when it is not JSON).
  nlohmann::json read_config() const;
  void write_config(const nlohmann::json& config) const;
  // metrics.csv's rows up to `last_step` (the later ones belong to a future the run lost); none
  // when there is no metrics.csv.
  std::vector<MetricsRow> read_metrics(int64_t last_step) const;
  // metrics.csv and loss.svg (`title` above the plot, losses in nats per `unit`).
  void write_logs(const std::vector<MetricsRow>& rows, const std::string& title, const std::string& unit) const;
  // RUN/checkpoint or RUN/checkpoint-best, written atomically (save_checkpoint).
  void save_checkpoint(Which which, LanguageModel& model, const Vocabulary& vocab, const nlohmann::json& config,
                       const optim::Optimizer& optimizer, const nn::RNNState& carry,
                       const TrainProgress& progress) const;

 private:
  RunFolder(std::string dir, Reporter& reporter);  // locks `dir`

  std::string dir_;
  RunLock lock_;
};

}  // namespace recur::lm
