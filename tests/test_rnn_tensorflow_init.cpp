// TensorFlow's initialisation of an RNN (nn/rnn_init.h) and installing a flat buffer into a module
// (RNN::set_flat_parameters, the inverse of flat_parameters and, with canonical_to_params, of
// params_to_canonical).
#include <gtest/gtest.h>

#include <cmath>

#include "nn/rnn.h"
#include "nn/rnn_init.h"

namespace recur {
namespace {

nn::RNNOptions lstm_options() {
  nn::RNNOptions o;
  o.mode = nn::RNNMode::LSTM;
  o.input_size = 5;
  o.hidden_size = 64;
  o.num_layers = 2;
  o.direction = nn::Direction::Bidirectional;
  o.proj_size = 16;
  o.use_peepholes = true;
  return o;
}

TEST(RNNSetFlatParameters, InstallsCanonicalWeightsIntoAnotherModuleAndKeepsItsHandles) {
  Generator a_gen(1), b_gen(2);
  nn::RNN a(lstm_options(), &a_gen), b(lstm_options(), &b_gen);
  const Tensor handle = b.named_parameters().front().second;  // as an optimizer holds it
  auto [weights, biases] = a.params_to_canonical(a.flat_parameters());
  b.set_flat_parameters(b.canonical_to_params(weights, biases));
  const auto a_params = a.named_parameters(), b_params = b.named_parameters();
  ASSERT_EQ(a_params.size(), b_params.size());
  for (size_t i = 0; i < a_params.size(); ++i) {
    EXPECT_EQ(a_params[i].first, b_params[i].first);
    EXPECT_EQ(a_params[i].second.to_vector<double>(), b_params[i].second.to_vector<double>()) << a_params[i].first;
  }
  EXPECT_TRUE(handle.same(b.named_parameters().front().second));
  EXPECT_EQ(handle.to_vector<double>(), a_params.front().second.to_vector<double>());
  // A float64 buffer converts into the float32 module.
  b.set_flat_parameters(a.flat_parameters().to(DType::Float64));
  EXPECT_EQ(b.flat_parameters().to_vector<double>(), a.flat_parameters().to_vector<double>());
  try {
    b.set_flat_parameters(zeros({b.params_size() - 1}));
    ADD_FAILURE() << "a buffer one element short was installed";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("expected a flat buffer of"), std::string::npos) << error.what();
  }
}

TEST(RNNTensorFlowInit, DrawsGlorotUniformPerGateMatrixAndZeroBiases) {
  for (const nn::RNNMode mode : {nn::RNNMode::LSTM, nn::RNNMode::GRU}) {
    nn::RNNOptions o = lstm_options();
    o.mode = mode;
    if (mode == nn::RNNMode::GRU) o.proj_size = 0, o.use_peepholes = false;
    nn::RNN rnn(o);
    const Tensor handle = rnn.named_parameters().front().second;
    Generator generator(7);
    nn::init_rnn_tensorflow_(rnn, &generator);
    EXPECT_TRUE(handle.same(rnn.named_parameters().front().second));
    const int64_t H = o.hidden_size;
    auto [weights, biases] = rnn.params_to_canonical(rnn.flat_parameters());
    for (const Tensor& bias : biases) {
      for (const double v : bias.to_vector<double>()) ASSERT_EQ(v, 0.0);
    }
    for (const Tensor& w : weights) {
      // The canonical matrices: gate blocks [H, in] (in = I, D*R or R), the projection [R, H],
      // the peepholes [3, H].
      const bool peephole = o.use_peepholes && w.shape() == Shape{3, H};
      const double limit = peephole ? std::sqrt(3.0 / static_cast<double>(H))
                                    : std::sqrt(6.0 / static_cast<double>(w.size(0) + w.size(1)));
      double largest = 0.0, sum_squares = 0.0;
      const std::vector<double> values = w.to_vector<double>();
      for (const double v : values) largest = std::max(largest, std::abs(v)), sum_squares += v * v;
      EXPECT_LE(largest, limit) << shape_str(w.shape());
      EXPECT_GT(largest, 0.8 * limit) << shape_str(w.shape());
      if (values.size() >= 256) {  // U(-a, a) has variance a^2 / 3
        EXPECT_NEAR(sum_squares / static_cast<double>(values.size()), limit * limit / 3, 0.25 * limit * limit / 3)
            << shape_str(w.shape());
      }
    }
    // The same generator state draws the same weights.
    nn::RNN again(o);
    Generator generator_again(7);
    nn::init_rnn_tensorflow_(again, &generator_again);
    EXPECT_EQ(again.flat_parameters().to_vector<double>(), rnn.flat_parameters().to_vector<double>());
  }
}

}  // namespace
}  // namespace recur
