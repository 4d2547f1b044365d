// Text data for a language model: reading the file, the train/validation split, and batching
// for truncated back-propagation through time.
//
// B = batch (parallel streams), T = BPTT steps, N = tokens.
//
// Batching (the classic char-rnn / PyTorch word_language_model layout). The N tokens are cut
// into B streams of L = N / B consecutive tokens (the last N mod B tokens are dropped); stream b
// starts at token b * L. Batch i of an epoch holds, for every stream, the T tokens at
// [i*T, i*T + T) of the stream as input and the next token of each as target, so batch i + 1
// continues exactly where batch i stopped and the hidden state can be carried from one to the
// next. An epoch has (L - 1) / T batches; the tail of each stream shorter than T + 1 is unused
// in that epoch.
//
// With --bptt-jitter (AWD-LSTM's random BPTT length) each step draws its own length T_s
// (jittered_bptt below) and takes, for every stream, the T_s tokens at the stream's cursor, which
// then advances by T_s; a step whose T_s tokens (and the target after them) do not fit before the
// stream's end starts a new epoch, at the stream's start.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace recur::lm {

// The whole file. recur::Error (one line naming the path) when it is missing, not a regular
// file, unreadable or empty.
std::string read_text_file(const std::string& path);

// FNV-1a, 64 bits, as 16 hex digits: identifies a data file in a checkpoint.
std::string fingerprint(std::string_view bytes);

// The last `valid_fraction` of the tokens (rounded down) is the validation part.
struct TokenSplit {
  std::vector<int32_t> train;
  std::vector<int32_t> valid;
};
TokenSplit split_tokens(const std::vector<int32_t>& tokens, double valid_fraction);

// --bptt-jitter (Merity et al. 2017, "Regularizing and Optimizing LSTM Language Models", 4.1):
//   base = bptt with probability 0.95, else bptt / 2
//   T_s  = clamp(round(Normal(base, 5)), kMinJitteredBptt, jitter_cap(bptt))
// drawn from the Philox block (key = seed, counter = step, stream kJitterStream), so that a step's
// length depends on the seed and the step alone: a resumed run and every rank draw the same. The
// cap, bptt + 20 (four standard deviations), bounds the batch; the learning rate of the step is
// scaled by T_s / bptt.
constexpr int64_t kMinJitteredBptt = 5;
constexpr int64_t kJitterSpread = 20;
constexpr uint64_t kJitterStream = 0x6270'7474'6a69'7474ull;  // "bpttjitt"
inline int64_t jitter_cap(int64_t bptt) { return bptt + kJitterSpread; }
int64_t jittered_bptt(uint64_t seed, int64_t step, int64_t bptt);

struct Batch {
  Tensor input;   // int64 [T, B]
  Tensor target;  // int64 [T, B]
};

// The batchers keep a reference to the tokens, which must outlive them.
class StreamBatcher {
 public:
  // recur::Error when the tokens cannot fill one batch: N must be at least B * (T + 1).
  // `what` names the tokens in that message ("the training part of data.txt").
  StreamBatcher(const std::vector<int32_t>& tokens, int64_t batch, int64_t bptt, const std::string& what);

  int64_t batch_size() const { return batch_; }
  int64_t bptt() const { return bptt_; }
  int64_t stream_length() const { return stream_length_; }
  int64_t batches_per_epoch() const { return (stream_length_ - 1) / bptt_; }
  // Where stream b starts in the tokens.
  int64_t stream_start(int64_t stream) const { return stream * stream_length_; }
  // Batch `index` of an epoch (0 <= index < batches_per_epoch()), on the CPU: [T, local_streams()].
  Batch batch(int64_t index) const;
  // The `steps` tokens of every stream at [offset, offset + steps) (--bptt-jitter); needs
  // offset + steps < stream_length().
  Batch batch_at(int64_t offset, int64_t steps) const;

  // Data parallelism: batch() gives streams [first, first + count) of the B only (a rank's share;
  // the layout of the B streams stays the same). By default all of them.
  void set_shard(int64_t first, int64_t count);
  int64_t first_stream() const { return first_stream_; }
  int64_t local_streams() const { return local_streams_; }

 private:
  const std::vector<int32_t>& tokens_;
  int64_t batch_, bptt_, stream_length_;
  int64_t first_stream_ = 0, local_streams_ = 0;
};

// The chunks of an evaluation pass over all of `tokens` with carried state: B streams of
// L = (N - 1) / B inputs each (every token but the last N - 1 - B*L is predicted once), cut
// into chunks of at most T steps (the last one shorter). B is reduced to (N - 1) when the text
// is that short; N must be at least 2.
class EvalChunks {
 public:
  EvalChunks(const std::vector<int32_t>& tokens, int64_t batch, int64_t bptt, const std::string& what);
  int64_t batch_size() const { return batch_; }
  int64_t stream_length() const { return stream_length_; }
  int64_t num_chunks() const { return (stream_length_ + bptt_ - 1) / bptt_; }
  int64_t scored_tokens() const { return batch_ * stream_length_; }
  Batch chunk(int64_t index) const;
  // Streams [first, first + count) of chunk `index` only (a rank's share of the evaluation).
  Batch chunk(int64_t index, int64_t first, int64_t count) const;

 private:
  const std::vector<int32_t>& tokens_;
  int64_t batch_, bptt_, stream_length_;
};

}  // namespace recur::lm
