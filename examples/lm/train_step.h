// One training step of a language model, and nothing else: a batch in, its loss and gradient
// norm out. No clock, no log, no file.
//
//   (logits, state) = model(batch.input, from)        from: the carried state (empty = zeros)
//   loss            = cross_entropy(logits, batch.target)
//   (loss + model.activation_penalty()).backward()     the AR and TAR penalties, when on
//   norm            = clip_grad_norm(parameters, clip)   (clip 0 = no clipping)
//   optimizer.step() with the learning rate lr
//
// A step whose loss or gradient norm is not finite changes no weight: the optimizer does not
// step, and the next batch starts from zeros. Otherwise the next batch starts from the final
// state, detached (truncated back-propagation through time).
//
// `recur bench train-step` times this step; while a profile records (backends/profile.h) its
// parts are the phases "forward" (to the loss), "backward" and "optimizer" (clipping included).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "autograd/dropout_shard.h"
#include "core/device.h"
#include "examples/lm/data.h"
#include "examples/lm/model.h"
#include "nn/data_parallel.h"
#include "optim/optimizer.h"

namespace recur::lm {

struct StepResult {
  double loss = 0.0;       // the mean cross-entropy; NaN when not finite
  double grad_norm = 0.0;  // the global gradient norm before clipping; NaN when not computed
  bool applied = false;    // the loss and the norm were finite and the optimizer stepped
  nn::RNNState carry;      // the state the next batch starts from (empty = zeros)
};

class TrainStep {
 public:
  // Called after the backward pass, before clipping, with the step's index (tests inject bad
  // gradients here).
  using AfterBackward = std::function<void(int64_t step, LanguageModel& model)>;

  // `model` and `optimizer` (over model.parameters()) must outlive the step.
  TrainStep(LanguageModel& model, optim::Optimizer& optimizer, Device device, double clip,
            AfterBackward after_backward = {});

  // Step `step` on `batch` (on the CPU; moved to the device), from the state `from`.
  StepResult operator()(const Batch& batch, const nn::RNNState& from, double lr, int64_t step);

  // Data parallelism (examples/lm/data_parallel_run.h): `batch` is this rank's share of the
  // streams. The loss is averaged over the ranks before anything is decided (a loss that is not
  // finite on any rank skips the step on all), the gradients after the backward pass, before
  // clipping (one all-reduce); dropout draws this rank's slice of the global batch's masks.
  // Every rank then clips and steps alike.
  void set_data_parallel(nn::DataParallel* parallel, DropoutShard shard);

 private:
  LanguageModel& model_;
  optim::Optimizer& optimizer_;
  std::vector<Tensor> parameters_;
  Device device_;
  double max_norm_;
  AfterBackward after_backward_;
  nn::DataParallel* parallel_ = nullptr;
  DropoutShard shard_;
};

}  // namespace recur::lm
