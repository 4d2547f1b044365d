// Data for the language model (examples/lm/data.h): reading, splitting, stream batching.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "examples/lm/data.h"
#include "test_lm_util.h"

namespace recur::lm {
namespace {

using testing::ScratchDir;

std::vector<int32_t> iota_tokens(int32_t count) {
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  std::iota(tokens.begin(), tokens.end(), 0);
  return tokens;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(LmData, StreamsAreContiguousAndBatchesContinueEachOther) {
  const std::vector<int32_t> tokens = iota_tokens(103);  // B = 4 streams of L = 25 (3 dropped)
  const StreamBatcher batcher(tokens, 4, 6, "tokens");
  EXPECT_EQ(batcher.stream_length(), 25);
  EXPECT_EQ(batcher.batches_per_epoch(), 4);  // (25 - 1) / 6
  EXPECT_EQ(batcher.stream_start(3), 75);
  for (int64_t index = 0; index < batcher.batches_per_epoch(); ++index) {
    const Batch batch = batcher.batch(index);
    ASSERT_EQ(batch.input.shape(), (Shape{6, 4}));
    for (int64_t t = 0; t < 6; ++t) {
      for (int64_t b = 0; b < 4; ++b) {
        const double expected = static_cast<double>(b * 25 + index * 6 + t);
        EXPECT_EQ(batch.input.at({t, b}), expected);
        EXPECT_EQ(batch.target.at({t, b}), expected + 1);
      }
    }
  }
  EXPECT_THROW((void)batcher.batch(4), Error);
}

TEST(LmData, DataShorterThanOneBatchIsAClearError) {
  const std::vector<int32_t> tokens = iota_tokens(20);
  const std::string message = error_of([&] { StreamBatcher(tokens, 4, 8, "the training part of 'x.txt'"); });
  EXPECT_NE(message.find("the training part of 'x.txt' has 20 tokens, shorter than one batch"), std::string::npos)
      << message;
  EXPECT_NE(message.find("at least 36"), std::string::npos) << message;
}

TEST(LmData, EvalChunksScoreEveryStreamTokenOnce) {
  const std::vector<int32_t> tokens = iota_tokens(50);
  const EvalChunks chunks(tokens, 4, 5, "valid");
  EXPECT_EQ(chunks.stream_length(), 12);  // (50 - 1) / 4
  EXPECT_EQ(chunks.num_chunks(), 3);      // 5 + 5 + 2
  EXPECT_EQ(chunks.scored_tokens(), 48);
  const Batch last = chunks.chunk(2);
  EXPECT_EQ(last.input.shape(), (Shape{2, 4}));
  EXPECT_EQ(last.input.at({1, 3}), 3 * 12 + 11);
  EXPECT_EQ(last.target.at({1, 3}), 3 * 12 + 12);
  // A tiny text uses fewer streams; one token cannot be evaluated.
  const std::vector<int32_t> three = iota_tokens(3);
  EXPECT_EQ(EvalChunks(three, 32, 8, "valid").batch_size(), 2);
  const std::vector<int32_t> one = iota_tokens(1);
  EXPECT_THROW(EvalChunks(one, 32, 8, "valid"), Error);
}

TEST(LmData, SplitKeepsTheEndForValidation) {
  const TokenSplit split = split_tokens(iota_tokens(100), 0.1);
  EXPECT_EQ(split.train.size(), 90u);
  EXPECT_EQ(split.valid.front(), 90);
  EXPECT_EQ(split.valid.back(), 99);
  EXPECT_THROW((void)split_tokens(iota_tokens(10), 0.0), Error);
}

TEST(LmData, MissingEmptyAndFolderDataFilesAreClearErrors) {
  ScratchDir dir("data");
  EXPECT_NE(error_of([&] { (void)read_text_file(dir / "nope.txt"); }).find("cannot read data file"), std::string::npos);
  testing::write_text(dir / "empty.txt", "");
  EXPECT_NE(error_of([&] { (void)read_text_file(dir / "empty.txt"); }).find("is empty"), std::string::npos);
  EXPECT_NE(error_of([&] { (void)read_text_file(dir.str()); }).find("not a regular file"), std::string::npos);
  testing::write_text(dir / "a.txt", "abc");
  EXPECT_EQ(read_text_file(dir / "a.txt"), "abc");
  EXPECT_EQ(fingerprint("abc"), fingerprint(std::string("abc")));
  EXPECT_NE(fingerprint("abc"), fingerprint("abd"));
}

}  // namespace
}  // namespace recur::lm
