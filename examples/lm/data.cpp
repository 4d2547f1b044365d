#include "examples/lm/data.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/philox.h"

namespace recur::lm {

std::string read_text_file(const std::string& path) {
  RECUR_CHECK(!path.empty(), "no data file given (--data FILE)");
  struct stat info {};
  RECUR_CHECK(::stat(path.c_str(), &info) == 0, "cannot read data file '{}': {}", path, std::strerror(errno));
  RECUR_CHECK(S_ISREG(info.st_mode), "data file '{}' is not a regular file", path);
  RECUR_CHECK(info.st_size > 0, "data file '{}' is empty", path);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  RECUR_CHECK(file != nullptr, "cannot open data file '{}': {}", path, std::strerror(errno));
  std::string bytes;
  char buffer[1 << 16];
  size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, file.get())) > 0) bytes.append(buffer, got);
  RECUR_CHECK(!std::ferror(file.get()), "error reading data file '{}': {}", path, std::strerror(errno));
  RECUR_CHECK(!bytes.empty(), "data file '{}' is empty", path);
  return bytes;
}

std::string fingerprint(std::string_view bytes) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (const char c : bytes) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 0x100000001b3ull;
  }
  return fmt::format("{:016x}", hash);
}

TokenSplit split_tokens(const std::vector<int32_t>& tokens, double valid_fraction) {
  RECUR_CHECK(valid_fraction > 0.0 && valid_fraction < 1.0, "the validation fraction must be in (0, 1), got {}",
              valid_fraction);
  const auto valid_count = static_cast<size_t>(static_cast<double>(tokens.size()) * valid_fraction);
  const size_t train_count = tokens.size() - valid_count;
  TokenSplit split;
  split.train.assign(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(train_count));
  split.valid.assign(tokens.begin() + static_cast<std::ptrdiff_t>(train_count), tokens.end());
  return split;
}

namespace {

// x[t, b] = tokens[start_(first + b) + offset + t], y[t, b] = the token after it, for t < steps
// and b < batch (streams first, ..., first + batch - 1).
Batch gather_batch(const std::vector<int32_t>& tokens, int64_t first, int64_t batch, int64_t stream_length,
                   int64_t offset, int64_t steps) {
  std::vector<int64_t> input(static_cast<size_t>(steps * batch)), target(input.size());
  for (int64_t t = 0; t < steps; ++t) {
    for (int64_t b = 0; b < batch; ++b) {
      const auto pos = static_cast<size_t>((first + b) * stream_length + offset + t);
      input[static_cast<size_t>(t * batch + b)] = tokens[pos];
      target[static_cast<size_t>(t * batch + b)] = tokens[pos + 1];
    }
  }
  const TensorOptions int64 = TensorOptions{}.with_dtype(DType::Int64);
  return {from_vector(input, {steps, batch}, int64), from_vector(target, {steps, batch}, int64)};
}

}  // namespace

StreamBatcher::StreamBatcher(const std::vector<int32_t>& tokens, int64_t batch, int64_t bptt, const std::string& what)
    : tokens_(tokens), batch_(batch), bptt_(bptt) {
  RECUR_CHECK(batch >= 1 && bptt >= 1, "batch and BPTT length must be >= 1, got batch {} and bptt {}", batch, bptt);
  const auto count = static_cast<int64_t>(tokens.size());
  RECUR_CHECK(count >= batch * (bptt + 1),
              "{} has {} tokens, shorter than one batch: {} streams of {} steps need at least {} (use a longer file, "
              "or a smaller --batch or --bptt)",
              what, count, batch, bptt, batch * (bptt + 1));
  stream_length_ = count / batch;
  local_streams_ = batch;
}

Batch StreamBatcher::batch(int64_t index) const {
  RECUR_CHECK(index >= 0 && index < batches_per_epoch(), "batch {} is outside the epoch's {} batches", index,
              batches_per_epoch());
  return gather_batch(tokens_, first_stream_, local_streams_, stream_length_, index * bptt_, bptt_);
}

Batch StreamBatcher::batch_at(int64_t offset, int64_t steps) const {
  RECUR_CHECK(offset >= 0 && steps >= 1 && offset + steps < stream_length_,
              "tokens [{}, {}] are outside the streams of {} tokens", offset, offset + steps, stream_length_);
  return gather_batch(tokens_, first_stream_, local_streams_, stream_length_, offset, steps);
}

int64_t jittered_bptt(uint64_t seed, int64_t step, int64_t bptt) {
  RECUR_CHECK(bptt >= kMinJitteredBptt && step >= 0,
              "a jittered BPTT length needs bptt >= {} and step >= 0, got {} and {}", kMinJitteredBptt, bptt, step);
  const auto words = Philox::block(seed, static_cast<uint64_t>(step), kJitterStream);
  const double base = Philox::to_unit(words[0]) <= 0.95 ? static_cast<double>(bptt) : static_cast<double>(bptt) / 2.0;
  // Box-Muller: a standard normal from two uniforms in (0, 1].
  constexpr double kTwoPi = 6.283185307179586476925;
  const double normal =
      std::sqrt(-2.0 * std::log(Philox::to_unit(words[1]))) * std::cos(kTwoPi * Philox::to_unit(words[2]));
  const auto length = static_cast<int64_t>(std::llround(base + 5.0 * normal));
  return std::clamp(length, kMinJitteredBptt, jitter_cap(bptt));
}

void StreamBatcher::set_shard(int64_t first, int64_t count) {
  RECUR_CHECK(first >= 0 && count >= 1 && first + count <= batch_, "streams [{}, {}) are outside the batch of {}",
              first, first + count, batch_);
  first_stream_ = first;
  local_streams_ = count;
}

EvalChunks::EvalChunks(const std::vector<int32_t>& tokens, int64_t batch, int64_t bptt, const std::string& what)
    : tokens_(tokens), bptt_(bptt) {
  const auto count = static_cast<int64_t>(tokens.size());
  RECUR_CHECK(count >= 2, "{} has {} token{}: evaluation needs at least 2", what, count, count == 1 ? "" : "s");
  RECUR_CHECK(batch >= 1 && bptt >= 1, "evaluation batch and length must be >= 1, got {} and {}", batch, bptt);
  batch_ = std::min(batch, count - 1);
  stream_length_ = (count - 1) / batch_;
}

Batch EvalChunks::chunk(int64_t index) const {
  RECUR_CHECK(index >= 0 && index < num_chunks(), "chunk {} is outside [0, {})", index, num_chunks());
  const int64_t offset = index * bptt_;
  return gather_batch(tokens_, 0, batch_, stream_length_, offset, std::min(bptt_, stream_length_ - offset));
}

Batch EvalChunks::chunk(int64_t index, int64_t first, int64_t count) const {
  RECUR_CHECK(index >= 0 && index < num_chunks(), "chunk {} is outside [0, {})", index, num_chunks());
  RECUR_CHECK(first >= 0 && count >= 1 && first + count <= batch_, "streams [{}, {}) are outside the {} streams", first,
              first + count, batch_);
  const int64_t offset = index * bptt_;
  return gather_batch(tokens_, first, count, stream_length_, offset, std::min(bptt_, stream_length_ - offset));
}

}  // namespace recur::lm
