// Word-level language models: the tokenizer (examples/lm/word_tokenizer.h), the words vocabulary
// (examples/lm/vocab.h), tied weights (examples/lm/model.h), and training, resuming and sampling
// a word-level run.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "core/error.h"
#include "examples/lm/checkpoint.h"
#include "examples/lm/model.h"
#include "examples/lm/sampler.h"
#include "examples/lm/trainer.h"
#include "examples/lm/vocab.h"
#include "examples/lm/word_tokenizer.h"
#include "nn/losses.h"
#include "nn/safetensors.h"
#include "test_lm_util.h"

namespace recur::lm {
namespace {

using testing::ScratchDir;

std::vector<std::string> tokens_of(const std::string& text) {
  std::vector<std::string> tokens;
  for_each_word(text, "text", [&](std::string_view token, size_t) { tokens.emplace_back(token); });
  return tokens;
}

template <typename Fn> std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

using Words = std::vector<std::string>;

TEST(LmWords, TokenizerSplitsWordsPunctuationAndLinesAndKeepsCase) {
  EXPECT_EQ(
      tokens_of("First Citizen:\nBefore we proceed, hear me speak.\n"),
      (Words{"First", "Citizen", ":", "<eol>", "Before", "we", "proceed", ",", "hear", "me", "speak", ".", "<eol>"}));
  EXPECT_EQ(tokens_of("The the THE"), (Words{"The", "the", "THE"}));
  // An apostrophe between word characters is part of the word; elsewhere a mark of its own.
  EXPECT_EQ(tokens_of("don't 'tis o'er dogs' x''y"),
            (Words{"don't", "'", "tis", "o'er", "dogs", "'", "x", "'", "'", "y"}));
  // Blank lines are one <eol> per newline; \r, tabs and runs of spaces separate only.
  EXPECT_EQ(tokens_of("a\r\n\n\t b  c"), (Words{"a", "<eol>", "<eol>", "b", "c"}));
  // Non-ASCII code points are word characters; digits too; <unk> and <eol> are read as tokens.
  EXPECT_EQ(tokens_of("caf\xc3\xa9 42 x<unk>y <eol>z"), (Words{"caf\xc3\xa9", "42", "x", "<unk>", "y", "<eol>", "z"}));
  EXPECT_EQ(tokens_of("<un k>"), (Words{"<", "un", "k", ">"}));
  EXPECT_NE(error_of([] { tokens_of("ok \xff"); }).find("text is not valid UTF-8: byte 0xFF at offset 3"),
            std::string::npos);
}

TEST(LmWords, JoinedTokensReadBackAsTheSameTokens) {
  const std::string text = "KING: Why, ( then ) 'tis [so] \"here\" - don't!\n\nNo; <unk> ok?";
  const Vocabulary vocab = Vocabulary::build(text, VocabKind::Words);
  const std::vector<int32_t> ids = vocab.encode(text);
  const std::string joined = vocab.decode(ids);
  EXPECT_EQ(joined, "KING: Why, (then) ' tis [so] \" here \" - don't!\n\nNo; <unk> ok?");
  EXPECT_EQ(vocab.encode(joined), ids);
  // decode_after's pieces add up to decode().
  std::string pieces;
  int64_t previous = -1;
  for (int32_t id : ids) pieces += vocab.decode_after(previous, id), previous = id;
  EXPECT_EQ(pieces, joined);
}

TEST(LmWords, VocabularyIsUnkEolThenByCountWithTiesInByteOrder) {
  const Vocabulary vocab = Vocabulary::build("b a c a b a d\nd", VocabKind::Words);
  EXPECT_EQ(vocab.kind(), VocabKind::Words);
  EXPECT_EQ(vocab.words(), (Words{"<unk>", "<eol>", "a", "b", "d", "c"}));
  EXPECT_EQ(vocab.size(), 6);
  EXPECT_EQ(vocab.newline_id(), 1);
  EXPECT_EQ(vocab.encode("a b\nzebra"), (std::vector<int32_t>{2, 3, 1, 0}));  // an unknown word is <unk>
  EXPECT_EQ(vocab.decode(1), "\n");
  EXPECT_EQ(symbol_unit(VocabKind::Words), "word");
  EXPECT_EQ(describe_loss(std::log(100.0), VocabKind::Words), "4.6052 nats/word (perplexity 100.0)");
  EXPECT_EQ(describe_loss(std::log(2.0), VocabKind::Chars), "0.6931 nats/char (1.0000 bits/char)");
}

TEST(LmWords, MinCountAndMaxVocabLeaveRareWordsToUnk) {
  const std::string text = "a a a b b c c d";  // a:3, b:2, c:2, d:1
  EXPECT_EQ(Vocabulary::build(text, VocabSpec{.kind = VocabKind::Words, .min_count = 2}).words(),
            (Words{"<unk>", "<eol>", "a", "b", "c"}));
  const Vocabulary capped = Vocabulary::build(text, VocabSpec{.kind = VocabKind::Words, .max_vocab = 4});
  EXPECT_EQ(capped.words(), (Words{"<unk>", "<eol>", "a", "b"}));  // b before c: equal counts, byte order
  EXPECT_EQ(capped.encode(text), (std::vector<int32_t>{2, 2, 2, 3, 3, 0, 0, 0}));
  EXPECT_EQ(Vocabulary::build(text, VocabSpec{.kind = VocabKind::Words, .max_vocab = 2}).size(), 2);
  EXPECT_NE(error_of([&] {
              (void)Vocabulary::build(text, VocabSpec{.kind = VocabKind::Words, .min_count = 0});
            }).find("--min-count must be >= 1, got 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              (void)Vocabulary::build(text, VocabSpec{.kind = VocabKind::Words, .max_vocab = 1});
            }).find("--max-vocab must be 0 (no cap) or >= 2"),
            std::string::npos);
}

TEST(LmWords, VocabularyJsonRoundTripsAndOldKindsKeepTheirForm) {
  const Vocabulary words = Vocabulary::build("to be, or not to be\n", VocabKind::Words);
  const nlohmann::json json = words.to_json();
  EXPECT_EQ(json, nlohmann::json::parse(R"({"kind": "words", "words": ["<unk>", "<eol>", "be", "to", ",", "not",
                                            "or"]})"));
  EXPECT_EQ(Vocabulary::from_json(json), words);
  // chars and bytes keep the form older checkpoints hold.
  EXPECT_EQ(Vocabulary::build("ba", VocabKind::Chars).to_json(),
            nlohmann::json::parse(R"({"kind": "chars", "symbols": [97, 98]})"));
}

