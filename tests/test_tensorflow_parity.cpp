// recur against TensorFlow: the fixtures in tests/fixtures/tensorflow/ (made by
// make_tensorflow_fixtures.py with TensorFlow 2.15) hold cases of tf.compat.v1.nn.rnn_cell.LSTMCell
// with each of its options (peepholes, cell_clip, num_proj of any size, proj_clip, forget_bias, a
// ReLU activation) and their combinations, of Keras' GRUCell (reset_after true and false) and of
// stacked and Bidirectional Keras LSTM and GRU layers, with TensorFlow's outputs, final states and
// the gradients of a loss over all steps, mapped onto recur's weights (docs/RNN.md). The cell graph
// must match every case, and the fused CPU path every case whose options it runs: float64 to 1e-10
// relative, float32 to 1e-5. On a GPU each case runs with the automatic choice (cuDNN where it
// can, else the cell graph on the GPU), within 1e-9 (float64) and 1e-4 (float32); without a GPU
// those cases skip.
#include <gtest/gtest.h>

#include <iostream>

#include "backends/backend.h"
#include "examples/rnn_case.h"
#include "nn/safetensors.h"
#include "test_rnn_fixture_util.h"

namespace recur {
namespace {

std::string fixture_path(const std::string& name) {
  return std::string(RECUR_TEST_FIXTURES) + "/tensorflow/" + name + ".safetensors";
}

using Param = rnn_fixtures::FixtureParam;

std::vector<Param> params() {
  std::vector<Param> out;
  for (const std::string& name : rnn_fixtures::fixture_cases("tensorflow")) {
    out.push_back({name, nn::RNNImpl::Cells});
    // The fused CPU path where the options allow it (no peepholes, proj_clip, ReLU or
    // reset-before-linear GRU).
    const nn::SafetensorsFile file = nn::load_safetensors(fixture_path(name));
    if (nn::fused_supports(rnn_case::options(file.metadata), Device::cpu(), nullptr, file.tensors.at("x").dtype())) {
      out.push_back({name, nn::RNNImpl::Fused});
    }
    out.push_back({name, nn::RNNImpl::Auto, true});
  }
  return out;
}

class TensorFlowParity : public testing::TestWithParam<Param> {};

TEST_P(TensorFlowParity, MatchesTensorFlowOutputsStatesAndGradients) {
  const Param& p = GetParam();
  if (p.gpu) {
    std::string why;
    if (cuda_device_count(&why) == 0) GTEST_SKIP() << "no CUDA device: " << why;
  }
  const rnn_fixtures::FixtureRun run = rnn_fixtures::run_fixture("tensorflow", p);
  const rnn_fixtures::FixtureComparison c = rnn_fixtures::expect_matches_expected(
      run.result, run.file, run.rtol, run.atol, p.name + " (" + run.file.metadata.at("source") + ")", "TensorFlow");
  EXPECT_GE(c.compared, 5);
  std::cout << "[ tf-parity ] " << p.name << " " << nn::impl_name(p.impl) << (p.gpu ? " cuda" : " cpu")
            << ": max relative difference " << c.worst_relative << " (" << c.worst_key << ")\n";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TensorFlowParity, testing::ValuesIn(params()),
                         [](const auto& info) { return rnn_fixtures::fixture_param_name(info.param); });

}  // namespace
}  // namespace recur
