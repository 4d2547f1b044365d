// AWD-LSTM's regularizers inside the RNN (nn/rnn_options.h, nn/rnn_functional.h): variational
// dropout between layers (variational_dropout, --dropout-h) and weight dropout on every W_hh
// (weight_dropout, --wdrop). examples/lm's tests compare them with PyTorch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "autograd/dropout_shard.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "backends/compute.h"
#include "nn/rnn.h"

namespace recur {
namespace {

using nn::RNNOptions;
using testing::HasSubstr;

constexpr uint64_t kMaskSeed = 17;
constexpr int64_t kSteps = 4, kBatch = 4;

TensorOptions f64() { return TensorOptions{}.with_dtype(DType::Float64); }

Tensor random(const Shape& shape, uint64_t seed, double scale = 1.0) {
  Generator g(seed);
  return rand(shape, f64(), &g, -scale, scale);
}

// A 3-layer RNN with the regularizers at these rates.
RNNOptions awd_options(nn::RNNMode mode, double variational, double weight,
                       nn::Direction direction = nn::Direction::Unidirectional) {
  RNNOptions o;
  o.mode = mode;
  o.input_size = 3;
  o.hidden_size = 4;
  o.num_layers = 3;
  o.direction = direction;
  o.variational_dropout = variational;
  o.weight_dropout = weight;
  return o;
}

// A float64 module with weights in +-0.6, its weight sets as rnn_forward takes them.
struct Model {
  explicit Model(const RNNOptions& options) : rnn(options) {
    rnn.to(DType::Float64);
    NoGradGuard no_grad;
    uint64_t seed = 100;
    for (auto& [name, p] : rnn.named_parameters()) p.copy_(random(p.shape(), seed++, 0.6));
    for (int64_t l = 0; l < options.num_layers; ++l) {
      for (int64_t d = 0; d < options.num_directions(); ++d) sets.push_back(rnn.layer_weights(l, d));
    }
  }
  // A training forward whose masks come from Generator(kMaskSeed): the same masks every call.
  nn::RNNOutput forward(const Tensor& x, nn::RNNImpl impl, const nn::RNNDropoutMasks* masks = nullptr) const {
    Generator generator(kMaskSeed);
    return nn::rnn_forward(rnn.options(), sets, x, Tensor(), Tensor(), Tensor(), RnnPhase::Training, &generator, impl,
                           masks);
  }
  nn::RNN rnn;
  std::vector<nn::CellWeights> sets;
};

Tensor flat_output(const nn::RNNOutput& out) {
  std::vector<Tensor> parts{reshape(out.output, {-1}), reshape(out.h_n, {-1})};
  if (out.c_n.defined()) parts.push_back(reshape(out.c_n, {-1}));
  return concat(parts, 0);
}

void expect_gradcheck(const RNNOptions& options, nn::RNNImpl impl) {
  const Model model(options);
  Tensor x = random({kSteps, kBatch, options.input_size}, 1).requires_grad_();
  std::vector<Tensor> inputs{x};
  for (const Tensor& p : model.rnn.parameters()) inputs.push_back(p);
  const GradcheckResult result =
      gradcheck([&](const std::vector<Tensor>& xs) { return flat_output(model.forward(xs[0], impl)); }, inputs);
  EXPECT_TRUE(result.ok) << nn::impl_name(impl) << ": " << result.report;
}

TEST(RnnAwd, VariationalDropoutPassesAFloat64GradientCheck) {
  for (const nn::RNNImpl impl : {nn::RNNImpl::Fused, nn::RNNImpl::Cells}) {
    expect_gradcheck(awd_options(nn::RNNMode::LSTM, 0.4, 0.0), impl);
    expect_gradcheck(awd_options(nn::RNNMode::GRU, 0.4, 0.0, nn::Direction::Bidirectional), impl);
  }
}

TEST(RnnAwd, WeightDropoutPassesAFloat64GradientCheck) {
  for (const nn::RNNImpl impl : {nn::RNNImpl::Fused, nn::RNNImpl::Cells}) {
    expect_gradcheck(awd_options(nn::RNNMode::LSTM, 0.0, 0.5), impl);
    expect_gradcheck(awd_options(nn::RNNMode::RNN_TANH, 0.0, 0.5, nn::Direction::Bidirectional), impl);
  }
}

// The fused layers and the cell graph draw the same masks and compute the same thing.
TEST(RnnAwd, FusedMatchesCellGraphWithEachOption) {
  const std::vector<std::pair<double, double>> rates{{0.4, 0.0}, {0.0, 0.5}, {0.4, 0.5}};
  for (const auto& [variational, weight] : rates) {
    for (const nn::RNNMode mode : {nn::RNNMode::LSTM, nn::RNNMode::GRU}) {
      const Model model(awd_options(mode, variational, weight, nn::Direction::Bidirectional));
      EXPECT_EQ(model.rnn.implementation(), nn::RNNImpl::Fused);
      std::vector<std::vector<double>> outputs, grads;
      for (const nn::RNNImpl impl : {nn::RNNImpl::Fused, nn::RNNImpl::Cells}) {
        const Tensor x = random({kSteps, kBatch, 3}, 2).requires_grad_();
        for (Tensor p : model.rnn.parameters()) p.set_grad(Tensor());
        const Tensor y = flat_output(model.forward(x, impl));
        sum(y * random(y.shape(), 3)).backward();
        outputs.push_back(y.to_vector<double>());
        std::vector<double> g = x.grad().to_vector<double>();
        for (const Tensor& p : model.rnn.parameters()) {
          const std::vector<double> gp = p.grad().to_vector<double>();
          g.insert(g.end(), gp.begin(), gp.end());
        }
        grads.push_back(g);
      }
      const std::string what = fmt::format("{} variational {} weight {}", nn::mode_name(mode), variational, weight);
      for (size_t i = 0; i < outputs[0].size(); ++i) ASSERT_NEAR(outputs[0][i], outputs[1][i], 1e-13) << what;
      for (size_t i = 0; i < grads[0].size(); ++i) ASSERT_NEAR(grads[0][i], grads[1][i], 1e-12) << what;
    }
  }
}

// The masks rnn_forward draws are these, in this order: weight_hh's per weight set, then one
// [B, D*R] per layer but the last; a variational mask multiplies every time step alike.
TEST(RnnAwd, DrawnMasksAreTheDocumentedOnes) {
  const RNNOptions o = awd_options(nn::RNNMode::LSTM, 0.5, 0.3, nn::Direction::Bidirectional);
  const Model model(o);
  Generator generator(kMaskSeed);
  nn::RNNDropoutMasks masks;
  for (const nn::CellWeights& w : model.sets) {
    masks.weight_hh.push_back(
        compute::dropout_mask(w.weight_hh.shape(), DType::Float64, Device::cpu(), 0.7, generator));
  }
  for (int64_t l = 0; l + 1 < o.num_layers; ++l) {
    const Tensor mask = compute::dropout_mask({kBatch, 8}, DType::Float64, Device::cpu(), 0.5, generator);
    for (double m : mask.to_vector<double>()) EXPECT_TRUE(m == 0.0 || m == 2.0) << m;
    masks.hidden.push_back(mask);
  }
  const Tensor x = random({kSteps, kBatch, 3}, 2);
  for (const nn::RNNImpl impl : {nn::RNNImpl::Fused, nn::RNNImpl::Cells}) {
    EXPECT_EQ(model.forward(x, impl).output.to_vector<double>(),
              model.forward(x, impl, &masks).output.to_vector<double>())
        << nn::impl_name(impl);
  }
  // Inference drops nothing: the output is the plain RNN's.
  Generator unused(kMaskSeed);
  const nn::RNNOutput inference =
      nn::rnn_forward(o, model.sets, x, Tensor(), Tensor(), Tensor(), RnnPhase::Inference, &unused);
  EXPECT_EQ(unused.offset(), 0u);
  RNNOptions plain = o;
  plain.variational_dropout = plain.weight_dropout = 0.0;
  EXPECT_EQ(inference.output.to_vector<double>(),
            nn::rnn_forward(plain, model.sets, x, Tensor(), Tensor(), Tensor(), RnnPhase::Training, &unused)
                .output.to_vector<double>());
}

// Data parallelism (autograd/dropout_shard.h): a rank with streams [2, 4) of a batch of 4 drops
// what one process with the whole batch drops, and all ranks draw the same W_hh masks.
TEST(RnnAwd, ARankOfAShardedBatchComputesItsRowsOfTheWholeBatch) {
  const Model model(awd_options(nn::RNNMode::LSTM, 0.5, 0.5));
  const Tensor x = random({kSteps, kBatch, 3}, 2);
  const std::vector<double> whole = model.forward(x, nn::RNNImpl::Fused).output.to_vector<double>();
  const DropoutShardGuard shard(DropoutShard{2, kBatch});
  const Tensor rows = compute::contiguous(x.narrow(1, 2, 2));
  for (const nn::RNNImpl impl : {nn::RNNImpl::Fused, nn::RNNImpl::Cells}) {
    const std::vector<double> part = model.forward(rows, impl).output.to_vector<double>();
    ASSERT_EQ(part.size(), whole.size() / 2);
    for (int64_t t = 0; t < kSteps; ++t) {
      for (int64_t i = 0; i < 2 * 4; ++i) {
        EXPECT_NEAR(part[static_cast<size_t>(t * 8 + i)], whole[static_cast<size_t>(t * 16 + 8 + i)], 1e-14)
            << nn::impl_name(impl);
      }
    }
  }
}

TEST(RnnAwd, RatesOutsideZeroToOneAreRefused) {
  for (const double p : {-0.1, 1.0, 1.5}) {
    EXPECT_THAT(
        [&] { awd_options(nn::RNNMode::LSTM, p, 0.0).validate(); },
        testing::ThrowsMessage<Error>(HasSubstr(fmt::format("variational_dropout must be in [0, 1), got {}", p))));
    EXPECT_THAT([&] { awd_options(nn::RNNMode::LSTM, 0.0, p).validate(); },
                testing::ThrowsMessage<Error>(HasSubstr(fmt::format("weight_dropout must be in [0, 1), got {}", p))));
  }
  // A given mask of the wrong shape names both shapes.
  const Model model(awd_options(nn::RNNMode::LSTM, 0.5, 0.0));
  nn::RNNDropoutMasks masks;
  masks.hidden = {zeros({kBatch, 4}, f64()), zeros({kBatch, 5}, f64())};
  EXPECT_THAT(
      [&] {
        model.forward(random({kSteps, kBatch, 3}, 2), nn::RNNImpl::Cells, &masks);
      },
      testing::ThrowsMessage<Error>(HasSubstr("the given hidden mask 1 must be [4, 4], got")));
}

TEST(RnnAwd, OptionsRoundTripThroughJsonAndTheStackDescriptor) {
  const RNNOptions o = awd_options(nn::RNNMode::LSTM, 0.25, 0.5);
  const RNNOptions back = nn::options_from_json(nn::options_to_json(o));
  EXPECT_EQ(back.variational_dropout, 0.25);
  EXPECT_EQ(back.weight_dropout, 0.5);
  EXPECT_EQ(nn::rnn_desc(o, DType::Float32).variational_dropout, 0.25);
  RNNOptions plain = o;
  plain.variational_dropout = 0.0;
  EXPECT_NE(nn::rnn_desc(o, DType::Float32).key(), nn::rnn_desc(plain, DType::Float32).key());  // a plan cache key
  // Older files without the keys read as 0.
  const RNNOptions old = nn::options_from_json(R"({"mode": "lstm", "input_size": 2, "hidden_size": 4})");
  EXPECT_EQ(old.variational_dropout, 0.0);
  EXPECT_EQ(old.weight_dropout, 0.0);
}

}  // namespace
}  // namespace recur