TEST(LmWords, MalformedWordsJsonIsRefusedSayingWhatWasExpected) {
  const auto refused = [](const char* text) {
    return error_of([&] { (void)Vocabulary::from_json(nlohmann::json::parse(text)); });
  };
  const std::vector<std::pair<const char*, const char*>> cases = {
      {R"({"kind": "words"})", "expected an object with \"kind\": \"words\" and \"words\""},
      {R"({"kind": "words", "words": "a"})", "expected an object with \"kind\": \"words\" and \"words\""},
      {R"({"kind": "words", "words": ["a", "<unk>", "<eol>"]})", "must start with \"<unk>\" and \"<eol>\""},
      {R"({"kind": "words", "words": ["<unk>"]})", "must start with \"<unk>\" and \"<eol>\""},
      {R"({"kind": "words", "words": ["<unk>", "<eol>", 7]})", "words must be strings, got 7"},
      {R"({"kind": "words", "words": ["<unk>", "<eol>", "two words"]})", "\"two words\" is not one word"},
      {R"({"kind": "words", "words": ["<unk>", "<eol>", ""]})", "\"\" is not one word"},
      {R"({"kind": "words", "words": ["<unk>", "<eol>", "a,"]})", "\"a,\" is not one word"},
      {R"({"kind": "words", "words": ["<unk>", "<eol>", "\n"]})", "is not one word"},
      {R"({"kind": "words", "words": ["<unk>", "<eol>", "a", "<unk>"]})", "\"<unk>\" appears twice"},
      {R"({"kind": "words", "words": ["<unk>", "<eol>", "a", "b", "a"]})", "the word \"a\" appears twice"},
      {R"({"kind": "sentences", "words": []})", "unknown vocabulary kind 'sentences' (expected bytes, chars or words)"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string message = refused(text);
    EXPECT_NE(message.find(expected), std::string::npos) << text << " gave: " << message;
  }
}

// A tiny model configuration: an LSTM whose output size is the embedding size.
ModelConfig tied_config(int64_t vocab_size, int64_t layers = 2) {
  TrainOptions options;
  options.embedding = 6;
  options.hidden = 6;
  options.layers = layers;
  options.tie_weights = true;
  return options.model_config(vocab_size);
}

TEST(LmTiedWeights, TheHeadUsesTheEmbeddingMatrixWhichIsOneParameterSavedOnce) {
  LanguageModel model(tied_config(11), 3);
  EXPECT_EQ(&model.head->weight.impl(), &model.embedding->weight.impl());
  const nn::StateDict state = model.state_dict();
  EXPECT_EQ(state.count("head.weight"), 0u);
  EXPECT_EQ(state.count("embedding.weight"), 1u);
  EXPECT_EQ(state.count("head.bias"), 1u);
  ModelConfig untied_config = tied_config(11);
  untied_config.tie_weights = false;
  LanguageModel untied(untied_config, 3);
  EXPECT_EQ(untied.num_parameters() - model.num_parameters(), 11 * 6);
  // The shared matrix starts as the head's weight would: uniform in +-1/sqrt(6), not N(0, 1).
  const std::vector<float> values = model.embedding->weight.to_vector<float>();
  for (float v : values) EXPECT_LE(std::abs(v), 1.0 / std::sqrt(6.0));
  EXPECT_EQ(values, untied.head->weight.to_vector<float>());
  std::vector<std::string> names;
  for (const auto& shape : weight_shapes(model.config())) names.push_back(shape.name);
  EXPECT_EQ(std::count(names.begin(), names.end(), "head.weight"), 0);
}

TEST(LmTiedWeights, AnOutputSizeOtherThanTheEmbeddingSizeIsRefusedNamingBoth) {
  TrainOptions options;
  options.embedding = 8;
  options.hidden = 16;
  options.tie_weights = true;
  EXPECT_NE(error_of([&] { (void)options.model_config(5); })
                .find("--tie-weights needs the last RNN layer's output size to equal the embedding size: the output "
                      "size is 16 (--hidden 16), the embedding size 8 (--embedding 8)"),
            std::string::npos);
  options.proj = 4;
  EXPECT_NE(error_of([&] { (void)options.model_config(5); }).find("the output size is 4 (--proj 4)"),
            std::string::npos);
  options.proj = 8;
  EXPECT_NO_THROW((void)options.model_config(5));
}

// The loss of `model` on the fixture's tokens and targets.
Tensor tied_loss(LanguageModel& model, const nn::StateDict& fixture) {
  auto [logits, state] = model.forward(fixture.at("tokens"), nn::RNNState{});
  return nn::cross_entropy(logits, fixture.at("targets"));
}

TEST(LmTiedWeights, GradientOfTheLossPassesAFloat64GradientCheck) {
  LanguageModel model(tied_config(7, 1), 5);
  model.to(DType::Float64);
  model.rnn->set_implementation(nn::RNNImpl::Fused);
  const TensorOptions int64 = TensorOptions{}.with_dtype(DType::Int64);
  const nn::StateDict batch = {{"tokens", from_vector(std::vector<int64_t>{1, 4, 0, 6, 2, 2, 5, 3}, {4, 2}, int64)},
                               {"targets", from_vector(std::vector<int64_t>{4, 0, 6, 2, 5, 3, 1, 1}, {4, 2}, int64)}};
  // The embedding matrix gets the gradient of the lookup and of the head.
  const GradcheckResult result =
      gradcheck([&](const std::vector<Tensor>&) { return tied_loss(model, batch); }, model.parameters());
  EXPECT_TRUE(result.ok) << result.report;
  EXPECT_GT(result.checked, 7 * 6);
}

TEST(LmTiedWeights, LossAndGradientsMatchPyTorch) {
  // tests/fixtures/make_lm_fixtures.py: a 2-layer LSTM with decoder.weight = encoder.weight.
  const nn::SafetensorsFile fixture = nn::load_safetensors(std::string(RECUR_TEST_FIXTURES) + "/lm_tied.safetensors");
  const ModelConfig config = nlohmann::json::parse(fixture.metadata.at("model")).get<ModelConfig>();
  ASSERT_TRUE(config.tie_weights);
  for (const nn::RNNImpl impl : {nn::RNNImpl::Fused, nn::RNNImpl::Cells}) {
    LanguageModel model(config, 1);
    model.to(DType::Float64);
    model.rnn->set_implementation(impl);
    nn::StateDict weights;
    for (const auto& [name, tensor] : model.state_dict()) weights[name] = fixture.tensors.at(name);
    model.load_state_dict(weights);
    const Tensor loss = tied_loss(model, fixture.tensors);
    EXPECT_NEAR(loss.item(), fixture.tensors.at("loss").item(), 1e-12);
    loss.backward();
    for (const auto& [name, parameter] : model.named_parameters()) {
      const std::vector<double> got = parameter.grad().to_vector<double>();
      const std::vector<double> expected = fixture.tensors.at("grad." + name).to_vector<double>();
      ASSERT_EQ(got.size(), expected.size()) << name;
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-12) << name << "[" << i << "]";
    }
  }
}

