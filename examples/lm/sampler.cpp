#include "examples/lm/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/grad_mode.h"
#include "core/error.h"

namespace recur::lm {

int64_t draw_symbol(const std::vector<float>& logits, double temperature, int64_t top_k, double u) {
  const auto count = static_cast<int64_t>(logits.size());
  RECUR_CHECK(count > 0, "draw_symbol: no logits");
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  // Most likely first; ties by index, so the order is fully determined.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)];
  });
  if (temperature == 0.0) return order.front();
  const int64_t kept = top_k > 0 ? std::min(top_k, count) : count;
  const double top = logits[static_cast<size_t>(order.front())];
  std::vector<double> weights(static_cast<size_t>(kept));
  double total = 0.0;
  for (int64_t i = 0; i < kept; ++i) {
    const double logit = logits[static_cast<size_t>(order[static_cast<size_t>(i)])];
    weights[static_cast<size_t>(i)] = std::isfinite(logit) ? std::exp((logit - top) / temperature) : 0.0;
    total += weights[static_cast<size_t>(i)];
  }
  RECUR_CHECK(std::isfinite(total) && total > 0.0, "the model's output is not finite: cannot sample");
  const double target = u * total;
  double cumulative = 0.0;
  for (int64_t i = 0; i < kept; ++i) {
    cumulative += weights[static_cast<size_t>(i)];
    if (cumulative >= target) return order[static_cast<size_t>(i)];
  }
  return order[static_cast<size_t>(kept - 1)];
}

std::string sample(LanguageModel& model, const Vocabulary& vocab, const SampleOptions& options, Device device,
                   const std::function<void(const std::string&)>& emit) {
  RECUR_CHECK(options.length >= 0, "--length must be >= 0, got {}", options.length);
  RECUR_CHECK(std::isfinite(options.temperature) && options.temperature >= 0.0,
              "--temperature must be >= 0 (0 = always the most likely symbol), got {}", options.temperature);
  RECUR_CHECK(options.top_k >= 0, "--top-k must be >= 0 (0 = no limit), got {}", options.top_k);
  std::vector<int32_t> prompt = vocab.encode(options.prompt, "the prompt");
  const bool empty_prompt = prompt.empty();
  if (empty_prompt) {
    const int64_t newline = vocab.newline_id();
    prompt.push_back(static_cast<int32_t>(newline >= 0 ? newline : 0));
  }
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  const TensorOptions int64 = TensorOptions{}.with_dtype(DType::Int64);
  std::vector<int64_t> input(prompt.begin(), prompt.end());
  Tensor tokens = from_vector(input, {static_cast<int64_t>(input.size()), 1}, int64).to(device);
  nn::RNNState state;
  std::string text;
  int64_t previous = empty_prompt ? -1 : prompt.back();  // words: the spacing after the prompt's last word
  for (int64_t step = 0; step < options.length; ++step) {
    auto [logits, next] = model.forward(tokens, state);
    state = next;
    const std::vector<float> last = logits.select(0, logits.size(0) - 1).reshape({-1}).to_vector<float>();
    const auto block = Philox::block(options.seed, static_cast<uint64_t>(step));
    const int64_t id = draw_symbol(last, options.temperature, options.top_k, Philox::to_unit(block[0]));
    const std::string piece = vocab.decode_after(previous, id);
    previous = id;
    text += piece;
    if (emit) emit(piece);
    tokens = from_vector(std::vector<int64_t>{id}, {1, 1}, int64).to(device);
  }
  model.train(was_training);
  return text;
}

}  // namespace recur::lm
