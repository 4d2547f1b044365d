// Helpers for the tests that train (tests/test_lm_train.cpp, tests/test_lm_ntasgd.cpp): the
// losses of every step, a whole run, and bit-for-bit comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "examples/lm/metrics.h"
#include "examples/lm/progress.h"
#include "examples/lm/trainer.h"
#include "test_lm_util.h"

namespace recur::lm::testing {

struct TrainedRun {
  std::vector<double> losses;  // by step
  TrainResult result;
  std::string metrics;  // metrics.csv without the time-dependent columns
};

// metrics.csv with elapsed_s and tokens_per_s blanked (they follow the clock).
inline std::string deterministic_metrics(const std::string& run_dir) {
  std::vector<MetricsRow> rows = parse_metrics_csv(testing::read_text(run_dir + "/metrics.csv"), "metrics.csv");
  for (MetricsRow& row : rows) row.elapsed_s = 0, row.tokens_per_s = MetricsRow::kNone;
  return metrics_csv(rows);
}

inline TrainHooks recording(std::vector<double>& losses) {
  TrainHooks hooks;
  hooks.on_step = [&losses](int64_t step, double loss) {
    if (static_cast<int64_t>(losses.size()) <= step) losses.resize(static_cast<size_t>(step) + 1, -1.0);
    losses[static_cast<size_t>(step)] = loss;
  };
  return hooks;
}

inline TrainedRun train(const TrainOptions& options) {
  TrainedRun run;
  CollectingReporter reporter;
  Trainer trainer(options, reporter, recording(run.losses));
  run.result = trainer.run();
  run.metrics = deterministic_metrics(options.out);
  return run;
}

inline void expect_bit_identical(const std::vector<double>& a, const std::vector<double>& b, size_t from) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = from; i < a.size(); ++i) {
    EXPECT_EQ(std::memcmp(&a[i], &b[i], sizeof(double)), 0) << "step " << i << ": " << a[i] << " vs " << b[i];
  }
}

}  // namespace recur::lm::testing
