// Evaluation of a language model on a text: one pass over all of it with the hidden state carried
// from chunk to chunk (examples/lm/data.h, EvalChunks), in eval mode (no dropout), without
// recording the graph.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/distributed.h"
#include "core/device.h"
#include "examples/lm/model.h"

namespace recur::lm {

struct EvalResult {
  double loss = 0.0;   // mean cross-entropy, nats per token
  int64_t tokens = 0;  // tokens predicted
  double seconds = 0.0;
  // The layout, which changes the loss a little (each stream starts from a zero state): streams
  // of stream_length inputs each, run in chunks of at most bptt steps.
  int64_t streams = 0, stream_length = 0, bptt = 0;
  double bits() const { return loss / std::log(2.0); }
  std::string layout() const;  // "32 streams of 93 tokens, chunks of 256"
};

// Leaves the model in the mode it found it in. `what` names the text in messages. With a
// `group` of N processes (data parallelism), the evaluation is collective: rank r runs its
// contiguous share of the streams (stream_share in examples/lm/data_parallel_run.h; a rank may
// have none) and the sums are added over the ranks in float64, so every rank gets the loss.
EvalResult evaluate(LanguageModel& model, const std::vector<int32_t>& tokens, int64_t batch, int64_t bptt,
                    Device device, const std::string& what, distributed::ProcessGroup* group = nullptr);

}  // namespace recur::lm
