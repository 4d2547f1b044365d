// The running average of a set of parameters (Polyak averaging, as in averaged SGD, ASGD):
// after each step k = 0, 1, ... since start(),
//
//   avg = avg + (w - avg) / (k + 1)        (the mean of the k + 1 iterates w since the start)
//
// The average lives beside the parameters, in their dtype and on their device. swap() exchanges
// the parameters' values with the average's in place (bit for bit), so that a model can be
// evaluated or saved with the averaged weights and then go on training from its own.
//
// State dict layout (every scalar 0-d, so it round-trips exactly):
//   average.started   int64  0 or 1
//   average.count     int64  the iterates averaged so far (k)
//   average.swapped   int64  0 or 1: whether the parameters hold the average just now
//   average.held.<i>  the values the average's buffers hold: the average, or while swapped, the
//                     parameters' own values (absent before start())
#pragma once

#include <cstdint>
#include <vector>

#include "core/state_dict.h"
#include "core/tensor.h"

namespace recur::optim {

class WeightAverager {
 public:
  // `params` must be defined float32 or float64 tensors (recur::Error otherwise); they are
  // referenced, not copied.
  explicit WeightAverager(std::vector<Tensor> params);

  // Starts averaging: avg = w, k = 0 (the first update() then sets avg = w again, as k + 1 = 1).
  // recur::Error when already started.
  void start();
  bool started() const { return started_; }
  int64_t count() const { return count_; }
  // avg = avg + (w - avg) / (k + 1); k += 1. Nothing before start(); recur::Error while swapped.
  void update();
  // The average (recur::Error before start() or while swapped: the parameters hold it then).
  const std::vector<Tensor>& average() const;
  // Exchanges the parameters' values with the average's; a second swap() undoes the first.
  // Nothing before start().
  void swap();
  bool swapped() const { return swapped_; }

  StateDict state_dict() const;
  // Restores a state saved from an averager over parameters of the same shapes and dtypes;
  // everything is checked first (recur::Error naming `owner` and the entry), and the keys read
  // are added to `used`.
  void load_state_dict(const StateDict& dict, const std::string& owner, std::vector<std::string>* used = nullptr);

 private:
  std::vector<Tensor> params_;
  std::vector<Tensor> held_;  // the average, or the parameters' values while swapped
  bool started_ = false;
  bool swapped_ = false;
  int64_t count_ = 0;
};

}  // namespace recur::optim