// A word-level text of a few thousand words.
std::string word_corpus(ScratchDir& dir) {
  const std::string path = dir / "words.txt";
  testing::write_text(path, generate_corpus(12000, 5));
  return path;
}

TrainOptions tiny_word_options(const std::string& data, const std::string& out) {
  TrainOptions o = testing::tiny_options(data, out);
  o.vocab = "words";
  o.min_count = 2;
  o.max_vocab = 200;
  o.embedding = 16;
  o.tie_weights = true;
  o.dropout_e = 0.1;  // and AWD-LSTM's regularizers
  o.dropout_i = 0.2;
  o.dropout_o = 0.3;
  o.dropout_h = 0.25;  // between the 2 RNN layers
  o.wdrop = 0.4;
  o.ar = 2.0;
  o.tar = 1.0;
  o.steps = 30;
  o.eval_every = 10;
  return o;
}

TEST(LmWords, WordRunWithTiedWeightsAndRegularizersResumesBitIdentically) {
  ScratchDir dir("words_resume");
  const std::string data = word_corpus(dir);
  TrainOptions options = tiny_word_options(data, dir / "straight");
  options.decay_steps = 30;
  std::vector<double> straight_losses;
  TrainResult straight;
  {
    CollectingReporter reporter;
    TrainHooks hooks;
    hooks.on_step = [&](int64_t, double loss) { straight_losses.push_back(loss); };
    Trainer trainer(options, reporter, hooks);
    EXPECT_EQ(trainer.vocab().kind(), VocabKind::Words);
    EXPECT_LE(trainer.vocab().size(), 200);
    straight = trainer.run();
  }
  TrainOptions first = options;
  first.out = dir / "split";
  first.steps = 15;
  std::vector<double> split_losses;
  TrainHooks hooks;
  hooks.on_step = [&](int64_t, double loss) { split_losses.push_back(loss); };
  {
    CollectingReporter reporter;
    Trainer(first, reporter, hooks).run();
  }
  CollectingReporter reporter;
  TrainOptions more;
  more.steps = 30;
  const TrainResult resumed = Trainer::resume(first.out, more, {"steps"}, reporter, hooks)->run();
  ASSERT_EQ(split_losses.size(), straight_losses.size());
  EXPECT_EQ(std::memcmp(split_losses.data(), straight_losses.data(), sizeof(double) * split_losses.size()), 0);
  EXPECT_EQ(resumed.validation.loss, straight.validation.loss);

  // The checkpoint holds the words vocabulary and the matrix once; sampling prints words.
  const Checkpoint checkpoint = load_checkpoint(first.out, LoadParts::Model);
  EXPECT_EQ(checkpoint.vocab.kind(), VocabKind::Words);
  EXPECT_TRUE(checkpoint.model.tie_weights);
  EXPECT_EQ(checkpoint.weights.count("head.weight"), 0u);
  std::unique_ptr<LanguageModel> model = model_from_checkpoint(checkpoint);
  const std::string text =
      sample(*model, checkpoint.vocab, SampleOptions{.prompt = "The king", .length = 40}, Device::cpu());
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(checkpoint.vocab.encode("The king" + text).size(), 42u);  // the prompt's 2 words, then 40
}

}  // namespace
}  // namespace recur::lm
