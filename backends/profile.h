// Where a step's time goes, op by op (`recur bench train-step --profile`).
//
// While a profile records, backend_for() hands out a timing wrapper around each device's
// backend: every primitive of the Backend interface (and of its fused RNN) is timed, waiting for
// the device after each one so that GPU times are exact (the step gets slower there), and its
// time is added to the row (phase, op). A primitive that calls other primitives counts as one:
// only the outermost call on a thread is timed. The phase is what the program says it is doing
// ("forward", "backward", "optimizer"); time outside every primitive (autograd's bookkeeping,
// allocation, the program's own code) is what the step's wall clock shows beyond the rows' sum.
//
//   profile::start();
//   { profile::Phase phase("forward"); loss = model(x); }
//   { profile::Phase phase("backward"); loss.backward(); }
//   profile::stop();
//   for (const profile::Row& row : profile::rows()) ...
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace recur {
class Backend;
}

namespace recur::profile {

struct Row {
  std::string phase, op;  // op: "gemm", "unary:tanh", "rnn_forward", ...
  int64_t calls = 0;
  double seconds = 0.0;
};

// Clears the rows and starts recording; stop() ends it (the rows stay until the next start()).
void start();
void stop();
bool recording();
// The rows recorded, the largest time first.
std::vector<Row> rows();

// Counts the primitives run in its lifetime under `name` (phases nest; the innermost counts).
class Phase {
 public:
  explicit Phase(std::string name);
  ~Phase();
  Phase(const Phase&) = delete;
  Phase& operator=(const Phase&) = delete;

 private:
  std::string previous_;
};

// The timing wrapper of `inner` (one per backend, kept for the program's life); used by
// backend_for() while recording.
Backend& timed(Backend& inner);

}  // namespace recur::profile
