// AWD-LSTM's regularizers in the language model (examples/lm/regularization.h): embedding
// dropout, locked dropout of the embedding output, between the RNN's layers and of its output,
// weight dropout of W_hh, AR and TAR.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/dropout_shard.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "examples/lm/model.h"
#include "nn/losses.h"
#include "nn/safetensors.h"

namespace recur::lm {
namespace {

// tests/fixtures/make_lm_fixtures.py: a tied LSTM with every regularizer on, its masks, its
// objective (cross-entropy + AR + TAR) and the gradients in PyTorch. lm_awd: 2 layers, the
// regularizers outside the RNN; lm_awd_rnn: 3 layers, --dropout-h and --wdrop as well.
struct AwdFixture {
  explicit AwdFixture(const std::string& name = "lm_awd")
      : file(nn::load_safetensors(std::string(RECUR_TEST_FIXTURES) + "/" + name + ".safetensors")),
        config(nlohmann::json::parse(file.metadata.at("model")).get<ModelConfig>()),
        masks{(*this)["mask.embedding"], (*this)["mask.input"], (*this)["mask.output"], {}} {
    for (int64_t l = 0; file.tensors.count(fmt::format("mask.weight_hh.{}", l)) > 0; ++l)
      masks.rnn.weight_hh.push_back(file.tensors.at(fmt::format("mask.weight_hh.{}", l)));
    for (int64_t l = 0; file.tensors.count(fmt::format("mask.hidden.{}", l)) > 0; ++l)
      masks.rnn.hidden.push_back(file.tensors.at(fmt::format("mask.hidden.{}", l)));
  }
  nn::SafetensorsFile file;
  ModelConfig config;
  DropoutMasks masks;
  const Tensor& operator[](const std::string& name) const { return file.tensors.at(name); }
};

std::unique_ptr<LanguageModel> fixture_model(const AwdFixture& fixture, nn::RNNImpl impl) {
  auto model = std::make_unique<LanguageModel>(fixture.config, 1);
  model->to(DType::Float64);
  model->rnn->set_implementation(impl);
  nn::StateDict weights;
  for (const auto& [name, tensor] : model->state_dict()) weights[name] = fixture[name];
  model->load_state_dict(weights);
  return model;
}

// The cross-entropy, and the objective (with the AR and TAR penalties) of a training forward.
std::pair<Tensor, Tensor> objective(LanguageModel& model, const AwdFixture& fixture, const DropoutMasks* masks) {
  auto [logits, state] = model.forward(fixture["tokens"], nn::RNNState{}, masks);
  const Tensor ce = nn::cross_entropy(logits, fixture["targets"]);
  const Tensor& penalty = model.activation_penalty();
  return {ce, penalty.defined() ? ce + penalty : ce};
}

void expect_matches_pytorch(const AwdFixture& fixture) {
  ASSERT_GT(fixture.config.dropout_e * fixture.config.dropout_i * fixture.config.dropout_o, 0.0);
  ASSERT_GT(fixture.config.ar * fixture.config.tar, 0.0);
  for (const nn::RNNImpl impl : {nn::RNNImpl::Fused, nn::RNNImpl::Cells}) {
    std::unique_ptr<LanguageModel> model = fixture_model(fixture, impl);
    const auto [ce, total] = objective(*model, fixture, &fixture.masks);
    EXPECT_NEAR(ce.item(), fixture["ce"].item(), 1e-12);
    EXPECT_NEAR(total.item(), fixture["loss"].item(), 1e-12);
    total.backward();
    for (const auto& [name, parameter] : model->named_parameters()) {
      const std::vector<double> got = parameter.grad().to_vector<double>();
      const std::vector<double> expected = fixture["grad." + name].to_vector<double>();
      ASSERT_EQ(got.size(), expected.size()) << name;
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-12) << name << "[" << i << "]";
    }
  }
}

TEST(LmRegularization, ObjectiveAndGradientsMatchPyTorchWithGivenMasks) { expect_matches_pytorch(AwdFixture()); }

// --dropout-h and --wdrop on top: the masks between the RNN's layers and on each W_hh given.
TEST(LmRegularization, RnnRegularizersMatchPyTorchWithGivenMasks) {
  const AwdFixture fixture("lm_awd_rnn");
  ASSERT_GT(fixture.config.rnn.variational_dropout * fixture.config.rnn.weight_dropout, 0.0);
  ASSERT_EQ(fixture.masks.rnn.weight_hh.size(), 3u);
  ASSERT_EQ(fixture.masks.rnn.hidden.size(), 2u);
  expect_matches_pytorch(fixture);
}

// lm_awd_rnn: with --dropout-h and --wdrop as well.
TEST(LmRegularization, GradientOfTheObjectivePassesAFloat64GradientCheck) {
  for (const char* name : {"lm_awd", "lm_awd_rnn"}) {
    const AwdFixture fixture(name);
    std::unique_ptr<LanguageModel> model = fixture_model(fixture, nn::RNNImpl::Fused);
    const GradcheckResult result =
        gradcheck([&](const std::vector<Tensor>&) { return objective(*model, fixture, &fixture.masks).second; },
                  model->parameters());
    EXPECT_TRUE(result.ok) << name << ": " << result.report;
  }
}

// The RNN's masks come from its dropout stream, which a checkpoint keeps ("rnn_dropout").
TEST(LmRegularization, RnnMasksAreDrawnFromTheRnnStream) {
  const AwdFixture fixture("lm_awd_rnn");
  std::unique_ptr<LanguageModel> model = fixture_model(fixture, nn::RNNImpl::Fused);
  EXPECT_EQ(model->generators()[0].first, "rnn_dropout");
  const Generator& stream = *model->generators()[0].second;
  DropoutMasks outside = fixture.masks;
  outside.rnn = {};
  (void)objective(*model, fixture, &outside);
  // weight_hh: 3 x [24, 6]; hidden: 2 x [3, 6]; a block of 4 numbers per 4 elements
  EXPECT_EQ(stream.offset(), 3u * 24 * 6 / 4 + 2u * ((3 * 6 + 3) / 4));
  const uint64_t after_one = stream.offset();
  (void)objective(*model, fixture, &fixture.masks);  // given masks draw nothing
  EXPECT_EQ(stream.offset(), after_one);
}

TEST(LmRegularization, DrawnMasksAreOnePerSequenceAndWholeWordsAndOffOutsideTraining) {
  const AwdFixture fixture;
  std::unique_ptr<LanguageModel> model = fixture_model(fixture, nn::RNNImpl::Fused);
  // Masks not given are drawn, from the streams a checkpoint keeps.
  const uint64_t offset_before = model->generators().back().second->offset();
  (void)objective(*model, fixture, nullptr);
  EXPECT_GT(model->generators().back().second->offset(), offset_before);
  EXPECT_TRUE(model->activation_penalty().defined());
  ASSERT_EQ(model->generators().size(), 4u);  // rnn_dropout, output_dropout, locked_dropout, embedding_dropout
  EXPECT_EQ(model->generators()[2].first, "locked_dropout");
  EXPECT_EQ(model->generators()[3].first, "embedding_dropout");
  // Outside training no regularizer acts: the logits are the plain model's.
  model->eval();
  const Tensor regularized = model->forward(fixture["tokens"], nn::RNNState{}).first;
  EXPECT_FALSE(model->activation_penalty().defined());
  ModelConfig plain_config = fixture.config;
  plain_config.dropout_e = plain_config.dropout_i = plain_config.dropout_o = plain_config.ar = plain_config.tar = 0.0;
  AwdFixture plain_fixture;
  plain_fixture.config = plain_config;
  std::unique_ptr<LanguageModel> plain = fixture_model(plain_fixture, nn::RNNImpl::Fused);
  EXPECT_EQ(plain->generators().size(), 2u);  // older checkpoints resume: no streams they lack
  plain->eval();
  EXPECT_EQ(regularized.to_vector<double>(),
            plain->forward(fixture["tokens"], nn::RNNState{}).first.to_vector<double>());
}

TEST(LmRegularization, LockedDropoutMaskIsSharedAcrossTimeSteps) {
  Generator generator(3);
  const Tensor like = zeros({1});
  const std::vector<float> mask = dropout_mask({1, 4, 5}, like, 0.5, generator).to_vector<float>();
  ASSERT_EQ(mask.size(), 20u);
  for (float m : mask) EXPECT_TRUE(m == 0.0f || m == 2.0f) << m;
  // Broadcast over T: x [3, 4, 5] * mask [1, 4, 5] keeps or drops a (stream, feature) at every step.
  const Tensor x = ones({3, 4, 5});
  const std::vector<float> y = (x * from_vector(mask, {1, 4, 5})).to_vector<float>();
  for (size_t t = 0; t < 3; ++t)
    for (size_t i = 0; i < 20; ++i) EXPECT_EQ(y[t * 20 + i], mask[i]);
}

TEST(LmRegularization, LockedDropoutOfARankIsItsSliceOfTheWholeBatchsMask) {
  // Streams [2, 5) of a global batch of 8: the rows 2..4 of the mask one process draws for all 8,
  // and the generator ends where that process's does.
  const Tensor like = zeros({1});
  Generator whole(11), rank(11);
  const std::vector<float> all = locked_dropout_mask(8, 6, like, 0.4, whole).to_vector<float>();
  std::vector<float> part;
  {
    const DropoutShardGuard shard({.first = 2, .global = 8});
    const Tensor mask = locked_dropout_mask(3, 6, like, 0.4, rank);
    EXPECT_EQ(mask.shape(), Shape({1, 3, 6}));
    part = mask.to_vector<float>();
  }
  ASSERT_EQ(part.size(), 18u);
  for (size_t i = 0; i < part.size(); ++i) EXPECT_EQ(part[i], all[2 * 6 + i]) << i;
  EXPECT_EQ(whole.offset(), rank.offset());
  // Outside a shard: the batch's own mask.
  Generator alone(11);
  EXPECT_EQ(locked_dropout_mask(8, 6, like, 0.4, alone).to_vector<float>(), all);
  const DropoutShardGuard outside({.first = 6, .global = 8});
  EXPECT_THROW(locked_dropout_mask(3, 6, like, 0.4, rank), Error);
}

}  // namespace
}  // namespace recur::lm
