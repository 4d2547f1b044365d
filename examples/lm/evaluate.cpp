#include "examples/lm/evaluate.h"

#include <fmt/format.h>

#include <chrono>

#include "autograd/grad_mode.h"
#include "examples/lm/data.h"
#include "examples/lm/data_parallel_run.h"
#include "nn/losses.h"

namespace recur::lm {

std::string EvalResult::layout() const {
  return fmt::format("{} streams of {} tokens, chunks of {}", streams, stream_length, bptt);
}

EvalResult evaluate(LanguageModel& model, const std::vector<int32_t>& tokens, int64_t batch, int64_t bptt,
                    Device device, const std::string& what, distributed::ProcessGroup* group) {
  const auto start = std::chrono::steady_clock::now();
  const EvalChunks chunks(tokens, batch, bptt, what);
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  nn::RNNState state;
  double total = 0.0;  // summed in float64 over chunks
  const bool parallel = group != nullptr && group->size() > 1;
  const StreamShare share =
      parallel ? stream_share(chunks.batch_size(), group->rank(), group->size()) : StreamShare{0, chunks.batch_size()};
  for (int64_t index = 0; index < chunks.num_chunks() && share.count > 0; ++index) {
    const Batch chunk = parallel ? chunks.chunk(index, share.first, share.count) : chunks.chunk(index);
    auto [logits, next] = model.forward(chunk.input.to(device), state);
    state = next;
    const Tensor loss = nn::cross_entropy(logits, chunk.target.to(device), {.reduction = nn::Reduction::Sum});
    total += loss.item();
  }
  if (parallel) total = distributed::all_reduce_sum(*group, {total})[0];
  model.train(was_training);
  EvalResult result;
  result.streams = chunks.batch_size();
  result.stream_length = chunks.stream_length();
  result.bptt = bptt;
  result.tokens = chunks.scored_tokens();
  result.loss = total / static_cast<double>(result.tokens);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace recur::lm
